"""연습문제: 모든 채점이 공통 약속(tests/exercise_contract.py) 아래 있는지, 노트북과 등록부가 맞는지, 학생용 사본이
최신인지, 채점 틀(verdict, check, 정수 답, 보기 고르기)이 약속대로인지.

모든 검사는 지금 있는 노트북과 `course_lib/tooling/exercises/exNN.py`에서 목록을 만든다(노트북이 늘어나면 검사도 늘어난다).
정답이 자기 채점을 통과하는지는 `pytest --nbval`이 노트북을 실행하며 확인한다(틀리면 `check`가 예외를 던짐).
"""
from __future__ import annotations

import ast
import json

import nbformat
import pytest

from course_lib import REPO_ROOT
from course_lib.tooling import badges
from course_lib.tooling import exercises as ex_pkg
from course_lib.tooling import student
from course_lib.tooling.exercises import (CHOICE_LETTERS, ExerciseFailed, Wrong, as_int, check, choices, exercise,
                                         grade_choice, verdict)

REGISTRY = ex_pkg.load_all()
EXERCISE_IDS = sorted(REGISTRY)
SOURCES = student.source_notebooks()
SOURCE_NAMES = [path.name for path in SOURCES]


def _read(path):
    return nbformat.read(path, as_version=4)


# --- 모든 연습문제가 공통 약속(tests/exercise_contract.py) 아래 있다 ------------------------------------------


def _solution_ids(test_file) -> set[str]:
    """시험 파일의 `SOLUTIONS = {...}`에 적힌 번호들(파일을 실행하지 않고 읽는다: 어떤 답은 채점보다 비싸다)."""
    tree = ast.parse(test_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SOLUTIONS" for t in node.targets):
            return {key.value for key in node.value.keys}
    return set()


def test_every_registered_exercise_is_under_the_shared_contract():
    """등록된 번호마다 어느 `tests/test_exercises_NN*.py`의 SOLUTIONS에 답이 있고, 그 파일이 공통 약속을 쓴다
    (풀이는 받아들이고, 등록된 틀린 답은 Wrong으로 모두 거절). 빠진 번호는 채점이 한 번도 시험되지 않는다."""
    covered: set[str] = set()
    for test_file in sorted((REPO_ROOT / "tests").glob("test_exercises_*.py")):
        ids = _solution_ids(test_file)
        if ids:
            assert "exercise_contract.tests(SOLUTIONS)" in test_file.read_text(encoding="utf-8"), test_file.name
        covered |= ids
    assert sorted(set(REGISTRY) - covered) == [], "SOLUTIONS에 답이 없는 연습문제"
    assert sorted(covered - set(REGISTRY)) == [], "등록되지 않은 번호의 답"


# --- 노트북과 등록부가 맞는다 ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_NAMES)
def test_notebook_checks_exactly_its_registered_exercises(source):
    used = student.notebook_check_ids(_read(source))
    registered = [ex.exercise_id for ex in ex_pkg.by_notebook().get(source.name[:2], [])]
    assert not set(used) - set(REGISTRY), f"{source.name}: 등록되지 않은 번호를 check합니다: {sorted(set(used) - set(REGISTRY))}"
    assert not set(registered) - set(used), (
        f"{source.name}: 등록했지만 노트북에서 check하지 않는 번호: {sorted(set(registered) - set(used))}"
    )
    wrong_notebook = [i for i in used if ex_pkg.notebook_prefix(i) != source.name[:2]]
    assert not wrong_notebook, f"{source.name}: 다른 노트북 번호를 check합니다: {wrong_notebook}"


@pytest.mark.parametrize("exercise_id", EXERCISE_IDS)
def test_each_exercise_lives_in_its_notebooks_module(exercise_id):
    module = REGISTRY[exercise_id].grade.__module__
    assert module == f"course_lib.tooling.exercises.ex{ex_pkg.notebook_prefix(exercise_id)}", f"{exercise_id}이 {module}에 있습니다"


def test_every_registered_exercise_belongs_to_an_existing_notebook():
    prefixes = {path.name[:2] for path in SOURCES}
    orphans = sorted(i for i in REGISTRY if ex_pkg.notebook_prefix(i) not in prefixes)
    assert not orphans, f"노트북이 없는 연습문제: {orphans}"


@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_NAMES)
def test_exercise_count_and_graded_levels(source):
    """연습문제가 있는 노트북은 3–5문제이고, 1번은 🐢(쉬운 입구)이며 난이도가 두 가지 이상이다(쉬운 것에서 어려운 것으로)."""
    exercises = ex_pkg.by_notebook().get(source.name[:2], [])
    if not exercises:
        pytest.skip(f"{source.name}: 아직 연습문제가 없습니다")
    levels = [ex.level for ex in exercises]
    assert 3 <= len(exercises) <= 5, f"{source.name}: 연습문제 {len(exercises)}개(3–5개여야 함)"
    assert levels[0] == "🐢" and len(set(levels)) >= 2, f"{source.name}: 난이도 {levels}(🐢로 시작하고 두 가지 이상이어야 함)"


