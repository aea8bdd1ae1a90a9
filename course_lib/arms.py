"""한 번에 학습(single-stage) 대 2단계 학습: 노트북 01의 실험 도구.

세 실험군(arm)이 한 레시피(`Recipe`: 프리셋의 두 단계 설정 + 작은 학습 데이터)에서 나온다. 데이터 키는 ASCII이고,
화면에 쓰는 한국어 이름은 `ARM_LABELS`에 따로 있다.

- `single_stage`(한 번에 학습): 단계 하나. 2단계의 학습률·예열로 처음부터 프로젝터 + LoRA.
- `two_stage_delayed`(2단계·통제): `single_stage`와 옵티마이저·스케줄이 하나로 같고, LoRA만 처음 k걸음(= 1단계의
  걸음 수) 동안 기울기를 버려 갱신되지 않는다(`StageConfig.lora_delay_steps`; AdamW의 모멘트도 그동안 비어 있다).
- `two_stage_restart`(2단계·실제): 강의의 레시피 그대로 두 단계. LLaVA처럼 단계가 바뀔 때 옵티마이저와 스케줄을
  새로 시작한다.

비교는 둘이다(`COMPARISONS`): 통제 비교(delayed 대 single)는 "LoRA를 언제 켜나" 하나만 다르고, 실제 비교
(restart 대 single)는 강의가 실제로 쓰는 방식을 같은 걸음 수의 한 번에 학습과 견준다.

`run_grid`는 여러 실행을 프로세스 여러 개(기본 2개, 프로세스마다 스레드 1개)로 나눠 돌린다. 각 실행은 스레드 하나로
돌아 결과가 어느 프로세스에서 돌았는지와 상관없이 같다. 판정 규칙(시드마다 시험 장면을 짝지어 다시 뽑는
부트스트랩(bootstrap), 그리고 시드 사이의 일치)은 `paired_bootstrap`, `seed_call`, `decide`다.
"""
from __future__ import annotations

import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from typing import Iterable, Sequence

import torch
from tqdm.auto import tqdm

from course_lib import evaluate, quiet, world
from course_lib.errors import config_error
from course_lib.models import pretrained
from course_lib.training.config import LoraSettings, StageConfig, TrainConfig
from course_lib.training.data import SceneCaptionData
from course_lib.training.trainer import Trainer

SINGLE, DELAYED, RESTART = "single_stage", "two_stage_delayed", "two_stage_restart"
ARMS = (SINGLE, DELAYED, RESTART)
ARM_LABELS = {SINGLE: "한 번에 학습", DELAYED: "2단계·통제(LoRA만 늦게)", RESTART: "2단계·실제(단계마다 새로)"}
# 비교 이름 → (2단계 쪽, 한 번에 학습 쪽). 차이는 언제나 (2단계 − 한 번에)로 센다.
COMPARISONS = {"controlled": (DELAYED, SINGLE), "practical": (RESTART, SINGLE)}
COMPARISON_LABELS = {"controlled": "통제 비교", "practical": "실제 비교"}
ATTRIBUTES = ("count", "position", "size", "color", "shape")
GROUPS = ("projector", "lora")


