"""학습 설정(config): 단계(`StageConfig`), LoRA(`LoraSettings`), 전체 실행(`TrainConfig`).

무엇을 학습할지는 파라미터 그룹별 학습률(learning rate)로 정한다. 학습률 0은 "얼림"이다(nanoVLM의 방식).
그래서 두 단계는 특별한 코드 경로가 아니라 설정 두 개다. 설정은 만들 때 검사한다: 먼저 종류(정수 칸에 글자나
true/false가 오면 안 된다), 다음에 범위. 틀린 값은 그 칸 이름으로 `ConfigError`를 낸다. JSON(`--config`,
`--set`)에서 읽을 때는 모르는 칸과 빠진 칸도 이름으로 거부하고, 중첩된 칸은 `stages.1.epochs`처럼 전체 경로로 알린다.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, fields

from peft import LoraConfig

from course_lib import lora as lora_math
from course_lib.errors import ConfigError, check_types, config_error, did_you_mean, shown

MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
SCHEDULES = ("cosine", "constant")


def _at_least(obj, keys: tuple[str, ...], low) -> None:
    for key in keys:
        value = getattr(obj, key)
        if value < low:
            raise config_error(key, f"{low} 이상이어야 합니다. 받은 값 {shown(value)}", f"must be >= {low}")


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
    max_grad_norm: float = 1.0  # 0이면 기울기를 자르지 않는다
    # LoRA의 학습률 배수가 이 단계의 처음 몇 걸음 동안 0이다(옵티마이저·스케줄은 하나 그대로). 노트북 01의 통제 비교.
    lora_delay_steps: int = 0
    # epoch마다 이 걸음 수까지만 간다(그 epoch의 섞은 순서에서 앞부분). 0이면 데이터 전체(학습 데이터 ÷ 배치).
    steps_per_epoch: int = 0

    def __post_init__(self):
        check_types(self)
        _at_least(self, ("epochs", "batch_size"), 1)
        if self.grad_accum <= 0:
            raise config_error("grad_accum", f"기울기 누적 횟수는 1 이상이어야 합니다. 받은 값 {self.grad_accum}",
                               "gradient accumulation steps must be >= 1")
        for key in ("lr_projector", "lr_lora", "weight_decay", "max_grad_norm"):
            if getattr(self, key) < 0:
                raise config_error(key, f"0 이상의 유한한 수여야 합니다. 받은 값 {getattr(self, key)}",
                                   "must be finite and >= 0")
        if self.lr_projector == 0 and self.lr_lora == 0:
            raise config_error("lr_projector", "프로젝터와 LoRA 학습률이 모두 0이면 학습할 것이 없습니다",
                               "at least one learning rate must be > 0")
        _at_least(self, ("warmup_steps", "steps_per_epoch"), 0)
        if self.lora_delay_steps < 0 or (self.lora_delay_steps and self.lr_lora == 0):
            raise config_error("lora_delay_steps", f"0 이상이어야 하고, LoRA 학습률이 0이면 0이어야 합니다. 받은 값 "
                               f"{self.lora_delay_steps}", "must be >= 0, and 0 when lr_lora is 0")
        if self.schedule not in SCHEDULES:
            raise config_error("schedule", f"'cosine' 또는 'constant'여야 합니다. 받은 값 {shown(self.schedule)}",
                               "must be 'cosine' or 'constant'")


@dataclass(frozen=True)
class LoraSettings:
    """LoRA 설정: 랭크 `r`, 배율 `alpha`(ΔW = alpha/r · B A; rsLoRA면 alpha/√r), 드롭아웃, 붙일 모듈 이름,
    DoRA(`use_dora`) 여부. `peft_config()`가 peft의 `LoraConfig`로 바꾼다. 모듈 이름은 `course_lib.lora`의 목록 안에서."""
    r: int = 16
    alpha: float = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = lora_math.LINEAR_MODULES
    use_dora: bool = False
    use_rslora: bool = False

    def __post_init__(self):
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise config_error("r", f"LoRA 랭크는 1 이상의 정수여야 합니다. 받은 값 {shown(self.r)}",
                               "must be a positive integer")
        check_types(self)
        if self.alpha <= 0:
            raise config_error("alpha", f"0보다 커야 합니다. 받은 값 {shown(self.alpha)}", "must be > 0")
        if not 0 <= self.dropout < 1:
            raise config_error("dropout", f"0 이상 1 미만이어야 합니다. 받은 값 {self.dropout}", "must be in [0, 1)")
        if isinstance(self.target_modules, list):  # 목록도 받는다(얼어 있는 설정이라 묶음으로 바꿔 둔다)
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        modules = self.target_modules
        if not isinstance(modules, tuple) or not all(isinstance(m, str) for m in modules):
            raise config_error("target_modules", f"모듈 이름 목록이어야 합니다(예: [\"q_proj\", \"v_proj\"]). 받은 값 "
                               f"{shown(modules)}", "must be a list of module names")
        unknown = [m for m in modules if m not in lora_math.LINEAR_MODULES]
        if unknown or not modules:
            raise config_error("target_modules", f"알 수 없는 모듈 {unknown}. 가능한 이름: {list(lora_math.LINEAR_MODULES)}",
                               "unknown target module")

    def peft_config(self) -> LoraConfig:
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), use_dora=self.use_dora,
                          use_rslora=self.use_rslora, bias="none")


@dataclass(frozen=True)
class TrainConfig:
    """한 번의 학습 전체: 단계들(`stages`, 차례대로), LoRA, 시드, 미니 월드 분할의 크기(n_train/n_val/n_test),
    체크포인트 간격, 모델의 모양(그림 토큰 합치기 `projector_merge`, 인코더 층 `vision_feature_layer`), 혼합 정밀도.
    프리셋(`course_lib.presets`)이 이것을 돌려주고, `--config`/`--set`은 JSON으로 같은 칸을 바꾼다."""
    stages: tuple[StageConfig, ...]
    lora: LoraSettings = LoraSettings()
    seed: int = 0
    n_train: int = 6000
    n_val: int = 300
    n_test: int = 500
    gradient_checkpointing: bool = False
    # 얼어 있는 시각 인코더의 출력을 학습 그림마다 한 번만 계산해 두고 epoch마다 다시 쓴다(미니 월드 mini: 12800장 × 16패치
    # × 128 × 4바이트 = 100MiB). 그림 전체가 메모리에 있는 데이터(SceneCaptionData)에서만 쓰고, 파일에서 읽는
    # 실제 데이터(real_data)에서는 저절로 꺼진다(알림을 남긴다).
    cache_vision_features: bool = False
    checkpoint_every: int = 100  # 옵티마이저 걸음마다 step 체크포인트; 0이면 epoch 끝에만
    eval_every_epoch: bool = True
    mixed_precision: str = "auto"  # "auto" | "no" | "bf16" | "fp16"
    # 길이로 묶기(length grouping): 섞은 순서를 이 수만큼의 배치씩 묶어 그 안에서 캡션 길이로 정렬한다(채움이 준다).
    # 0이면 끈다(기본값). `training.data.length_grouped_order`, 효과는 `bench/bench_length_group.py`가 잰다.
    length_group_batches: int = 0
    # 프로젝터 앞에서 이웃한 merge×merge 패치 토큰을 하나로 합친다(1: LLaVA-1.5 그대로, 2: 2×2 합치기). `models.projector`.
    projector_merge: int = 1
    # 프로젝터가 읽는 시각 인코더의 층: -2는 끝에서 두 번째 층(LLaVA), -1은 마지막 층.
    vision_feature_layer: int = -2
    preset: str = "custom"

    def __post_init__(self):
        if not isinstance(self.stages, tuple) or not all(isinstance(s, StageConfig) for s in self.stages):
            raise config_error("stages", f"StageConfig 묶음이어야 합니다. 받은 값 {self.stages!r}",
                               "must be a tuple of StageConfig")
        if not self.stages:
            raise config_error("stages", "단계가 하나 이상 있어야 합니다", "at least one stage is required")
        if not isinstance(self.lora, LoraSettings):
            raise config_error("lora", f"LoraSettings여야 합니다. 받은 값 {self.lora!r}", "must be LoraSettings")
        check_types(self)
        _at_least(self, ("n_train", "n_val", "n_test"), 1)
        _at_least(self, ("seed", "checkpoint_every", "length_group_batches"), 0)
        if self.projector_merge not in (1, 2):
            raise config_error("projector_merge", f"1(합치지 않음) 또는 2(2×2 합치기)여야 합니다. 받은 값 "
                               f"{shown(self.projector_merge)}", "must be 1 or 2")
        if self.vision_feature_layer >= 0:
            raise config_error("vision_feature_layer", f"끝에서 센 층 번호(-1: 마지막, -2: 끝에서 두 번째)여야 합니다. "
                               f"받은 값 {shown(self.vision_feature_layer)}", "must be negative (counted from the end)")
        if self.mixed_precision not in MIXED_PRECISION:
            raise config_error("mixed_precision", f"auto/no/bf16/fp16 가운데 하나여야 합니다: {shown(self.mixed_precision)}",
                               "must be auto, no, bf16 or fp16")
        for k, stage in enumerate(self.stages):
            # 한 걸음 = batch_size × grad_accum개. 학습 데이터가 그보다 적으면 한 걸음도 못 간다(시작 전에 거부).
            if stage.batch_size * stage.grad_accum > self.n_train:
                raise config_error(f"stages.{k}.batch_size", f"한 걸음에 배치 {stage.batch_size} × 누적 "
                                   f"{stage.grad_accum}개가 필요한데 학습 데이터는 n_train={self.n_train}개입니다. "
                                   f"배치를 줄이거나 n_train을 늘리세요", "batch larger than the training data")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    def fingerprint(self) -> str:
        """체크포인트가 이 설정에서 나왔는지 확인하는 지문. 결과에 영향이 없는 체크포인트 간격은 뺀다."""
        data = asdict(self)
        data.pop("checkpoint_every")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    @staticmethod
    def from_json(text: str, source: str = "config") -> "TrainConfig":
        """JSON 글에서 설정을 만든다. JSON이 아니면 `source` 이름으로 거부한다."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise config_error(source, f"JSON으로 읽을 수 없습니다: {err.msg}(줄 {err.lineno}, 칸 {err.colno})",
                               "invalid JSON") from None
        return TrainConfig.from_dict(data)

    @staticmethod
    def from_dict(data) -> "TrainConfig":
        """JSON 객체(사전)에서 설정을 만든다. 모르는 칸·빠진 칸·틀린 종류는 전체 경로(`stages.1.epochs`)로 거부한다."""
        data = dict(_object(TrainConfig, data, ""))
        stages = data["stages"]
        if not isinstance(stages, (list, tuple)):
            raise config_error("stages", f"단계 목록(JSON 배열)이어야 합니다. 받은 값 {shown(stages)}",
                               "must be a list of stages")
        data["stages"] = tuple(_build(StageConfig, _object(StageConfig, s, f"stages.{k}"), f"stages.{k}")
                               for k, s in enumerate(stages))
        if "lora" in data:
            lora = dict(_object(LoraSettings, data["lora"], "lora"))
            data["lora"] = _build(LoraSettings, lora, "lora")
        return _build(TrainConfig, data, "")


def _object(cls, data, path: str) -> dict:
    """`data`가 `cls`의 칸만 가진 JSON 객체인지 본다(모르는 칸은 비슷한 이름을 알려 주며, 빠진 필수 칸도 거부)."""
    where = path or "config"
    if not isinstance(data, dict):
        raise config_error(where, f"JSON 객체({{...}})여야 합니다. 받은 값 {shown(data)}", "must be a JSON object")
    names = [f.name for f in fields(cls)]
    for key in data:
        if key not in names:
            hint = did_you_mean(key, names)
            full = f"{path}.{key}" if path else str(key)
            raise config_error(full, f"설정에 없는 칸입니다.{hint} 가능한 칸: {', '.join(names)}", "unknown key")
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING and f.name not in data:
            full = f"{path}.{f.name}" if path else f.name
            raise config_error(full, "꼭 있어야 하는 칸이 없습니다", "missing key")
    return data


def _build(cls, data: dict, path: str):
    try:
        return cls(**data)
    except ConfigError as err:  # 칸 이름 앞에 경로를 붙인다: epochs → stages.1.epochs
        raise (err.under(path) if path else err) from None
