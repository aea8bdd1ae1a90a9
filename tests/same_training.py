"""두 학습이 "같은 학습"인지: 덧셈 순서만 다른(예: gloo의 all-reduce) 두 결과를 비교하는 공통 기준.

반올림 차이는 원소 값의 크기가 아니라 학습이 가중치를 움직인 양에 비례한다. AdamW는 기울기를 그 크기로 나누므로
기울기가 작은 원소에서도 한 걸음이 학습률 정도로 움직이고, 덧셈 순서가 바꾼 끝자리도 함께 커진다. 0 가까이에서 끝난
원소를 원소별 상대 오차로 재면 정상인 두 학습도 떨어진다(AVX512 CPU에서 lora_A 한 원소가 1.06e-05 달랐다). 그래서
노트북 06의 누적 시험과 같은 기준을 쓴다: 가장 큰 차이가 학습이 움직인 가장 큰 양의 1%보다 작다. 진짜 결함(기울기를
평균하지 않음, 프로세스가 따로 학습함)은 움직인 양과 같은 크기의 차이를 낸다.
"""
from __future__ import annotations

import torch

RATIO = 0.01


def assert_same_training(two: dict, one: dict, initial: dict, ratio: float = RATIO) -> None:
    assert one.keys() == two.keys() == initial.keys()
    moved = max((one[k] - initial[k]).abs().max().item() for k in one)
    assert moved > 0, "학습이 가중치를 움직이지 않았다"
    gaps = {k: (two[k] - one[k]).abs().max().item() for k in one}
    worst = max(gaps, key=gaps.get)
    assert gaps[worst] < ratio * moved, f"{worst}: 차이 {gaps[worst]:.2e} ≥ {ratio} × 움직인 양 {moved:.2e}"


def snapshot(state: dict) -> dict:
    return {k: v.detach().clone() for k, v in state.items()}

