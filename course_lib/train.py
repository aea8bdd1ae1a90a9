"""두 단계 학습기(two-stage trainer).

1단계(stage 1): 프로젝터만 학습한다. 시각 인코더와 LLM 전체(LoRA 포함)는 얼어 있지만, 기울기는 얼어 있는
LLM을 거쳐 프로젝터까지 흐른다. 2단계(stage 2): 프로젝터와 LoRA를 함께 학습한다.

무엇을 학습할지는 파라미터 그룹별 학습률(learning rate)로 정한다. 학습률 0은 "얼림"이다(nanoVLM의 방식).
그래서 두 단계는 특별한 코드 경로가 아니라 설정 두 개다. 옵티마이저를 만든 뒤에는 학습하는 파라미터 수가
`course_lib.lora`의 산수와 같은지 확인하고, 빈 그룹은 바로 오류로 멈춘다.

학습 루프는 `accelerate.Accelerator`를 쓴다(장치 배치, 기울기 누적, 혼합 정밀도, 여러 프로세스).
체크포인트는 safetensors만 쓰고, 임시 폴더에 다 쓴 뒤 이름을 바꿔(원자적으로) 저장한다.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
from safetensors.torch import load_file, save_file

from course_lib import lora as lora_math
from course_lib import world
from course_lib.models.llm import LORA_TARGET_MODULES
from course_lib.models.vlm import IGNORE_INDEX, encode_captions


class ConfigError(ValueError):
    """잘못된 설정. 메시지는 한국어 설명과 영어 필드 이름(key)을 함께 담는다."""


def _fail(key: str, korean: str, english: str) -> ConfigError:
    return ConfigError(f"{key}: {korean} ({key}: {english})")


# ---------------------------------------------------------------- 설정

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

    def __post_init__(self):
        if self.epochs <= 0:
            raise _fail("epochs", f"1 이상이어야 합니다. 받은 값 {self.epochs}", "must be >= 1")
        for key in ("lr_projector", "lr_lora", "weight_decay"):
            value = getattr(self, key)
            if not math.isfinite(value) or value < 0:
                raise _fail(key, f"0 이상의 유한한 수여야 합니다. 받은 값 {value}", "must be finite and >= 0")
        if self.lr_projector == 0 and self.lr_lora == 0:
            raise _fail("lr_projector", "프로젝터와 LoRA 학습률이 모두 0이면 학습할 것이 없습니다",
                        "at least one learning rate must be > 0")
        if self.batch_size <= 0:
            raise _fail("batch_size", f"1 이상이어야 합니다. 받은 값 {self.batch_size}", "must be >= 1")
        if self.grad_accum <= 0:
            raise _fail("grad_accum", f"기울기 누적 횟수는 1 이상이어야 합니다. 받은 값 {self.grad_accum}",
                        "gradient accumulation steps must be >= 1")
        if self.warmup_steps < 0:
            raise _fail("warmup_steps", f"0 이상이어야 합니다. 받은 값 {self.warmup_steps}", "must be >= 0")
        if self.schedule not in ("cosine", "constant"):
            raise _fail("schedule", f"'cosine' 또는 'constant'여야 합니다. 받은 값 {self.schedule!r}",
                        "must be 'cosine' or 'constant'")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: float = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = LORA_TARGET_MODULES
    use_dora: bool = False
    use_rslora: bool = False

    def __post_init__(self):
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise _fail("r", f"LoRA 랭크는 1 이상의 정수여야 합니다. 받은 값 {self.r!r}", "must be a positive integer")
        if not 0 <= self.dropout < 1:
            raise _fail("dropout", f"0 이상 1 미만이어야 합니다. 받은 값 {self.dropout}", "must be in [0, 1)")
        unknown = [m for m in self.target_modules if m not in lora_math.LINEAR_MODULES]
        if unknown or not self.target_modules:
            raise _fail("target_modules", f"알 수 없는 모듈 {unknown}. 가능한 이름: {list(lora_math.LINEAR_MODULES)}",
                        "unknown target module")

    def peft_config(self):
        from peft import LoraConfig

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
            raise _fail("stages", "단계가 하나 이상 있어야 합니다", "at least one stage is required")
        for key in ("n_train", "n_val", "n_test"):
            if getattr(self, key) <= 0:
                raise _fail(key, f"1 이상이어야 합니다. 받은 값 {getattr(self, key)}", "must be >= 1")
        if self.checkpoint_every < 0:
            raise _fail("checkpoint_every", "0 이상이어야 합니다", "must be >= 0")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise _fail("mixed_precision", f"auto/no/bf16/fp16 가운데 하나여야 합니다: {self.mixed_precision!r}",
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


# ---------------------------------------------------------------- 데이터

class SceneCaptionData:
    """작은 세계의 (그림, 캡션) 데이터. 캡션 문형은 (seed, epoch, 번호)로 정해져 이어 하기에도 같다."""

    def __init__(self, split: str, n: int, seed: int = 0):
        self.split = split
        self.scenes = world.make_scenes(split, n, seed=seed)
        self.images = world.render_batch(self.scenes)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.scenes)

    def captions(self, indices: Sequence[int], epoch: int) -> list[str]:
        return [world.write_caption(self.scenes[i], random.Random(f"{self.seed}-{epoch}-{i}")) for i in indices]


def epoch_order(n: int, seed: int, stage_index: int, epoch: int) -> list[int]:
    """epoch마다 섞는 순서. 상태 없이 (seed, 단계, epoch)만으로 정해지므로 이어 하기가 쉽다."""
    generator = torch.Generator().manual_seed(hash_int(seed, stage_index, epoch))
    return torch.randperm(n, generator=generator).tolist()


def hash_int(*parts) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:6], "little")


# ---------------------------------------------------------------- 모델 준비와 얼리기

def add_lora(llm, settings: LoraSettings, gradient_checkpointing: bool = False):
    """LLM에 peft LoRA를 붙인다(체크포인팅은 non-reentrant: 얼어 있는 입력에서도 기울기가 흐른다)."""
    from peft import get_peft_model

    if gradient_checkpointing:
        llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        llm.config.use_cache = False
    return get_peft_model(llm, settings.peft_config())


def is_lora_parameter(name: str) -> bool:
    return "lora_" in name


def set_trainable(vlm, stage: StageConfig) -> dict[str, int]:
    """단계 설정대로 requires_grad를 정하고, 그룹별 학습 파라미터 수를 돌려준다.

    시각 인코더와 LLM의 원래 가중치는 언제나 얼어 있다. LoRA는 lr_lora > 0일 때만, 프로젝터는
    lr_projector > 0일 때만 학습한다.
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


