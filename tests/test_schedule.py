"""학습률 스케줄 `warmup_cosine`의 끝값: 0걸음, 마지막 걸음, 예열 0, 코사인 없음(예열 뒤 일정).

기대값은 식을 다시 적지 않고 손으로 푼 값이다: 예열 W걸음이면 0걸음의 배수는 1/W, 코사인은 전체 T걸음에서
½(1 + cos(π·t/T))이라 t = T/2에서 ½, t = T에서 0, 마지막으로 쓰이는 걸음 t = T − 1에서는
½(1 − cos(π/T)) = sin²(π/2T)(반각 공식)다.
"""
from __future__ import annotations

import math

import pytest

# 스케줄이 `training` 밖으로 옮겨 가면(pretrain도 쓴다) 이 import 한 줄만 바뀐다.
from course_lib.training.optim import warmup_cosine


def test_step_zero_is_one_over_warmup():
    """0걸음은 예열의 첫 걸음: 배수 1/W(0이 아니다 — 첫 걸음부터 배운다). 코사인은 아직 1이다."""
    assert warmup_cosine(4, 10)(0) == 0.25
    assert warmup_cosine(4, 10, cosine=False)(0) == 0.25
    assert warmup_cosine(1, 10)(0) == 1.0  # 예열 1걸음 = 예열 없음과 같다


def test_last_step_is_small_but_not_zero_and_the_end_is_zero():
    """T = 10걸음: 마지막 걸음(9)은 sin²(π/20) = sin²(9°) ≈ 0.0244717, T에서 0, 그 뒤로도 0(음수로 가지 않는다)."""
    schedule = warmup_cosine(2, 10)
    assert schedule(9) == pytest.approx(math.sin(math.radians(9)) ** 2, rel=1e-12)
    assert schedule(9) == pytest.approx(0.0244717, abs=1e-7)
    assert schedule(10) == 0.0
    assert schedule(25) == 0.0


def test_warmup_zero_starts_at_the_full_rate():
    """예열 0: 나누기 0 없이 0걸음부터 배수 1, 절반(5/10)에서 ½."""
    schedule = warmup_cosine(0, 10)
    assert schedule(0) == 1.0
    assert schedule(5) == pytest.approx(0.5, abs=1e-15)
    assert warmup_cosine(0, 10, cosine=False)(0) == 1.0


def test_constant_schedule_is_warmup_then_flat():
    """cosine=False: 예열 4걸음 동안 ¼, ½, ¾, 1로 오르고, 전체 걸음을 넘어서도 1로 남는다(코사인처럼 줄지 않는다)."""
    schedule = warmup_cosine(4, 10, cosine=False)
    assert [schedule(t) for t in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert schedule(9) == schedule(10) == schedule(1000) == 1.0
    assert [warmup_cosine(0, 10, cosine=False)(t) for t in (0, 9, 10)] == [1.0, 1.0, 1.0]


def test_warmup_and_cosine_multiply():
    """예열이 끝나기 전에도 코사인은 이미 줄고 있다(둘을 곱한다): W = 4, T = 8에서 2걸음은 ¾ × ½(1 + cos(π/4))."""
    expected = 0.75 * (2 + math.sqrt(2)) / 4  # cos(45°) = √2/2
    assert warmup_cosine(4, 8)(2) == pytest.approx(expected, rel=1e-12)
