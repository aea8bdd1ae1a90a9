"""학생용 사본의 규칙: 원본 노트북에서 사본을 메모리 안에서 새로 만들어 본다(notebooks/student/가 낡았어도 된다).

(a) 답이 보이는 출력은 지운다: 풀이 셀, `check` 셀, 예측 문제의 결과 셀, 풀이에서 나온 이름을 쓰는 셀. 다른 출력은 그대로.
(b) 사본은 정답이 든 원본으로 링크하지 않는다(강사는 INSTRUCTORS.md에서 찾는다).
(c) 빈칸은 `def` 줄과 `check`에 넘기는 변수의 대입 줄을 남긴다(예측 문제는 보기 글자를 주석에).
(d) 예측 문제의 보기 글자는 강의 전체에서 한 가지: 채점기(`exercises.CHOICE_LETTERS`)의 (a), (b), …
    (노트북 대부분이 쓰던 쪽으로 맞췄다).
커밋된 사본이 지금 생성기가 만드는 것과 바이트까지 같은지는 `tests/test_exercises.py`의
`test_student_copies_regenerate_byte_identical`이 본다.
"""
from __future__ import annotations

import re
from copy import deepcopy
from functools import lru_cache

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from course_lib import REPO_ROOT
from course_lib.tooling import exercises as ex_pkg
from course_lib.tooling import student

SOURCES = student.source_notebooks()
NAMES = [path.name for path in SOURCES if student.has_solutions(nbformat.read(path, as_version=4))]
STUDENT_FOLDER = (REPO_ROOT / student.STUDENT_DIR).resolve()
LINK_RE = re.compile(r"""[^\s()\[\]<>"'`]*\.ipynb""")
VERDICT_MARKS = ("✅ 정답", "❌ [")


@lru_cache(maxsize=None)
def pair(name: str):
    """(원본, 메모리 안에서 새로 만든 학생용 사본)."""
    teacher = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
    return teacher, student.student_notebook(teacher, name)


def _output_text(output) -> str:
    if "text" in output:
        return "".join(output["text"])
    data = output.get("data", {})
    return "".join("".join(data.get(kind, "")) for kind in ("text/plain", "text/markdown", "text/html"))


def _solution_lines(source: str) -> set[str]:
    """풀이 구간 안에만 있는 줄(공백·주석 빼고). 사본에 나오면 정답이 샌 것이다."""
    lines = source.split("\n")
    spans = student.solution_spans(source)
    inside = {lines[n].strip() for s in spans for n in range(s.begin + 1, s.end)}
    outside = {line.strip() for n, line in enumerate(lines) if not any(s.begin <= n <= s.end for s in spans)}
    return {line for line in inside - outside if line and not line.startswith("#")}


# --- 예측 문제를 찾는 규칙 ------------------------------------------------------------------------------


def test_every_predict_exercise_is_found_with_its_reveal_cell():
    """등록부에서 제목이 "예측해 보기"인 연습문제마다 노트북에서 문제·답 셀·결과 셀을 모두 찾는다."""
    registered = sorted(i for i, ex in ex_pkg.load_all().items() if ex.title.startswith(student.PREDICT_MARK))
    assert registered, "예측 문제가 하나도 등록돼 있지 않다(규칙이 아무것도 검사하지 않게 된다)"
    found = {}
    for name in NAMES:
        teacher, _ = pair(name)
        for p in student.predictions(teacher):
            found[p.exercise_id] = (name, p)
    assert sorted(found) == registered, f"찾은 예측 문제 {sorted(found)}, 등록된 예측 문제 {registered}"
    for exercise_id, (name, p) in found.items():
        assert p.reveal is not None, f"{name} {exercise_id}: 답 셀(셀 {p.answer + 1}) 다음에 결과를 보여 주는 코드 셀이 없다"
        assert len(p.choices) >= 2, f"{name} {exercise_id}: 문제에서 보기 (a), (b) …를 찾지 못했다"


# --- (a) 답이 보이는 출력은 지운다 ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_answers_are_not_visible_in_the_student_copy(name):
    teacher, copy = pair(name)
    cleared = student.cleared_cells(teacher)
    expected = {i for i, c in enumerate(teacher.cells) if c.cell_type == "code"
                and (student.solution_spans(c.source) or student.check_ids(c.source))}
    expected |= {p.reveal for p in student.predictions(teacher)}
    assert expected <= cleared, f"출력을 지우지 않는 풀이·check·예측 결과 셀: {sorted(expected - cleared)}"
    for index, (src, dst) in enumerate(zip(teacher.cells, copy.cells)):
        if src.cell_type != "code":
            continue
        if index in cleared:
            assert dst.outputs == [] and dst.execution_count is None, f"{name} 셀 {index + 1}: 출력이 남았다"
        else:
            assert dst.outputs == src.outputs, f"{name} 셀 {index + 1}: 지우지 말아야 할 출력이 바뀌었다"
    shown = "\n".join(_output_text(o) for c in copy.cells if c.cell_type == "code" for o in c.outputs)
    assert not any(mark in shown for mark in VERDICT_MARKS), f"{name}: 사본의 출력에 채점 판정이 남았다"
    for p in student.predictions(teacher):
        revealed = [_output_text(o).strip() for o in teacher.cells[p.reveal].outputs]
        assert not any(text and text in shown for text in revealed), f"{name} {p.exercise_id}: 결과가 사본에 보인다"