def build_optimizer(vlm, stage: StageConfig, settings: LoraSettings) -> torch.optim.AdamW:
    """그룹별 학습률의 AdamW. 학습 파라미터 수가 산수와 다르거나 켠 그룹이 비어 있으면 멈춘다."""
    counts = set_trainable(vlm, stage)
    expected = expected_counts(vlm, stage, settings)
    if counts != expected:
        raise RuntimeError(f"[{stage.name}] 학습 파라미터 수가 산수와 다릅니다(trainable count mismatch): "
                           f"실제 {counts}, 기대 {expected}")
    groups = []
    for group_name, lr, params in (
        ("projector", stage.lr_projector, [p for p in vlm.projector.parameters() if p.requires_grad]),
        ("lora", stage.lr_lora, [p for n, p in vlm.llm.named_parameters() if p.requires_grad]),
    ):
        if lr > 0 and not params:
            raise RuntimeError(f"[{stage.name}] '{group_name}' 그룹의 학습률은 {lr}인데 학습할 파라미터가 "
                               f"없습니다(empty parameter group)")
        if lr > 0:
            groups.append({"params": params, "lr": lr, "name": group_name})
    # foreach=True: 파라미터 묶음을 한 번에 갱신(GPU에서는 원래 기본값). CPU에서도 값은 같고 걸음마다 몇 ms 빠르다.
    return torch.optim.AdamW(groups, weight_decay=stage.weight_decay, foreach=True)


