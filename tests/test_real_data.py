"""실제 캡션 데이터(--data): LLaVA 사전학습 JSON과 COCO captions 형식, 잘못된 경로·형식의 오류,
장면 정답 없는 평가, 그리고 `--preset`(+ `--set`) 경로의 두 프로세스(gloo) = 한 프로세스."""
import json
import random
from argparse import Namespace

import pytest
import torch
from PIL import Image

from course_lib import presets, real_data, training, world
from course_lib.training import main_job
from same_training import assert_two_processes_train_like_one, snapshot

OVERRIDES = ["n_train=64", "n_val=16", "stages.0.batch_size=8", "stages.1.batch_size=8", "stages.1.grad_accum=2",
             "stages.1.epochs=2", "lora.r=4", "lora.dropout=0.0", "checkpoint_every=0", "eval_every_epoch=false",
             "mixed_precision=no"]


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return real_data.write_mini_world_dataset(tmp_path_factory.mktemp("llava"), 80, fmt="llava")


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    return real_data.write_mini_world_dataset(tmp_path_factory.mktemp("coco"), 12, fmt="coco")


def test_llava_format_round_trips_pixels_and_captions(llava):
    records, kind = real_data.load_records(llava)
    assert kind == "llava" and len(records) == 80
    scenes = world.make_scenes("train", 80, seed=0)
    pixels = world.render_batch(scenes)
    data = real_data.RealCaptionData(records, image_size=world.IMAGE_SIZE)
    assert data.scenes is None and len(data) == 80
    assert torch.equal(data.images[[0, 5, 79]], pixels[[0, 5, 79]])  # PNG를 거쳐도 같은 화소
    assert data.images[3].shape == (3, 48, 48) and data.images[2:4].shape == (2, 3, 48, 48)
    rng = random.Random(0)  # write_mini_world_dataset이 캡션을 쓴 순서 그대로
    assert data.captions(range(80), epoch=0) == [world.write_caption(scene, rng) for scene in scenes]


def test_folder_path_finds_the_llava_json(llava):
    records, kind = real_data.load_records(llava.parent)
    assert kind == "llava" and len(records) == 80


def test_coco_picks_one_of_the_captions_per_epoch(coco):
    records, kind = real_data.load_records(coco)
    assert kind == "coco" and all(len(r.captions) == 2 for r in records)
    data = real_data.RealCaptionData(records, image_size=48, seed=0)
    epochs = [data.captions(range(12), epoch) for epoch in range(4)]
    assert epochs[0] == data.captions(range(12), 0)  # 같은 (seed, epoch, 번호) → 같은 캡션
    for i in range(12):
        assert {e[i] for e in epochs} <= set(records[i].captions)
    assert any(len({e[i] for e in epochs}) == 2 for i in range(12))  # epoch마다 다른 문형도 나온다


def test_splits_are_disjoint_and_seeded(llava):
    train_a, val_a = real_data.make_splits(llava, 50, 16, 48, seed=0)
    train_b, val_b = real_data.make_splits(llava, 50, 16, 48, seed=0)
    assert [r.image for r in val_a.records] == [r.image for r in val_b.records]
    assert not {r.image for r in train_a.records} & {r.image for r in val_a.records}
    assert len(train_a) == 50 and len(val_a) == 16


def test_non_square_images_are_resized_and_center_cropped(tmp_path):
    image = torch.zeros(40, 60, 3, dtype=torch.uint8)
    image[:, 10:50] = 255  # 가운데 40×40만 흰색
    Image.fromarray(image.numpy()).save(tmp_path / "wide.png")
    out = real_data.load_image(tmp_path / "wide.png", 48)
    assert out.shape == (3, 48, 48) and out.dtype == torch.uint8
    assert out.float().mean() > 250  # 가운데를 잘라 흰 부분만 남았다


def test_captions_are_truncated_with_the_tokenizer(llava, tokenizer):
    records, _ = real_data.load_records(llava)
    data = real_data.RealCaptionData(records, 48, tokenizer=tokenizer, max_caption_tokens=5)
    for caption in data.captions(range(10), 0):
        assert len(tokenizer(caption, add_special_tokens=False).input_ids) <= 5


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nope.json", "path not found"),
    (lambda d: (d / "bad.json").write_text("{not json") and d / "bad.json", "not valid JSON"),
    (lambda d: (d / "other.json").write_text(json.dumps({"x": 1})) and d / "other.json", "unknown format"),
    (lambda d: (d / "l.json").write_text(json.dumps([{"image": "a.png", "conversations": [{"from": "human",
                                                                                          "value": "?"}]}]))
     and d / "l.json", "malformed LLaVA"),
    (lambda d: (d / "c.json").write_text(json.dumps({"images": [{"id": 1}], "annotations": []})) and d / "c.json",
     "malformed COCO"),
])
def test_wrong_path_or_format_gets_a_clear_error(tmp_path, make, message):
    with pytest.raises(real_data.DataFormatError, match=message) as err:
        real_data.load_records(make(tmp_path))
    assert err.value.args[0].startswith("data:")


def test_missing_images_name_the_fix(tmp_path):
    path = real_data.write_mini_world_dataset(tmp_path, 5)
    (tmp_path / "images" / "000" / "000003.png").unlink()
    with pytest.raises(real_data.DataFormatError, match="--image-folder") as err:
        real_data.load_records(path)
    assert "1개" in str(err.value)
    with pytest.raises(real_data.DataFormatError, match="image files not found"):
        real_data.load_records(path, image_folder=tmp_path / "elsewhere")


