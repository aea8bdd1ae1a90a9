"""학생용 사본 만들기(`python -m course_lib exercises release`).

원본 노트북(notebooks/NN_….ipynb)의 코드 셀에서 `### BEGIN SOLUTION` 줄부터 `### END SOLUTION` 줄까지를
빈칸으로 바꾼다. 함수 안의 풀이는 같은 들여쓰기의 두 줄이 된다(`def` 줄은 그대로 남는다).

    # 여기에 코드를 작성하세요
    raise NotImplementedError

맨 바깥의 풀이가 `check("…", 이름)`에 넘기는 변수를 만들면 그 대입 줄을 남긴다(예측 문제는 보기 글자를 주석에:
`prediction_00_5 = ...  # "a" / "b" / "c" 가운데 하나`; `check`는 `...`을 "아직 답이 없습니다"로 판정한다).
대입 줄이 풀이 구간 앞에 이미 있으면 구간은 지우기만 한다. 그 밖의 규칙:
- 출력과 실행 번호를 지우는 셀(`cleared_cells`): 풀이 셀, `check`를 부르는 셀, 예측 문제의 결과 셀(`predictions`),
  풀이 셀이 만든 이름을 쓰는 셀(그 출력은 원본의 정답으로 만든 것이다). 다른 출력은 그대로 둔다.
- 사본은 정답이 든 원본으로 링크하지 않는다(강사는 INSTRUCTORS.md에서 찾는다).
- 셀마다 nbconvert가 남긴 실행 시각(`metadata.execution`)은 지운다(언제 만들어도 바이트까지 같은 사본).
- 셀 1의 Colab 배지는 사본 자신(notebooks/student/…)을 가리키고, 그 아래에 학생용 사본이라는 안내 한 줄을 넣는다.
- `check("…", …)` 호출은 풀이 구간 밖에 있어야 한다(그래야 사본에도 남아 판정을 보여 준다). 구간 안에 있으면 오류.
- JSON은 nbformat이 쓰는 그대로(`nbformat.writes` + 끝 줄바꿈)라서 `python -m course_lib badges`를
  다시 돌려도 사본이 바뀌지 않는다.

정답 표시가 하나도 없는 노트북은 사본을 만들지 않는다.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import nbformat

from course_lib import REPO_ROOT
from course_lib.tooling.cells import badge_markdown, with_badge, with_snippet
from course_lib.tooling.colab import bootstrap_snippet
from course_lib.tooling.project import course_settings

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
PLACEHOLDER = "# 여기에 코드를 작성하세요"
RAISE = "raise NotImplementedError"
STUDENT_DIR = Path("notebooks") / "student"
# check("02.1", …), check('02.1', …), exercises.check("02.1", …): 노트북이 채점하는 연습문제 번호
CHECK_RE = re.compile(r"""(?<![\w.])(?:exercises\.)?check\(\s*(['"])(?P<id>[^'"]+)\1""")
STUDENT_NOTE = (
    "> **학생용 사본**: 연습문제의 정답 자리는 비어 있습니다(`...` 또는 `{raise_}`). 그 자리를 채우고 셀을 실행하면 "
    "`check`가 판정을 한 줄로 보여 줍니다. 예측 문제와 연습문제의 결과 셀은 출력을 지워 두었습니다: 먼저 답하고 실행하세요."
)
ANSWER_HINT = "여기에 답을 쓰세요"
# 예측 문제: 마크다운 셀이 "**00.5 🐢 예측해 보기.**"처럼 굵은 번호로 시작하고 이 말을 담는다.
PREDICT_MARK = "예측해 보기"
EXERCISE_HEAD_RE = re.compile(r"^\*\*(?P<id>\d\d\.\d+)\b")
CHOICE_RE = re.compile(r"\((?P<letter>[A-Za-z]|[가-힣])\)")  # 보기: (a) (b) …
# check("00.5", prediction_00_5): 판정에 넘기는 변수 이름
CHECK_ARG_RE = re.compile(r"""(?<![\w.])(?:exercises\.)?check\(\s*(['"])[^'"]+\1\s*,\s*(?P<name>[A-Za-z_]\w*)\s*\)""")
HEADING_RE = re.compile(r"^#{1,6}\s", re.M)


class MarkerError(ValueError):
    """정답 표시(`### BEGIN SOLUTION` / `### END SOLUTION`)의 짝이 맞지 않는다."""


@dataclass(frozen=True)
class Span:
    begin: int  # BEGIN 줄 번호(0부터)
    end: int  # END 줄 번호
    indent: str  # BEGIN 줄의 들여쓰기


def _marker(line: str) -> str | None:
    stripped = line.strip()
    if stripped == BEGIN or stripped.startswith(BEGIN + " "):
        return BEGIN
    if stripped == END or stripped.startswith(END + " "):
        return END
    return None


def solution_spans(source: str) -> list[Span]:
    """코드 셀 하나의 풀이 구간들. 짝이 안 맞거나 겹치면 `MarkerError`."""
    spans, begin = [], None
    lines = source.split("\n")
    for number, line in enumerate(lines):
        kind = _marker(line)
        if kind == BEGIN:
            if begin is not None:
                raise MarkerError(f"{number + 1}번째 줄: 앞의 {BEGIN}(줄 {begin + 1})이 닫히기 전에 또 {BEGIN}")
            begin = number
        elif kind == END:
            if begin is None:
                raise MarkerError(f"{number + 1}번째 줄: 짝이 되는 {BEGIN} 없이 {END}")
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            spans.append(Span(begin, number, indent))
            begin = None
    if begin is not None:
        raise MarkerError(f"{begin + 1}번째 줄의 {BEGIN}이 닫히지 않았습니다({END} 없음)")
    return spans


def _assigns(line: str, name: str, indent: str = "") -> bool:
    return re.match(rf"{re.escape(indent)}{re.escape(name)}\s*(:[^=]*)?=(?!=)", line) is not None


def _answer_stub(lines: list[str], span: Span, spans: list[Span], choices: Sequence[str]) -> list[str] | None:
    """맨 바깥 풀이 구간의 빈칸: `check`에 넘기는 변수를 구간이 만들면 그 대입 줄(`이름 = ...  # 힌트`).
    구간 앞(풀이 밖)에 대입 줄이 이미 있으면 빈칸 없이 지운다. 어느 쪽도 아니면 None(기본 빈칸을 쓴다)."""
    outside_before = [line for number, line in enumerate(lines[: span.begin])
                      if not any(s.begin <= number <= s.end for s in spans)]
    body = [line for line in lines[span.begin + 1 : span.end] if line.strip() and not line.lstrip().startswith("#")]
    after = "\n".join(lines[span.end + 1 :])
    names = list(dict.fromkeys(m["name"] for m in CHECK_ARG_RE.finditer(after)))
    made = [n for n in names if any(_assigns(line, n) for line in body)]
    if not made:
        return None
    missing = [n for n in made if not any(_assigns(line, n) for line in outside_before)]
    hint = " / ".join(f'"{c}"' for c in choices) + " 가운데 하나" if choices else ANSWER_HINT
    stub = [f"{name} = ...  # {hint}" for name in missing]
    only_answers = all(any(_assigns(line, n) for n in made) for line in body)
    if missing and not only_answers:  # 답을 구하는 코드도 써야 한다
        stub.insert(0, PLACEHOLDER)
    return stub


def strip_solutions(source: str, choices: Sequence[str] = ()) -> str:
    """풀이 구간을 빈칸으로 바꾼 소스. 함수 안: `# 여기에 코드를 작성하세요` + `raise NotImplementedError`.
    맨 바깥에서 `check`에 넘기는 변수를 만드는 구간: 그 변수의 대입 줄(`choices`가 있으면 보기 글자를 주석에)."""
    lines = source.split("\n")
    spans = solution_spans(source)
    for span in reversed(spans):
        stub = _answer_stub(lines, span, spans, choices) if span.indent == "" else None
        if stub is None:
            stub = [span.indent + PLACEHOLDER, span.indent + RAISE]
        lines[span.begin : span.end + 1] = stub
    return "\n".join(lines)


def check_ids(source: str) -> list[str]:
    """소스에 나오는 `check("…")`의 연습문제 번호(나온 순서대로, 중복 포함)."""
    return [m["id"] for m in CHECK_RE.finditer(source)]


def _checks_inside_solutions(source: str) -> list[str]:
    lines = source.split("\n")
    inside = []
    for span in solution_spans(source):
        inside += check_ids("\n".join(lines[span.begin : span.end + 1]))
    return inside


def marker_problems(nb: nbformat.NotebookNode, name: str = "") -> list[str]:
    """정답 표시의 문제들(사람이 읽을 한 줄씩): 짝이 안 맞음, 코드가 아닌 셀의 표시, 구간 안의 check 호출."""
    problems = []
    for index, cell in enumerate(nb.cells):
        where = f"{name} 셀 {index + 1}"
        has_marker = any(_marker(line) for line in cell.source.split("\n"))
        if cell.cell_type != "code":
            if has_marker:
                problems.append(f"{where}: 정답 표시는 코드 셀에만 둘 수 있습니다({cell.cell_type} 셀)")
            continue
        try:
            hidden = _checks_inside_solutions(cell.source)
        except MarkerError as err:
            problems.append(f"{where}: {err}")
            continue
        if hidden:
            problems.append(
                f"{where}: check({', '.join(map(repr, hidden))})가 풀이 구간 안에 있습니다. "
                f"학생용 사본에서 지워지므로 {END} 아래로 옮기세요"
            )
    return problems


def is_solution_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(solution_spans(cell.source))


@dataclass(frozen=True)
class Prediction:
    """예측 문제 하나: 문제(마크다운), 답하는 셀(`check`), 결과를 보여 주는 셀(없으면 None), 보기 글자들."""
    exercise_id: str
    question: int
    answer: int
    reveal: int | None
    choices: tuple[str, ...]


def predictions(nb: nbformat.NotebookNode) -> list[Prediction]:
    """노트북의 예측 문제들. 결과 셀은 답하는 셀 다음의 첫 코드 셀이다. 그 사이에 제목(#)이나 다음 문제(**NN.K)가
    있는 마크다운 셀이 오면 결과 셀이 없는 것으로 본다."""
    found = []
    for index, cell in enumerate(nb.cells):
        head = EXERCISE_HEAD_RE.match(cell.source) if cell.cell_type == "markdown" else None
        if head is None or PREDICT_MARK not in cell.source:
            continue
        answer = next((j for j in range(index + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"
                       and head["id"] in check_ids(nb.cells[j].source)), None)
        if answer is None:
            continue
        reveal = None
        for j in range(answer + 1, len(nb.cells)):
            if nb.cells[j].cell_type == "code":
                reveal = j
                break
            if HEADING_RE.search(nb.cells[j].source) or EXERCISE_HEAD_RE.match(nb.cells[j].source):
                break
        choices = tuple(dict.fromkeys(m["letter"] for m in CHOICE_RE.finditer(cell.source)))
        found.append(Prediction(head["id"], index, answer, reveal, choices))
    return found


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp,
          ast.GeneratorExp)


def _outer_nodes(node: ast.AST):
    """`node`와 그 아래 노드들. 함수·람다·클래스·컴프리헨션 안(따로 된 이름 공간)으로는 내려가지 않는다."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, SCOPES):
            yield from _outer_nodes(child)


def _stored(nodes) -> set[str]:
    return {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _local_names(tree: ast.AST) -> set[str]:
    """함수의 인자·지역 변수와 컴프리헨션의 변수(전역이 아닌 이름; 이름으로만 가르는 어림)."""
    local: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            local |= _stored(ast.walk(node.target))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            local |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            if not isinstance(node, ast.Lambda):
                local |= _stored(n for statement in node.body for n in ast.walk(statement))
    return local


def _code_names(source: str) -> tuple[set[str], set[str]]:
    """코드 셀이 (전역으로 만드는 이름, 만들기 전에 읽는 전역 이름). 문장 차례대로 본다: 셀 안에서 먼저 만든 이름을
    읽는 것은 앞 셀의 것을 읽는 것이 아니다. 매직(%, !) 줄은 빼고 읽고, import로 들인 이름은 만드는 것으로 치지 않는다."""
    text = "\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set(), set()
    local = _local_names(tree)
    made: set[str] = set()
    read: set[str] = set()
    for node in tree.body:
        loads = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        read |= loads - local - made
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            made.add(node.name)
        elif not isinstance(node, (ast.Import, ast.ImportFrom)):
            made |= _stored(_outer_nodes(node))
    return made, read


def cleared_cells(nb: nbformat.NotebookNode) -> set[int]:
    """학생용 사본에서 출력을 지울 셀 번호(0부터): 풀이 셀, `check`를 부르는 셀, 예측 문제의 결과 셀, 그리고 풀이에서
    나온 이름(풀이 셀이 만든 이름, 그것을 읽는 셀이 만든 이름 …)을 다시 만들기 전에 읽는 셀."""
    reveals = {p.reveal for p in predictions(nb) if p.reveal is not None}
    from_solutions: set[str] = set()
    cleared = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        made, read = _code_names(cell.source)
        if is_solution_cell(cell) or check_ids(cell.source) or read & from_solutions:
            cleared.add(index)
            from_solutions |= made
        else:
            from_solutions -= made  # 풀이와 상관없는 코드가 같은 이름을 다시 만들었다
    return cleared | reveals


def has_solutions(nb: nbformat.NotebookNode) -> bool:
    return any(is_solution_cell(cell) for cell in nb.cells)


def notebook_check_ids(nb: nbformat.NotebookNode) -> list[str]:
    """노트북의 코드 셀에 나오는 연습문제 번호(처음 나온 순서, 중복 없이)."""
    seen: dict[str, None] = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            for exercise_id in check_ids(cell.source):
                seen.setdefault(exercise_id, None)
    return list(seen)


def exercise_count(notebook: Path) -> int:
    """원본 노트북이 채점하는 연습문제 수(`check("…")` 번호의 가짓수). 노트북이 없으면 0."""
    if not notebook.is_file():
        return 0
    return len(notebook_check_ids(nbformat.read(notebook, as_version=4)))


def source_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """원본 노트북들(notebooks/*.ipynb, 학생용 사본 제외)."""
    return sorted((root / "notebooks").glob("*.ipynb"))


def student_path(source: Path, root: Path = REPO_ROOT) -> Path:
    return root / STUDENT_DIR / source.name


def _student_first_cell(source: str, badge: str) -> str:
    lines = with_badge(source, badge).split("\n")
    note = STUDENT_NOTE.format(raise_=RAISE)
    return "\n".join([lines[0], "", note] + lines[1:])


def student_notebook(nb: nbformat.NotebookNode, name: str, root: Path = REPO_ROOT) -> nbformat.NotebookNode:
    """원본 노트북 `nb`(파일 이름 `name`)의 학생용 사본. `nb`는 바꾸지 않는다."""
    problems = marker_problems(nb, name)
    if problems:
        raise MarkerError("\n".join(problems))
    settings = course_settings(root)
    student = copy.deepcopy(nb)
    choices = {p.answer: p.choices for p in predictions(nb)}
    cleared = cleared_cells(nb)
    for index, cell in enumerate(student.cells):
        cell.metadata.pop("execution", None)
        if is_solution_cell(cell):
            cell.source = strip_solutions(cell.source, choices.get(index, ()))
        if index in cleared:
            cell.outputs = []
            cell.execution_count = None
    if student.cells and student.cells[0].cell_type == "markdown":
        badge = badge_markdown(root / STUDENT_DIR / name, settings, root)
        student.cells[0].source = _student_first_cell(student.cells[0].source, badge)
    if len(student.cells) > 1 and student.cells[1].cell_type == "code":
        student.cells[1].source = with_snippet(student.cells[1].source, bootstrap_snippet(settings.slug, settings.branch))
    return student


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """`nbformat.write`가 파일에 쓰는 것과 같은 글자열."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def student_text(source: Path, root: Path = REPO_ROOT) -> str:
    return notebook_text(student_notebook(nbformat.read(source, as_version=4), source.name, root))


def expected_copies(root: Path = REPO_ROOT) -> dict[str, str]:
    """파일 이름 → 있어야 할 학생용 사본의 내용(정답 표시가 있는 원본마다 하나)."""
    copies = {}
    for source in source_notebooks(root):
        nb = nbformat.read(source, as_version=4)
        if has_solutions(nb):
            copies[source.name] = notebook_text(student_notebook(nb, source.name, root))
    return copies


def release(root: Path = REPO_ROOT, out_dir: Path | None = None) -> list[Path]:
    """학생용 사본을 `out_dir`(기본 notebooks/student/)에 쓰고, 바뀌거나 지운 파일 목록을 돌려준다.

    원본이 없어졌거나 정답 표시가 없어진 사본(*.ipynb)은 지운다.
    """
    out_dir = Path(out_dir) if out_dir is not None else root / STUDENT_DIR
    copies = expected_copies(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in copies.items():
        path = out_dir / name
        if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
            path.write_bytes(text.encode("utf-8"))
            changed.append(path)
    for path in sorted(out_dir.glob("*.ipynb")):
        if path.name not in copies:
            path.unlink()
            changed.append(path)
    return changed


def stale_copies(root: Path = REPO_ROOT) -> list[str]:
    """낡은 학생용 사본(사람이 읽을 한 줄씩). 비어 있으면 모두 최신."""
    folder = root / STUDENT_DIR
    copies = expected_copies(root)
    problems = []
    for name, text in copies.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{STUDENT_DIR / name}: 없습니다")
        elif path.read_bytes() != text.encode("utf-8"):
            problems.append(f"{STUDENT_DIR / name}: 원본과 맞지 않습니다(낡음)")
    for path in sorted(folder.glob("*.ipynb")):
        if path.name not in copies:
            problems.append(f"{STUDENT_DIR / path.name}: 원본이 없거나 원본에 정답 표시가 없습니다(남은 사본)")
    return problems
