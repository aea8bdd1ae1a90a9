"""노트북 01의 실험 도구: 세 실험군의 설정이 설계대로인가, 학습률 예산과 본 샘플, LoRA의 움직임, 판정 규칙."""
from dataclasses import replace

import pytest
import torch

from course_lib import arms, presets, training
from course_lib.training.optim import warmup_cosine


def tiny_recipe(**stage2) -> arms.Recipe:
    """테스트용 작은 레시피: 그림 16장, 배치 4(epoch = 4걸음), 1단계 1 epoch + 2단계 1 epoch, 예열 2걸음."""
    s1 = training.StageConfig("stage1", epochs=1, lr_projector=2e-3, lr_lora=0.0, batch_size=4, warmup_steps=2)
    s2 = training.StageConfig("stage2", epochs=1, lr_projector=2e-3, lr_lora=4e-3, batch_size=4, warmup_steps=2)
    return arms.Recipe(s1, replace(s2, **stage2), training.LoraSettings(r=4, alpha=8, dropout=0.0), n_train=16)


@pytest.fixture(scope="module")
def tiny_runs():
    """세 실험군을 한 시드로, 프로세스 2개와 1개에서 한 번씩(결과가 프로세스와 상관없어야 한다)."""
    specs = [arms.Arm(arm, 0, tiny_recipe(), n_eval=4) for arm in arms.ARMS]
    return arms.run_grid(specs, processes=2, progress=False), arms.run_grid(specs, processes=1, progress=False)


def test_recipe_comes_from_the_preset_and_only_the_lora_rate_is_replaced():
    mini = presets.mini()
    recipe = arms.Recipe.from_preset(mini, n_train=640, lr_lora=5e-5)
    assert recipe.stage1 == mini.stages[0] and recipe.lora == mini.lora
    assert recipe.stage2 == replace(mini.stages[1], lr_lora=5e-5)
    assert arms.Recipe.from_preset(mini, n_train=640).stage2 == mini.stages[1]
    per_epoch = 640 // mini.stages[0].batch_size
    assert recipe.warm_steps == mini.stages[0].epochs * per_epoch
    assert recipe.total_steps == sum(s.epochs for s in mini.stages) * per_epoch


def test_controlled_arms_share_one_stage_and_differ_only_in_the_lora_delay():
    recipe = arms.Recipe.from_preset(presets.mini(), n_train=640)
    (single,) = recipe.stages(arms.SINGLE)
    (delayed,) = recipe.stages(arms.DELAYED)
    assert delayed.lora_delay_steps == recipe.warm_steps > 0 == single.lora_delay_steps
    assert replace(delayed, name=single.name, lora_delay_steps=0) == single  # 그 밖의 모든 칸이 같다
    assert replace(single, name=recipe.stage2.name, epochs=recipe.stage2.epochs) == recipe.stage2  # 2단계 설정 그대로


def test_practical_arm_is_the_two_stage_recipe_with_the_same_number_of_steps():
    recipe = arms.Recipe.from_preset(presets.mini(), n_train=640)
    assert recipe.stages(arms.RESTART) == (recipe.stage1, recipe.stage2)  # 단계 둘: 학습기가 옵티마이저를 새로 만든다
    steps = {arm: sum(s.epochs for s in recipe.stages(arm)) * recipe.steps_per_epoch for arm in arms.ARMS}
    assert set(steps.values()) == {recipe.total_steps}