def lr_factor(stage: StageConfig, total_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / stage.warmup_steps) if stage.warmup_steps else 1.0
        if stage.schedule == "constant":
            return warm
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))
    return factor


# ---------------------------------------------------------------- 체크포인트(safetensors, 원자적 쓰기)

def trainable_state(vlm) -> dict[str, torch.Tensor]:
    """저장할 가중치: 프로젝터 전체와 LoRA 파라미터(학습 여부와 상관없이). 얼어 있는 원래 가중치는 data/에 있다."""
    state = {f"projector.{k}": v for k, v in vlm.projector.state_dict().items()}
    state.update({f"llm.{n}": p for n, p in vlm.llm.named_parameters() if is_lora_parameter(n)})
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def load_trainable_state(vlm, state: dict[str, torch.Tensor]) -> None:
    own = trainable_state(vlm)
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        missing, extra = sorted(set(own) - set(state))[:3], sorted(set(state) - set(own))[:3]
        raise RuntimeError(f"체크포인트의 구조가 이 모델과 다릅니다(architecture mismatch): 없는 키 {missing}, "
                           f"남는 키 {extra}. 같은 설정으로 만든 체크포인트인지 확인하세요.")
    vlm.projector.load_state_dict({k[len("projector."):]: v for k, v in state.items() if k.startswith("projector.")})
    params = dict(vlm.llm.named_parameters())
    with torch.no_grad():
        for key, value in state.items():
            if key.startswith("llm."):
                params[key[len("llm."):]].copy_(value)


