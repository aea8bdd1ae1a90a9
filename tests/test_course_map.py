"""강의 지도: 노트북마다의 예산, 기록된 실행 시각에서 잰 시간, 예산을 넘은 노트북 찾기."""
import json

from course_lib.tooling import course_map


def write_notebook(path, start: str, end: str) -> None:
    """셀 두 개짜리 노트북: 첫 셀은 start에 시작, 마지막 셀은 end에 끝난 것처럼 기록한다."""
    cells = [{"cell_type": "code", "source": "", "outputs": [], "metadata": {"execution": {
        "iopub.execute_input": t0, "shell.execute_reply": t1}}} for t0, t1 in ((start, start), (end, end))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")


def test_notebook_01_title_names_single_stage_training_not_stage_one():
    (lesson,) = [lesson for lesson in course_map.LESSONS if lesson.file.startswith("01_")]
    assert "한 번에 학습" in lesson.title and "1단계" not in lesson.title


def lessons(**budgets):
    """예산만 다른 가짜 노트북들: lessons(a=3, b=4.5) → a.ipynb(3분), b.ipynb(4.5분)."""
    return tuple(course_map.Lesson(f"{name}.ipynb", name, "", "", budget_minutes=minutes)
                 for name, minutes in budgets.items())


def test_unmeasured_notebook_shows_its_own_budget(tmp_path):
    plain, longer = lessons(plain=course_map.NOTEBOOK_BUDGET_MIN, longer=4.5)
    assert course_map.cpu_time_label(plain, tmp_path) == f"목표 ≤ {course_map.NOTEBOOK_BUDGET_MIN}분"
    assert course_map.cpu_time_label(longer, tmp_path) == "목표 ≤ 4.5분"


def test_measured_minutes_span_first_cell_start_to_last_cell_end(tmp_path):
    lesson = course_map.LESSONS[2]
    write_notebook(course_map.notebook_path(lesson, tmp_path), "2026-01-01T10:00:00.000000Z", "2026-01-01T10:02:30.000000Z")
    assert course_map.measured_minutes(course_map.notebook_path(lesson, tmp_path)) == 2.5
    assert course_map.cpu_time_label(lesson, tmp_path) == "2.5분(잰 값)"


def test_over_budget_compares_each_notebook_with_its_own_budget(tmp_path):
    generous, tight, unmeasured = lessons(generous=6, tight=3, unmeasured=1)
    for lesson in (generous, tight):  # 둘 다 5분: 예산 6분은 괜찮고 3분은 넘는다. 잰 값이 없는 노트북은 빠진다
        write_notebook(course_map.notebook_path(lesson, tmp_path), "2026-01-01T10:00:00Z", "2026-01-01T10:05:00Z")
    assert course_map.over_budget(tmp_path, (generous, tight, unmeasured)) == {"tight.ipynb": (5.0, 3)}
