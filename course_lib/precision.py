"""혼합 정밀도(mixed precision) 설정 하나를 정하는 곳: "auto"는 bf16을 지원하는 GPU(A100, L4, H100)에서 bf16,
그 밖의 GPU(T4)에서 fp16, CPU에서는 끔("no", float32)."""
from __future__ import annotations

import torch

_DTYPES = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_mixed_precision(setting: str) -> str:
    """"auto"를 이 기계에 맞는 값("no" | "bf16" | "fp16")으로 바꾼다. 다른 값은 그대로."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def compute_dtype(setting: str) -> torch.dtype:
    """계산에 쓸 dtype(실제 프리셋이 LLM과 시각 인코더를 읽을 때)."""
    return _DTYPES[resolve_mixed_precision(setting)]
