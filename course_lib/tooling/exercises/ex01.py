"""노트북 01(한 번에 학습 대 2단계 학습)의 연습문제 채점.

코드 문제는 노트북에 없던 변형을 묻고, 학습자가 보지 못한 입력으로 채점한다.
- 01.1: 시드가 몇 개면 부호 검정(sign test)이 원하는 유의수준에 닿을 수 있나(노트북은 시드 3개의 한계만 보인다).
- 01.2: 설정만 보고 그룹별 학습률 예산을 계산하기(노트북은 학습기의 기록에서 읽는다).
- 01.3: 짝지은 부호 뒤집기 검정(sign-flip test)의 정확한 p값(노트북은 부트스트랩 구간을 쓴다).
- 01.4 예측해 보기: 통제 실험군의 LoRA 첫 갱신은 한 번에 학습의 첫 갱신보다 큰가.
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

from course_lib import presets
from course_lib.training.config import StageConfig
from course_lib.training.optim import lr_factor
from course_lib.tooling.exercises import Wrong, choices, exercise, grade_choice


# -- 01.1 ---------------------------------------------------------------------------------------
def _sign_test_p(n: int, two_sided: bool) -> float:
    """시드 n개가 모두 같은 쪽을 가리킬 때의 부호 검정 p값(우연이면 한 시드가 이길 확률 ½)."""
    return min(1.0, (2 if two_sided else 1) * 0.5 ** n)


def _seeds_needed(alpha: float, two_sided: bool = True) -> int:
    n = 1
    while _sign_test_p(n, two_sided) >= alpha:
        n += 1
    return n


@exercise("01.1", title="시드가 몇 개면 부호 검정이 유의수준에 닿을 수 있나", level="🐢",
          wrong_answers=[lambda alpha, two_sided=True: _seeds_needed(alpha, False),
                         lambda alpha, two_sided=True: _seeds_needed(alpha, True),
                         lambda alpha, two_sided=True: next(n for n in range(1, 99)
                                                            if _sign_test_p(n, two_sided) <= alpha)])
def grade_seeds_needed(fn):
    if not callable(fn):
        raise Wrong("함수 seeds_needed(alpha, two_sided=True)를 넘기세요.")
    for alpha, two_sided in ((0.05, True), (0.05, False), (0.01, True), (0.2, False), (0.125, False), (0.25, True),
                             (0.3, True), (0.001, False)):
        got, expected = fn(alpha, two_sided=two_sided), _seeds_needed(alpha, two_sided)
        if got != expected:
            side = "양쪽" if two_sided else "한쪽"
            hint = ("p값이 alpha와 **같으면** 아직 '< alpha'가 아닙니다." if _sign_test_p(expected - 1, two_sided) == alpha
                    else "모든 시드가 한쪽을 가리킬 확률은 ½ⁿ이고, 양쪽 검정은 반대쪽도 세어 2배입니다.")
            raise Wrong(f"alpha={alpha}, {side} 검정에서 {got!r}, 기대값 {expected}. {hint}")


# -- 01.2 ---------------------------------------------------------------------------------------
def _reference_budget(stages, n_train: int) -> dict[str, float]:
    budget = {"projector": 0.0, "lora": 0.0}
    for stage in stages:
        total = stage.epochs * (n_train // (stage.batch_size * stage.grad_accum))
        factor = lr_factor(stage, total)
        for step in range(total):
            budget["projector"] += stage.lr_projector * factor(step)
            if step >= stage.lora_delay_steps:
                budget["lora"] += stage.lr_lora * factor(step)
    return budget


def _budget_no_schedule(stages, n_train):
    return {"projector": sum(s.lr_projector * s.epochs * (n_train // (s.batch_size * s.grad_accum)) for s in stages),
            "lora": sum(s.lr_lora * s.epochs * (n_train // (s.batch_size * s.grad_accum)) for s in stages)}


def _budget_next_step(stages, n_train):
    """기록의 `lr`(scheduler.step() 뒤의 값 = 다음 걸음의 학습률)을 그대로 더한 것."""
    budget = {"projector": 0.0, "lora": 0.0}
    for s in stages:
        total = s.epochs * (n_train // (s.batch_size * s.grad_accum))
        factor = lr_factor(s, total)
        for step in range(1, total + 1):
            budget["projector"] += s.lr_projector * factor(step)
            budget["lora"] += s.lr_lora * factor(step) * (step >= s.lora_delay_steps)
    return budget


def _budget_no_delay(stages, n_train):
    return _reference_budget([replace(s, lora_delay_steps=0) for s in stages], n_train)


def _budget_cases() -> list[tuple[list[StageConfig], int]]:
    mini = presets.mini()
    s1, s2 = mini.stages
    rng = random.Random(1201)
    cases = [(list(mini.stages), 320),
             ([StageConfig("one", epochs=3, lr_projector=1e-3, lr_lora=2e-3, batch_size=8, warmup_steps=4,
                           lora_delay_steps=7)], 40),
             ([StageConfig("a", epochs=1, lr_projector=5e-3, lr_lora=0.0, batch_size=4, grad_accum=2, warmup_steps=3),
               StageConfig("b", epochs=2, lr_projector=1e-4, lr_lora=3e-4, batch_size=4, grad_accum=2,
                           warmup_steps=0, schedule="constant")], 48)]
    for _ in range(3):
        epochs = rng.randint(2, 4)
        cases.append(([StageConfig("r", epochs=epochs, lr_projector=rng.choice([1e-3, 2e-3]), lr_lora=s2.lr_lora,
                                   batch_size=s1.batch_size, warmup_steps=rng.randint(1, 6),
                                   lora_delay_steps=rng.randint(1, 9))], s1.batch_size * rng.randint(3, 6)))
    return cases


@exercise("01.2", title="설정만 보고 그룹별 학습률 예산 계산하기", level="🐕",
          wrong_answers=[_budget_no_schedule, _budget_next_step, _budget_no_delay])
def grade_lr_budget(fn):
    if not callable(fn):
        raise Wrong("함수 lr_budget_from_config(stages, n_train)를 넘기세요. 돌려줄 값: {'projector': …, 'lora': …}")
    for stages, n_train in _budget_cases():
        got, expected = fn(list(stages), n_train), _reference_budget(stages, n_train)
        if not isinstance(got, dict) or set(got) != set(expected):
            raise Wrong(f"키가 'projector'와 'lora'인 dict를 돌려주세요. 받은 값: {got!r}")
        for group in expected:
            if not math.isclose(got[group], expected[group], rel_tol=1e-9, abs_tol=1e-12):
                names = ", ".join(f"{s.name}(epoch {s.epochs}, 예열 {s.warmup_steps}, {s.schedule}, LoRA 지연 "
                                  f"{s.lora_delay_steps})" for s in stages)
                raise Wrong(f"단계 [{names}], 그림 {n_train}장에서 {group} 예산이 {got[group]!r}, 기대값 "
                            f"{expected[group]:.6g}. 걸음 t(단계 안에서 0부터)의 학습률 = 기본 학습률 × "
                            f"training.lr_factor(단계, 단계의 걸음 수)(t)이고, LoRA는 t < lora_delay_steps에서 0입니다.")


# -- 01.3 ---------------------------------------------------------------------------------------
def _sign_flip_p(a, b, strict: bool = False, one_sided: bool = False) -> float:
    diffs = [x - y for x, y in zip(a, b)]
    observed = sum(diffs) / len(diffs)
    hits = 0
    for signs in itertools.product((1, -1), repeat=len(diffs)):
        mean = sum(s * d for s, d in zip(signs, diffs)) / len(diffs)
        stat, ref = (mean, observed) if one_sided else (abs(mean), abs(observed))
        hits += stat > ref + 1e-12 if strict else stat >= ref - 1e-12
    return hits / 2 ** len(diffs)


def _binomial_sign_test(a, b):
    wins = sum(x > y for x, y in zip(a, b))
    n = sum(x != y for x, y in zip(a, b))
    tail = sum(math.comb(n, k) for k in range(max(wins, n - wins), n + 1)) / 2 ** n
    return min(1.0, 2 * tail)


@exercise("01.3", title="짝지은 부호 뒤집기 검정의 정확한 p값", level="🦁",
          wrong_answers=[lambda a, b: _sign_flip_p(a, b, one_sided=True), lambda a, b: _sign_flip_p(a, b, strict=True),
                         _binomial_sign_test])
def grade_sign_flip(fn):
    if not callable(fn):
        raise Wrong("함수 sign_flip_p(a, b)를 넘기세요(a, b: 같은 장면 순서의 점수 목록).")
    rng = random.Random(1303)
    cases = [([0.8, 0.6, 1.0, 0.4], [0.6, 0.6, 0.8, 0.2]), ([0.2, 0.4, 0.6], [0.6, 0.8, 1.0])]
    for n in (5, 8, 11):
        a = [rng.choice([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]) for _ in range(n)]
        cases.append((a, [min(1.0, max(0.0, x + rng.choice([-0.4, -0.2, 0.0, 0.0, 0.2]))) for x in a]))
    for a, b in cases:
        got, expected = fn(list(a), list(b)), _sign_flip_p(a, b)
        if not isinstance(got, (int, float)) or not math.isclose(got, expected, abs_tol=1e-9):
            raise Wrong(f"a={a}, b={b}에서 {got!r}, 기대값 {expected:.6f}. 차이 dᵢ = aᵢ − bᵢ의 부호를 2ⁿ가지로 모두 "
                        f"뒤집어, |평균|이 관찰한 |평균| **이상**인 경우의 비율입니다(관찰값 자신도 셉니다, 양쪽).")


# -- 01.4 예측해 보기 -----------------------------------------------------------------------------
PREDICTION_OPTIONS_01_4 = choices(
    "비슷하다(둘 다 LoRA의 첫 갱신이다)",
    "통제 실험군 쪽이 몇 배 크다",
    "통제 실험군 쪽이 훨씬 작다(학습률이 코사인으로 이미 줄었다)",
    "통제 실험군의 LoRA는 처음 움직일 때도 0이다",
)


def first_update_ratio(preset=None) -> float:
    """AdamW의 첫 갱신은 원소마다 ±학습률(편향 보정으로 m̂/√v̂ = ±1)이라, 첫 LoRA 갱신의 크기는 그 걸음의 학습률에
    비례한다. 통제 실험군은 k걸음(1단계 걸음 수)에서, 한 번에 학습은 0걸음에서 처음 갱신한다: 비 = 배수(k) / 배수(0)."""
    preset = preset or presets.mini()
    s1, s2 = preset.stages
    per_epoch = preset.n_train // (s2.batch_size * s2.grad_accum)
    k, total = s1.epochs * per_epoch, (s1.epochs + s2.epochs) * per_epoch
    factor = lr_factor(s2, total)
    return factor(k) / factor(0)


def _option_for(ratio: float) -> str:
    return "b" if ratio > 2 else "c" if ratio < 0.5 else "a"


@exercise("01.4", title="예측해 보기: LoRA를 k걸음 늦게 켜면, LoRA의 첫 갱신은 한 번에 학습의 첫 갱신보다 큰가",
          level="🐢", wrong_answers=["a", "c", "d", "e"])
def grade_first_update(answer):
    grade_choice(answer, PREDICTION_OPTIONS_01_4, truth=lambda: _option_for(first_update_ratio()),
                 hint="AdamW의 첫 갱신은 기울기의 크기와 상관없이 원소마다 ±학습률입니다. "
                      "한 번에 학습의 0걸음은 예열의 첫 걸음이고, 통제 실험군의 k걸음은 예열이 이미 끝난 뒤입니다.")
