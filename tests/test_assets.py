"""data/ 자산과 매니페스트(course_lib.assets)."""
import json

import pytest

from course_lib import assets, data_dir


@pytest.fixture
def data(tmp_path, monkeypatch):
    """임시 자산 폴더: 파일 두 개와 그 매니페스트. COURSE_DATA_DIR이 이곳을 가리킨다."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "tokenizer.json").write_text('{"vocab": {}}', encoding="utf-8")
    (tmp_path / "llm.safetensors").write_bytes(b"\x00" * 100)
    assets.write_manifest(
        [tmp_path / "llm.safetensors", "tokenizer/tokenizer.json"],
        command="python -m course_lib pretrain",
        seed=0,
        versions={"torch": "x"},
        wall_time_s=1.5,
    )
    return tmp_path


def test_data_dir_follows_environment(data):
    assert data_dir() == data


def test_manifest_format(data):
    manifest = json.loads((data / "MANIFEST.json").read_text(encoding="utf-8"))
    assert set(manifest["files"]) == {"llm.safetensors", "tokenizer/tokenizer.json"}
    entry = manifest["files"]["llm.safetensors"]
    assert entry == {"sha256": assets.sha256_file(data / "llm.safetensors"), "bytes": 100}
    assert manifest["seed"] == 0 and manifest["command"] == "python -m course_lib pretrain"
    assert manifest["wall_time_s"] == 1.5 and manifest["versions"] == {"torch": "x"}
    assert not list(data.glob(".MANIFEST.json.*")), "임시 파일이 남으면 안 된다"


def test_sha256_matches_hashlib(tmp_path):
    import hashlib

    path = tmp_path / "x.bin"
    path.write_bytes(b"abc" * 1_000_000)
    assert assets.sha256_file(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


def test_verify_all_ok(data):
    results = assets.verify_assets()
    assert [r.ok for r in results] == [True, True]


def test_require_asset_returns_path(data):
    assert assets.require_asset("llm.safetensors") == data / "llm.safetensors"


def test_missing_file(data):
    (data / "llm.safetensors").unlink()
    bad = [r for r in assets.verify_assets() if not r.ok]
    assert [(r.path, r.reason) for r in bad] == [("llm.safetensors", "파일 없음")]
    with pytest.raises(assets.AssetError, match=r"llm\.safetensors.*python -m course_lib pretrain"):
        assets.require_asset("llm.safetensors")


def test_corrupted_file(data):
    (data / "llm.safetensors").write_bytes(b"\x01" * 100)
    bad = [r for r in assets.verify_assets() if not r.ok]
    assert [r.path for r in bad] == ["llm.safetensors"] and "해시" in bad[0].reason
    with pytest.raises(assets.AssetError, match="SHA-256.*python -m course_lib pretrain"):
        assets.require_asset("llm.safetensors")


def test_missing_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    results = assets.verify_assets()
    assert len(results) == 1 and not results[0].ok and results[0].path == "MANIFEST.json"
    assert "python -m course_lib pretrain" in results[0].reason
    with pytest.raises(assets.AssetError, match="MANIFEST.json"):
        assets.require_asset("llm.safetensors")


def test_unlisted_file(data):
    with pytest.raises(assets.AssetError, match="vision.safetensors"):
        assets.require_asset("vision.safetensors")


def test_file_outside_data_dir_rejected(data, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "x.bin"
    outside.write_bytes(b"1")
    with pytest.raises(assets.AssetError, match="밖"):
        assets.write_manifest([outside])


def test_failed_write_keeps_old_manifest(data, monkeypatch):
    before = (data / "MANIFEST.json").read_text(encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("디스크 가득 참")

    monkeypatch.setattr(assets.os, "replace", broken_replace)
    with pytest.raises(OSError):
        assets.write_manifest([data / "llm.safetensors"], seed=1)
    assert (data / "MANIFEST.json").read_text(encoding="utf-8") == before
    assert not list(data.glob(".MANIFEST.json.*"))
