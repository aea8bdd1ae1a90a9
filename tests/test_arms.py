"""노트북 01의 실험 도구: 같은 예산의 두 팔, 짝지은 차이, LoRA 이동량, 프로세스에 상관없는 결과."""
import pytest
import torch

from course_lib import arms, training


def config_steps(spec: arms.Arm) -> int:
    config = spec.config()
    return sum(s.epochs * (config.n_train // (s.batch_size * s.grad_accum)) for s in config.stages)


@pytest.mark.parametrize("values", [{}, {"lr_lora": 5e-5}, {"steps": 90}, {"steps": 120, "warm_steps": 30}, {"n_train": 48}])
def test_two_arms_have_the_same_budget_and_differ_only_in_when_lora_starts(values):
    two, single = (arms.Arm(arm, 0, **values) for arm in arms.ARMS)
    assert config_steps(two) == config_steps(single) == two.steps
    s1, s2 = two.config().stages
    assert (s1.lr_lora, s2.lr_lora) == (0.0, two.lr_lora)
    assert s1.epochs * (two.n_train // two.batch_size) == two.warmup_steps == two.warm_steps
    (only,) = single.config().stages
    assert only.lr_lora == two.lr_lora and only.lr_projector == s1.lr_projector == s2.lr_projector
    assert single.warmup_steps == 0


@pytest.mark.parametrize("kwargs, field", [
    ({"arm": "셋"}, "arm"),
    ({"n_train": 250}, "n_train"),        # 배치 16의 배수가 아님
    ({"steps": 50}, "steps"),             # epoch(15걸음)의 배수가 아님
    ({"warm_steps": 10}, "warm_steps"),   # 예열이 epoch의 배수가 아님
    ({"warm_steps": 60}, "warm_steps"),   # 예열이 전체 걸음만큼
])
def test_bad_arm_is_refused_naming_the_field(kwargs, field):
    values = {"arm": "2단계", "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=f"^{field}:"):
        arms.Arm(**values)


def test_paired_differences_pair_by_seed_and_refuse_unpaired_runs():
    runs = [{"arm": "2단계", "seed": 1, "acc": 0.5}, {"arm": "한 번에", "seed": 0, "acc": 0.4},
            {"arm": "한 번에", "seed": 1, "acc": 0.2}, {"arm": "2단계", "seed": 0, "acc": 0.3}]
    assert arms.paired_differences(runs, "acc") == pytest.approx([-0.1, 0.3])
    with pytest.raises(ValueError, match="unpaired"):
        arms.paired_differences(runs[:3], "acc")
    with pytest.raises(ValueError, match="unpaired"):
        arms.paired_differences(runs, "acc", seed=7)


def test_lora_update_norm_total_is_zero_at_init_and_sums_modules():
    from course_lib.models import pretrained

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


def test_grid_results_do_not_depend_on_the_process_that_ran_them():
    specs = [arms.Arm(arm, 0, n_train=16, steps=4, warm_steps=1, n_test=4) for arm in arms.ARMS]
    pooled = arms.run_grid(specs, processes=2, progress=False)
    inline = arms.run_grid(specs, processes=1, progress=False)
    for a, b in zip(pooled, inline):
        assert a["arm"] == b["arm"] and len(a["loss"]) == 4
        for key in ("loss", "lora_delta", "acc", "blind_acc", "siglip", "ppl"):
            assert a[key] == b[key], key
    two, single = pooled
    assert two["lora_delta"][0] == 0.0 < single["lora_delta"][0]  # 예열 1걸음 동안 2단계의 LoRA는 0
    assert set(two["stage_seconds"]) == {"stage1", "stage2"} and set(single["stage_seconds"]) == {"single"}
