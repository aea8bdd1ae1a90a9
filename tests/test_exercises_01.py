"""노트북 01 연습문제 채점: 등록된 틀린 답은 모두 거절하고, 풀이(노트북의 정답 칸과 같은 것)는 받아들인다."""
from __future__ import annotations

import itertools


from course_lib import training
from course_lib.tooling.exercises import REGISTRY, load_all
from course_lib.tooling.exercises import ex01

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()


def seeds_needed(alpha, two_sided=True):
    n = 1
    while (2 if two_sided else 1) * 0.5 ** n >= alpha:
        n += 1
    return n


def lr_budget_from_config(stages, n_train):
    budget = {"projector": 0.0, "lora": 0.0}
    for stage in stages:
        total = stage.epochs * (n_train // (stage.batch_size * stage.grad_accum))
        factor = training.lr_factor(stage, total)
        for t in range(total):
            budget["projector"] += stage.lr_projector * factor(t)
            budget["lora"] += stage.lr_lora * factor(t) if t >= stage.lora_delay_steps else 0.0
    return budget


def sign_flip_p(a, b):
    d = [x - y for x, y in zip(a, b)]
    observed = abs(sum(d)) / len(d)
    hits = sum(abs(sum(s * x for s, x in zip(signs, d))) / len(d) >= observed - 1e-12
               for signs in itertools.product((1, -1), repeat=len(d)))
    return hits / 2 ** len(d)


SOLUTIONS = {"01.1": seeds_needed, "01.2": lr_budget_from_config, "01.3": sign_flip_p, "01.4": "b"}


def test_every_exercise_of_01_has_a_solution_here_and_ends_with_a_prediction():
    ids = sorted(k for k in REGISTRY if k.startswith("01."))
    assert ids == sorted(SOLUTIONS)
    assert REGISTRY[ids[-1]].title.startswith("예측해 보기")


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


def test_three_seeds_cannot_reach_the_usual_levels():
    """노트북의 말: 시드 3개의 부호 검정은 한쪽 p = 0.125보다 작아질 수 없다."""
    assert seeds_needed(0.125, two_sided=False) == 4 and seeds_needed(0.05) == 6


def test_prediction_truth_follows_the_mini_schedule():
    ratio = ex01.first_update_ratio()
    stage2 = ex01.presets.mini().stages[1]
    assert ratio > 2 and ratio <= stage2.warmup_steps  # 예열의 첫 걸음(1/예열)보다 크고, 최대 배수 1을 넘지 않는다