@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_NAMES)
def test_solution_markers_are_balanced(source):
    problems = student.marker_problems(_read(source), source.name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_NAMES)
def test_committed_outputs_show_each_check_passing(source):
    """커밋된 출력에 `check`마다 "✅ 정답 [번호]" 줄이 있다(정답을 실행한 채로 저장했다는 증거)."""
    nb = _read(source)
    printed = "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    missing = [i for i in student.notebook_check_ids(nb) if f"✅ 정답 [{i}]" not in printed]
    assert not missing, f"{source.name}: 출력에 통과 판정이 없는 연습문제: {missing} (노트북을 다시 실행해 저장하세요)"


# --- 학생용 사본 ---------------------------------------------------------------------------------------


def test_student_copies_regenerate_byte_identical(tmp_path):
    """원본에서 임시 폴더에 다시 만든 사본이 커밋된 사본과 바이트까지 같다."""
    student.release(out_dir=tmp_path)
    committed_dir = REPO_ROOT / student.STUDENT_DIR
    fresh = {p.name: p.read_bytes() for p in tmp_path.glob("*.ipynb")}
    committed = {p.name: p.read_bytes() for p in committed_dir.glob("*.ipynb")}
    assert sorted(fresh) == sorted(committed), (
        f"사본 목록이 다릅니다: 있어야 할 것 {sorted(fresh)}, 커밋된 것 {sorted(committed)}\n"
        "고치기: python -m course_lib exercises release"
    )
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"낡은 학생용 사본: {stale}\n고치기: python -m course_lib exercises release"
    assert student.stale_copies() == []


STUDENT_COPIES = sorted((REPO_ROOT / student.STUDENT_DIR).glob("*.ipynb"))


@pytest.mark.parametrize("copy", STUDENT_COPIES, ids=[p.name for p in STUDENT_COPIES])
def test_student_copy_has_blanks_instead_of_solutions(copy):
    from IPython.core.inputtransformer2 import TransformerManager

    source_nb = _read(REPO_ROOT / "notebooks" / copy.name)
    copy_nb = _read(copy)
    assert len(copy_nb.cells) == len(source_nb.cells)
    text = copy.read_text(encoding="utf-8")
    assert student.BEGIN not in text and student.END not in text
    assert '"execution"' not in text, "사본에 실행 시각이 남아 있습니다"
    transform = TransformerManager().transform_cell
    cleared = student.cleared_cells(source_nb)  # 답이 보이는 출력(풀이·check·예측 결과 셀): tests/test_student_copies.py의 규칙
    for index, (src, dst) in enumerate(zip(source_nb.cells, copy_nb.cells)):
        if src.cell_type == "code" and student.solution_spans(src.source):
            assert dst.outputs == [] and dst.execution_count is None, f"셀 {index + 1}: 풀이 셀의 출력이 남았습니다"
            compile(transform(dst.source), f"{copy.name} 셀 {index + 1}", "exec")  # 빈칸을 채우기 전에도 문법은 맞다
        elif index > 1:  # 셀 1(배지)과 셀 2(준비 코드) 밖의 셀은 소스 그대로, 답을 드러내지 않는 출력도 그대로
            assert dst.source == src.source
            if src.cell_type == "code" and index not in cleared:
                assert dst.outputs == src.outputs
    assert student.notebook_check_ids(copy_nb) == student.notebook_check_ids(source_nb), "사본에서 check 호출이 빠졌습니다"
    assert badges.colab_url(copy, badges.course_settings()) in copy_nb.cells[0].source