@pytest.mark.parametrize("make, field", [
    (lambda: arms.Arm("three", 0, tiny_recipe()), "arm"),
    (lambda: arms.Arm(arms.SINGLE, 0, tiny_recipe(), eval_split="train"), "eval_split"),
    (lambda: replace(tiny_recipe(), n_train=18), "n_train"),             # 배치 4의 배수가 아님
    (lambda: tiny_recipe(batch_size=8), "stage2"),                      # 두 단계의 배치가 다름
    (lambda: tiny_recipe(lr_lora=0.0, lr_projector=1e-3), "stage1"),    # 2단계에 LoRA가 없음
])
def test_bad_design_is_refused_naming_the_field(make, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        make()


def test_learning_rates_used_are_the_schedule_not_the_next_step(tiny_runs):
    """학습기의 기록 `lr`은 다음 걸음의 값이다: 되돌린 값이 스케줄 식(걸음 0부터)과 같아야 한다."""
    pooled, _ = tiny_runs
    recipe = tiny_recipe()
    by = {r["arm"]: r for r in pooled}
    k, n = recipe.warm_steps, recipe.total_steps
    f_one = warmup_cosine(2, n)
    f1, f2 = warmup_cosine(2, k), warmup_cosine(2, n - k)
    single = [(2e-3 * f_one(t), 4e-3 * f_one(t)) for t in range(n)]
    delayed = [(p, lora if t >= k else 0.0) for t, (p, lora) in enumerate(single)]
    restart = [(2e-3 * f1(t), 0.0) for t in range(k)] + [(2e-3 * f2(t), 4e-3 * f2(t)) for t in range(n - k)]
    for arm, expected in ((arms.SINGLE, single), (arms.DELAYED, delayed), (arms.RESTART, restart)):
        got = [value for step in by[arm]["lr_used"] for value in (step["projector"], step["lora"])]
        assert got == pytest.approx([value for pair in expected for value in pair], rel=1e-12, abs=1e-15), arm


def test_budgets_and_samples_are_what_the_design_says(tiny_runs):
    pooled, _ = tiny_runs
    by = {r["arm"]: r for r in pooled}
    single, delayed, restart = by[arms.SINGLE], by[arms.DELAYED], by[arms.RESTART]
    k = tiny_recipe().warm_steps
    # 통제 비교: 프로젝터 예산은 같고, LoRA 예산은 한 번에 학습의 처음 k걸음만큼 작다
    assert delayed["lr_budget"]["projector"] == single["lr_budget"]["projector"]
    early = sum(step["lora"] for step in single["lr_used"][:k])
    assert delayed["lr_budget"]["lora"] == pytest.approx(single["lr_budget"]["lora"] - early, rel=1e-12)
    # 실제 비교: 스케줄을 새로 시작한다. 프로젝터는 k걸음에서 다시 예열하고, 한 번에 학습은 예열 뒤 줄기만 한다
    assert restart["lr_used"][k]["projector"] > restart["lr_used"][k - 1]["projector"]
    single_after_warmup = [step["projector"] for step in single["lr_used"][2:]]
    assert single_after_warmup == sorted(single_after_warmup, reverse=True)
    assert {r["samples"] for r in pooled} == {tiny_recipe().total_steps * 4}
    # 캡션 문형은 단계 안의 epoch으로 정해진다: 실제 비교의 2단계는 1단계의 문형을 다시 본다
    assert delayed["distinct_pairs"] == single["distinct_pairs"] >= restart["distinct_pairs"]


def test_lora_stays_at_zero_until_it_is_switched_on(tiny_runs):
    pooled, _ = tiny_runs
    by = {r["arm"]: r for r in pooled}
    k = tiny_recipe().warm_steps
    for arm in (arms.DELAYED, arms.RESTART):
        assert by[arm]["lora_delta"][:k] == [0.0] * k and by[arm]["lora_delta"][k] > 0, arm
        assert arms.lora_inner(by[arm]["lora_at_warm"], by[arm]["lora_at_warm"]) == 0.0
    assert by[arms.SINGLE]["lora_delta"][0] > 0
    assert len({r["loss"][0] for r in pooled}) == 1  # 첫 걸음은 세 실험군이 같다(같은 초기값, 같은 첫 배치)


def test_grid_results_do_not_depend_on_the_process_that_ran_them(tiny_runs):
    pooled, inline = tiny_runs
    for a, b in zip(pooled, inline):
        assert a["arm"] == b["arm"]
        for key in ("loss", "lora_delta", "scene_acc", "acc", "blind_acc", "siglip", "ppl", "lr_used"):
            assert a[key] == b[key], key
        assert all(torch.equal(x, y) for (_, *xs), (_, *ys) in zip(a["lora_end"], b["lora_end"]) for x, y in zip(xs, ys))
    assert {tuple(r["stage_seconds"]) for r in pooled} == {("single",), ("delayed",), ("stage1", "stage2")}


def test_lora_update_norm_total_is_zero_at_init_and_sums_modules():
    from course_lib.models import pretrained  # 이 테스트만 LLM을 새로 읽는다

    llm = training.add_lora(pretrained.load_llm(), training.LoraSettings(r=4, alpha=8, dropout=0.0))
    assert arms.lora_update_norm_total(llm) == 0.0  # peft: B = 0에서 시작
    modules = arms.lora_modules(llm)
    assert len(modules) == 7 * llm.config.num_hidden_layers
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in modules[:3]:  # 랭크가 꽉 찬 무작위 B: r × r 대각합 공식이 ΔW를 직접 만든 값과 같아야 한다
            weight = module.lora_B["default"].weight
            weight.copy_(torch.randn(weight.shape, generator=generator) * 0.01)
    expected = sum(float((2.0 * m.lora_B["default"].weight @ m.lora_A["default"].weight).detach().norm())  # α/r = 8/4
                   for m in modules[:3])
    assert arms.lora_update_norm_total(llm) == pytest.approx(expected, rel=1e-6)
    assert arms.lora_update_norm_total(llm, modules[:1]) < expected


def test_lora_inner_products_equal_the_full_delta_w():
    g = torch.Generator().manual_seed(3)

    def state():
        return [(s, torch.randn(4, 9, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64))
                for s in (2.0, 0.5)]

    u, v = state(), state()
    dense = lambda st: [s * b @ a for s, a, b in st]
    inner = sum(float((x * y).sum()) for x, y in zip(dense(u), dense(v)))
    assert arms.lora_inner(u, v) == pytest.approx(inner, rel=1e-12)
    assert arms.lora_cosine(u, u) == pytest.approx(1.0)
    assert arms.surviving_fraction(u, [(s, a, 3 * b) for s, a, b in u]) == pytest.approx(3.0)  # 같은 방향, 세 배
    negated = [(s, a, -b) for s, a, b in u]
    assert arms.surviving_fraction(u, negated) == pytest.approx(-1.0) and arms.lora_cosine(u, negated) == pytest.approx(-1.0)


def test_paired_bootstrap_is_paired_deterministic_and_brackets_the_mean():
    a = [0.2 * (i % 6) for i in range(300)]
    b = [x - 0.05 for x in a]  # 장면마다 정확히 0.05 차이: 짝지으면 흔들림이 없다
    mean, low, high = arms.paired_bootstrap(a, b)
    assert mean == pytest.approx(0.05) and low == pytest.approx(0.05) and high == pytest.approx(0.05)
    noisy = [x + (0.3 if i % 2 else -0.3) for i, x in enumerate(b)]
    mean, low, high = arms.paired_bootstrap(a, noisy)
    assert low < mean < high and arms.paired_bootstrap(a, noisy) == (mean, low, high)
    with pytest.raises(ValueError):
        arms.paired_bootstrap(a, b[:-1])


@pytest.mark.parametrize("interval, call", [
    ((0.05, 0.01, 0.09), "two_stage"),
    ((0.05, -0.01, 0.11), "unclear"),       # 차이는 여유 이상이지만 구간이 0을 넘는다
    ((0.01, 0.002, 0.018), "equivalent"),   # 구간 전체가 ±여유 안
    ((0.015, 0.005, 0.025), "unclear"),     # 0은 아니지만 여유보다 작다고도 못 한다
    ((-0.04, -0.07, -0.01), "single_stage"),
])
def test_seed_call_follows_the_rule(interval, call):
    assert arms.seed_call(*interval, margin=0.02) == call


def test_verdict_needs_every_seed_and_robustness_needs_slack():
    assert arms.decide(["two_stage"] * 3) == "two_stage"
    assert arms.decide(["equivalent"] * 3) == "equivalent"
    assert arms.decide(["two_stage", "two_stage", "unclear"]) == "no_conclusion"
    assert arms.decide(["unclear"] * 3) == "no_conclusion" and arms.decide([]) == "no_conclusion"
    far = [(-0.10, -0.13, -0.07)] * 3
    near = [(-0.021, -0.04, -0.002)] * 3  # 여유 0.02를 간신히 넘는다
    assert arms.decide_from_intervals(far, 0.02) == arms.decide_from_intervals(near, 0.02) == "single_stage"
    assert arms.is_robust(far, 0.02, slack=0.01) and not arms.is_robust(near, 0.02, slack=0.01)


def test_paired_scores_pair_by_seed_and_refuse_unpaired_runs():
    runs = [{"arm": arms.DELAYED, "seed": 1, "acc": 0.5}, {"arm": arms.SINGLE, "seed": 0, "acc": 0.4},
            {"arm": arms.SINGLE, "seed": 1, "acc": 0.2}, {"arm": arms.DELAYED, "seed": 0, "acc": 0.3},
            {"arm": arms.RESTART, "seed": 0, "acc": 0.9}]
    assert arms.paired_scores(runs, "controlled", "acc") == {0: (0.3, 0.4), 1: (0.5, 0.2)}
    with pytest.raises(ValueError, match="unpaired"):
        arms.paired_scores(runs, "practical", "acc")  # 시드 1의 실제 실험군이 없다
    with pytest.raises(ValueError, match="unpaired"):
        arms.paired_scores(runs, "controlled", "acc", seed=7)
