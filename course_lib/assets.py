"""`data/`에 들어 있는 배포용 자산(사전학습 가중치, 토크나이저)과 그 목록 `MANIFEST.json`.

`data/`와 매니페스트를 아는 곳은 이 모듈 하나뿐이다. 다른 모듈은 `require_asset("...")`로
파일 경로를 받고, 파일이 없거나 해시가 다르면 고치는 방법이 적힌 `AssetError`를 받는다.

MANIFEST.json 형식::

    {"files": {"<data/ 기준 상대 경로>": {"sha256": "...", "bytes": 123}},
     "command": "python -m course_lib pretrain", "seed": 0,
     "versions": {"torch": "..."}, "wall_time_s": 12.3, ...}
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_lib import data_dir as _default_data_dir
from course_lib.errors import AssetError

MANIFEST_NAME = "MANIFEST.json"
REBUILD_COMMAND = "python -m course_lib pretrain"

# data/ 안의 자산 파일(data/ 기준 경로). SigLIP 설정 파일의 이름(확장자 뺀 것)이 open_clip에 등록하는 모델 이름이다.
TOKENIZER_FILE = "tokenizer/tokenizer.json"
SIGLIP_CONFIG_FILE = "siglip/mini-siglip-vit-p12.json"
SIGLIP_WEIGHTS_FILE = "siglip/model.safetensors"
LLM_CONFIG_FILE = "llm/config.json"
LLM_WEIGHTS_FILE = "llm/model.safetensors"
ASSET_FILES = (TOKENIZER_FILE, SIGLIP_CONFIG_FILE, SIGLIP_WEIGHTS_FILE, LLM_CONFIG_FILE, LLM_WEIGHTS_FILE)


@dataclass(frozen=True)
class AssetCheck:
    """파일 하나를 검사한 결과."""

    path: str  # data/ 기준 상대 경로
    ok: bool
    reason: str  # 한국어 한 줄: "정상", "파일 없음", "해시 불일치" …


def sha256_file(path: str | os.PathLike) -> str:
    """파일의 SHA-256(16진수). 큰 파일도 1 MiB씩 읽는다."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _resolve_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir) if data_dir is not None else _default_data_dir()


def manifest_path(data_dir: str | os.PathLike | None = None) -> Path:
    return _resolve_dir(data_dir) / MANIFEST_NAME


def read_manifest(data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """매니페스트를 읽는다. 없거나 형식이 틀리면 `AssetError`."""
    path = manifest_path(data_dir)
    if not path.is_file():
        raise AssetError(
            f"자산 목록 {path} 이(가) 없습니다(manifest missing). "
            f"사전학습 가중치를 만들려면 저장소 루트에서 `{REBUILD_COMMAND}` 를 실행하세요."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AssetError(
            f"{path} 을(를) JSON으로 읽을 수 없습니다({err}). `{REBUILD_COMMAND}` 로 다시 만드세요."
        ) from err
    if not isinstance(manifest.get("files"), dict):
        raise AssetError(f"{path} 에 \"files\" 항목이 없습니다. `{REBUILD_COMMAND}` 로 다시 만드세요.")
    return manifest


def _atomic_write_text(path: Path, text: str) -> None:
    """임시 파일에 쓴 뒤 `os.replace`로 바꿔 끼운다. 중간에 멈춰도 옛 파일이 남는다."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(
    files: list[str | os.PathLike], data_dir: str | os.PathLike | None = None, **meta: Any
) -> Path:
    """`files`(data/ 안의 파일들)의 해시와 크기를 재어 MANIFEST.json을 원자적으로 쓴다.

    `meta`(command, seed, versions, wall_time_s …)는 그대로 함께 저장된다.
    """
    root = _resolve_dir(data_dir).resolve()
    entries: dict[str, dict[str, Any]] = {}
    for file in files:
        path = Path(file)
        path = (path if path.is_absolute() else root / path).resolve()
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError as err:
            raise AssetError(f"{path} 은(는) 자산 폴더 {root} 밖에 있습니다.") from err
        entries[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    manifest = {"files": dict(sorted(entries.items())), **meta}
    target = root / MANIFEST_NAME
    _atomic_write_text(target, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return target


def verify_assets(data_dir: str | os.PathLike | None = None) -> list[AssetCheck]:
    """매니페스트의 모든 파일이 있고 해시가 맞는지 검사한다.

    매니페스트 자체가 없으면 `MANIFEST.json` 한 줄짜리 실패 결과를 돌려준다(예외 대신).
    """
    root = _resolve_dir(data_dir)
    try:
        manifest = read_manifest(root)
    except AssetError as err:
        return [AssetCheck(MANIFEST_NAME, False, str(err))]
    results = []
    for rel, expected in manifest["files"].items():
        path = root / rel
        if not path.is_file():
            results.append(AssetCheck(rel, False, "파일 없음"))
        elif sha256_file(path) != expected.get("sha256"):
            results.append(AssetCheck(rel, False, "해시 불일치(파일이 바뀌었거나 손상됨)"))
        else:
            results.append(AssetCheck(rel, True, "정상"))
    return results


def assets_intact(data_dir: str | os.PathLike | None = None) -> bool:
    """매니페스트가 있고, 자산 파일(`ASSET_FILES`)을 모두 적고, 적힌 모든 파일의 해시가 맞는가.
    `pretrain`이 온전한 data/를 덮어쓰지 않으려고 묻는다(없거나 손상된 data/는 다시 만든다)."""
    checks = verify_assets(data_dir)
    return set(ASSET_FILES) <= {c.path for c in checks} and all(c.ok for c in checks)


def require_asset(relpath: str, data_dir: str | os.PathLike | None = None) -> Path:
    """검증된 자산 파일의 경로. 없거나, 해시가 다르거나, 매니페스트가 없으면 `AssetError`."""
    root = _resolve_dir(data_dir)
    manifest = read_manifest(root)
    entry = manifest["files"].get(relpath)
    path = root / relpath
    fix = f"저장소 루트에서 `{REBUILD_COMMAND}` 를 실행해 다시 만드세요"
    if entry is None:
        raise AssetError(f"{relpath} 이(가) 자산 목록 {root / MANIFEST_NAME} 에 없습니다. {fix}.")
    if not path.is_file():
        raise AssetError(f"자산 파일 {path} 이(가) 없습니다(missing). {fix}.")
    if sha256_file(path) != entry.get("sha256"):
        raise AssetError(
            f"자산 파일 {path} 의 SHA-256이 목록과 다릅니다(hash mismatch). "
            f"파일이 바뀌었거나 손상되었습니다. {fix}."
        )
    return path
