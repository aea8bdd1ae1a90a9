"""README.md와 INSTRUCTORS.md에서 손으로 쓰지 않는 부분을 만든다(`python -m course_lib readme`).

표시 주석 사이를 통째로 바꿔 쓴다. 만드는 부분은 `generated_sections`의 목록 하나에 있고, `readme --check`는
바로 그 목록을 만든 것과 비교하므로 쓰는 것과 검사하는 것이 어긋날 수 없다.

- README.md의 강의 지도 표(`<!-- course-map:start -->` … `<!-- course-map:end -->`): 원본·학생용 배지, 잰 CPU 시간,
  연습문제 수
- README.md의 "본 작업의 시간과 속도"(`<!-- bench:start -->` …)와 문제 해결의 스레드 정책 문장
  (`<!-- threads:start -->` …): bench/results/의 기록 파일에서(`course_lib.tooling.bench_report`)
- INSTRUCTORS.md의 수업 준비 표(`<!-- lesson-times:start -->` …): 잰 CPU 시간, 연습문제 번호와 난이도

노트북의 Colab 배지와 준비 셀은 `python -m course_lib badges`(`course_lib.tooling.badges`)가 쓴다.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_lib import REPO_ROOT
from course_lib.tooling import bench_report
from course_lib.tooling.cells import badge_markdown
from course_lib.tooling.course_map import LESSONS, cpu_time_label
from course_lib.tooling.exercises import REGISTRY, load_all
from course_lib.tooling.project import CourseSettings, course_settings
from course_lib.tooling.student import exercise_count, notebook_check_ids

README_FILE = "README.md"
README_START = "<!-- course-map:start -->"
README_END = "<!-- course-map:end -->"
INSTRUCTORS_FILE = "INSTRUCTORS.md"
INSTRUCTORS_START = "<!-- lesson-times:start -->"
INSTRUCTORS_END = "<!-- lesson-times:end -->"


@dataclass(frozen=True)
class Section:
    """문서 하나의 표시 주석 `start`…`end` 사이에 들어갈 글."""

    file: str  # 저장소 기준 경로
    start: str
    end: str
    body: str


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


def generated_sections(root: Path = REPO_ROOT) -> list[Section]:
    """이 명령이 쓰는 모든 부분. 쓰기(`regenerate`)와 검사(`stale_sections`)가 이 목록 하나를 함께 쓴다."""
    return [
        Section(README_FILE, README_START, README_END, course_map_table(course_settings(root), root)),
        Section(README_FILE, bench_report.START, bench_report.END, bench_report.bench_section(root)),
        Section(README_FILE, bench_report.THREADS_START, bench_report.THREADS_END, bench_report.threads_sentence(root)),
        Section(INSTRUCTORS_FILE, INSTRUCTORS_START, INSTRUCTORS_END, instructor_table(root)),
    ]


def current_body(text: str, section: Section) -> str | None:
    """문서 `text`에서 표시 사이의 글(앞뒤 줄바꿈 하나씩은 표시의 일부). 표시가 없으면 None."""
    if section.start not in text or section.end not in text.split(section.start, 1)[1]:
        return None
    inner = text.split(section.start, 1)[1].split(section.end, 1)[0]
    return inner.removeprefix("\n").removesuffix("\n")


def _replaced(text: str, section: Section) -> str:
    head, rest = text.split(section.start, 1)
    _, tail = rest.split(section.end, 1)
    return f"{head}{section.start}\n{section.body}\n{section.end}{tail}"


def stale_sections(root: Path = REPO_ROOT) -> list[str]:
    """만든 것과 다른 부분(사람이 읽을 한 줄씩). 문서나 표시가 없으면 그것도 문제로 센다."""
    problems = []
    for section in generated_sections(root):
        path = root / section.file
        if not path.is_file():
            problems.append(f"{section.file}: 파일이 없습니다")
            continue
        body = current_body(path.read_text(encoding="utf-8"), section)
        if body is None:
            problems.append(f"{section.file}: 표시 {section.start} … {section.end}이(가) 없습니다")
        elif body != section.body:
            problems.append(f"{section.file}: {section.start} … {section.end} 부분이 만든 것과 다릅니다")
    return problems


def regenerate(root: Path = REPO_ROOT) -> list[Path]:
    """모든 부분을 다시 쓰고 바뀐 파일 목록을 돌려준다. 표시가 없는 문서는 건드리지 않는다(`--check`가 알린다)."""
    texts: dict[str, str] = {}
    for section in generated_sections(root):
        path = root / section.file
        if section.file not in texts and path.is_file():
            texts[section.file] = path.read_text(encoding="utf-8")
        if section.file in texts and current_body(texts[section.file], section) is not None:
            texts[section.file] = _replaced(texts[section.file], section)
    changed = []
    for name, text in texts.items():
        path = root / name
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