# --- (b) 정답이 든 원본으로 가는 링크가 없다 ---------------------------------------------------------------


def _links(nb) -> list[str]:
    texts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    texts += [_output_text(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return [m.group(0) for text in texts for m in LINK_RE.finditer(text)]


@pytest.mark.parametrize("name", NAMES)
def test_student_copy_links_only_to_student_copies(name):
    _, copy = pair(name)
    links = _links(copy)
    assert any("/notebooks/student/" in link for link in links), "Colab 배지(사본 자신)를 찾지 못했다: 검사가 헛돈다"
    for link in links:
        if link.startswith("http"):
            assert "/notebooks/student/" in link, f"{name}: 원본 노트북으로 가는 주소 {link}"
            continue
        target = (STUDENT_FOLDER / link).resolve()
        assert target.parent == STUDENT_FOLDER and target.name in NAMES, (
            f"{name}: 링크 {link}는 학생용 사본이 아닌 곳({target})을 가리킨다"
        )


# --- (c) 빈칸은 def 줄과 대입 줄을 남긴다 -------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_stubs_keep_def_and_assignment_lines(name):
    teacher, copy = pair(name)
    transform = TransformerManager().transform_cell
    choices = {p.answer: p.choices for p in student.predictions(teacher)}
    checked = 0
    for index, (src, dst) in enumerate(zip(teacher.cells, copy.cells)):
        if not (src.cell_type == "code" and student.solution_spans(src.source)):
            continue
        where = f"{name} 셀 {index + 1}"
        assert student.BEGIN not in dst.source and student.END not in dst.source
        compile(transform(dst.source), where, "exec")  # 빈칸을 채우기 전에도 문법은 맞다
        leaked = [line for line in _solution_lines(src.source) if line in {x.strip() for x in dst.source.split("\n")}]
        assert not leaked, f"{where}: 정답 줄이 사본에 남았다: {leaked}"
        spans = student.solution_spans(src.source)
        for number, line in enumerate(src.source.split("\n")):
            if line.lstrip().startswith("def ") and not any(s.begin <= number <= s.end for s in spans):
                assert line in dst.source.split("\n"), f"{where}: def 줄이 사라졌다: {line!r}"
        for match in student.CHECK_ARG_RE.finditer(dst.source):
            name_ = match["name"]
            before = dst.source[: match.start()]
            assert re.search(rf"^\s*(def\s+{name_}\b|{name_}\s*(:[^=]*)?=(?!=))", before, re.M), (
                f"{where}: check에 넘기는 {name_}를 만드는 줄(def 또는 대입)이 사본에 없다:\n{dst.source}"
            )
            checked += 1
            if index in choices:
                line = next(x for x in before.split("\n") if re.match(rf"\s*{name_}\s*=", x))
                missing = [c for c in choices[index] if f'"{c}"' not in line]
                assert not missing, f"{where}: 대입 줄의 주석에 보기 {missing}가 없다: {line!r}"
    assert checked, f"{name}: check에 변수를 넘기는 풀이 셀이 하나도 없다(검사가 헛돈다)"


# --- (d) 보기 글자는 강의 전체에서 하나 -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_predict_choices_use_the_course_letters(name):
    teacher, _ = pair(name)
    for p in student.predictions(teacher):
        want = tuple(ex_pkg.CHOICE_LETTERS[: len(p.choices)])  # 채점기가 받는 기호와 같은 곳에서
        assert p.choices == want, (
            f"{name} 셀 {p.question + 1} ({p.exercise_id}): 보기 {p.choices}, 강의의 약속은 {want}((a), (b), …). "
            f"채점(course_lib/tooling/exercises/ex{p.exercise_id[:2]}.py)의 보기 글자도 함께 바꾸세요"
        )


# --- 규칙 자체(작은 가짜 노트북으로: 노트북이 바뀌어도 규칙이 살아 있는지) ------------------------------------


def _fake_repo(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.course]\ngithub_slug = "owner/repo"\nbranch = "main"\n', encoding="utf-8"
    )
    (tmp_path / "notebooks" / "student").mkdir(parents=True)
    return tmp_path


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _fake_notebook():
    code = nbformat.v4.new_code_cell
    md = nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("# 01 연습"),
        code("import math", execution_count=1),
        code("x = math.pi\nprint(x)", execution_count=2, outputs=[_stream("3.14\n")]),
        md("## 연습문제"),
        code('def double(v):\n    ### BEGIN SOLUTION\n    return 2 * v\n    ### END SOLUTION\n\n\ncheck("01.1", double)',
             execution_count=3, outputs=[_stream("✅ 정답 [01.1]\n")]),
        code("print(double(21))", execution_count=4, outputs=[_stream("42\n")]),
        code("print(x)", execution_count=5, outputs=[_stream("3.14\n")]),
        code('### BEGIN SOLUTION\nbase = 4096\nanswer_01_2 = base * 16\n### END SOLUTION\ncheck("01.2", answer_01_2)',
             execution_count=6, outputs=[_stream("✅ 정답 [01.2]\n")]),
        md("**01.3 🐢 예측해 보기.** 몇 배일까요?\n\n(a) 1배 (b) 2배 (c) 4배"),
        code('### BEGIN SOLUTION\nprediction_01_3 = "b"  # 두 배라서\n### END SOLUTION\ncheck("01.3", prediction_01_3)',
             execution_count=7, outputs=[_stream("✅ 정답 [01.3]\n")]),
        md("이제 돌려 보고 비교합니다."),
        code('print("잰 값 2.0배 → 보기 (b)")', execution_count=8, outputs=[_stream("잰 값 2.0배 → 보기 (b)\n")]),
        code('cases = {"x": None}\n### BEGIN SOLUTION\ncases = {"x": "ok"}\n### END SOLUTION\ncheck("01.4", cases)',
             execution_count=9, outputs=[_stream("✅ 정답 [01.4]\n")]),
        md("## 정리"),
        code("print(round(x))", execution_count=10, outputs=[_stream("3\n")]),
    ]
    return nb


