"""2단계 학습 대 한 번에 학습(single-stage): 같은 계산 예산에서 두 팔(arm)을 돌리고 재는 실험 도구(노트북 01).

한 번의 실행(`Arm`)은 작은 세계에서 `course_lib.training.Trainer`를 그대로 쓴다. 두 팔은 옵티마이저 걸음 수, 배치,
본 샘플이 모두 같고, 다른 것은 LoRA가 켜지는 시점뿐이다.

- 2단계: 처음 `warm_steps`걸음(기본 15 = 1 epoch)은 프로젝터만(LoRA 학습률 0), 나머지는 프로젝터 + LoRA.
- 한 번에: 처음부터 프로젝터 + LoRA.

`run_grid`는 여러 실행을 프로세스 여러 개(기본 2개, 프로세스마다 스레드 1개)로 나눠 돌린다. 각 실행은 스레드 하나로
돌아 결과가 어느 프로세스에서 돌았는지와 상관없이 같다.
"""
from __future__ import annotations

import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from typing import Iterable, Sequence

import torch
from tqdm.auto import tqdm

from course_lib import evaluate, quiet, world
from course_lib.models import pretrained
from course_lib.training.config import LoraSettings, StageConfig, TrainConfig
from course_lib.training.data import SceneCaptionData
from course_lib.training.trainer import Trainer

ARMS = ("2단계", "한 번에")
ATTRIBUTES = ("count", "position", "size", "color", "shape")


@dataclass(frozen=True)
class Arm:
    """한 번의 학습: 팔, 시드, 그리고 실무자가 바꿔 볼 세 가지(LoRA 학습률, 데이터 크기, 걸음 예산)."""
    arm: str
    seed: int
    lr_lora: float = 5e-3
    n_train: int = 240
    steps: int = 60
    batch_size: int = 16
    warm_steps: int = 15
    lr_projector: float = 2e-3
    n_test: int = 64

    def __post_init__(self):
        if self.arm not in ARMS:
            raise ValueError(f"arm: {ARMS} 가운데 하나여야 합니다. 받은 값 {self.arm!r} (arm: unknown arm)")
        if self.n_train % self.batch_size:
            raise ValueError(f"n_train: 배치 {self.batch_size}의 배수여야 합니다(한 epoch이 딱 떨어지게). "
                             f"받은 값 {self.n_train} (n_train: must be a multiple of batch_size)")
        per_epoch = self.n_train // self.batch_size
        for key in ("steps", "warm_steps"):
            if getattr(self, key) % per_epoch:
                raise ValueError(f"{key}: 한 epoch({per_epoch}걸음)의 배수여야 합니다. 받은 값 {getattr(self, key)} "
                                 f"({key}: must be whole epochs)")
        if not 0 < self.warm_steps < self.steps:
            raise ValueError(f"warm_steps: 0보다 크고 걸음 {self.steps}보다 작아야 합니다. 받은 값 {self.warm_steps} "
                             f"(warm_steps: must be in (0, steps))")

    def config(self) -> TrainConfig:
        per_epoch = self.n_train // self.batch_size
        epochs, warm = self.steps // per_epoch, self.warm_steps // per_epoch

        def stage(name: str, n_epochs: int, lr_lora: float) -> StageConfig:
            return StageConfig(name, epochs=n_epochs, lr_projector=self.lr_projector, lr_lora=lr_lora,
                                     batch_size=self.batch_size, warmup_steps=5)

        if self.arm == "2단계":
            stages = (stage("stage1", warm, 0.0), stage("stage2", epochs - warm, self.lr_lora))
        else:
            stages = (stage("single", epochs, self.lr_lora),)
        return TrainConfig(stages=stages, lora=LoraSettings(r=16, alpha=32, dropout=0.0), seed=self.seed,
                                 n_train=self.n_train, n_val=8, n_test=8, checkpoint_every=0, eval_every_epoch=False,
                                 cache_vision_features=True)

    @property
    def warmup_steps(self) -> int:
        """프로젝터만 배우는 걸음 수(한 번에 학습은 0)."""
        return self.warm_steps if self.arm == "2단계" else 0


def lora_modules(llm) -> list:
    """LoRA가 붙은 모듈들(peft의 `lora_A`/`lora_B`에 어댑터 "default"가 있는 층)."""
    return [m for m in llm.modules() if hasattr(m, "lora_A") and "default" in m.lora_A]


def lora_update_norm_total(llm, modules: Sequence | None = None) -> float:
    """Σ_모듈 ‖scaling · B @ A‖_F: LoRA가 원래 가중치를 실제로 얼마나 바꿨나(노트북 01, 연습문제 01.2).

    ΔW = s·B A(출력 × 입력)를 만들지 않고 r × r 행렬 두 개로 계산한다: ‖BA‖²_F = tr(AᵀBᵀBA) = tr((BᵀB)(AAᵀ)).
    값은 같고(float64로 계산), 걸음마다 재도 학습 시간에 거의 더하지 않는다. `modules`를 주면 모듈 찾기를 건너뛴다.
    """
    total = 0.0
    with torch.no_grad():
        for module in modules if modules is not None else lora_modules(llm):
            a = module.lora_A["default"].weight.double()
            b = module.lora_B["default"].weight.double()
            squared = ((b.T @ b) * (a @ a.T)).sum()  # tr(XY) = Σ X ⊙ Yᵀ, AAᵀ는 대칭
            total += module.scaling["default"] * float(squared.clamp(min=0.0).sqrt())
    return total


