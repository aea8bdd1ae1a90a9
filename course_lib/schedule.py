"""학습률 스케줄: 예열(warm-up) × 코사인(cosine). 강의의 모든 학습(`pretrain`의 사전학습, `training`의 두 단계)이
이 식 하나를 쓴다.

transformers의 `get_cosine_schedule_with_warmup`은 예열이 끝난 뒤부터 코사인을 시작하고 0걸음의 배수가 0이라,
이 강의의 스케줄(예열과 코사인을 곱하고, 0걸음에 1/예열)과 값이 달라 결과가 바뀐다. 그래서 식을 여기 적는다.
"""
from __future__ import annotations

import math
from typing import Callable


def warmup_cosine(warmup_steps: int, total_steps: int, cosine: bool = True) -> Callable[[int], float]:
    """걸음 → 학습률 배수: min(1, (걸음+1)/예열) × ½(1 + cos(π·걸음/전체)). cosine=False면 예열만.

    강의의 모든 학습(사전학습, 두 단계)이 이 식 하나를 쓴다.
    """
    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        if not cosine:
            return warm
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))
    return factor
