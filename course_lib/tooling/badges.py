"""Colab 배지와 Colab 준비 코드를 모든 노트북에 한 번에 다시 쓰는 도구(`python -m course_lib badges`).

- 셀 1(마크다운)의 첫 줄: `[![Colab에서 열기](…colab-badge.svg)](https://colab.research.google.com/github/<slug>/blob/<branch>/<노트북 경로>)`
  학생용 사본(notebooks/student/*.ipynb)은 자기 경로를 가리키는 배지를 받는다.
- 셀 2(코드)의 맨 앞: `course_lib.tooling.colab.bootstrap_snippet()` (표시 주석 사이를 통째로 바꾼다)

`badges --check`는 이 둘을 모두 본다: 쓰기와 같은 함수(`managed_cells`)로 노트북을 고쳐 보고, 달라지는 노트북을 알린다.
slug와 브랜치는 pyproject.toml의 `[tool.course]`에서 읽는다. README와 INSTRUCTORS.md의 만든 부분(강의 지도 표 등)은
`python -m course_lib readme`(`course_lib.tooling.readme`)가 쓴다.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from course_lib import REPO_ROOT
from course_lib.tooling.cells import BADGE_ALT, BADGE_RE, badge_markdown, colab_url, with_badge, with_snippet
from course_lib.tooling.colab import bootstrap_snippet
from course_lib.tooling.project import CourseSettings, course_notebooks, course_settings


def managed_cells(nb, notebook: Path, settings: CourseSettings, root: Path = REPO_ROOT):
    """배지(셀 1)와 Colab 준비 코드(셀 2)를 고친 노트북(`nb`를 바꾼다). 셀이 없으면 넣는다. 출력은 그대로 둔다."""
    badge = badge_markdown(notebook, settings, root)
    if nb.cells and nb.cells[0].cell_type == "markdown":
        nb.cells[0].source = with_badge(nb.cells[0].source, badge)
    else:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(badge))
    snippet = bootstrap_snippet(settings.slug, settings.branch)
    if len(nb.cells) > 1 and nb.cells[1].cell_type == "code":
        nb.cells[1].source = with_snippet(nb.cells[1].source, snippet)
    else:
        nb.cells.insert(1, nbformat.v4.new_code_cell(snippet))
    return nb


def update_notebook(notebook: Path, settings: CourseSettings, root: Path = REPO_ROOT) -> bool:
    """배지와 준비 코드를 고쳐 쓴다. 바뀌었으면 True."""
    nb = nbformat.read(notebook, as_version=4)
    before = nbformat.writes(nb)
    if nbformat.writes(managed_cells(nb, notebook, settings, root)) == before:
        return False
    nbformat.write(nb, notebook)
    return True


def _badge_problem(nb, notebook: Path, settings: CourseSettings, root: Path) -> str | None:
    first = nb.cells[0] if nb.cells else None
    match = BADGE_RE.match(first.source.split("\n")[0]) if first is not None and first.cell_type == "markdown" else None
    expected = colab_url(notebook, settings, root)
    if match is None:
        return "첫 셀 첫 줄에 Colab 배지가 없습니다"
    if match["alt"] != BADGE_ALT:
        return f"배지 대체 텍스트가 {match['alt']!r} 입니다({BADGE_ALT!r} 이어야 함)"
    if match["link"] != expected:
        return f"배지가 {match['link']} 를 가리킵니다({expected} 이어야 함)"
    return None


def badge_problems(root: Path = REPO_ROOT) -> list[str]:
    """`badges`가 고칠 노트북들(사람이 읽을 한 줄씩): 배지가 없거나 다른 곳을 가리키거나, 준비 셀이 낡음."""
    settings = course_settings(root)
    problems = []
    for notebook in course_notebooks(root):
        rel = notebook.relative_to(root).as_posix()
        nb = nbformat.read(notebook, as_version=4)
        before = nbformat.writes(nb)
        problem = _badge_problem(nb, notebook, settings, root)
        if problem is None and nbformat.writes(managed_cells(nb, notebook, settings, root)) != before:
            problem = "셀 2의 Colab 준비 코드가 `bootstrap_snippet()`이 만드는 것과 다릅니다"
        if problem is not None:
            problems.append(f"{rel}: {problem}")
    return problems


def regenerate(root: Path = REPO_ROOT) -> list[Path]:
    """모든 노트북(원본과 학생용 사본)의 배지와 준비 셀을 고쳐 쓰고, 바뀐 파일 목록을 돌려준다."""
    settings = course_settings(root)
    return [nb for nb in course_notebooks(root) if update_notebook(nb, settings, root)]
