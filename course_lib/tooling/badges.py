"""Colab 배지와 Colab 준비 코드를 모든 노트북에 한 번에 다시 쓰는 도구(`python -m course_lib badges`).

- 셀 1(마크다운)의 첫 줄: `[![Colab에서 열기](…colab-badge.svg)](https://colab.research.google.com/github/<slug>/blob/<branch>/<노트북 경로>)`
  학생용 사본(notebooks/student/*.ipynb)은 자기 경로를 가리키는 배지를 받는다.
- 셀 2(코드)의 맨 앞: `course_lib.tooling.colab.bootstrap_snippet()` (표시 주석 사이를 통째로 바꾼다)
- README.md의 강의 지도 표(`<!-- course-map:start -->` … `<!-- course-map:end -->`): 원본·학생용 배지, 잰 CPU 시간, 연습문제 수
- INSTRUCTORS.md의 수업 준비 표(`<!-- lesson-times:start -->` … `<!-- lesson-times:end -->`): 잰 CPU 시간, 연습문제 번호와 난이도

slug와 브랜치는 pyproject.toml의 `[tool.course]`에서 읽는다.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from course_lib import REPO_ROOT
from course_lib.tooling.cells import BADGE_ALT, BADGE_RE, badge_markdown, colab_url, with_badge, with_snippet
from course_lib.tooling.colab import bootstrap_snippet
from course_lib.tooling import bench_report
from course_lib.tooling.course_map import LESSONS, cpu_time_label
from course_lib.tooling.exercises import REGISTRY, load_all
from course_lib.tooling.project import CourseSettings, course_notebooks, course_settings
from course_lib.tooling.student import exercise_count, notebook_check_ids

README_START = "<!-- course-map:start -->"
README_END = "<!-- course-map:end -->"
INSTRUCTORS_FILE = "INSTRUCTORS.md"
INSTRUCTORS_START = "<!-- lesson-times:start -->"
INSTRUCTORS_END = "<!-- lesson-times:end -->"


def update_notebook(notebook: Path, settings: CourseSettings, root: Path = REPO_ROOT) -> bool:
    """배지(셀 1)와 Colab 준비 코드(셀 2)를 고쳐 쓴다. 바뀌었으면 True. 출력은 그대로 둔다."""
    nb = nbformat.read(notebook, as_version=4)
    before = nbformat.writes(nb)
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
    after = nbformat.writes(nb)
    if after == before:
        return False
    nbformat.write(nb, notebook)
    return True


def course_map_table(settings: CourseSettings, root: Path = REPO_ROOT) -> str:
    """README용 강의 지도 표(마크다운): 노트북마다 원본·학생용 배지, 잰 CPU 시간, 연습문제 수."""
    rows = [
        "| 노트북 | 무엇을 배우나 | CPU 시간 | 실제 규모에 필요한 하드웨어 | Colab | 학생용 사본 | 연습문제 |",
        "|---|---|---|---|---|---|---|",
    ]
    for lesson in LESSONS:
        nb_path = root / "notebooks" / lesson.file
        student_path = root / "notebooks" / "student" / lesson.file
        exists = nb_path.is_file()
        name = f"[{lesson.file[:2]} {lesson.title}](notebooks/{lesson.file})" if exists else f"{lesson.file[:2]} {lesson.title}(준비 중)"
        badge = badge_markdown(nb_path, settings, root) if exists else "—"
        student = (
            f"[사본](notebooks/student/{lesson.file}) {badge_markdown(student_path, settings, root)}"
            if student_path.is_file()
            else "—"
        )
        count = exercise_count(nb_path)
        exercises = f"{count}개" if count else "—"
        rows.append(
            f"| {name} | {lesson.learn} | {cpu_time_label(lesson, root)} | {lesson.real_scale} | {badge} | {student} | {exercises} |"
        )
    return "\n".join(rows)


def _replace_section(path: Path, start: str, end: str, body: str) -> bool:
    """`start`…`end` 표시 사이를 `body`로 바꿔 쓴다. 파일이나 표시가 없으면 아무것도 하지 않는다. 바뀌었으면 True."""
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{body}\n{end}{tail}"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def update_readme(settings: CourseSettings, root: Path = REPO_ROOT) -> bool:
    return _replace_section(root / "README.md", README_START, README_END, course_map_table(settings, root))


def update_bench(root: Path = REPO_ROOT) -> bool:
    """README의 "본 작업의 시간과 속도"(`<!-- bench:start -->` … `<!-- bench:end -->`)와 문제 해결의 스레드 정책
