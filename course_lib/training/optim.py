"""옵티마이저와 학습률 스케줄: 그룹별 학습률의 AdamW, 예열(warm-up) + 코사인(cosine).

그룹은 둘이다: 프로젝터와 LoRA. 학습률이 0인 그룹은 만들지 않는다(얼림). 무엇을 학습할지(`requires_grad`)는
`training.freezing.set_trainable`이 정하고, 옵티마이저는 그것을 읽기만 한다. 스케줄은
`torch.optim.lr_scheduler.LambdaLR`에 배수 함수 하나를 준다. "LoRA만 늦게 켜기"(`StageConfig.lora_delay_steps`,
노트북 01의 통제 비교)는 스케줄이 아니라 학습기가 그 걸음들의 LoRA 기울기를 버려서 한다(`Trainer._train_step`).
배수의 식(예열 × 코사인)은 사전학습과 함께 쓰므로 `course_lib.schedule`에 있다.
"""
from __future__ import annotations

from typing import Callable

import torch

from course_lib.errors import CourseError
from course_lib.schedule import warmup_cosine
from course_lib.training.config import LoraSettings, StageConfig
from course_lib.training.freezing import expected_counts, trainable_counts


class TrainableCountError(CourseError, RuntimeError):
    """학습 파라미터가 산수와 다름: 얼리기가 틀렸다(원문의 2단계 버그 같은 경우)."""


def build_optimizer(vlm, stage: StageConfig, settings: LoraSettings) -> torch.optim.AdamW:
    """그룹별 학습률의 AdamW. 학습할 파라미터는 `requires_grad`로 이미 정해져 있어야 한다(`set_trainable(vlm, stage)`).
    켠 그룹이 비었거나 학습 파라미터 수가 산수와 다르면 멈춘다."""
    counts = trainable_counts(vlm)
    groups = []
    for group_name, lr, params in (
        ("projector", stage.lr_projector, [p for p in vlm.projector.parameters() if p.requires_grad]),
        ("lora", stage.lr_lora, [p for p in vlm.llm.parameters() if p.requires_grad]),
    ):
        if lr > 0 and not params:  # 예: LoRA를 붙이지 않은 LLM
            raise TrainableCountError(f"[{stage.name}] '{group_name}' 그룹의 학습률은 {lr}인데 학습할 파라미터가 "
                                      f"없습니다(empty parameter group)")
        if lr > 0:
            groups.append({"params": params, "lr": lr, "name": group_name})
    expected = expected_counts(vlm, stage, settings)
    if counts != expected:
        raise TrainableCountError(f"[{stage.name}] 학습 파라미터 수가 산수와 다릅니다(trainable count mismatch): "
                                  f"실제 {counts}, 기대 {expected}")
    # foreach=True: 파라미터 묶음을 한 번에 갱신(GPU에서는 원래 기본값). CPU에서도 값은 같고 걸음마다 몇 ms 빠르다.
    return torch.optim.AdamW(groups, weight_decay=stage.weight_decay, foreach=True)


def lr_factor(stage: StageConfig, total_steps: int) -> Callable[[int], float]:
    """단계 설정의 스케줄(`schedule`: 'cosine' | 'constant')."""
    return warmup_cosine(stage.warmup_steps, total_steps, cosine=stage.schedule == "cosine")


def build_scheduler(optimizer, stage: StageConfig, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """모든 그룹에 같은 배수(`lr_factor`): 걸음 k의 학습률 = 그룹의 기본 학습률 × 배수(k)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(stage, total_steps))
