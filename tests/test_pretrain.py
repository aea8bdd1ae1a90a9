"""사전학습 코드 경로(작은 예산)와 자산 검증: 매니페스트, 해시, 손상·누락 파일 거부."""
import json
import shutil

import pytest

from course_lib import assets
from course_lib.models import pretrained
from course_lib.pretrain import ASSET_FILES, LLM_WEIGHTS_FILE, PretrainConfig, pretrain


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