# --- 사본 만드는 도구 자체(작은 가짜 저장소에서) -------------------------------------------------------------


SOLUTION_CELL = """def lora_parameters(d_in, d_out, r):
    \"\"\"LoRA가 더하는 파라미터 수.\"\"\"
    ### BEGIN SOLUTION
    a = r * d_in
    return a + d_out * r
    ### END SOLUTION

check("01.2", lora_parameters)"""

TOP_LEVEL_SOLUTION = """### BEGIN SOLUTION
answer = 4096 * 16 * 2
### END SOLUTION
check("01.1", answer)"""


def _mini_repo(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.course]\ngithub_slug = "owner/repo"\nbranch = "main"\n', encoding="utf-8"
    )
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    stream = lambda text: nbformat.v4.new_output("stream", name="stdout", text=text)
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 연습\n\n설명"),
        nbformat.v4.new_code_cell("import math", execution_count=1),
        nbformat.v4.new_code_cell("print(math.pi)", execution_count=2, outputs=[stream("3.14\n")]),
        nbformat.v4.new_markdown_cell("## 연습문제"),
        nbformat.v4.new_code_cell(TOP_LEVEL_SOLUTION, execution_count=3, outputs=[stream("✅ 정답 [01.1]\n")]),
        nbformat.v4.new_code_cell(SOLUTION_CELL, execution_count=4, outputs=[stream("✅ 정답 [01.2]\n")]),
    ]
    for cell in nb.cells:
        cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00.000000Z"}
    nbformat.write(nb, tmp_path / "notebooks" / "01_demo.ipynb")
    # 정답 표시가 없는 노트북은 사본을 만들지 않는다
    plain = nbformat.v4.new_notebook()
    plain.cells = [nbformat.v4.new_markdown_cell("# 00"), nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(plain, tmp_path / "notebooks" / "00_plain.ipynb")
    return tmp_path


def test_release_on_a_synthetic_notebook(tmp_path):
    root = _mini_repo(tmp_path)
    badges.regenerate(root)  # 원본에 배지와 준비 코드
    source = _read(root / "notebooks/01_demo.ipynb")
    changed = student.release(root)
    out = root / "notebooks/student/01_demo.ipynb"
    assert changed == [out] and not (root / "notebooks/student/00_plain.ipynb").exists()
    copy = _read(out)

    # 풀이 구간 → 같은 들여쓰기의 빈칸 두 줄, 나머지 줄(docstring, check)은 그대로
    assert copy.cells[5].source == (
        'def lora_parameters(d_in, d_out, r):\n    """LoRA가 더하는 파라미터 수."""\n'
        "    # 여기에 코드를 작성하세요\n    raise NotImplementedError\n\ncheck(\"01.2\", lora_parameters)"
    )
    assert copy.cells[4].source == 'answer = ...  # 여기에 답을 쓰세요\ncheck("01.1", answer)'  # 대입 줄은 남긴다
    # 풀이 셀의 출력과 실행 번호는 지우고, 다른 셀의 출력은 그대로
    for index in (4, 5):
        assert copy.cells[index].outputs == [] and copy.cells[index].execution_count is None
    assert copy.cells[2].outputs == source.cells[2].outputs and copy.cells[2].execution_count == 2
    for index in (2, 3):
        assert copy.cells[index] == {**source.cells[index], "metadata": {}}
    # 실행 시각은 없다
    assert all("execution" not in cell.metadata for cell in copy.cells)
    # 배지는 사본 자신을 가리키고, 정답이 든 원본으로 가는 링크는 없다(강사는 INSTRUCTORS.md에서 찾는다)
    first = copy.cells[0].source.split("\n")
    assert first[0].endswith("(https://colab.research.google.com/github/owner/repo/blob/main/notebooks/student/01_demo.ipynb)")
    assert "../01_demo.ipynb" not in copy.cells[0].source and copy.cells[0].source.endswith("# 01 연습\n\n설명")
    # 배지 도구를 다시 돌려도 사본은 그대로(같은 배지, 같은 JSON 형식)
    before = out.read_bytes()
    assert badges.regenerate(root) == [] and out.read_bytes() == before
    # nbformat이 쓰는 형식 그대로: 들여쓰기 1칸, 정렬된 키, 끝 줄바꿈
    assert before.decode("utf-8") == json.dumps(json.loads(before), sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    # 두 번째 실행은 아무것도 바꾸지 않고, 원본은 건드리지 않았다
    assert student.release(root) == [] and student.stale_copies(root) == []
    assert _read(root / "notebooks/01_demo.ipynb") == source


def test_stale_and_orphan_copies_are_reported_and_fixed(tmp_path):
    root = _mini_repo(tmp_path)
    badges.regenerate(root)
    student.release(root)
    path = root / "notebooks/01_demo.ipynb"
    nb = _read(path)
    nb.cells[2].source = "print(math.e)"
    nbformat.write(nb, path)
    orphan = root / "notebooks/student/99_gone.ipynb"
    orphan.write_text("{}", encoding="utf-8")
    problems = student.stale_copies(root)
    assert len(problems) == 2 and "01_demo.ipynb" in problems[0] and "낡" in problems[0] and "99_gone" in problems[1]
    changed = student.release(root)
    assert sorted(p.name for p in changed) == ["01_demo.ipynb", "99_gone.ipynb"] and not orphan.exists()
    assert student.stale_copies(root) == []


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "닫히지 않았습니다"),
        ("x = 1\n### END SOLUTION", "없이"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "닫히기 전에"),
    ],
)
def test_unbalanced_markers_are_errors(source, message):
    with pytest.raises(student.MarkerError, match=message):
        student.solution_spans(source)


