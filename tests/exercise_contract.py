"""연습문제 채점의 공통 약속: 노트북의 풀이는 받아들이고, 등록된 틀린 답(문제마다 둘 이상)은 모두 거절한다.

노트북마다의 시험 파일이 `SOLUTIONS`(번호 → 노트북 풀이 칸과 같은 답)를 두고 이렇게 쓴다:

    test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)

`SOLUTIONS`의 답은 채점기의 기준값을 가져다 쓰지 않고 따로 구한다(다른 방법으로 짠 함수, 또는 손으로 한 계산을
주석에 적은 수). 채점기의 식을 그대로 가져오면 채점기를 자기 자신과 비교하는 것이 된다.
`tests/test_exercises.py`가 등록된 모든 번호가 어느 `SOLUTIONS`엔가 들어 있는지 확인한다.
"""
from __future__ import annotations

import pytest

from course_lib.tooling.exercises import LEVELS, REGISTRY, ExerciseFailed, Wrong, check, load_all

NO_ANSWER = (None, NotImplemented, Ellipsis)  # `verdict`가 "아직 답이 없습니다"로 돌려보내는 값


def tests(solutions: dict):
    load_all()
    ids = sorted(solutions)

    @pytest.mark.parametrize("exercise_id", ids)
    def test_solution_is_accepted(exercise_id, capsys):
        check(exercise_id, solutions[exercise_id])  # 틀리면 ExerciseFailed
        ex = REGISTRY[exercise_id]
        assert capsys.readouterr().out == f"✅ 정답 [{exercise_id}] {ex.level} {ex.title}\n"

    @pytest.mark.parametrize("exercise_id", ids)
    def test_registered_wrong_answers_are_rejected(exercise_id, capsys):
        """틀린 답마다 채점 함수가 무엇이 틀렸는지 말하며(`Wrong`) 거절하고(답이 터져서 떨어지는 것이 아니다),
        `check`는 "❌ [번호] …" 한 줄을 출력하고 `ExerciseFailed`를 던진다."""
        ex = REGISTRY[exercise_id]
        assert ex.title.strip() and ex.level in LEVELS
        assert len(ex.wrong_answers) >= 2, f"{exercise_id}: 틀린 답 예시가 둘 이상이어야 합니다"
        for number, answer in enumerate(ex.wrong_answers):
            assert not any(answer is blank for blank in NO_ANSWER), (
                f"{exercise_id}: 틀린 답 #{number}이 '답 없음'입니다. 그럴듯한 실수를 등록하세요")
            with pytest.raises(Wrong):
                ex.grade(answer)
            with pytest.raises(ExerciseFailed):
                check(exercise_id, answer)
            printed = capsys.readouterr().out
            assert printed.startswith(f"❌ [{exercise_id}] ") and printed.count("\n") == 1, printed

    return test_solution_is_accepted, test_registered_wrong_answers_are_rejected

