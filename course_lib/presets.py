"""프리셋(preset): 같은 학습기를 어떤 규모로 돌릴지 정한 설정 묶음.

- `mini`: CPU 2코어에서 몇 분. `data/`에 실린 미니 월드의 부품을 쓴다(다운로드 없음).
- `colab`: GPU 한 장(Colab 무료 T4 16GB, L4)에 맞는 작은 실제 모델 — Qwen3-1.7B(NF4) + CLIP ViT-B/16 `openai`.
  `full`과 같은 코드 경로(NF4 + LoRA 7모듈 + 체크포인팅)를 작은 크기로 돈다. 0.6B 대신 1.7B인 이유:
  0.6B는 폭 1024로 8B(4096)와 너무 달라 "같은 설정을 작게" 보여 주기 어렵고, 1.7B를 NF4로 읽어도
  가중치가 약 1.3 GiB(NF4 + 이중 양자화)라 T4에서 메모리가 넉넉하다(`python -m course_lib doctor --preset colab`이 계산).
- `full`: 원문의 설정 그대로 — Qwen3-8B(NF4, 이중 양자화) + CLIP ViT-L/14 `openai`, LoRA r=16 α=32
  7모듈, 그레이디언트 체크포인팅. bf16을 지원하는 GPU는 bf16, 아니면 fp16으로 계산한다(`mixed_precision="auto"`).

실제 프리셋의 모델 이름은 `REAL_MODELS`에 있다. 데이터는 `--data`로 준다(`course_lib.real_data`).
"""
from __future__ import annotations

from dataclasses import replace

from course_lib.lora import ATTENTION_MODULES
from course_lib.errors import config_error
from course_lib.models.real import ModelSpec
from course_lib.training.config import LoraSettings, StageConfig, TrainConfig

ORIGINAL_LORA = LoraSettings(r=16, alpha=32, dropout=0.05)


def mini_v1() -> TrainConfig:
    """지난 미니 레시피(2026-11): 속도 비교(`bench/bench_train.py`)와 레시피 탐색(`bench/recipe_search.py`)의 기준."""
    return TrainConfig(
        preset="mini-v1",
        stages=(
            StageConfig("stage1", epochs=1, lr_projector=2e-3, lr_lora=0.0, batch_size=32, warmup_steps=10),
            StageConfig("stage2", epochs=3, lr_projector=2e-3, lr_lora=4e-3, batch_size=32, warmup_steps=10),
        ),
        lora=LoraSettings(r=16, alpha=32, dropout=0.0),
        n_train=6400, n_val=300, n_test=500, checkpoint_every=100, cache_vision_features=True,
    )


def mini_v2() -> TrainConfig:
    """2026-12-02까지의 미니 레시피: 지난 검증 탐색의 후보 `attn-n12800-s2x2`(`mini_v1`에서 LoRA를 어텐션
    4모듈에만, 학습 장면 2배, 2단계 2 epoch; 걸음 수 1200, 패치 토큰 16개를 하나씩 프로젝터에). 토큰 합치기 탐색의
    대조군이자 속도 비교(`bench/bench_train.py`)의 기준."""
    base = mini_v1()
    return replace(base, preset="mini-v2", n_train=12800, lora=replace(base.lora, target_modules=ATTENTION_MODULES),
                   stages=(base.stages[0], replace(base.stages[1], epochs=2)))


def mini() -> TrainConfig:
    """미니 월드용 설정. 검증 분할만 보고 골랐다: 토큰 합치기 탐색(`bench/recipe_search.py`, 기록
    `bench/results/recipe_search_merge.json`)의 후보 `merge-s1half` — `mini_v2`에 2×2 그림 토큰 합치기(패치 토큰 16개 →
    그림 토큰 4개, 폭 128 → 512)를 더하고 1단계를 200걸음으로 줄였다(합친 토큰은 얼어 있는 LLM이 잘 읽지 못해 1단계가
    하는 일이 적다). 모두 1000걸음. 결선 후보 셋이 모두 규칙을 통과했고, 그 가운데 본 작업이 가장 빨랐다
    (`bench/bench_train.py`). 원문과 다른 값과 그 이유, 탐색의 기록은 노트북 06."""
    base = mini_v2()
    return replace(base, preset="mini", projector_merge=2,
                   stages=(replace(base.stages[0], steps_per_epoch=200), base.stages[1]))


def full() -> TrainConfig:
    """원문의 값: 1단계 2 epoch·lr 1e-3·프로젝터만, 2단계 3 epoch·lr 5e-5·프로젝터+LoRA, 배치 4·누적 2."""
    return TrainConfig(
        preset="full",
        stages=(
            StageConfig("stage1", epochs=2, lr_projector=1e-3, lr_lora=0.0, batch_size=4, grad_accum=2),
            StageConfig("stage2", epochs=3, lr_projector=5e-5, lr_lora=5e-5, batch_size=4, grad_accum=2),
        ),
        lora=ORIGINAL_LORA, gradient_checkpointing=True, checkpoint_every=500,
    )


def colab() -> TrainConfig:
    """`full`과 같은 두 단계·같은 LoRA·체크포인팅. 마이크로 배치 8·누적 1(전역 배치 8은 원문과 같다)."""
    original = full()
    return replace(original, preset="colab", stages=tuple(replace(s, batch_size=8, grad_accum=1) for s in original.stages))


REAL_MODELS = {
    "colab": ModelSpec(llm_repo="Qwen/Qwen3-1.7B", llm_size="1.7B", vision_model="ViT-B-16", vision_pretrained="openai"),
    "full": ModelSpec(llm_repo="Qwen/Qwen3-8B", llm_size="8B", vision_model="ViT-L-14", vision_pretrained="openai"),
}

PRESETS = {"mini": mini, "mini-v1": mini_v1, "mini-v2": mini_v2, "colab": colab, "full": full}


def get_preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise config_error("preset", f"알 수 없는 프리셋 {name!r}. 가능한 이름: {sorted(PRESETS)}", "unknown name")
    return PRESETS[name]()