def test_marker_problems_in_markdown_and_hidden_checks():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\n답\n### END SOLUTION"),
        nbformat.v4.new_code_cell('### BEGIN SOLUTION\nx = 1\ncheck("01.1", x)\n### END SOLUTION'),
        nbformat.v4.new_code_cell('### BEGIN SOLUTION\nx = 1\n### END SOLUTION\ncheck("01.1", x)'),
    ]
    problems = student.marker_problems(nb, "t.ipynb")
    assert len(problems) == 2 and "셀 1" in problems[0] and "셀 2" in problems[1] and "check('01.1')" in problems[1]
    with pytest.raises(student.MarkerError):
        student.student_notebook(nb, "t.ipynb")


def test_check_ids_are_found_in_code():
    source = 'check("02.1", a)\nexercises.check( \'02.2\', b)\nrecheck("x", 1)\nother.check("9", 1)\n'
    assert student.check_ids(source) == ["02.1", "02.2"]  # 다른 함수(recheck, other.check)는 세지 않는다


# --- 채점 틀(verdict, check, 등록) ------------------------------------------------------------------------


@pytest.fixture
def temporary_exercise():
    """시험용 연습문제 하나를 등록했다가 지운다. 정답: 두 배 하는 함수."""
    exercise_id = "98.1"

    def grade(double):
        for x in (3, -7, 10**6):  # 학습자가 보지 못한 입력
            got = double(x)
            if got != 2 * x:
                raise Wrong(f"double({x}) = {got}, 기대값 {2 * x}.\n힌트: 곱하기 2")

    exercise(exercise_id, title="두 배", level="🐢", wrong_answers=[lambda x: x + 2])(grade)
    yield exercise_id
    del ex_pkg.REGISTRY[exercise_id]


def _not_implemented(x):
    raise NotImplementedError


def test_verdict_lines(temporary_exercise, capsys):
    i = temporary_exercise
    assert verdict(i, lambda x: 2 * x) == (True, f"✅ 정답 [{i}] 🐢 두 배")
    ok, line = verdict(i, lambda x: x + 2)
    assert not ok and line == f"❌ [{i}] double(3) = 5, 기대값 6. 힌트: 곱하기 2"  # 한 줄로
    assert verdict(i, None)[1] == f"❌ [{i}] 아직 답이 없습니다. 빈칸을 채우세요."
    assert "NotImplementedError" in verdict(i, _not_implemented)[1]
    ok, line = verdict(i, lambda x: x / 0)
    assert not ok and "ZeroDivisionError" in line
    assert verdict("97.9", 1) == (False, "❌ 알 수 없는 연습문제 번호: 97.9")
    check(i, lambda x: x * 2)
    assert capsys.readouterr().out == f"✅ 정답 [{i}] 🐢 두 배\n"
    with pytest.raises(ExerciseFailed, match="기대값"):
        check(i, lambda x: x)


