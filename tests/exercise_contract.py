"""연습문제 채점의 공통 약속: 노트북의 풀이는 받아들이고, 등록된 틀린 답(문제마다 둘 이상)은 모두 거절한다.

노트북마다의 시험 파일이 `SOLUTIONS`(번호 → 노트북 풀이 칸과 같은 답)를 두고 이렇게 쓴다:

    test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)
"""
from __future__ import annotations

import pytest

from course_lib.tooling.exercises import REGISTRY, Wrong, load_all, verdict


def tests(solutions: dict):
    load_all()
    ids = sorted(solutions)

    @pytest.mark.parametrize("exercise_id", ids)
    def test_solution_is_accepted(exercise_id):
        ok, line = verdict(exercise_id, solutions[exercise_id])
        assert ok, line

    @pytest.mark.parametrize("exercise_id", ids)
    def test_registered_wrong_answers_are_rejected(exercise_id):
        """틀린 답마다 채점이 무엇이 틀렸는지 말하며(`Wrong`) 거절한다: 답이 터져서 떨어지는 것이 아니다."""
        exercise = REGISTRY[exercise_id]
        assert len(exercise.wrong_answers) >= 2, f"{exercise_id}: 틀린 답 예시가 둘 이상이어야 합니다"
        for answer in exercise.wrong_answers:
            ok, line = verdict(exercise_id, answer)
            assert not ok and line.startswith(f"❌ [{exercise_id}]"), line
            with pytest.raises(Wrong):
                exercise.grade(answer)

    return test_solution_is_accepted, test_registered_wrong_answers_are_rejected