@dataclass(frozen=True)
class Recipe:
    """두 단계 설정(보통 `presets.mini()`의 것)과 학습 그림 수. 세 실험군이 모두 여기서 나온다."""
    stage1: StageConfig
    stage2: StageConfig
    lora: LoraSettings
    n_train: int

    def __post_init__(self):
        s1, s2 = self.stage1, self.stage2
        if s1.lr_lora != 0 or s2.lr_lora <= 0:
            raise config_error("stage1", f"1단계는 LoRA 학습률 0, 2단계는 0보다 커야 합니다. 받은 값 {s1.lr_lora}, {s2.lr_lora}",
                    "stage 1 trains the projector only, stage 2 trains LoRA")
        if (s1.batch_size, s1.grad_accum) != (s2.batch_size, s2.grad_accum):
            raise config_error("stage2", "두 단계의 배치와 누적이 같아야 걸음 수와 본 샘플을 맞출 수 있습니다",
                    "both stages need the same batch size and accumulation")
        if self.n_train <= 0 or self.n_train % self.samples_per_step:
            raise config_error("n_train", f"한 걸음의 샘플 수 {self.samples_per_step}의 배수여야 합니다(epoch이 딱 떨어지게). 받은 값 "
                    f"{self.n_train}", "must be a positive multiple of batch_size × grad_accum")

    @classmethod
    def from_preset(cls, preset: TrainConfig, n_train: int, lr_lora: float | None = None) -> "Recipe":
        """프리셋의 두 단계를 그대로 쓰고 학습 그림 수만 바꾼다. `lr_lora`를 주면 2단계의 LoRA 학습률만 바꾼다."""
        if len(preset.stages) != 2:
            raise config_error("stages", f"단계가 둘인 프리셋이어야 합니다. 받은 단계 {len(preset.stages)}개", "need two stages")
        stage1, stage2 = preset.stages
        if lr_lora is not None:
            stage2 = replace(stage2, lr_lora=lr_lora)
        return cls(stage1, stage2, preset.lora, n_train)

    @property
    def samples_per_step(self) -> int:
        return self.stage1.batch_size * self.stage1.grad_accum

    @property
    def steps_per_epoch(self) -> int:
        return self.n_train // self.samples_per_step

    @property
    def warm_steps(self) -> int:
        """1단계(프로젝터만)의 걸음 수 k. 통제 실험군은 이만큼 LoRA를 늦게 켠다."""
        return self.stage1.epochs * self.steps_per_epoch

    @property
    def total_steps(self) -> int:
        return (self.stage1.epochs + self.stage2.epochs) * self.steps_per_epoch

    def stages(self, arm: str) -> tuple[StageConfig, ...]:
        if arm == RESTART:
            return self.stage1, self.stage2
        if arm not in ARMS:
            raise config_error("arm", f"{ARMS} 가운데 하나여야 합니다. 받은 값 {arm!r}", "unknown arm")
        epochs = self.stage1.epochs + self.stage2.epochs  # 한 번에 학습: 2단계 설정을 처음부터 끝까지
        if arm == SINGLE:
            return (replace(self.stage2, name="single", epochs=epochs, lora_delay_steps=0),)
        return (replace(self.stage2, name="delayed", epochs=epochs, lora_delay_steps=self.warm_steps),)


@dataclass(frozen=True)
class Arm:
    """한 번의 학습: 실험군, 시드, 레시피. 평가는 `eval_split` 분할의 장면 `n_eval`개(설계는 val, 결과는 test)."""
    arm: str
    seed: int
    recipe: Recipe
    n_eval: int = 300
    eval_split: str = "test"

    def __post_init__(self):
        if self.arm not in ARMS:
            raise config_error("arm", f"{ARMS} 가운데 하나여야 합니다. 받은 값 {self.arm!r}", "unknown arm")
        if self.eval_split not in ("val", "test"):
            raise config_error("eval_split", f"'val' 또는 'test'여야 합니다. 받은 값 {self.eval_split!r}", "must be val or test")

    def config(self) -> TrainConfig:
        return TrainConfig(stages=self.recipe.stages(self.arm), lora=self.recipe.lora, seed=self.seed,
                           n_train=self.recipe.n_train, n_val=8, n_test=8, checkpoint_every=0, eval_every_epoch=False,
                           cache_vision_features=True)


# -- LoRA가 바꾼 가중치: ΔW = s · B A를 만들지 않고 r × r 행렬로 잰다
def lora_modules(llm) -> list:
    """LoRA가 붙은 모듈들(peft의 `lora_A`/`lora_B`에 어댑터 "default"가 있는 층)."""
    return [m for m in llm.modules() if hasattr(m, "lora_A") and "default" in m.lora_A]


