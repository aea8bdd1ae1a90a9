"""노트북 02, 03 연습문제 채점: 등록된 틀린 답은 모두 거절하고, 풀이는 받아들인다."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.tooling.exercises import REGISTRY, load_all, verdict

load_all()

SOLUTIONS = {
    "02.1": 8 * (4096 + 1024),
    "02.2": lambda x, W, A, B, alpha, r: x @ W.T + (alpha / r) * (x @ A.T) @ B.T,
    "02.3": 32 * 8 * ((4096 + 4096) + (4096 + 1024)),
    "02.4": lambda W, A, B, scaling: W + scaling * (B @ A),
    "03.1": 36 * (8 * ((4096 + 4096) + (4096 + 1024)) + 4096 + 1024),
    "03.2": lambda W: (W.norm(dim=1), W / W.norm(dim=1, keepdim=True)),
    "03.3": lambda x, W, A, B, m, s: F.linear(
        x, m[:, None] * (W + s * B @ A) / (W + s * B @ A).norm(dim=1, keepdim=True)),
    "03.4": lambda W0, W1: (1 - F.cosine_similarity(W1, W0, dim=1)).mean(),
}


def test_every_exercise_of_02_and_03_has_a_solution_here():
    ids = sorted(k for k in REGISTRY if k.split(".")[0] in ("02", "03"))
    assert ids == sorted(SOLUTIONS)
    assert 3 <= sum(k.startswith("02.") for k in ids) <= 5 and 3 <= sum(k.startswith("03.") for k in ids) <= 5


@pytest.mark.parametrize("exercise_id", sorted(SOLUTIONS))
def test_solution_is_accepted(exercise_id):
    ok, line = verdict(exercise_id, SOLUTIONS[exercise_id])
    assert ok, line


@pytest.mark.parametrize("exercise_id", sorted(SOLUTIONS))
def test_wrong_answers_are_rejected(exercise_id):
    wrong = REGISTRY[exercise_id].wrong_answers
    assert wrong, f"{exercise_id}에 틀린 답 예시가 없습니다"
    for answer in wrong:
        ok, line = verdict(exercise_id, answer)
        assert not ok and line.startswith("❌"), (exercise_id, line)


def test_non_answers_are_rejected():
    assert not verdict("02.1", "49152")[0]          # 문자열
    assert not verdict("02.2", 3)[0]                # 함수가 아님
    assert not verdict("03.2", lambda W: W)[0]      # 두 개를 돌려주지 않음
    assert not verdict("03.4", lambda W0, W1: torch.tensor(float("nan")))[0]
