"""학습 설정(config): 단계(`StageConfig`), LoRA(`LoraSettings`), 전체 실행(`TrainConfig`).

무엇을 학습할지는 파라미터 그룹별 학습률(learning rate)로 정한다. 학습률 0은 "얼림"이다(nanoVLM의 방식).
그래서 두 단계는 특별한 코드 경로가 아니라 설정 두 개다. 설정은 만들 때 검사하고, 틀린 값은 그 필드 이름으로
`ConfigError`를 낸다.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from peft import LoraConfig

from course_lib import lora as lora_math
from course_lib.errors import config_error


@dataclass(frozen=True)
class StageConfig:
    """한 단계의 설정. lr_* = 0이면 그 그룹은 얼어 있다."""
    name: str
    epochs: int
    lr_projector: float
    lr_lora: float
    batch_size: int = 32
    grad_accum: int = 1
    warmup_steps: int = 20
    schedule: str = "cosine"  # "cosine" | "constant"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # LoRA의 학습률 배수가 이 단계의 처음 몇 걸음 동안 0이다(옵티마이저·스케줄은 하나 그대로). 노트북 01의 통제 비교.
    lora_delay_steps: int = 0

    def __post_init__(self):
        if self.epochs <= 0:
            raise config_error("epochs", f"1 이상이어야 합니다. 받은 값 {self.epochs}", "must be >= 1")
        for key in ("lr_projector", "lr_lora", "weight_decay"):
            value = getattr(self, key)
            if not math.isfinite(value) or value < 0:
                raise config_error(key, f"0 이상의 유한한 수여야 합니다. 받은 값 {value}", "must be finite and >= 0")
        if self.lr_projector == 0 and self.lr_lora == 0:
            raise config_error("lr_projector", "프로젝터와 LoRA 학습률이 모두 0이면 학습할 것이 없습니다",
                        "at least one learning rate must be > 0")
        if self.batch_size <= 0:
            raise config_error("batch_size", f"1 이상이어야 합니다. 받은 값 {self.batch_size}", "must be >= 1")
        if self.grad_accum <= 0:
            raise config_error("grad_accum", f"기울기 누적 횟수는 1 이상이어야 합니다. 받은 값 {self.grad_accum}",
                        "gradient accumulation steps must be >= 1")
        if self.warmup_steps < 0:
            raise config_error("warmup_steps", f"0 이상이어야 합니다. 받은 값 {self.warmup_steps}", "must be >= 0")
        if self.lora_delay_steps < 0 or (self.lora_delay_steps and self.lr_lora == 0):
            raise config_error("lora_delay_steps", f"0 이상이어야 하고, LoRA 학습률이 0이면 0이어야 합니다. 받은 값 "
                               f"{self.lora_delay_steps}", "must be >= 0, and 0 when lr_lora is 0")
        if self.schedule not in ("cosine", "constant"):
            raise config_error("schedule", f"'cosine' 또는 'constant'여야 합니다. 받은 값 {self.schedule!r}",
                        "must be 'cosine' or 'constant'")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: float = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = lora_math.LINEAR_MODULES
    use_dora: bool = False
    use_rslora: bool = False

    def __post_init__(self):
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise config_error("r", f"LoRA 랭크는 1 이상의 정수여야 합니다. 받은 값 {self.r!r}", "must be a positive integer")
        if not 0 <= self.dropout < 1:
            raise config_error("dropout", f"0 이상 1 미만이어야 합니다. 받은 값 {self.dropout}", "must be in [0, 1)")
        unknown = [m for m in self.target_modules if m not in lora_math.LINEAR_MODULES]
        if unknown or not self.target_modules:
            raise config_error("target_modules", f"알 수 없는 모듈 {unknown}. 가능한 이름: {list(lora_math.LINEAR_MODULES)}",
                        "unknown target module")

    def peft_config(self) -> LoraConfig:
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), use_dora=self.use_dora,
                          use_rslora=self.use_rslora, bias="none")


@dataclass(frozen=True)
class TrainConfig:
    stages: tuple[StageConfig, ...]
    lora: LoraSettings = LoraSettings()
    seed: int = 0
    n_train: int = 6000
    n_val: int = 300
    n_test: int = 500
    gradient_checkpointing: bool = False
    # 얼어 있는 시각 인코더의 출력을 학습 그림마다 한 번만 계산해 두고 epoch마다 다시 쓴다(작은 세계: 6400장 × 16패치
    # × 128 × 4바이트 = 50MiB). 그림 전체가 메모리에 있는 데이터(SceneCaptionData)에서만 쓰고, 파일에서 읽는
    # 실제 데이터(real_data)에서는 저절로 꺼진다(알림을 남긴다).
    cache_vision_features: bool = False
    checkpoint_every: int = 100  # 옵티마이저 걸음마다 step 체크포인트; 0이면 epoch 끝에만
    eval_every_epoch: bool = True
    mixed_precision: str = "auto"  # "auto" | "no" | "bf16" | "fp16"
    preset: str = "custom"

    def __post_init__(self):
        if not self.stages:
            raise config_error("stages", "단계가 하나 이상 있어야 합니다", "at least one stage is required")
        for key in ("n_train", "n_val", "n_test"):
            if getattr(self, key) <= 0:
                raise config_error(key, f"1 이상이어야 합니다. 받은 값 {getattr(self, key)}", "must be >= 1")
        if self.checkpoint_every < 0:
            raise config_error("checkpoint_every", "0 이상이어야 합니다", "must be >= 0")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise config_error("mixed_precision", f"auto/no/bf16/fp16 가운데 하나여야 합니다: {self.mixed_precision!r}",
                        "must be auto, no, bf16 or fp16")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    def fingerprint(self) -> str:
        """체크포인트가 이 설정에서 나왔는지 확인하는 지문. 결과에 영향이 없는 체크포인트 간격은 뺀다."""
        data = asdict(self)
        data.pop("checkpoint_every")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    @staticmethod
    def from_json(text: str) -> "TrainConfig":
        data = json.loads(text)
        data["stages"] = tuple(StageConfig(**s) for s in data["stages"])
        data["lora"] = LoraSettings(**{**data["lora"], "target_modules": tuple(data["lora"]["target_modules"])})
        return TrainConfig(**data)