def optimizer_tensors(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """AdamW 상태를 safetensors에 담을 수 있는 텐서 사전과 JSON 메타데이터로 나눈다."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars[f"{pid}.{key}"] = value
    groups = [{k: v for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def restore_optimizer(optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for key, value in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(directory: Path, vlm, optimizer, trainer_state: dict, config: TrainConfig) -> Path:
    """체크포인트를 `directory.tmp-*`에 다 쓰고 fsync한 뒤 이름을 바꾼다. 도중에 죽으면 임시 폴더만 남는다."""
    directory = Path(directory)
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(vlm), tmp / "trainable.safetensors")
    if optimizer is not None:
        tensors, meta = optimizer_tensors(optimizer)
        rng = {"torch_rng": torch.get_rng_state()}
        save_file({**{f"opt.{k}": v for k, v in tensors.items()}, **rng}, tmp / "trainer_state.safetensors",
                  metadata={"optimizer": json.dumps(meta), "trainer": json.dumps(trainer_state),
                            "config": config.to_json(), "fingerprint": config.fingerprint()})
    for f in tmp.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(tmp)
    _maybe_crash_for_test(directory)
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    _fsync_dir(directory.parent)
    shutil.rmtree(old, ignore_errors=True)
    return directory


CRASH_ENV = "COURSE_CRASH_BEFORE_RENAME"


def _maybe_crash_for_test(directory: Path) -> None:
    """장애 주입(fault injection): 환경 변수에 적힌 체크포인트 이름을 쓰는 도중, 이름을 바꾸기 직전에
    스스로 SIGKILL한다. "체크포인트를 쓰다 죽어도 마지막 완전한 체크포인트는 멀쩡하다"를 시험하려고 둔다."""
    if os.environ.get(CRASH_ENV) == directory.name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def read_checkpoint(directory: Path) -> tuple[dict, dict, dict, TrainConfig | None]:
    """(가중치, 옵티마이저 텐서, 메타데이터, 설정)."""
    from safetensors import safe_open

    weights = load_file(Path(directory) / "trainable.safetensors")
    state_file = Path(directory) / "trainer_state.safetensors"
    if not state_file.exists():
        return weights, {}, {}, None
    with safe_open(state_file, "pt") as f:
        meta = f.metadata()
    tensors = load_file(state_file)
    return weights, tensors, meta, TrainConfig.from_json(meta["config"])


def latest_checkpoint(out_dir: Path) -> Path | None:
    """완전히 쓰인 step 체크포인트 가운데 가장 늦은 것(임시 폴더는 무시한다)."""
    root = Path(out_dir) / "checkpoints"
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and "." not in p.name
            and (p / "trainer_state.safetensors").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


# ---------------------------------------------------------------- 학습

@dataclass
class History:
    """학습 기록: 걸음별 손실과 epoch별 평가."""
    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)


def caption_loss_sum(vlm, pixel_values, text, vision_features=None) -> tuple[torch.Tensor, int]:
    """캡션 토큰의 음의 로그우도 합과 토큰 수. 누적·여러 프로세스에서도 전체 토큰 평균이 되도록 합으로 둔다.

    `vision_features`(미리 계산한 인코더 출력)를 주면 `pixel_values`는 None이어도 된다.
    """
    out = vlm(pixel_values, text.input_ids, text.attention_mask, vision_features=vision_features)
    n_image = out.logits.shape[1] - text.input_ids.shape[1]
    logits = out.logits[:, n_image:-1].float()
    labels = text.labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
                                             reduction="sum")
    return loss, int((labels != IGNORE_INDEX).sum())


def resolve_mixed_precision(setting: str) -> str:
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


class Trainer:
    """두 단계를 차례로 돌리는 학습기. `run()`이 끝나면 `history`와 `best`가 채워진다."""

    def __init__(self, config: TrainConfig, parts, out_dir: Path | None = None, progress: bool = True,
                 max_steps: int | None = None, log: Callable[[str], None] = print, train_data=None,
                 val_data=None, evaluator=None):
        from accelerate import Accelerator

        from course_lib.models.pretrained import build_vlm

        self.config = config
        self.parts = parts
        self.out_dir = Path(out_dir) if out_dir else None
        self.progress = progress
        self.max_steps = max_steps
        self.log = log
        self.accelerator = Accelerator(mixed_precision=resolve_mixed_precision(config.mixed_precision))
        torch.manual_seed(config.seed)
        llm = add_lora(parts.llm, config.lora, config.gradient_checkpointing)
        # 실제 프리셋의 부품(models.real.RealParts)은 자기 조립법(실제 ViT 인코더 감싸기)을 가진다.
        self.vlm = getattr(parts, "build_vlm", build_vlm)(parts.siglip, llm, seed=config.seed)
        self.train_data = train_data or SceneCaptionData("train", config.n_train, seed=config.seed)
        self.val_data = val_data or SceneCaptionData("val", config.n_val, seed=config.seed)
        self.evaluator = evaluator
        self.history = History()
        self.global_step = 0
        self.best: dict | None = None
        self._last_tokens = 0
        self._feature_cache: torch.Tensor | bool | None = None  # 인코더 출력 캐시(None: 아직, False: 쓰지 않음)

    def _image_tokens(self) -> int:
        return self.accelerator.unwrap_model(self.vlm).vision.num_patches

    # -- 평가
    def evaluate(self, data=None) -> dict:
        from course_lib.evaluate import evaluate_vlm

        data = data or self.val_data
        model = self.accelerator.unwrap_model(self.vlm)
        if self.evaluator is not None:  # 장면 정답이 없는 실제 데이터(real_data.RealEvaluator)
            return self.evaluator(model, self.parts.tokenizer, data)
        result = evaluate_vlm(model, self.parts.siglip, self.parts.tokenizer, data.scenes, data.images)
        return {"siglip_score": result.siglip_score, **{f"acc_{k}": v for k, v in result.accuracy.items()},
                "captions": result.captions[:8]}

    # -- 한 단계
    def steps_per_epoch(self, stage: StageConfig) -> int:
        return len(self.train_data) // (stage.batch_size * stage.grad_accum)

    def run_stage(self, stage_index: int, resume: dict | None = None) -> None:
        from tqdm.auto import tqdm

        cfg = self.config
        stage = cfg.stages[stage_index]
        acc = self.accelerator
        vlm = acc.unwrap_model(self.vlm)
        optimizer = build_optimizer(vlm, stage, cfg.lora)
        per_epoch = self.steps_per_epoch(stage)
        if per_epoch == 0:
            raise _fail("batch_size", f"데이터 {len(self.train_data)}개로는 한 걸음(batch {stage.batch_size} × "
                        f"누적 {stage.grad_accum})도 못 갑니다", "batch larger than the data set")
        total = per_epoch * stage.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(stage, total))
        model, optimizer = acc.prepare(vlm, optimizer)
        start_epoch, start_step = 0, 0
        if resume is not None:
            restore_optimizer(optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer,
                              resume["optimizer_tensors"], resume["optimizer_meta"])
            scheduler.load_state_dict(resume["scheduler"])
            start_epoch, start_step = resume["epoch"], resume["step_in_epoch"]
        world_size, rank = acc.num_processes, acc.process_index
        micro = stage.batch_size // world_size
        if micro * world_size != stage.batch_size:
            raise _fail("batch_size", f"배치 {stage.batch_size}가 프로세스 수 {world_size}로 나누어떨어지지 않습니다",
                        "batch size must be divisible by the number of processes")
        bar = tqdm(total=total, initial=start_epoch * per_epoch + start_step, desc=f"{stage.name}", mininterval=1.0,
                   disable=not self.progress or not acc.is_main_process)
        for epoch in range(start_epoch, stage.epochs):
            order = epoch_order(len(self.train_data), cfg.seed, stage_index, epoch)
            first = start_step if epoch == start_epoch else 0
            for step in range(first, per_epoch):
                if self.max_steps is not None and self.global_step >= self.max_steps:
                    bar.close()
                    return
                if not model.training:  # 평가 뒤에만 되돌린다(train()은 모듈 수천 개를 걷는다: 걸음마다 부르면 몇 ms)
                    model.train()
                step_start = time.perf_counter()
                loss_value = self._optimizer_step(model, optimizer, stage, order, step, epoch, micro, rank)
                scheduler.step()
                self.global_step += 1
                bar.update(1)
                record = {"stage": stage.name, "epoch": epoch, "step": step + 1, "global_step": self.global_step,
                          "loss": loss_value, "lr": [g["lr"] for g in optimizer.param_groups],
                          "seconds": time.perf_counter() - step_start, "tokens": self._last_tokens}
                self.history.steps.append(record)
                self._write_metrics(record)
                if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                    self._save_step_checkpoint(optimizer, scheduler, stage_index, epoch, step + 1)
            self._end_of_epoch(stage_index, stage, epoch, optimizer, scheduler, per_epoch)
        bar.close()

    def _optimizer_step(self, model, optimizer, stage, order, step, epoch, micro, rank) -> float:
        """기울기 누적을 포함한 옵티마이저 한 걸음. 손실은 전체(누적 × 프로세스) 캡션 토큰 평균이다."""
        acc = self.accelerator
        tokenizer = self.parts.tokenizer
        base = step * stage.batch_size * stage.grad_accum
        chunks = [order[base + k * stage.batch_size: base + (k + 1) * stage.batch_size] for k in range(stage.grad_accum)]
        texts = [encode_captions(tokenizer, self.train_data.captions(c, epoch)) for c in chunks]
        total_tokens = sum(int((t.labels[:, 1:] != IGNORE_INDEX).sum()) for t in texts)
        loss_total = 0.0
        for k, (chunk, text) in enumerate(zip(chunks, texts)):
            rows = slice(rank * micro, (rank + 1) * micro)
            local = dataclasses.replace(text, input_ids=text.input_ids[rows], attention_mask=text.attention_mask[rows],
                                        labels=text.labels[rows])
            local = dataclasses.replace(local, **{f.name: getattr(local, f.name).to(acc.device)
                                                  for f in dataclasses.fields(local)})
            features = self._vision_features()
            if features is None:
                pixels, batch_features = self.train_data.images[chunk[rows]].to(acc.device), None
            else:
                pixels, batch_features = None, features[chunk[rows]]
            sync = k == stage.grad_accum - 1
            context = acc.no_sync(model) if not sync else _nullcontext()
            with context, acc.autocast():
                loss_sum, _ = caption_loss_sum(model, pixels, local, vision_features=batch_features)
                # DDP는 프로세스들의 기울기를 평균하므로 프로세스 수를 곱해 전체 토큰 평균의 기울기를 만든다.
                loss = loss_sum * acc.num_processes / total_tokens
                acc.backward(loss)
            loss_total += loss_sum.detach()
        if stage.max_grad_norm:
            acc.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], stage.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self._last_tokens = sum(int(t.attention_mask.sum()) + t.input_ids.shape[0] * self._image_tokens() for t in texts)
        loss_total = acc.reduce(loss_total.reshape(1).to(acc.device), reduction="sum")
        return float(loss_total) / total_tokens

    @torch.no_grad()
    def _vision_features(self) -> torch.Tensor | None:
        """학습 그림 전체의 인코더 출력(처음 부를 때 한 번 계산). 캐시를 쓰지 않으면 None.

        인코더는 두 단계 모두 얼어 있고(eval 모드, 기울기 없음) 그림도 늘 같으므로, 걸음마다 다시 계산한 값과 같다
        (tests/test_train.py가 캐시를 쓴 학습과 쓰지 않은 학습의 최종 가중치를 비교한다).
        그림을 파일에서 그때그때 읽는 데이터(real_data)면 캐시 없이 간다(설정은 그대로라 이어 하기에도 같다).
        """
        if not self.config.cache_vision_features:
            return None
        cache = self._feature_cache
        if cache is None:
            images = self.train_data.images
            if not isinstance(images, torch.Tensor):
                self.log("시각 인코더 출력 캐시: 끔(그림을 파일에서 읽는 데이터라 걸음마다 인코더를 돌립니다)")
                cache = False
            else:
                vision = self.accelerator.unwrap_model(self.vlm).vision
                cache = torch.cat([vision(images[k:k + 256].to(self.accelerator.device))
                                   for k in range(0, len(images), 256)])
            self._feature_cache = cache
        return None if cache is False else cache

    def _end_of_epoch(self, stage_index, stage, epoch, optimizer, scheduler, per_epoch):
        cfg = self.config
        record = {"stage": stage.name, "epoch": epoch + 1, "global_step": self.global_step}
        if cfg.eval_every_epoch:
            record.update(self.evaluate())
            is_best = self.best is None or record["siglip_score"] > self.best["siglip_score"]
            if is_best:
                self.best = {k: v for k, v in record.items() if k != "captions"}
                if self.out_dir and self.accelerator.is_main_process:
                    write_checkpoint(self.out_dir / "checkpoints" / "best", self.accelerator.unwrap_model(self.vlm),
                                     None, {}, cfg)
            record["is_best"] = is_best
            self.log(f"[{stage.name}] epoch {epoch + 1}/{stage.epochs}: SigLIP 점수 {record['siglip_score']:.4f}, "
                     + (f"정확도(exact) {record['acc_exact']:.3f}" if "acc_exact" in record
                        else f"검증 손실 {record.get('val_loss', float('nan')):.4f}")
                     + ("  ← 최고" if is_best else ""))
        self.history.evals.append(record)
        self._write_metrics({"type": "eval", **record})
        self._save_step_checkpoint(optimizer, scheduler, stage_index, epoch + 1, 0)

    # -- 체크포인트와 기록
    def _save_step_checkpoint(self, optimizer, scheduler, stage_index, epoch, step_in_epoch):
        if not self.out_dir or not self.accelerator.is_main_process:
            return
        inner = optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer
        state = {"stage_index": stage_index, "epoch": epoch, "step_in_epoch": step_in_epoch,
                 "global_step": self.global_step, "scheduler": scheduler.state_dict(), "best": self.best,
                 "history": asdict(self.history)}
        directory = self.out_dir / "checkpoints" / f"step-{self.global_step:07d}"
        write_checkpoint(directory, self.accelerator.unwrap_model(self.vlm), inner, _jsonable(state), self.config)
        for old in sorted(directory.parent.glob("step-*")):
            if old != directory and "." not in old.name:
                shutil.rmtree(old, ignore_errors=True)  # 마지막 완전한 체크포인트 하나만 남긴다

    def _write_metrics(self, record: dict) -> None:
        if self.out_dir and self.accelerator.is_main_process:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(_jsonable(record), ensure_ascii=False) + "\n")

    def _rewrite_metrics(self) -> None:
        """이어 할 때: 체크포인트 뒤에 기록된 줄(다시 계산할 걸음)을 지우고 체크포인트까지의 기록만 남긴다."""
        if not self.out_dir or not self.accelerator.is_main_process:
            return
        rows = self.history.steps + [{"type": "eval", **e} for e in self.history.evals]
        rows.sort(key=lambda r: (r["global_step"], r.get("type") == "eval"))
        with open(self.out_dir / "metrics.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(_jsonable(r), ensure_ascii=False) + "\n" for r in rows)

    # -- 전체 실행
    def run(self, resume: bool = False) -> "Trainer":
        start_stage, resume_state = 0, None
        if resume and self.out_dir and (ckpt := latest_checkpoint(self.out_dir)) is not None:
            start_stage, resume_state = self._load_resume(ckpt)
        elif self.out_dir and self.accelerator.is_main_process:
            (self.out_dir / "metrics.jsonl").unlink(missing_ok=True)
        for stage_index in range(start_stage, len(self.config.stages)):
            self.run_stage(stage_index, resume_state)
            resume_state = None
            if self.max_steps is not None and self.global_step >= self.max_steps:
                break
        return self

    def _load_resume(self, ckpt: Path) -> tuple[int, dict | None]:
        weights, tensors, meta, saved_config = read_checkpoint(ckpt)
        if saved_config is None or meta.get("fingerprint") != self.config.fingerprint():
            raise ConfigError(f"{ckpt}는 다른 설정(config)이나 구조로 만든 체크포인트라 이어 할 수 없습니다"
                              f"(config fingerprint mismatch). 같은 명령으로 다시 실행하거나 --out을 바꾸세요.")
        load_trainable_state(self.accelerator.unwrap_model(self.vlm), weights)
        state = json.loads(meta["trainer"])
        torch.set_rng_state(tensors["torch_rng"])
        self.global_step = state["global_step"]
        self.best = state["best"]
        self.history = History(**state["history"])
        self._rewrite_metrics()
        stage_index, epoch = state["stage_index"], state["epoch"]
        stage = self.config.stages[stage_index]
        if epoch >= stage.epochs:  # 단계의 마지막 epoch 끝에서 저장됨 → 다음 단계부터
            return stage_index + 1, None
        opt_tensors = {k[len("opt."):]: v for k, v in tensors.items() if k.startswith("opt.")}
        return stage_index, {"optimizer_tensors": opt_tensors, "optimizer_meta": json.loads(meta["optimizer"]),
                             "scheduler": state["scheduler"], "epoch": epoch,
                             "step_in_epoch": state["step_in_epoch"]}


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if torch.is_tensor(value):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
