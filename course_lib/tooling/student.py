"""학생용 사본 만들기(`python -m course_lib exercises release`).

원본 노트북(notebooks/NN_….ipynb)의 코드 셀에서 `### BEGIN SOLUTION` 줄부터 `### END SOLUTION` 줄까지를
같은 들여쓰기의 두 줄로 바꾼다.

    # 여기에 코드를 작성하세요
    raise NotImplementedError

그 밖의 규칙:
- 정답이 든 셀(풀이 셀)의 출력과 실행 번호는 지운다. 다른 셀의 출력은 그대로 둔다(학습자가 읽을 결과).
- 셀마다 nbconvert가 남긴 실행 시각(`metadata.execution`)은 지운다. 사본에 시각이 없어야 같은 원본에서
  언제 만들어도 바이트까지 같은 사본이 나온다.
- 셀 1의 Colab 배지는 사본 자신(notebooks/student/…)을 가리키고, 그 아래에 학생용 사본이라는 안내 한 줄을 넣는다.
- `check("…", …)` 호출은 풀이 구간 밖에 있어야 한다(그래야 사본에도 남아 판정을 보여 준다). 구간 안에 있으면 오류.
- JSON은 nbformat이 쓰는 그대로(`nbformat.writes` + 끝 줄바꿈)라서 `python -m course_lib badges`를
  다시 돌려도 사본이 바뀌지 않는다.

정답 표시가 하나도 없는 노트북은 사본을 만들지 않는다.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

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
    "> **학생용 사본**: 연습문제의 정답 자리는 비어 있습니다(`{raise_}`). 그 자리를 채우고 셀을 실행하면 "
    "`check`가 판정을 한 줄로 보여 줍니다. 정답이 든 원본: [{name}](../{name})"
)


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


def strip_solutions(source: str) -> str:
    """풀이 구간을 빈칸 두 줄(`# 여기에 코드를 작성하세요`, `raise NotImplementedError`)로 바꾼 소스."""
    lines = source.split("\n")
    for span in reversed(solution_spans(source)):
        lines[span.begin : span.end + 1] = [span.indent + PLACEHOLDER, span.indent + RAISE]
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


def _student_first_cell(source: str, badge: str, name: str) -> str:
    lines = with_badge(source, badge).split("\n")
    note = STUDENT_NOTE.format(raise_=RAISE, name=name)
    return "\n".join([lines[0], "", note] + lines[1:])


def student_notebook(nb: nbformat.NotebookNode, name: str, root: Path = REPO_ROOT) -> nbformat.NotebookNode:
    """원본 노트북 `nb`(파일 이름 `name`)의 학생용 사본. `nb`는 바꾸지 않는다."""
    problems = marker_problems(nb, name)
    if problems:
        raise MarkerError("\n".join(problems))
    settings = course_settings(root)
    student = copy.deepcopy(nb)
    for cell in student.cells:
        cell.metadata.pop("execution", None)
        if is_solution_cell(cell):
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
    if student.cells and student.cells[0].cell_type == "markdown":
        badge = badge_markdown(root / STUDENT_DIR / name, settings, root)
        student.cells[0].source = _student_first_cell(student.cells[0].source, badge, name)
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
