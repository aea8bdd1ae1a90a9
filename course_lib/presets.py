"""프리셋(preset): 같은 학습기를 어떤 규모로 돌릴지 정한 설정 묶음.

- `mini`: CPU 2코어에서 몇 분. `data/`에 실린 작은 세계의 부품을 쓴다(다운로드 없음).
- `full`: 원문(seed)의 설정 그대로 — Qwen3-8B(NF4) + CLIP ViT-L/14, LoRA r=16. GPU가 필요하다.
"""
from __future__ import annotations

from course_lib.train import LoraSettings, StageConfig, TrainConfig

SEED_LORA = LoraSettings(r=16, alpha=32, dropout=0.05)


def mini() -> TrainConfig:
    """작은 세계용 설정. 원문과 다른 값과 그 이유는 노트북 06이 하나씩 설명한다."""
    return TrainConfig(
        preset="mini",
        stages=(
            StageConfig("stage1", epochs=1, lr_projector=2e-3, lr_lora=0.0, batch_size=32, warmup_steps=10),
            StageConfig("stage2", epochs=2, lr_projector=1e-3, lr_lora=1e-3, batch_size=32, warmup_steps=10),
        ),
        lora=LoraSettings(r=16, alpha=32, dropout=0.0),
        n_train=6400, n_val=300, n_test=500, checkpoint_every=50,
    )


def full() -> TrainConfig:
    """원문의 값: 1단계 2 epoch·lr 1e-3·프로젝터만, 2단계 3 epoch·lr 5e-5·프로젝터+LoRA, 배치 4·누적 2."""
    return TrainConfig(
        preset="full",
        stages=(
            StageConfig("stage1", epochs=2, lr_projector=1e-3, lr_lora=0.0, batch_size=4, grad_accum=2),
            StageConfig("stage2", epochs=3, lr_projector=5e-5, lr_lora=5e-5, batch_size=4, grad_accum=2),
        ),
        lora=SEED_LORA, gradient_checkpointing=True, checkpoint_every=500,
    )


PRESETS = {"mini": mini, "full": full}


def get_preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ValueError(f"preset: 알 수 없는 프리셋 {name!r}. 가능한 이름: {sorted(PRESETS)} (preset: unknown name)")
    return PRESETS[name]()
