"""사전학습 코드 경로(작은 예산)와 자산 검증: 매니페스트, 해시, 손상·누락 파일 거부."""
import shutil

import pytest

from course_lib import assets
from course_lib.models import pretrained
from course_lib.assets import ASSET_FILES, LLM_WEIGHTS_FILE
from course_lib.pretrain import PretrainConfig, pretrain


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    # 한 걸음씩: 시험하는 것은 파일과 매니페스트를 쓰는 경로이지 학습의 질이 아니다
    cfg = PretrainConfig(n_train_scenes=64, siglip_steps=1, siglip_batch_size=8, llm_steps=1, llm_batch_size=4,
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


# ---------------------------------------------------------------- 명령: 온전한 data/는 --force 없이 덮어쓰지 않는다

def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """배포된 data/의 사본(COURSE_DATA_DIR: --out을 주지 않은 명령의 기본 폴더)과, 사전학습 대신 부른 기록.
    비싼 `pretrain.pretrain`은 가짜로 바꾼다: 부른 폴더만 적고 배포된 매니페스트를 돌려준다."""
    from course_lib import data_dir
    from course_lib import pretrain as pretrain_module

    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    monkeypatch.setenv("COURSE_DATA_DIR", str(copy))
    calls = []
    shipped = assets.read_manifest(data_dir())
    monkeypatch.setattr(pretrain_module, "pretrain", lambda out_dir, cfg, **kw: calls.append(out_dir) or shipped)
    return copy, calls


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_pretrain_refuses_to_overwrite_intact_assets(capsys, shipped_copy):
    from course_lib.__main__ import main

    copy, calls = shipped_copy
    before = _snapshot(copy)
    for argv in (["pretrain"], ["pretrain", "--out", str(copy), "--seed", "1"]):
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("force: ") and "--force" in line and str(copy) in line
    assert calls == [] and _snapshot(copy) == before  # 학습하지 않았고, 바이트 하나 바뀌지 않았다


def test_pretrain_force_rebuilds_intact_assets(shipped_copy):
    from course_lib.__main__ import main

    copy, calls = shipped_copy
    assert main(["pretrain", "--force"]) == 0
    assert calls == [copy]


@pytest.mark.parametrize("damage", ["corrupt", "missing file", "missing manifest", "empty folder"])
def test_pretrain_rebuilds_damaged_assets_without_force(shipped_copy, damage):
    """손상되었거나 없는 자산은 --force 없이 다시 만든다: 손상된 data/에 보이는 고침(REBUILD_COMMAND)이 그대로 통한다."""
    from course_lib.__main__ import main

    copy, calls = shipped_copy
    if damage == "corrupt":
        _flip_last_byte(copy / LLM_WEIGHTS_FILE)
    elif damage == "missing file":
        (copy / assets.TOKENIZER_FILE).unlink()
    elif damage == "missing manifest":
        (copy / assets.MANIFEST_NAME).unlink()
    else:
        shutil.rmtree(copy)
        copy.mkdir()
    assert not assets.assets_intact(copy)
    assert main(assets.REBUILD_COMMAND.split()[3:]) == 0  # "python -m course_lib pretrain"의 명령 부분
    assert calls == [copy]


def test_manifest_that_lists_only_some_assets_is_not_intact(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"w")
    assets.write_manifest([tmp_path / "weights.bin"], data_dir=tmp_path, seed=0)
    assert all(check.ok for check in assets.verify_assets(tmp_path))
    assert not assets.assets_intact(tmp_path)  # 자산 파일이 목록에 없다: 덮어써도 잃을 것이 없다
