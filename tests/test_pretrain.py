"""사전학습 코드 경로(작은 예산)와 자산 검증: 매니페스트, 해시, 손상·누락 파일 거부."""
import json
import shutil

import pytest

from course_lib import assets
from course_lib.models import pretrained
from course_lib.assets import ASSET_FILES, LLM_WEIGHTS_FILE
from course_lib.pretrain import PretrainConfig, pretrain


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    cfg = PretrainConfig(n_train_scenes=64, siglip_steps=2, siglip_batch_size=8, llm_steps=2, llm_batch_size=4,
                         warmup_steps=1, n_eval_scenes=8)
    manifest = pretrain(out, cfg, progress=False)
    return out, manifest


def test_pretrain_writes_every_asset_with_manifest(tiny_assets):
    out, manifest = tiny_assets
    assert set(manifest["files"]) == set(ASSET_FILES)
    assert manifest["seed"] == 0 and manifest["wall_time_s"] > 0
    assert {"torch", "transformers", "open_clip_torch"} <= set(manifest["versions"])
    assert all(check.ok for check in assets.verify_assets(out))
    parts = pretrained.load_parts(out)
    assert parts.llm.config.model_type == "qwen3"
    assert hasattr(parts.siglip, "logit_bias")
    assert set(manifest["metrics"]["llm_context_reading_exact"]) == {"with_context", "without_context"}


def test_context_fraction_is_validated():
    with pytest.raises(ValueError, match="llm_context_fraction"):
        PretrainConfig(llm_context_fraction=1.5)


def test_tampered_weights_are_refused(tiny_assets, tmp_path):
    out = tmp_path / "data"
    shutil.copytree(tiny_assets[0], out)
    with open(out / LLM_WEIGHTS_FILE, "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(assets.AssetError, match="python -m course_lib pretrain") as err:
        pretrained.load_llm(out)
    assert "model.safetensors" in str(err.value) and "hash mismatch" in str(err.value)


def test_missing_file_is_refused(tiny_assets, tmp_path):
    out = tmp_path / "data"
    shutil.copytree(tiny_assets[0], out)
    (out / "siglip" / "model.safetensors").unlink()
    with pytest.raises(assets.AssetError, match="missing"):
        pretrained.load_siglip(out)


def test_shipped_manifest_records_how_assets_were_made():
    manifest = assets.read_manifest()
    assert manifest["command"].startswith("python -m course_lib pretrain")
    assert set(manifest["files"]) == set(ASSET_FILES)
    total = sum(entry["bytes"] for entry in manifest["files"].values())
    assert total <= 20 * 1024 * 1024, f"data/ 자산이 20 MB를 넘는다: {total} bytes"
    assert all(check.ok for check in assets.verify_assets())
    json.dumps(manifest)  # 직렬화 가능


def test_shipped_llm_reads_its_context(parts):
    """실린 LLM은 글 문맥을 읽어 같은 장면을 다시 쓴다; 문맥이 없으면 맞히지 못한다(그림 없이 글만)."""
    from course_lib import evaluate, world

    scenes = world.make_scenes("test", 100)
    with_context = evaluate.context_reading_accuracy(parts.llm, parts.tokenizer, scenes)
    without = evaluate.context_reading_accuracy(parts.llm, parts.tokenizer, scenes, with_context=False)
    assert with_context["exact"] >= 0.9, with_context
    assert without["exact"] <= 0.1, without


def test_left_padded_batch_generates_the_same_as_one_by_one(parts):
    """길이가 다른 문맥을 한 배치로(왼쪽 채움) 이어 써도 하나씩 쓴 것과 같아야 한다."""
    import random

    from course_lib import evaluate, world

    rng = random.Random(3)
    contexts = [world.write_caption(s, rng) for s in world.make_scenes("val", 5)] + [None]
    assert len({len(c or "") for c in contexts}) > 2  # 정말 길이가 섞여 있다
    batched = evaluate.generate_after_context(parts.llm, parts.tokenizer, contexts)
    single = [evaluate.generate_after_context(parts.llm, parts.tokenizer, [c])[0] for c in contexts]
    assert batched == single