def lora_update_norm_total(llm, modules: Sequence | None = None) -> float:
    """Σ_모듈 ‖scaling · B @ A‖_F: LoRA가 원래 가중치를 실제로 얼마나 바꿨나.

    ‖BA‖²_F = tr(AᵀBᵀBA) = tr((BᵀB)(AAᵀ)): 출력 × 입력 행렬을 만들지 않는다(float64). `modules`를 주면 모듈 찾기를 건너뛴다.
    """
    total = 0.0
    with torch.no_grad():
        for module in modules if modules is not None else lora_modules(llm):
            a = module.lora_A["default"].weight.double()
            b = module.lora_B["default"].weight.double()
            squared = ((b.T @ b) * (a @ a.T)).sum()  # tr(XY) = Σ X ⊙ Yᵀ, AAᵀ는 대칭
            total += module.scaling["default"] * float(squared.clamp(min=0.0).sqrt())
    return total


def lora_state(llm, modules: Sequence | None = None) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
    """모듈마다 (scaling, A, B)의 사본(float64): 학습 중 한 시점의 LoRA를 떼어 둔다."""
    with torch.no_grad():
        return [(float(m.scaling["default"]), m.lora_A["default"].weight.detach().double().clone(),
                 m.lora_B["default"].weight.detach().double().clone())
                for m in (modules if modules is not None else lora_modules(llm))]


def lora_inner(u: Sequence, v: Sequence) -> float:
    """Σ_모듈 ⟨ΔW_u, ΔW_v⟩_F, ΔW = s·B A. ⟨B₁A₁, B₂A₂⟩ = tr(A₁ᵀB₁ᵀB₂A₂) = Σ (B₁ᵀB₂) ⊙ (A₁A₂ᵀ)."""
    if len(u) != len(v):
        raise ValueError(f"모듈 수가 다릅니다: {len(u)} != {len(v)}")
    return float(sum(su * sv * ((bu.T @ bv) * (au @ av.T)).sum() for (su, au, bu), (sv, av, bv) in zip(u, v)))


def surviving_fraction(early: Sequence, late: Sequence) -> float:
    """이른 ΔW 가운데 끝까지 남은 몫: ⟨ΔW_이른, ΔW_끝⟩ / ‖ΔW_이른‖². 1이면 그 방향 그대로 남고, 0이면 지워졌다."""
    return lora_inner(early, late) / lora_inner(early, early)


def lora_cosine(u: Sequence, v: Sequence) -> float:
    return lora_inner(u, v) / (lora_inner(u, u) * lora_inner(v, v)) ** 0.5


class LoraMovement:
    """학습기 콜백: 걸음마다 기록에 LoRA 이동량 `lora_delta`를 더하고, `snapshot_step` 걸음의 LoRA를 떼어 둔다."""

    def __init__(self, snapshot_step: int | None = None):
        self.modules: list | None = None
        self.snapshot_step = snapshot_step
        self.snapshot: list | None = None

    def on_step_end(self, trainer: Trainer, record: dict) -> None:
        if self.modules is None:
            self.modules = lora_modules(trainer.model.llm)
        record["lora_delta"] = lora_update_norm_total(trainer.model.llm, self.modules)
        if record["global_step"] == self.snapshot_step:
            self.snapshot = lora_state(trainer.model.llm, self.modules)


# -- 학습률 예산과 본 샘플
def stage_groups(stage: StageConfig) -> list[str]:
    """이 단계의 옵티마이저 그룹 이름, 순서대로(학습률 0인 그룹은 만들지 않는다: training.optim)."""
    return [name for name, lr in zip(GROUPS, (stage.lr_projector, stage.lr_lora)) if lr > 0]


def learning_rates_used(records: Sequence[dict], config: TrainConfig) -> list[dict[str, float]]:
    """걸음마다 그룹별로 실제로 쓴 학습률(없는 그룹은 0). 학습기의 기록 `record["lr"]`이 그 걸음에 쓴 학습률이다
    (LoRA를 늦게 켜는 걸음에서는 LoRA가 0: 기울기를 버려 갱신하지 않았다)."""
    names = {stage.name: stage_groups(stage) for stage in config.stages}
    return [{g: dict(zip(names[r["stage"]], r["lr"])).get(g, 0.0) for g in GROUPS} for r in records]


def lr_budget(used: Sequence[dict[str, float]]) -> dict[str, float]:
    """그룹마다 Σ_걸음 학습률: 그 그룹이 받은 학습률 예산."""
    return {g: sum(step[g] for step in used) for g in GROUPS}


