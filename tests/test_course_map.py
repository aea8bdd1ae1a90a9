"""강의 지도: 노트북마다의 예산, 기록된 실행 시각에서 잰 시간, 예산을 넘은 노트북 찾기."""
import json

from course_lib.tooling import course_map


def write_notebook(path, start: str, end: str) -> None:
    """셀 두 개짜리 노트북: 첫 셀은 start에 시작, 마지막 셀은 end에 끝난 것처럼 기록한다."""
    cells = [{"cell_type": "code", "source": "", "outputs": [], "metadata": {"execution": {
        "iopub.execute_input": t0, "shell.execute_reply": t1}}} for t0, t1 in ((start, start), (end, end))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")


def test_every_lesson_has_its_own_budget_and_only_01_and_06_get_more():
    """DESIGN.md §5: 노트북 하나 3분, 실험 노트북 01은 6분. 06은 README의 본 작업을 줄이지 않고 돌리므로 5분(이슈 18)."""
    budgets = {lesson.file[:2]: lesson.budget_minutes for lesson in course_map.LESSONS}
    assert budgets["01"] == 6 and budgets["06"] == 5
    assert all(minutes == course_map.NOTEBOOK_BUDGET_MIN == 3 for prefix, minutes in budgets.items()
               if prefix not in ("01", "06"))


def test_notebook_01_title_names_single_stage_training_not_stage_one():
    (lesson,) = [lesson for lesson in course_map.LESSONS if lesson.file.startswith("01_")]
    assert "한 번에 학습" in lesson.title and "1단계" not in lesson.title


def test_unmeasured_notebook_shows_its_own_budget(tmp_path):
    labels = {lesson.file[:2]: course_map.cpu_time_label(lesson, tmp_path) for lesson in course_map.LESSONS}
    assert labels["01"] == "목표 ≤ 6분" and labels["02"] == "목표 ≤ 3분"


def test_measured_minutes_span_first_cell_start_to_last_cell_end(tmp_path):
    lesson = course_map.LESSONS[2]
    write_notebook(course_map.notebook_path(lesson, tmp_path), "2026-01-01T10:00:00.000000Z", "2026-01-01T10:02:30.000000Z")
    assert course_map.measured_minutes(course_map.notebook_path(lesson, tmp_path)) == 2.5
    assert course_map.cpu_time_label(lesson, tmp_path) == "2.5분(잰 값)"


def test_over_budget_compares_each_notebook_with_its_own_budget(tmp_path):
    by_prefix = {lesson.file[:2]: lesson for lesson in course_map.LESSONS}
    for prefix in ("01", "02"):  # 둘 다 5분: 01(예산 6분)은 괜찮고 02(3분)는 넘는다
        write_notebook(course_map.notebook_path(by_prefix[prefix], tmp_path),
                       "2026-01-01T10:00:00Z", "2026-01-01T10:05:00Z")
    assert course_map.over_budget(tmp_path) == {by_prefix["02"].file: (5.0, 3)}