def test_rules_on_a_synthetic_notebook(tmp_path):
    root = _fake_repo(tmp_path)
    teacher = _fake_notebook()
    original = deepcopy(teacher)
    [p] = student.predictions(teacher)
    assert (p.exercise_id, p.question, p.answer, p.reveal, p.choices) == ("01.3", 8, 9, 11, ("a", "b", "c"))
    assert student.cleared_cells(teacher) == {4, 5, 7, 9, 11, 12}
    copy = student.student_notebook(teacher, "01_demo.ipynb", root)
    # (a) 풀이 셀, 풀이 함수를 쓰는 셀(5), 예측 결과 셀(11)은 지우고, 풀이와 상관없는 출력(2, 6, 14)은 그대로
    for index in (4, 5, 7, 9, 11, 12):
        assert copy.cells[index].outputs == [] and copy.cells[index].execution_count is None, index
    for index in (2, 6, 14):
        assert copy.cells[index].outputs == teacher.cells[index].outputs, index
    # (b) 첫 셀: 사본 자신을 가리키는 배지와 안내뿐, 원본으로 가는 링크 없음
    first = copy.cells[0].source
    assert "notebooks/student/01_demo.ipynb" in first and "../01_demo.ipynb" not in first
    assert [link for link in _links(copy) if "student/" not in link] == []
    # (c) 빈칸
    assert copy.cells[4].source == ('def double(v):\n    # 여기에 코드를 작성하세요\n    raise NotImplementedError\n\n\n'
                                    'check("01.1", double)')
    assert copy.cells[7].source == ('# 여기에 코드를 작성하세요\nanswer_01_2 = ...  # 여기에 답을 쓰세요\n'
                                    'check("01.2", answer_01_2)')
    assert copy.cells[9].source == 'prediction_01_3 = ...  # "a" / "b" / "c" 가운데 하나\ncheck("01.3", prediction_01_3)'
    assert copy.cells[12].source == 'cases = {"x": None}\ncheck("01.4", cases)'  # 대입 줄이 이미 있으면 지우기만
    # 원본은 그대로
    assert teacher == original


def test_unrelated_code_that_rebinds_a_solution_name_keeps_its_output():
    nb = _fake_notebook()
    nb.cells[5].source = "double = lambda v: v + v\nprint(double(21))"  # 풀이와 상관없이 다시 만든다
    cleared = student.cleared_cells(nb)
    assert 5 not in cleared and 4 in cleared


def test_reveal_cell_is_not_looked_for_past_a_new_section():
    nb = _fake_notebook()
    nb.cells[10].source = "## 정리"  # 답 셀 다음이 곧 새 절이면 결과 셀이 없다
    [p] = student.predictions(nb)
    assert p.reveal is None and 11 not in student.cleared_cells(nb)


def test_stub_hint_for_an_answer_without_choices():
    source = '### BEGIN SOLUTION\nanswer = 4\n### END SOLUTION\ncheck("01.1", answer)'
    assert student.strip_solutions(source) == 'answer = ...  # 여기에 답을 쓰세요\ncheck("01.1", answer)'
    # check에 넘기지 않는 맨 바깥 풀이는 기본 빈칸
    assert student.strip_solutions("### BEGIN SOLUTION\nprint(1)\n### END SOLUTION") == (
        "# 여기에 코드를 작성하세요\nraise NotImplementedError"
    )