def samples_seen(trainer: Trainer) -> dict[str, int]:
    """본 샘플 수와, 그 가운데 서로 다른 (그림, 캡션) 쌍의 수. 캡션 문형은 (시드, 단계 안의 epoch, 번호)로 정해진다."""
    data, config = trainer.train_data, trainer.config
    pairs, seen = set(), 0
    for stage in config.stages:
        for epoch in range(stage.epochs):
            captions = data.captions(range(len(data)), epoch)
            pairs.update(enumerate(captions))
            seen += trainer.steps_per_epoch(stage) * stage.batch_size * stage.grad_accum
    return {"samples": seen, "distinct_pairs": len(pairs)}


# -- 한 번의 실행
def perplexity_captions(n: int = 100) -> list[str]:
    """텍스트 퍼플렉서티를 잴 캡션(test 분할, 학습에 쓰지 않는 장면)."""
    return [world.write_caption(s, random.Random(i)) for i, s in enumerate(world.make_scenes("test", n, seed=1))]


def mean_attribute(accuracy: dict) -> float:
    return sum(accuracy[k] for k in ATTRIBUTES) / len(ATTRIBUTES)


def scene_scores(scenes, captions) -> list[float]:
    """장면마다 5개 속성 점수의 평균(부트스트랩의 단위)."""
    return [mean_attribute(evaluate.caption_accuracy(s, c)) for s, c in zip(scenes, captions)]


def run_arm(spec: Arm) -> dict:
    """한 번 학습하고 잰다: 장면별 점수, 정확도, 눈 가린 기준선, 텍스트 퍼플렉서티, 학습률 예산, LoRA의 움직임."""
    start = time.perf_counter()
    config = spec.config()
    movement = LoraMovement(snapshot_step=spec.recipe.warm_steps)
    trainer = Trainer(config, pretrained.load_parts(), progress=False, log=lambda _: None, callbacks=[movement]).run()
    vlm, parts, steps = trainer.model, trainer.parts, trainer.history.steps
    train_seconds = time.perf_counter() - start
    data = SceneCaptionData(spec.eval_split, spec.n_eval, seed=0)
    seen = evaluate.evaluate_vlm(vlm, parts.siglip, parts.tokenizer, data.scenes, data.images)
    blind = evaluate.evaluate_vlm(vlm, parts.siglip, parts.tokenizer, data.scenes, data.images, blind="zeros")
    used = learning_rates_used(steps, config)
    return {"arm": spec.arm, "seed": spec.seed, "lr_lora": spec.recipe.stage2.lr_lora, "n_train": spec.recipe.n_train,
            "steps": len(steps), "warm_steps": spec.recipe.warm_steps, "eval_split": spec.eval_split,
            "scene_acc": scene_scores(data.scenes, seen.captions), "acc": mean_attribute(seen.accuracy),
            "exact": seen.accuracy["exact"], "blind_acc": mean_attribute(blind.accuracy),
            "blind_exact": blind.accuracy["exact"], "siglip": seen.siglip_score,
            "ppl": evaluate.text_perplexity(vlm.llm, parts.tokenizer, perplexity_captions()),
            "loss": [s["loss"] for s in steps], "lora_delta": [s["lora_delta"] for s in steps],
            "lr_used": used, "lr_budget": lr_budget(used), **samples_seen(trainer),
            "lora_at_warm": movement.snapshot, "lora_end": lora_state(vlm.llm, movement.modules),
            "captions": seen.captions[:4],
            "stage_seconds": {st: sum(s["seconds"] for s in steps if s["stage"] == st)
                              for st in dict.fromkeys(s["stage"] for s in steps)},
            "train_s": train_seconds, "wall_s": time.perf_counter() - start}


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
    bar = tqdm(total=len(specs), desc="학습(실험군 × 조건 × 시드)", disable=not progress)
    if processes == 1:
        results = []
        for spec in specs:
            results.append(_run_one_thread(spec))
            bar.update(1)
        bar.close()
        return results
    # 긴 실행부터 넣어야 두 프로세스가 비슷한 때에 끝난다(결과는 specs 순서로 돌려준다).
    heavy_first = sorted(range(len(specs)), key=lambda k: -specs[k].recipe.total_steps)
    # 리눅스는 fork(이미 불러온 라이브러리를 물려받아 빨리 시작), 그 밖에는 spawn.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context(method), initializer=_quiet_worker) as pool:
        futures = {k: pool.submit(run_arm, specs[k]) for k in heavy_first}
        for future in futures.values():
            future.add_done_callback(lambda _: bar.update(1))
        results = [futures[k].result() for k in range(len(specs))]
    bar.close()
    return results


