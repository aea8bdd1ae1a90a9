"""무엇을 학습하나: LoRA 붙이기, 단계마다 `requires_grad` 정하기, 학습 파라미터 수를 산수와 맞춰 보기.

시각 인코더와 LLM의 원래 가중치는 언제나 얼어 있다. 단계 설정의 학습률이 0보다 큰 그룹만 학습한다.
원문의 버그(1단계에서 LLM 전체를 얼리면 LoRA도 얼고, 2단계가 다시 풀지 않음)를 막으려고 단계마다 LoRA와
프로젝터를 **다시** 켜고, 실제 학습 파라미터 수가 `course_lib.lora`의 산수와 같은지 확인한다(노트북 06).
"""
from __future__ import annotations

from peft import get_peft_model

from course_lib import compat
from course_lib import lora as lora_math
from course_lib.training.config import LoraSettings, StageConfig


def add_lora(llm, settings: LoraSettings, gradient_checkpointing: bool = False):
    """LLM에 peft LoRA를 붙인다(체크포인팅은 재진입하지 않는 방식: 얼어 있는 입력에서도 기울기가 흐른다)."""
    if gradient_checkpointing:
        compat.enable_activation_checkpointing(llm, use_reentrant=False)
        llm.config.use_cache = False
    return get_peft_model(llm, settings.peft_config())


def is_lora_parameter(name: str) -> bool:
    return "lora_" in name


def set_trainable(vlm, stage: StageConfig) -> dict[str, int]:
    """단계 설정대로 requires_grad를 정하고, 그룹별 학습 파라미터 수를 돌려준다.

    LoRA는 lr_lora > 0일 때만, 프로젝터는 lr_projector > 0일 때만 학습한다.
    """
    vlm.vision.requires_grad_(False)
    for name, param in vlm.llm.named_parameters():
        param.requires_grad_(stage.lr_lora > 0 and is_lora_parameter(name))
    vlm.projector.requires_grad_(stage.lr_projector > 0)
    return trainable_counts(vlm)


def trainable_counts(vlm) -> dict[str, int]:
    lora = sum(p.numel() for n, p in vlm.llm.named_parameters() if p.requires_grad and is_lora_parameter(n))
    other_llm = sum(p.numel() for n, p in vlm.llm.named_parameters() if p.requires_grad and not is_lora_parameter(n))
    return {"projector": sum(p.numel() for p in vlm.projector.parameters() if p.requires_grad),
            "lora": lora, "llm_base": other_llm,
            "vision": sum(p.numel() for p in vlm.vision.parameters() if p.requires_grad)}


def expected_counts(vlm, stage: StageConfig, settings: LoraSettings) -> dict[str, int]:
    """산수로 계산한 학습 파라미터 수(course_lib.lora). 실제 모델과 맞지 않으면 얼리기가 틀린 것이다."""
    llm_config = vlm.llm.config
    lora = lora_math.count_lora_parameters(llm_config, settings.r, settings.target_modules, settings.use_dora)
    projector = sum(p.numel() for p in vlm.projector.parameters())
    return {"projector": projector if stage.lr_projector > 0 else 0,
            "lora": lora if stage.lr_lora > 0 else 0, "llm_base": 0, "vision": 0}