def test_wrong_names_are_course_errors_naming_the_field(tmp_path):
    """틀린 형식·모델 이름은 칸 이름을 단 설정 오류 한 줄(명령줄이 트레이스백 없이 알린다)."""
    from course_lib.errors import ConfigError
    from course_lib.models.real import ModelSpec

    with pytest.raises(ConfigError, match="^fmt: .*unknown format"):
        real_data.write_mini_world_dataset(tmp_path, 2, fmt="csv")
    spec = ModelSpec(llm_repo="Qwen/Qwen3-8B", llm_size="8B", vision_model="ViT-Nope-14", vision_pretrained="openai")
    with pytest.raises(ConfigError, match="^vision_model: .*ViT-Nope-14"):
        spec.vision_config()


def test_too_small_for_validation_is_refused(tmp_path):
    path = real_data.write_mini_world_dataset(tmp_path, 4)
    with pytest.raises(real_data.DataFormatError, match="n_val"):
        real_data.make_splits(path, 10, 4, 48)


def test_real_preset_without_data_says_what_to_pass(tmp_path, capsys):
    from course_lib.__main__ import main

    assert main(["train", "--preset", "full", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("data: ") and "--data" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_real_preset_on_cpu_checks_data_first_then_needs_a_gpu(tmp_path, llava):
    from course_lib.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("CPU 전용 시험")
    bad = Namespace(preset="colab", config=None, out=str(tmp_path / "o"), resume=False, max_steps=None, seed=None,
                    data_dir=None, no_progress=True, data=str(tmp_path / "missing.json"), image_folder=None, set=[])
    with pytest.raises(real_data.DataFormatError):  # 모델을 받기 전에 데이터부터 검사한다
        main_job.run(bad)
    too_small = Namespace(**{**vars(bad), "data": str(llava)})  # 80쌍으로는 colab의 검증 300개를 뗄 수 없다
    with pytest.raises(real_data.DataFormatError, match="^n_val: "):
        main_job.run(too_small)
    good = Namespace(**{**vars(too_small), "set": ["n_val=16"]})
    with pytest.raises(ConfigError, match="^preset: .*CUDA GPU"):  # 그다음, 내려받기 전에 GPU가 있는지
        main_job.run(good)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- 학습기와 평가(장면 정답 없음)

def _real_config():
    return main_job.apply_overrides(presets.get_preset("mini"), OVERRIDES)


def test_overrides_are_validated():
    config = _real_config()
    assert (config.n_train, config.stages[1].grad_accum, config.lora.r) == (64, 2, 4)
    with pytest.raises(training.ConfigError, match="^stages.7: .*no such stage"):
        main_job.apply_overrides(config, ["stages.7.batch_size=2"])
    with pytest.raises(training.ConfigError, match="^stages.1.batsh_size: .*unknown key"):
        main_job.apply_overrides(config, ["stages.1.batsh_size=2"])
    with pytest.raises(training.ConfigError, match="lr_lora"):
        main_job.apply_overrides(config, ["stages.1.lr_lora=-1"])


def test_trainer_on_real_format_data_reports_siglip_score_and_val_loss(llava):
    from course_lib.models.pretrained import load_parts

    config = main_job.apply_overrides(_real_config(), ["eval_every_epoch=true", "n_train=32", "stages.1.epochs=1"])
    torch.manual_seed(0)
    parts = load_parts()
    train_data, val_data = real_data.make_splits(llava, config.n_train, config.n_val, 48, seed=0)
    evaluator = real_data.RealEvaluator(real_data.MiniSiglipScorer(parts.siglip, parts.tokenizer), max_items=8)
    trainer = training.Trainer(config, parts, progress=False, train_data=train_data, val_data=val_data,
                            evaluator=evaluator, log=lambda _: None).run()
    evals = trainer.history.evals
    assert len(evals) == sum(s.epochs for s in config.stages)
    for record in evals:
        assert 0 < record["siglip_score"] < 1 and record["val_loss"] > 0
        assert not any(k.startswith("acc_") for k in record)  # 정답 장면이 없으니 정확도는 내지 않는다
    assert trainer.best["siglip_score"] == max(e["siglip_score"] for e in evals)
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]  # 학습하면 정답 캡션의 손실이 준다


def test_two_processes_through_the_preset_path_match_one_process(tmp_path, llava):
    """`--preset mini --data … --set …`(프리셋 해석 + 덮어쓰기 + 실제 데이터 경로)를 두 프로세스(gloo)로 돌린
    결과가, 같은 설정을 이 프로세스에서 한 번에 돌린 결과와 같다(부동소수 오차 안)."""
    from course_lib.models.pretrained import load_parts

    config = _real_config()
    torch.manual_seed(config.seed)
    parts = load_parts()
    train_data, val_data = real_data.make_splits(llava, config.n_train, config.n_val, 48, seed=config.seed)
    single = training.Trainer(config, parts, progress=False, train_data=train_data, val_data=val_data,
                           evaluator=real_data.RealEvaluator(real_data.MiniSiglipScorer(parts.siglip, parts.tokenizer)),
                           log=lambda _: None)
    initial = snapshot(training.trainable_state(single.model))
    single.run()
    one = training.trainable_state(single.model)
    sets = [x for item in OVERRIDES for x in ("--set", item)]
    summary = assert_two_processes_train_like_one(tmp_path / "two", ["--preset", "mini", "--data", str(llava), *sets],
                                                  one, initial, port=29541)
    assert summary["format"] == "llava" and summary["n_train"] == 64
    expected_steps = sum(s.epochs * (config.n_train // (s.batch_size * s.grad_accum)) for s in config.stages)
    assert summary["global_steps"] == expected_steps == single.global_step
