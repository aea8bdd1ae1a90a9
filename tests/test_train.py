"""두 단계 학습기: 얼리기, 최고 체크포인트, 잘못된 설정, SIGKILL 뒤 이어 하기(비트 단위 동일), 두 프로세스(gloo)."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from course_lib import assets, training
from course_lib.errors import CheckpointError, CourseError
import course_lib.training.checkpoint as ckpt
from course_lib.models import pretrained
from course_lib.models.vlm import build_vlm

from same_training import assert_same_training, assert_two_processes_train_like_one, saved_world_size, snapshot

TINY = training.TrainConfig(
    stages=(
        training.StageConfig("stage1", epochs=1, lr_projector=2e-3, lr_lora=0.0, batch_size=8, warmup_steps=2),
        training.StageConfig("stage2", epochs=2, lr_projector=1e-3, lr_lora=1e-3, batch_size=8, grad_accum=2,
                          warmup_steps=2),
    ),
    lora=training.LoraSettings(r=4, alpha=8, dropout=0.1, target_modules=("q_proj", "v_proj", "down_proj")),
    n_train=64, n_val=16, n_test=16, checkpoint_every=3, mixed_precision="no", preset="tiny",
    cache_vision_features=True,  # mini 프리셋과 같은 경로(이어 하기·두 프로세스 시험도 캐시를 거친다)
)
REPO = Path(__file__).resolve().parent.parent


def fresh_parts():
    torch.manual_seed(0)
    return pretrained.load_parts()


def llm_base_state(vlm):
    return {n: p.detach().clone() for n, p in vlm.llm.named_parameters()}


# ---------------------------------------------------------------- 잘못된 설정

@pytest.mark.parametrize("make, field", [
    (lambda: training.LoraSettings(r=0), "r"),
    (lambda: training.LoraSettings(r=-4), "r"),
    (lambda: training.LoraSettings(target_modules=("qkv_proj",)), "target_modules"),
    (lambda: training.StageConfig("s", epochs=1, lr_projector=-1e-3, lr_lora=0.0), "lr_projector"),
    (lambda: training.StageConfig("s", epochs=1, lr_projector=1e-3, lr_lora=-5e-5), "lr_lora"),
    (lambda: training.StageConfig("s", epochs=1, lr_projector=1e-3, lr_lora=0.0, grad_accum=0), "grad_accum"),
    (lambda: training.StageConfig("s", epochs=0, lr_projector=1e-3, lr_lora=0.0), "epochs"),
    (lambda: training.StageConfig("s", epochs=1, lr_projector=0.0, lr_lora=0.0), "lr_projector"),
    (lambda: replace(TINY, n_train=0), "n_train"),
])
def test_bad_config_is_refused_naming_the_field(make, field):
    with pytest.raises(training.ConfigError, match=rf"^{field}: "):
        make()


def test_missing_data_is_refused_with_the_fix(tmp_path):
    with pytest.raises(assets.AssetError, match="python -m course_lib pretrain"):
        pretrained.load_parts(tmp_path)


def test_missing_config_file_is_refused(tmp_path):
    from course_lib.training.main_job import load_config

    class Args:
        config, preset, seed = str(tmp_path / "nope.json"), None, None

    with pytest.raises(training.ConfigError, match="^config: "):
        load_config(Args)


def test_config_round_trips_through_json():
    assert training.TrainConfig.from_json(TINY.to_json()) == TINY


# ---------------------------------------------------------------- 얼리기

def test_stage1_updates_no_llm_weight_but_trains_projector():
    trainer = training.Trainer(replace(TINY, eval_every_epoch=False), fresh_parts(), progress=False)
    vlm = trainer.model
    before_llm, before_proj = llm_base_state(vlm), [p.detach().clone() for p in vlm.projector.parameters()]
    trainer.run_stage(0)
    after = dict(vlm.llm.named_parameters())
    assert all(torch.equal(before_llm[n], after[n]) for n in before_llm), "1단계가 LLM 가중치(LoRA 포함)를 바꿨다"
    assert any(not torch.equal(b, p) for b, p in zip(before_proj, vlm.projector.parameters()))


def test_stage2_trains_lora():
    trainer = training.Trainer(replace(TINY, eval_every_epoch=False), fresh_parts(), progress=False).run()
    lora_b = [p for n, p in trainer.model.llm.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b), "2단계가 LoRA를 학습하지 않았다(lora_B = 0)"
    base = pretrained.load_llm()
    trained = {n.replace("base_model.model.", "").replace(".base_layer", ""): p
               for n, p in trainer.model.llm.named_parameters() if "lora_" not in n}
    assert all(torch.equal(p, trained[n]) for n, p in base.named_parameters()), "원래 LLM 가중치가 바뀌었다"


def test_cached_vision_features_train_the_same_weights_as_the_encoder_every_step():
    config = replace(TINY, eval_every_epoch=False, checkpoint_every=0, lora=replace(TINY.lora, dropout=0.0))
    runs = {cache: training.Trainer(replace(config, cache_vision_features=cache), fresh_parts(), progress=False).run()
            for cache in (False, True)}
    assert runs[False]._features is None
    cached = runs[True]._features
    assert cached.shape == (config.n_train, runs[True].model.vision.num_patches, runs[True].model.vision.hidden_size)
    with torch.no_grad():
        torch.testing.assert_close(cached[:5], runs[True].model.vision(runs[True].train_data.images[:5]))
    plain, fast = (training.trainable_state(runs[c].model) for c in (False, True))
    assert plain.keys() == fast.keys()
    for key in plain:  # 이 기계에서는 비트까지 같지만, 배치 크기에 따라 커널이 달라지는 CPU를 위해 오차를 둔다
        torch.testing.assert_close(fast[key], plain[key], atol=1e-6, rtol=1e-5)


def test_feature_cache_turns_itself_off_for_data_read_from_files():
    class FileImages:  # real_data처럼 그림을 그때그때 읽는 데이터: 캐시하려고 전부 읽으면 안 된다
        def __getitem__(self, index):
            raise AssertionError("캐시를 만들려고 그림 전체를 읽었다")

    messages = []
    trainer = training.Trainer(TINY, fresh_parts(), progress=False, log=messages.append)
    trainer.train_data.images = FileImages()
    fingerprint = trainer.config.fingerprint()
    trainer._prepare_data()
    assert trainer._features is None
    assert len(messages) == 1 and "캐시" in messages[0]
    assert trainer.config.fingerprint() == fingerprint  # 설정은 그대로(같은 명령으로 이어 할 수 있다)


def test_trainable_counts_match_lora_arithmetic():
    trainer = training.Trainer(TINY, fresh_parts(), progress=False)
    for stage in TINY.stages:
        training.set_trainable(trainer.model, stage)
        training.build_optimizer(trainer.model, stage, TINY.lora)
        assert training.trainable_counts(trainer.model) == training.expected_counts(trainer.model, stage, TINY.lora)


def test_original_recipe_freezing_is_caught():
    """원문의 버그: 1단계에서 LLM 전체(LoRA 포함)를 얼린 뒤 2단계에서 requires_grad인 것만 모으면 LoRA가 빠진다.
    옵티마이저는 requires_grad를 읽기만 하므로(바꾸지 않는다), 그렇게 얼린 모델을 주면 빈 LoRA 그룹이라며 멈춘다."""
    trainer = training.Trainer(TINY, fresh_parts(), progress=False)
    trainer.model.llm.requires_grad_(False)  # 원문의 1단계
    trainer.model.projector.requires_grad_(True)
    flags = [p.requires_grad for p in trainer.model.parameters()]
    with pytest.raises(training.TrainableCountError, match=r"'lora' 그룹.*empty parameter group"):
        training.build_optimizer(trainer.model, TINY.stages[1], TINY.lora)
    assert [p.requires_grad for p in trainer.model.parameters()] == flags  # 옵티마이저가 얼리기를 바꾸지 않았다


def test_count_mismatch_is_caught():
    """붙인 LoRA와 설정이 다르면(여기서는 대상 모듈) 학습 파라미터 수가 산수와 달라 멈춘다."""
    trainer = training.Trainer(TINY, fresh_parts(), progress=False)
    other = training.LoraSettings(r=4, alpha=8, target_modules=("q_proj",))
    training.set_trainable(trainer.model, TINY.stages[1])
    with pytest.raises(training.TrainableCountError, match="trainable count mismatch"):
        training.build_optimizer(trainer.model, TINY.stages[1], other)


def test_empty_group_fails_loudly():
    """LoRA 학습률이 0보다 큰데 LLM에 LoRA가 없으면(붙이는 것을 잊음) 빈 그룹이라며 멈춘다."""
    parts = fresh_parts()
    vlm = build_vlm(parts.vision_encoder(), parts.llm)  # add_lora를 부르지 않았다
    training.set_trainable(vlm, TINY.stages[1])
    with pytest.raises(training.TrainableCountError, match=r"'lora' 그룹.*empty parameter group"):
        training.build_optimizer(vlm, TINY.stages[1], TINY.lora)


# ---------------------------------------------------------------- 최고 체크포인트

def test_best_checkpoint_has_the_highest_siglip_score(tmp_path):
    trainer = training.Trainer(TINY, fresh_parts(), out_dir=tmp_path, progress=False).run()
    scores = [e["siglip_score"] for e in trainer.history.evals]
    assert len(scores) == sum(s.epochs for s in TINY.stages)
    assert trainer.best["siglip_score"] == max(scores)
    weights, *_ = training.read_checkpoint(tmp_path / "checkpoints" / "best")
    training.load_trainable_state(trainer.model, weights)
    assert trainer.evaluate()["siglip_score"] == pytest.approx(max(scores), abs=1e-6)


# ---------------------------------------------------------------- SIGKILL 뒤 이어 하기, 두 프로세스

def _cli(out, config_path, *extra, env=None):
    cmd = [sys.executable, "-m", "course_lib", "train", "--config", str(config_path), "--out", str(out), "--no-progress", *extra]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen(cmd, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _final_weights(out):
    return load_file(Path(out) / "final" / "trainable.safetensors")


def _last_state(out) -> tuple[dict, dict]:
    """마지막 step 체크포인트의 학습기 상태: 텐서(AdamW 모멘트, 난수 상태)와 메타데이터(JSON을 푼 것)."""
    _, tensors, meta, _ = training.read_checkpoint(training.latest_checkpoint(Path(out)))
    return tensors, {k: json.loads(v) for k, v in meta.items() if k in ("optimizer", "trainer", "rng")}


def _assert_bit_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key}가 다르다"


@pytest.fixture(scope="module")
def tiny_config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    path.write_text(TINY.to_json())
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_config_file):
    out = tmp_path_factory.mktemp("uninterrupted")
    proc = _cli(out, tiny_config_file)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    return _final_weights(out), _last_state(out)


def _wait_for(predicate, proc, timeout=240):
    start = time.time()
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"프로세스가 먼저 끝났다: {proc.stdout.read()}")
        if time.time() - start > timeout:
            raise AssertionError("시간 초과")
        time.sleep(0.05)


def test_sigkill_mid_stage2_then_resume_is_bit_identical(tmp_path, tiny_config_file, uninterrupted):
    proc = _cli(tmp_path, tiny_config_file)
    # 1단계는 8걸음, 체크포인트는 3걸음마다: step-0000009는 2단계 한가운데다.
    _wait_for(lambda: (tmp_path / "checkpoints" / "step-0000009").is_dir(), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "final").exists()
    resumed = _cli(tmp_path, tiny_config_file, "--resume")
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    weights, (tensors, meta) = uninterrupted
    _assert_bit_identical(_final_weights(tmp_path), weights)
    # 가중치만이 아니라 마지막 체크포인트의 상태 전체(AdamW 모멘트, torch·Python·NumPy 난수, 스케줄, 기록)도 같다.
    # 걸음 시간(실행마다 다르다)은 학습기 상태에 넣지 않고 metrics.jsonl에만 쓴다.
    resumed_tensors, resumed_meta = _last_state(tmp_path)
    _assert_bit_identical(resumed_tensors, tensors)
    assert resumed_meta == meta
    assert {"rng.0.cpu", "rng.0.numpy"} <= set(tensors) and len(meta["rng"]["python"]) == 1
    assert all("seconds" not in step for step in meta["trainer"]["history"]["steps"])
    assert meta["trainer"]["data"]["n_train"] == TINY.n_train  # 데이터 순서 요약
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r["global_step"] for r in rows if r.get("type") != "eval"]
    assert steps == list(range(1, len(steps) + 1)) and all("seconds" in r for r in rows if r.get("type") != "eval")


def test_sigkill_during_checkpoint_write_keeps_last_good_one(tmp_path, tiny_config_file, uninterrupted):
    proc = _cli(tmp_path, tiny_config_file, env={training.checkpoint.CRASH_ENV: "step-0000012"})
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    checkpoints = tmp_path / "checkpoints"
    assert any(p.name.startswith("step-0000012.tmp") for p in checkpoints.iterdir()), "쓰는 도중에 죽지 않았다"
    assert training.latest_checkpoint(tmp_path).name == "step-0000009"  # 마지막 완전한 체크포인트는 그대로
    resumed = _cli(tmp_path, tiny_config_file, "--resume")
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert "임시 폴더 1개를 지웠습니다" in output and not list(checkpoints.glob("*.tmp-*"))
    _assert_bit_identical(_final_weights(tmp_path), uninterrupted[0])


def test_same_training_criterion_accepts_rounding_and_rejects_a_real_difference():
    initial = {"w": torch.zeros(4), "b": torch.ones(2)}
    one = {"w": torch.tensor([0.02, -0.01, 0.0, 0.0]), "b": torch.ones(2)}
    rounding = {"w": one["w"] + 1e-5, "b": one["b"] + 1e-5}  # 1e-05는 움직인 양 0.02의 0.05%
    assert_same_training(rounding, one, initial)
    for wrong in ({"w": one["w"] / 2, "b": one["b"]}, {"w": one["w"], "b": one["b"] + 0.001}):
        with pytest.raises(AssertionError, match="움직인 양"):
            assert_same_training(wrong, one, initial)
    with pytest.raises(AssertionError, match="움직이지 않았다"):
        assert_same_training(initial, initial, initial)


def test_two_processes_with_gloo_match_one_process(tmp_path):
    """같은 전역 배치(global batch)로 두 프로세스(gloo)와 한 프로세스가 같은 가중치에 이른다(부동소수 오차 안)."""
    config = replace(TINY, lora=replace(TINY.lora, dropout=0.0), eval_every_epoch=False, checkpoint_every=0)
    config_file = tmp_path / "nodrop.json"
    config_file.write_text(config.to_json())
    single = _cli(tmp_path / "one", config_file)
    out_one, _ = single.communicate(timeout=300)
    assert single.returncode == 0, out_one
    assert saved_world_size(tmp_path / "one") == 1
    initial = snapshot(training.trainable_state(training.Trainer(config, pretrained.load_parts(), progress=False,
                                                                 log=lambda _: None).model))
    summary = assert_two_processes_train_like_one(tmp_path / "two", ["--config", str(config_file)],
                                                  _final_weights(tmp_path / "one"), initial, port=29533)
    assert summary["global_steps"] == sum(8 // s.grad_accum * s.epochs for s in config.stages)


# ---------------------------------------------------------------- 정확한 재개: 난수 상태(프로세스·장치마다)와 데이터 순서
# CPU에서의 비트 단위 동일은 위의 SIGKILL 시험이 잰다(LoRA 드롭아웃 0.1). GPU에서 재개한 학습이 끊기지 않은 학습과
# 얼마나 같은지는 이 기계(GPU 없음)에서 잴 수 없다: 아래는 CUDA 상태가 장치마다 저장되고 되돌려지는지를 가짜 torch.cuda로 본다.

class FakeAccelerator:
    def __init__(self, rank=0, world=1, scaler=None):
        self.process_index, self.num_processes, self.scaler = rank, world, scaler

    @property
    def is_main_process(self):
        return self.process_index == 0


def _draws():
    import random

    import numpy as np

    return torch.rand(3), random.random(), float(np.random.rand())


def test_rng_states_round_trip_through_a_checkpoint_file(tmp_path):
    import random

    import numpy as np
    from safetensors.torch import save_file

    torch.manual_seed(1), random.seed(2), np.random.seed(3)
    tensors, meta = ckpt.rng_to_file([ckpt.rng_state()])
    expected = _draws()
    save_file(tensors, tmp_path / "rng.safetensors")
    loaded, meta = load_file(tmp_path / "rng.safetensors"), json.loads(json.dumps(meta))
    _draws()  # 상태를 더 밀어 둔다
    ckpt.restore_rng(FakeAccelerator(), loaded, meta)
    again = _draws()
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_each_process_gets_its_own_rng_state_back():
    torch.manual_seed(10)
    s0 = ckpt.rng_state()
    torch.manual_seed(11)
    s1 = ckpt.rng_state()
    tensors, meta = ckpt.rng_to_file([s0, s1])
    notes = []
    ckpt.restore_rng(FakeAccelerator(rank=1, world=2), tensors, meta, notes.append)
    assert torch.equal(torch.get_rng_state(), s1["cpu"]) and notes == []
    ckpt.restore_rng(FakeAccelerator(rank=0, world=3), tensors, meta, notes.append)  # 프로세스 수가 다르면 알린다
    assert torch.equal(torch.get_rng_state(), s0["cpu"]) and len(notes) == 1 and "프로세스 2개" in notes[0]


def test_cuda_rng_is_saved_and_restored_for_every_device(monkeypatch):
    devices = [torch.full((16,), value, dtype=torch.uint8) for value in (1, 2)]
    restored = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [d.clone() for d in devices])
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda value, device: restored.__setitem__(device, value.clone()))
    tensors, meta = ckpt.rng_to_file([ckpt.rng_state()])
    assert {k for k in tensors if ".cuda." in k} == {"rng.0.cuda.0", "rng.0.cuda.1"}
    ckpt.restore_rng(FakeAccelerator(), tensors, meta)
    assert sorted(restored) == [0, 1] and all(torch.equal(restored[d], devices[d]) for d in (0, 1))


def test_fp16_grad_scaler_state_is_carried():
    saved = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12, growth_interval=7)
    saved.load_state_dict({**saved.state_dict(), "scale": 512.0, "_growth_tracker": 3})
    tensors, meta = ckpt.rng_to_file([ckpt.rng_state()], scaler=saved)
    fresh = torch.amp.GradScaler("cpu")
    ckpt.restore_rng(FakeAccelerator(scaler=fresh), tensors, json.loads(json.dumps(meta)))
    assert fresh.state_dict() == saved.state_dict() and fresh.state_dict()["scale"] == 512.0


def test_data_order_is_stateless_and_checked_on_resume():
    a, b = (training.SceneCaptionData("train", 40, seed=0) for _ in range(2))
    assert training.epoch_order(40, 0, 1, 2) == training.epoch_order(40, 0, 1, 2)  # 상태 없음: 같은 인자 → 같은 순서
    assert training.epoch_order(40, 0, 1, 2) != training.epoch_order(40, 0, 1, 3)  # epoch마다 다시 섞는다
    assert training.epoch_order(40, 0, 0, 2) != training.epoch_order(40, 0, 1, 2)  # 단계마다 다르다
    record = ckpt.data_record(a, 0, 1, 2)
    ckpt.check_data_record(record, b, 0)
    with pytest.raises(CheckpointError, match="training data changed"):
        ckpt.check_data_record(record, training.SceneCaptionData("train", 48, seed=0), 0)


# ---------------------------------------------------------------- 길이로 묶기(length grouping)

def _padding(order, lengths, batch_size, steps):
    """배치마다 (가장 긴 길이 − 각 길이)의 합: 오른쪽 채움이 만드는 빈자리 수."""
    batches = [order[k * batch_size:(k + 1) * batch_size] for k in range(steps)]
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("n, batch_size, group", [(100, 8, 4), (64, 8, 8), (37, 5, 3), (10, 4, 1)])
def test_length_grouping_keeps_every_example_once_and_cuts_padding(n, batch_size, group):
    lengths = [int(v) for v in torch.randint(5, 32, (n,), generator=torch.Generator().manual_seed(n))]
    order = training.epoch_order(n, 0, 1, 0)
    grouped = training.length_grouped_order(order, lengths, batch_size, group, 0, 1, 0)
    assert sorted(grouped) == list(range(n))  # epoch마다 모든 예제를 정확히 한 번
    assert grouped == training.length_grouped_order(order, lengths, batch_size, group, 0, 1, 0)  # 상태 없음
    steps = n // batch_size
    if group <= 1:
        assert grouped == order
        return
    assert _padding(grouped, lengths, batch_size, steps) < _padding(order, lengths, batch_size, steps)
    # 걸음에 쓰이는 배치는 모두 한 묶음(group × batch) 안에서 나온다: 섞임이 묶음 밖으로 새지 않는다
    mega = batch_size * group
    for k in range(steps):
        batch = grouped[k * batch_size:(k + 1) * batch_size]
        block = set(order[(k * batch_size // mega) * mega:][:mega])
        assert set(batch) <= block
    # 배치 안은 길이가 이웃한 예제들: 묶음을 길이로 정렬해 자른 조각 가운데 하나다
    for k in range(steps):
        batch = grouped[k * batch_size:(k + 1) * batch_size]
        start = (k * batch_size // mega) * mega
        block = sorted(order[start:start + mega], key=lambda i: lengths[i])
        pieces = [block[j:j + batch_size] for j in range(0, len(block), batch_size)]
        assert batch in pieces


def test_length_grouping_in_the_trainer_pads_less_and_still_trains():
    config = replace(TINY, eval_every_epoch=False, checkpoint_every=0, lora=replace(TINY.lora, dropout=0.0))
    runs = {g: training.Trainer(replace(config, length_group_batches=g), fresh_parts(), progress=False).run()
            for g in (0, 4)}
    padded = {g: sum(r["positions"] - r["tokens"] for r in runs[g].history.steps) for g in runs}
    assert padded[4] < padded[0], padded  # 같은 예제, 같은 걸음 수, 채움만 준다
    assert [r["global_step"] for r in runs[4].history.steps] == [r["global_step"] for r in runs[0].history.steps]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in runs[4].history.steps)
    with pytest.raises(training.ConfigError, match=r"^length_group_batches: "):
        replace(TINY, length_group_batches=-1)


# ---------------------------------------------------------------- 기록과 잘못된 데이터

def test_logged_lr_is_the_rate_the_step_used_and_zero_while_lora_waits():
    """기록의 lr은 그 걸음이 쓴 학습률이다(다음 걸음의 값이 아니라). LoRA를 늦게 켜는 걸음에서는 LoRA가 0이다."""
    stage = training.StageConfig("delayed", epochs=1, lr_projector=2e-3, lr_lora=1e-3, batch_size=8, warmup_steps=4,
                                 lora_delay_steps=3)
    config = replace(TINY, stages=(stage,), eval_every_epoch=False, checkpoint_every=0)
    trainer = training.Trainer(config, fresh_parts(), progress=False, max_steps=5).run()
    factor = training.lr_factor(stage, trainer.steps_per_epoch(stage))
    for k, record in enumerate(trainer.history.steps):
        lora = 0.0 if k < 3 else 1e-3 * factor(k)
        assert record["lr"] == pytest.approx([2e-3 * factor(k), lora], rel=1e-12, abs=0), k


def test_lora_waits_with_empty_adam_moments():
    """늦게 켜는 동안 LoRA는 움직이지 않고 AdamW의 모멘트도 비어 있다. 그래서 LoRA의 첫 갱신은 Adam의 첫 걸음
    (m̂/√v̂ = g/|g| = ±1)이라, 기울기가 있는 원소는 정확히 그 걸음의 학습률만큼 움직인다. 학습률만 0으로 두었다면
    모멘트가 네 걸음 쌓여 첫 갱신의 크기가 학습률과 달라진다."""
    stage = training.StageConfig("delayed", epochs=1, lr_projector=2e-3, lr_lora=1e-3, batch_size=8, lora_delay_steps=4)
    config = replace(TINY, stages=(stage,), eval_every_epoch=False, checkpoint_every=0)
    lora_b = {}

    class Peek:
        def on_step_end(self, trainer, record):
            lora_b[record["global_step"]] = {n: p.detach().clone() for n, p in trainer.model.llm.named_parameters()
                                             if "lora_B" in n}
            lora_b[record["global_step"], "lr"] = record["lr"][1]

    trainer = training.Trainer(config, fresh_parts(), progress=False, max_steps=5, callbacks=[Peek()])
    initial = {n: p.detach().clone() for n, p in trainer.model.llm.named_parameters() if "lora_B" in n}
    trainer.run()
    _assert_bit_identical(lora_b[4], initial)  # 기다리는 동안 움직이지 않았다
    largest = max(float((lora_b[5][n] - lora_b[4][n]).abs().max()) for n in initial)
    assert lora_b[5, "lr"] > 0 and largest == pytest.approx(lora_b[5, "lr"], rel=1e-4)


def test_empty_data_set_is_refused():
    parts = fresh_parts()
    empty = training.SceneCaptionData("train", 1, seed=0)
    empty.scenes = []
    with pytest.raises(CourseError, match="비어 있습니다"):
        training.Trainer(TINY, parts, progress=False, train_data=empty)


def test_failed_checkpoint_write_is_one_course_error_and_leaves_no_temp_folder(tmp_path, monkeypatch):
    """디스크가 가득 차 쓰기가 실패하면: 임시 폴더를 지우고, 폴더와 필요한 자리를 알리는 CheckpointError 한 줄,
    앞의 완전한 체크포인트는 그대로."""
    trainer = training.Trainer(replace(TINY, eval_every_epoch=False, checkpoint_every=0), fresh_parts(), progress=False)
    good = ckpt.write_checkpoint(tmp_path / "checkpoints" / "best", trainer.model, None, {}, TINY)
    before = {p.name: p.read_bytes() for p in good.iterdir()}

    def full_disk(tensors, path, metadata=None):
        Path(path).write_bytes(b"\0" * 10)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", full_disk)
    with pytest.raises(CheckpointError) as caught:
        ckpt.write_checkpoint(good, trainer.model, None, {}, TINY)
    message = str(caught.value)
    assert "\n" not in message and str(good) in message and "No space left on device" in message
    needed = sum(t.numel() * t.element_size() for t in training.trainable_state(trainer.model).values())
    assert f"{needed / 2**20:.1f} MiB" in message
    assert [p.name for p in good.parent.iterdir()] == ["best"]  # 임시 폴더가 남지 않았다
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before