# -- 판정 규칙: 시드마다 짝지은 부트스트랩 + 시드 사이의 일치(노트북 01이 결과보다 먼저 적는 규칙)
VERDICT_LABELS = {"two_stage": "2단계가 낫다", "single_stage": "한 번에 학습이 낫다",
                  "equivalent": "차이가 여유보다 작다(같다고 본다)", "no_conclusion": "결론 없음"}


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """장면마다 짝지은 차이 (a − b)의 평균과, 장면을 복원추출해 다시 잰 평균들의 가운데 `level` 구간(백분위)."""
    if len(a) != len(b) or not len(a):
        raise ValueError(f"짝지을 점수의 수가 같고 0보다 커야 합니다: {len(a)}, {len(b)}")
    diff = torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)
    rows = torch.randint(len(diff), (n_resamples, len(diff)), generator=torch.Generator().manual_seed(seed))
    means = diff[rows].mean(dim=1)
    low, high = torch.quantile(means, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(diff.mean()), float(low), float(high)


def seed_call(diff: float, low: float, high: float, margin: float) -> str:
    """한 시드의 판정: 차이가 여유 이상이고 구간이 0을 넘지 않으면 그쪽, 구간 전체가 ±여유 안이면 "같다"."""
    if diff >= margin and low > 0:
        return "two_stage"
    if diff <= -margin and high < 0:
        return "single_stage"
    if -margin < low and high < margin:
        return "equivalent"
    return "unclear"


def decide(calls: Sequence[str]) -> str:
    """모든 시드가 같은 판정(2단계 / 한 번에 / 같다)이면 그것, 아니면 결론 없음."""
    calls = list(calls)
    if calls and calls[0] != "unclear" and all(c == calls[0] for c in calls):
        return calls[0]
    return "no_conclusion"


def decide_from_intervals(intervals: Sequence[tuple[float, float, float]], margin: float) -> str:
    return decide([seed_call(d, lo, hi, margin) for d, lo, hi in intervals])


def is_robust(intervals: Sequence[tuple[float, float, float]], margin: float, slack: float) -> bool:
    """여유를 ±slack 바꾸고 차이와 구간을 통째로 ±slack 옮겨도(9가지) 판정이 같은가. 다른 CPU에서 끝자리가 달라져도
    뒤집히지 않을 판정만 assert로 고정한다."""
    verdict = decide_from_intervals(intervals, margin)
    return all(decide_from_intervals([(d + shift, lo + shift, hi + shift) for d, lo, hi in intervals], margin + dm)
               == verdict for shift in (-slack, 0.0, slack) for dm in (-slack, 0.0, slack))


def paired_scores(runs: Sequence[dict], comparison: str, key: str = "scene_acc", **condition) -> dict[int, tuple]:
    """비교(`COMPARISONS`)의 두 실험군을 시드마다 짝짓는다: 시드 → (2단계 쪽 값, 한 번에 쪽 값)."""
    two, single = COMPARISONS[comparison]
    chosen = [r for r in runs if all(r[k] == v for k, v in condition.items())]
    by = {(r["arm"], r["seed"]): r[key] for r in chosen}
    seeds = sorted({r["seed"] for r in chosen})
    missing = [(a, s) for s in seeds for a in (two, single) if (a, s) not in by]
    if missing or not seeds:
        raise ValueError(f"condition: 짝이 없는 실행 {missing or '(실행 없음)'} (condition: unpaired runs)")
    return {s: (by[(two, s)], by[(single, s)]) for s in seeds}
