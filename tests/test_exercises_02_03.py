"""노트북 02, 03 연습문제 채점: 등록된 틀린 답은 모두 거절하고, 풀이(노트북의 정답 칸과 같은 것)는 받아들인다."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.tooling.exercises import REGISTRY, ex02, ex03, load_all, verdict

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()


def lora_from_delta(delta, r, scaling):
    U, S, Vh = torch.linalg.svd(delta, full_matrices=False)
    return Vh[:r], U[:, :r] * S[:r] / scaling


def direction_gradient(V, m, grad_W):
    norm = V.norm(dim=1, keepdim=True)
    unit = V / norm
    return (m[:, None] / norm) * (grad_W - (grad_W * unit).sum(dim=1, keepdim=True) * unit)


def dora_merged(W, A, B, m, s):
    merged = W + s * B @ A
    return m[:, None] * merged / merged.norm(dim=1, keepdim=True)


SOLUTIONS = {
    "02.1": 8 * (4096 + 1024),
    "02.2": lambda ids, E, A, B, s: E[ids] + s * (F.embedding(ids, A.T) @ B.T),
    "02.3": 32 * 8 * ((4096 + 4096) + (4096 + 1024)),
    "02.4": lora_from_delta,
    "02.5": "a",
    "03.1": 36 * (8 * ((4096 + 4096) + (4096 + 1024)) + 4096 + 1024),
    "03.2": dora_merged,
    "03.3": lambda x, W, A, B, m, s: F.linear(x, dora_merged(W, A, B, m, s)),
    "03.4": direction_gradient,
    "03.5": "a",
}


def test_every_exercise_of_02_and_03_has_a_solution_here():
    ids = sorted(k for k in REGISTRY if k.split(".")[0] in ("02", "03"))
    assert ids == sorted(SOLUTIONS)
    assert 3 <= sum(k.startswith("02.") for k in ids) <= 5 and 3 <= sum(k.startswith("03.") for k in ids) <= 5


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


def test_wrong_answers_fail_for_the_stated_reason_not_by_crashing():
    """틀린 답 예시가 채점기 안에서 터져서(오류) 거절되는 것이 아니라, 값이 틀려서 거절되는지 본다."""
    for exercise_id in ("02.2", "02.4", "03.2", "03.3", "03.4"):
        for answer in REGISTRY[exercise_id].wrong_answers:
            _, line = verdict(exercise_id, answer)
            assert "오류가 났습니다" not in line, (exercise_id, line)


def test_prediction_answers_come_from_running_the_setting():
    """예측해 보기의 정답은 채점기가 실제로 한 걸음 학습해 정한다: A = 0이면 A만, m을 얼리면 행 노름은 그대로."""
    assert ex02.changed_after_first_step("A") == "a"
    assert ex02.changed_after_first_step("B") == "b"     # peft의 기본(B = 0)에서는 B만 바뀐다
    assert ex03.row_norms_after_one_step() == "a"


def test_non_answers_are_rejected():
    assert not verdict("02.1", "49152")[0]          # 문자열
    assert not verdict("02.2", 3)[0]                # 함수가 아님
    assert not verdict("02.4", lambda d, r, s: d)[0]  # 두 개를 돌려주지 않음
    assert not verdict("02.5", "A만")[0]             # 보기 글자가 아님
    assert not verdict("03.4", lambda V, m, g: torch.full_like(V, float("nan")))[0]
