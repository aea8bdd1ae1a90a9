"""체크포인트(checkpoint): 학습하는 가중치, 옵티마이저 상태, 학습기 상태를 safetensors로 저장하고 읽는다.

쓰기는 원자적(atomic)이다: `이름.tmp-PID` 폴더에 다 쓰고 fsync한 뒤 이름을 바꾼다. 도중에 죽으면 임시 폴더만 남고
마지막 완전한 체크포인트는 그대로다. 얼어 있는 원래 가중치는 `data/`에 있으므로 저장하지 않는다.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from course_lib.errors import CheckpointError
from course_lib.training.config import TrainConfig
from course_lib.training.freezing import is_lora_parameter


def trainable_state(vlm) -> dict[str, torch.Tensor]:
    """저장할 가중치: 프로젝터 전체와 LoRA 파라미터(학습 여부와 상관없이). 얼어 있는 원래 가중치는 data/에 있다."""
    state = {f"projector.{k}": v for k, v in vlm.projector.state_dict().items()}
    state.update({f"llm.{n}": p for n, p in vlm.llm.named_parameters() if is_lora_parameter(n)})
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def load_trainable_state(vlm, state: dict[str, torch.Tensor]) -> None:
    own = trainable_state(vlm)
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        missing, extra = sorted(set(own) - set(state))[:3], sorted(set(state) - set(own))[:3]
        raise CheckpointError(f"체크포인트의 구조가 이 모델과 다릅니다(architecture mismatch): 없는 키 {missing}, "
                           f"남는 키 {extra}. 같은 설정으로 만든 체크포인트인지 확인하세요.")
    vlm.projector.load_state_dict({k[len("projector."):]: v for k, v in state.items() if k.startswith("projector.")})
    params = dict(vlm.llm.named_parameters())
    with torch.no_grad():
        for key, value in state.items():
            if key.startswith("llm."):
                params[key[len("llm."):]].copy_(value)


def optimizer_tensors(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """AdamW 상태를 safetensors에 담을 수 있는 텐서 사전과 JSON 메타데이터로 나눈다."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars[f"{pid}.{key}"] = value
    groups = [{k: v for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def restore_optimizer(optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for key, value in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(directory: Path, vlm, optimizer, trainer_state: dict, config: TrainConfig) -> Path:
    """체크포인트를 `directory.tmp-*`에 다 쓰고 fsync한 뒤 이름을 바꾼다. 도중에 죽으면 임시 폴더만 남는다."""
    directory = Path(directory)
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(vlm), tmp / "trainable.safetensors")
    if optimizer is not None:
        tensors, meta = optimizer_tensors(optimizer)
        rng = {"torch_rng": torch.get_rng_state()}
        save_file({**{f"opt.{k}": v for k, v in tensors.items()}, **rng}, tmp / "trainer_state.safetensors",
                  metadata={"optimizer": json.dumps(meta), "trainer": json.dumps(trainer_state),
                            "config": config.to_json(), "fingerprint": config.fingerprint()})
    for f in tmp.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(tmp)
    _maybe_crash_for_test(directory)
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    _fsync_dir(directory.parent)
    shutil.rmtree(old, ignore_errors=True)
    return directory


CRASH_ENV = "COURSE_CRASH_BEFORE_RENAME"


def _maybe_crash_for_test(directory: Path) -> None:
    """장애 주입(fault injection): 환경 변수에 적힌 체크포인트 이름을 쓰는 도중, 이름을 바꾸기 직전에
    스스로 SIGKILL한다. "체크포인트를 쓰다 죽어도 마지막 완전한 체크포인트는 멀쩡하다"를 시험하려고 둔다."""
    if os.environ.get(CRASH_ENV) == directory.name:
        os.kill(os.getpid(), signal.SIGKILL)


def read_checkpoint(directory: Path) -> tuple[dict, dict, dict, TrainConfig | None]:
    """(가중치, 옵티마이저 텐서, 메타데이터, 설정)."""
    weights = load_file(Path(directory) / "trainable.safetensors")
    state_file = Path(directory) / "trainer_state.safetensors"
    if not state_file.exists():
        return weights, {}, {}, None
    with safe_open(state_file, "pt") as f:
        meta = f.metadata()
    tensors = load_file(state_file)
    return weights, tensors, meta, TrainConfig.from_json(meta["config"])


def latest_checkpoint(out_dir: Path) -> Path | None:
    """완전히 쓰인 step 체크포인트 가운데 가장 늦은 것(임시 폴더는 무시한다)."""
    root = Path(out_dir) / "checkpoints"
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and "." not in p.name
            and (p / "trainer_state.safetensors").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)



def jsonable(value):
    """JSON에 담을 수 있게 바꾼다(텐서 → 목록, NaN/inf → 문자열)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if torch.is_tensor(value):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