class LoraMovement:
    """학습기 콜백(callback): 걸음마다 기록에 LoRA 이동량 `lora_delta`를 더한다(학습 자체는 그대로)."""

    def __init__(self):
        self.modules: list | None = None

    def on_step_end(self, trainer: Trainer, record: dict) -> None:
        if self.modules is None:
            self.modules = lora_modules(trainer.model.llm)
        record["lora_delta"] = lora_update_norm_total(trainer.model.llm, self.modules)


def perplexity_captions(n: int = 100) -> list[str]:
    """텍스트 퍼플렉서티를 잴 캡션(test 분할, 학습에 쓰지 않는 장면)."""
    return [world.write_caption(s, random.Random(i)) for i, s in enumerate(world.make_scenes("test", n, seed=1))]


def mean_attribute(accuracy: dict) -> float:
    return sum(accuracy[k] for k in ATTRIBUTES) / len(ATTRIBUTES)


def run_arm(spec: Arm) -> dict:
    """한 번 학습하고 잰다: 시험 속성 정확도, 눈 가린 기준선, SigLIP 점수, 텍스트 퍼플렉서티, 걸음별 손실과 LoRA 이동량."""
    start = time.perf_counter()
    trainer = Trainer(spec.config(), pretrained.load_parts(), progress=False, log=lambda _: None,
                      callbacks=[LoraMovement()]).run()
    vlm, parts = trainer.vlm, trainer.parts
    test = SceneCaptionData("test", spec.n_test, seed=0)
    seen = evaluate.evaluate_vlm(vlm, parts.siglip, parts.tokenizer, test.scenes, test.images)
    blind = evaluate.evaluate_vlm(vlm, parts.siglip, parts.tokenizer, test.scenes, test.images, blind="zeros")
    steps = trainer.history.steps
    acc, blind_acc = mean_attribute(seen.accuracy), mean_attribute(blind.accuracy)
    return {**asdict(spec), "acc": acc, "exact": seen.accuracy["exact"], "blind_acc": blind_acc, "gap": acc - blind_acc,
            "siglip": seen.siglip_score, "ppl": evaluate.text_perplexity(vlm.llm, parts.tokenizer, perplexity_captions()),
            "loss": [s["loss"] for s in steps], "lora_delta": [s["lora_delta"] for s in steps],
            "stage_seconds": {st: sum(s["seconds"] for s in steps if s["stage"] == st)
                              for st in dict.fromkeys(s["stage"] for s in steps)},
            "wall_s": time.perf_counter() - start}


def _one_thread() -> None:
    torch.set_num_threads(1)


def _quiet_worker() -> None:
    """작업 프로세스: 스레드 하나, 알려진 무해한 경고는 거른다(course_lib.quiet; 노트북 출력이 깨끗하게)."""
    _one_thread()
    quiet.install()


def _run_one_thread(spec: Arm) -> dict:
    """이 프로세스에서 스레드 하나로 돌리고, 원래 스레드 수로 되돌린다."""
    threads = torch.get_num_threads()
    _one_thread()
    try:
        return run_arm(spec)
    finally:
        torch.set_num_threads(threads)


def run_grid(specs: Iterable[Arm], processes: int | None = None, progress: bool = True) -> list[dict]:
    """여러 실행을 프로세스 `processes`개(기본: min(2, CPU 수))로 나눠 돌린다. 결과는 `specs` 순서대로.

    프로세스마다 스레드 하나: 작은 모델에서는 스레드 2개짜리 실행 하나보다 스레드 1개짜리 실행 둘이 빠르고,
    스레드 수가 고정되어 부동소수 합의 순서도 실행마다 같다.
    """
    specs = list(specs)
    processes = processes or min(2, os.cpu_count() or 1)
    bar = tqdm(total=len(specs), desc="학습(팔 × 조건 × 시드)", disable=not progress)
    if processes == 1:
        results = []
        for spec in specs:
            results.append(_run_one_thread(spec))
            bar.update(1)
        bar.close()
        return results
    # 긴 실행부터 넣어야 두 프로세스가 비슷한 때에 끝난다(결과는 specs 순서로 돌려준다).
    heavy_first = sorted(range(len(specs)), key=lambda k: -specs[k].steps)
    # 리눅스는 fork(이미 불러온 라이브러리를 물려받아 빨리 시작), 그 밖에는 spawn.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context(method), initializer=_quiet_worker) as pool:
        futures = {k: pool.submit(run_arm, specs[k]) for k in heavy_first}
        for future in futures.values():
            future.add_done_callback(lambda _: bar.update(1))
        results = [futures[k].result() for k in range(len(specs))]
    bar.close()
    return results


def paired_differences(runs: Sequence[dict], key: str, **condition) -> list[float]:
    """조건이 같은 실행들에서 시드마다 (2단계 − 한 번에)의 `key` 차이. 시드 순서로."""
    chosen = [r for r in runs if all(r[k] == v for k, v in condition.items())]
    by = {(r["arm"], r["seed"]): r[key] for r in chosen}
    seeds = sorted({r["seed"] for r in chosen})
    missing = [(a, s) for s in seeds for a in ARMS if (a, s) not in by]
    if missing or not seeds:
        raise ValueError(f"condition: 짝이 없는 실행 {missing or '(실행 없음)'} (condition: unpaired runs)")
    return [by[("2단계", s)] - by[("한 번에", s)] for s in seeds]