문장(`<!-- threads:start -->` … `<!-- threads:end -->`)을 bench/results/에서."""
    bench = _replace_section(root / "README.md", bench_report.START, bench_report.END, bench_report.bench_section(root))
    threads = _replace_section(root / "README.md", bench_report.THREADS_START, bench_report.THREADS_END,
                               bench_report.threads_sentence(root))
    return bench or threads


def instructor_table(root: Path = REPO_ROOT) -> str:
    """INSTRUCTORS.md의 수업 준비 표: 노트북마다 잰 CPU 시간과 연습문제(번호, 난이도)."""
    load_all()
    rows = ["| 노트북 | CPU 시간 | 연습문제 | 학생용 사본 |", "|---|---|---|---|"]
    for lesson in LESSONS:
        nb_path = root / "notebooks" / lesson.file
        if not nb_path.is_file():
            rows.append(f"| {lesson.file}(준비 중) | {cpu_time_label(lesson, root)} | — | — |")
            continue
        ids = notebook_check_ids(nbformat.read(nb_path, as_version=4))
        listed = " · ".join(f"{i} {REGISTRY[i].level}" if i in REGISTRY else f"{i} (등록 안 됨)" for i in ids) or "—"
        student = f"`notebooks/student/{lesson.file}`" if (root / "notebooks" / "student" / lesson.file).is_file() else "—"
        rows.append(f"| `{lesson.file}` | {cpu_time_label(lesson, root)} | {listed} | {student} |")
    return "\n".join(rows)


def update_instructors(root: Path = REPO_ROOT) -> bool:
    if not (root / INSTRUCTORS_FILE).is_file():
        return False
    return _replace_section(root / INSTRUCTORS_FILE, INSTRUCTORS_START, INSTRUCTORS_END, instructor_table(root))


def badge_problems(root: Path = REPO_ROOT) -> list[str]:
    """배지가 없거나 다른 곳을 가리키는 노트북들(사람이 읽을 한 줄씩)."""
    settings = course_settings(root)
    problems = []
    for notebook in course_notebooks(root):
        rel = notebook.relative_to(root).as_posix()
        nb = nbformat.read(notebook, as_version=4)
        first = nb.cells[0] if nb.cells else None
        match = BADGE_RE.match(first.source.split("\n")[0]) if first is not None and first.cell_type == "markdown" else None
        expected = colab_url(notebook, settings, root)
        if match is None:
            problems.append(f"{rel}: 첫 셀 첫 줄에 Colab 배지가 없습니다")
        elif match["alt"] != BADGE_ALT:
            problems.append(f"{rel}: 배지 대체 텍스트가 {match['alt']!r} 입니다({BADGE_ALT!r} 이어야 함)")
        elif match["link"] != expected:
            problems.append(f"{rel}: 배지가 {match['link']} 를 가리킵니다({expected} 이어야 함)")
    return problems


def regenerate(root: Path = REPO_ROOT) -> list[Path]:
    """모든 노트북과 README를 고쳐 쓰고, 바뀐 파일 목록을 돌려준다."""
    settings = course_settings(root)
    changed = [nb for nb in course_notebooks(root) if update_notebook(nb, settings, root)]
    if update_readme(settings, root):
        changed.append(root / "README.md")
    if update_instructors(root):
        changed.append(root / INSTRUCTORS_FILE)
    if update_bench(root):
        changed.append(root / "README.md")
    return list(dict.fromkeys(changed))