def test_registration_errors(temporary_exercise):
    with pytest.raises(ValueError, match="겹칩니다"):
        exercise(temporary_exercise, title="다른 것", level="🐕")(lambda answer: None)
    with pytest.raises(ValueError, match="level"):
        exercise("98.2", title="t", level="쉬움")
    with pytest.raises(ValueError, match="꼴"):
        exercise("2.1", title="t", level="🐢")


def test_cli_check_and_list(capsys):
    from course_lib.__main__ import main

    assert main(["exercises", "check"]) == 0
    assert "학생용 사본 최신" in capsys.readouterr().out
    assert main(["exercises", "list"]) == 0
    out = capsys.readouterr().out
    for exercise_id, ex in REGISTRY.items():
        assert f"{exercise_id} {ex.level} {ex.title}" in out
    assert f"모두 {len(REGISTRY)}개" in out


def test_instructors_table_is_current():
    """INSTRUCTORS.md의 시간표(연습문제 번호와 난이도)는 `python -m course_lib readme`가 만든 것과 같다(잰 시간 칸은 다시
    실행마다 바뀌므로 빼고)."""
    from course_lib.tooling import readme

    text = (REPO_ROOT / readme.INSTRUCTORS_FILE).read_text(encoding="utf-8")
    current = text.split(readme.INSTRUCTORS_START, 1)[1].split(readme.INSTRUCTORS_END, 1)[0]
    rows = lambda table: [line.split("|")[1:2] + line.split("|")[3:] for line in table.splitlines() if line.startswith("|")]
    assert rows(current) == rows(readme.instructor_table()), "INSTRUCTORS.md 표가 낡았다: python -m course_lib readme"
    assert "분(잰 값)" in current or "목표" in current


# --- 여러 노트북이 함께 쓰는 채점 부품 -------------------------------------------------------------------


@pytest.mark.parametrize("answer, expected", [(3, 3), (3.0, 3), (-2, -2), (10**12, 10**12)])
def test_as_int_reads_integral_numbers(answer, expected):
    assert as_int(answer) == expected and type(as_int(answer)) is int


@pytest.mark.parametrize("answer", [True, "3", 3.5, float("inf"), float("nan"), None, [3]])
def test_as_int_rejects_everything_else_with_a_reason(answer):
    with pytest.raises(Wrong, match="정수 하나로"):
        as_int(answer)


def test_choice_grading():
    options = choices("하나", "둘", "셋")
    assert options == {"a": "하나", "b": "둘", "c": "셋"}
    for answer in ("b", " B ", "(b)", "(B) "):
        grade_choice(answer, options, truth="b")  # 공백·괄호·대소문자는 묻지 않는다
    with pytest.raises(Wrong, match=r"^\(a\)는 맞지 않습니다\. 힌트 a$"):
        grade_choice("a", options, truth="b", hints={"a": "힌트 a"})
    with pytest.raises(Wrong, match="다시 생각해"):
        grade_choice("c", options, truth="b", hints={"a": "힌트 a"})  # 힌트가 없는 기호는 기본 힌트
    calls = []
    for answer in ("d", "ab", 2, None):  # 보기에 없는 기호: 정답을 재기 전에 보기를 보여 주며 거절
        with pytest.raises(Wrong, match=r"\(a\) 하나, \(b\) 둘, \(c\) 셋"):
            grade_choice(answer, options, truth=lambda: calls.append(1) or "b")
    assert calls == []
    with pytest.raises(ValueError):  # 정답이 보기에 없으면 채점기의 결함
        grade_choice("a", options, truth="z")
    for texts in (("하나",), tuple("abcde")):
        with pytest.raises(ValueError):
            choices(*texts)


def test_every_prediction_uses_the_course_letters():
    """보기 기호는 강의 전체에서 (a)–(d) 하나: 모든 exNN 모듈의 보기 사전(이름이 OPTIONS로 끝남)은 a부터 차례로."""
    import importlib

    option_sets = {}
    for module_name in sorted({ex.grade.__module__ for ex in REGISTRY.values()}):
        module = importlib.import_module(module_name)
        option_sets |= {f"{module_name}.{name}": value for name, value in vars(module).items()
                        if name.endswith("OPTIONS") and isinstance(value, dict)}
    assert option_sets, "보기 사전을 하나도 찾지 못했습니다"
    for name, options in option_sets.items():
        assert list(options) == list(CHOICE_LETTERS[:len(options)]), (name, list(options))
