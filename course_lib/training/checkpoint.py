"""체크포인트(checkpoint): 학습하는 가중치, 옵티마이저 상태, 학습기 상태, 난수 상태를 safetensors로 저장하고 읽는다.

쓰기는 원자적(atomic)이다: `이름.tmp-PID` 폴더에 다 쓰고 fsync한 뒤 이름을 바꾼다. 도중에 죽으면 임시 폴더만 남고
마지막 완전한 체크포인트는 그대로다. 얼어 있는 원래 가중치는 `data/`에 있으므로 저장하지 않는다. 파일마다
SHA-256을 `checksums.json`에 적어 두고 읽을 때 맞춰 본다(잘렸거나 바뀐 파일은 `CheckpointError`).

정확한 재개(exact resume)에 필요한 것:
- 난수 상태: torch CPU, CUDA(장치마다; CUDA를 쓴 경우), Python `random`, NumPy — 프로세스(rank)마다 하나씩.
  LoRA 드롭아웃이 torch 난수를 쓰므로, 이것이 없으면 재개한 학습이 끊기지 않은 학습과 갈라진다.
- fp16 혼합 정밀도의 GradScaler 상태(손실 배율).
- 데이터 순서: 섞는 순서와 캡션 문형은 상태 없이 (seed, 단계, epoch, 번호)로 정해진다(`training.data`). 그래서
  저장하는 것은 "어디까지 봤나"(단계, epoch, epoch 안의 걸음)와, 데이터가 그때와 같은지 확인할 요약(`data_record`)이다.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import signal
import sys
from pathlib import Path

import torch
from accelerate.utils import gather_object
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from course_lib.assets import sha256_file
from course_lib.errors import CheckpointError, ConfigError, config_leaves
from course_lib.training.config import TrainConfig
from course_lib.training.data import epoch_order
from course_lib.training.freezing import is_lora_parameter

CHECKSUMS_FILE = "checksums.json"


def trainable_state(vlm) -> dict[str, torch.Tensor]:
    """저장할 가중치: 프로젝터 전체와 LoRA 파라미터(학습 여부와 상관없이). 얼어 있는 원래 가중치는 data/에 있다."""
    state = {f"projector.{k}": v for k, v in vlm.projector.state_dict().items()}
    state.update({f"llm.{n}": p for n, p in vlm.llm.named_parameters() if is_lora_parameter(n)})
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def load_trainable_state(vlm, state: dict[str, torch.Tensor]) -> None:
    own = trainable_state(vlm)
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        missing, extra = sorted(set(own) - set(state))[:3], sorted(set(state) - set(own))[:3]
        raise CheckpointError(f"checkpoint: 체크포인트의 구조가 이 모델과 다릅니다. 없는 키 {missing}, 남는 키 {extra}. "
                              f"같은 설정으로 만든 체크포인트인지 확인하세요 (checkpoint: architecture mismatch)")
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


# ---------------------------------------------------------------- 난수 상태(프로세스마다)

def rng_state() -> dict:
    """이 프로세스의 난수 상태. CUDA는 이미 쓰고 있을 때만(CPU 학습이 GPU 문맥을 만들지 않게)."""
    state = {"cpu": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    numpy = sys.modules.get("numpy")  # 아무도 NumPy를 불러오지 않았다면 그 난수도 쓰이지 않았다
    if numpy is not None:
        state["numpy"] = numpy.random.get_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "python" in state:
        random.setstate(state["python"])
    if state.get("cuda") and torch.cuda.is_available():
        cuda = list(state["cuda"])[:torch.cuda.device_count()]
        for device, value in enumerate(cuda):
            torch.cuda.set_rng_state(value, device)
    numpy = sys.modules.get("numpy")
    if "numpy" in state and numpy is not None:
        numpy.random.set_state(state["numpy"])


def gather_rng_states(accelerator) -> list[dict]:
    """모든 프로세스의 난수 상태(rank 순서). 여러 프로세스면 모든 프로세스가 함께 불러야 한다."""
    states = [rng_state()]
    return gather_object(states) if accelerator.num_processes > 1 else states


def rng_to_file(states: list[dict], scaler=None) -> tuple[dict[str, torch.Tensor], dict]:
    """프로세스별 난수 상태 → safetensors 텐서(`rng.<rank>.cpu`, `rng.<rank>.cuda.<장치>`)와 JSON 메타."""
    tensors, meta = {}, {"world_size": len(states), "python": [], "numpy": []}
    for rank, state in enumerate(states):
        tensors[f"rng.{rank}.cpu"] = state["cpu"]
        for device, value in enumerate(state.get("cuda", [])):
            tensors[f"rng.{rank}.cuda.{device}"] = value.cpu()
        version, internal, gauss = state["python"]
        meta["python"].append([version, list(internal), gauss])
        if "numpy" in state:
            name, keys, pos, has_gauss, cached = state["numpy"]
            tensors[f"rng.{rank}.numpy"] = torch.from_numpy(keys.astype("int64"))
            meta["numpy"].append([name, int(pos), int(has_gauss), float(cached)])
    if scaler is not None:  # fp16: 손실 배율(GradScaler)도 이어 가야 같은 걸음을 밟는다
        meta["grad_scaler"] = {k: (v.item() if torch.is_tensor(v) else v) for k, v in scaler.state_dict().items()}
    return tensors, meta


def rng_from_file(tensors: dict[str, torch.Tensor], meta: dict, rank: int) -> dict:
    """`rng_to_file`의 반대: 이 rank의 상태 하나."""
    state = {"cpu": tensors[f"rng.{rank}.cpu"]}
    state["python"] = (meta["python"][rank][0], tuple(meta["python"][rank][1]), meta["python"][rank][2])
    cuda = sorted((int(k.rsplit(".", 1)[1]), v) for k, v in tensors.items() if k.startswith(f"rng.{rank}.cuda."))
    if cuda:
        state["cuda"] = [v for _, v in cuda]
    if meta.get("numpy") and f"rng.{rank}.numpy" in tensors:
        name, pos, has_gauss, cached = meta["numpy"][rank]
        keys = tensors[f"rng.{rank}.numpy"].numpy().astype("uint32")
        state["numpy"] = (name, keys, pos, has_gauss, cached)
    return state


def restore_rng(accelerator, tensors: dict[str, torch.Tensor], meta: dict, log=print) -> None:
    """저장된 난수 상태를 이 프로세스에 되돌린다. 프로세스 수가 다르면 rank를 돌려 쓰고 알린다."""
    if "torch_rng" in tensors:  # 이전 형식: CPU 상태 하나
        torch.set_rng_state(tensors["torch_rng"])
        return
    saved, rank = meta["world_size"], accelerator.process_index
    if saved != accelerator.num_processes and accelerator.is_main_process:
        log(f"참고: 체크포인트는 프로세스 {saved}개, 지금은 {accelerator.num_processes}개라 난수 상태를 돌려 씁니다"
            f"(데이터 나눔도 달라 끊기지 않은 학습과 비트까지 같지는 않습니다)")
    set_rng_state(rng_from_file(tensors, meta, rank % saved))
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None and meta.get("grad_scaler"):
        scaler.load_state_dict(meta["grad_scaler"])


# ---------------------------------------------------------------- 데이터 순서

def data_record(train_data, seed: int, stage_index: int, epoch: int) -> dict:
    """지금 epoch의 데이터 순서 요약: 개수와, 순서 앞부분·그 캡션의 SHA-256. 재개할 때 다시 계산해 맞춰 본다.
    순서 규칙 자체는 상태가 없다(`epoch_order(n, seed, 단계, epoch)`, 캡션은 (seed, epoch, 번호))."""
    order = epoch_order(len(train_data), seed, stage_index, epoch)[:32]
    digest = hashlib.sha256(json.dumps([order, train_data.captions(order, epoch)], ensure_ascii=False).encode())
    return {"n_train": len(train_data), "stage_index": stage_index, "epoch": epoch, "digest": digest.hexdigest()[:16]}


def check_data_record(saved: dict | None, train_data, seed: int) -> None:
    if saved is None:  # 이전 형식의 체크포인트
        return
    now = data_record(train_data, seed, saved["stage_index"], saved["epoch"])
    if now != saved:
        raise CheckpointError(f"resume: 학습 데이터가 체크포인트를 만들 때와 다릅니다(그때 {saved['n_train']}개, 지금 "
                              f"{now['n_train']}개; 순서·캡션 요약 {saved['digest']} → {now['digest']}). 같은 데이터로 "
                              f"재개하거나 다른 --out으로 새로 시작하세요 (resume: training data changed)")


# ---------------------------------------------------------------- 쓰기와 읽기

def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(directory: Path, vlm, optimizer, trainer_state: dict, config: TrainConfig,
                     rng: tuple[dict, dict] | None = None) -> Path:
    """체크포인트를 `directory.tmp-*`에 다 쓰고 fsync한 뒤 이름을 바꾼다. 도중에 죽으면 임시 폴더만 남는다(다음 실행이
    지운다: `Trainer._clean_crashed_writes`). 쓰다가 실패하면(디스크가 가득 참 …) 임시 폴더를 지우고 필요한 자리를
    알리는 `CheckpointError`를 낸다: 마지막 완전한 체크포인트는 그대로다.
    `rng`는 `rng_to_file`의 (텐서, 메타); 없으면 이 프로세스의 상태를 쓴다."""
    directory = Path(directory)
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
    weights = trainable_state(vlm)
    state_tensors, metadata = {}, None
    if optimizer is not None:
        tensors, meta = optimizer_tensors(optimizer)
        rng_tensors, rng_meta = rng if rng is not None else rng_to_file([rng_state()])
        state_tensors = {**{f"opt.{k}": v for k, v in tensors.items()}, **rng_tensors}
        metadata = {"optimizer": json.dumps(meta), "trainer": json.dumps(trainer_state), "rng": json.dumps(rng_meta),
                    "config": config.to_json(), "fingerprint": config.fingerprint()}
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(weights, tmp / "trainable.safetensors")
        if optimizer is not None:
            save_file(state_tensors, tmp / "trainer_state.safetensors", metadata=metadata)
        sums = {f.name: sha256_file(f) for f in sorted(tmp.iterdir())}
        (tmp / CHECKSUMS_FILE).write_text(json.dumps(sums, indent=1) + "\n", encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(tmp)
    except (OSError, SafetensorError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        needed = (sum(t.numel() * t.element_size() for t in (*weights.values(), *state_tensors.values()))
                  + sum(len(v.encode()) for v in (metadata or {}).values()))
        free = shutil.disk_usage(next(p for p in (directory.parent, *directory.parents) if p.exists())).free
        raise CheckpointError(f"checkpoint: {directory}을(를) 쓰지 못했습니다({_reason(err)}). 체크포인트 하나에 약 "
                              f"{_mib(needed)} MiB가 필요한데 남은 자리는 {_mib(free)} MiB입니다. 자리를 비우거나 --out을 "
                              f"다른 디스크로 주세요. 마지막 완전한 체크포인트는 그대로입니다 "
                              f"(checkpoint: write failed, e.g. no space left on device)") from None
    _maybe_crash_for_test(directory)
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    _fsync_dir(directory.parent)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def _reason(err: BaseException) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err).strip().splitlines()[0]


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f}"


CRASH_ENV = "COURSE_CRASH_BEFORE_RENAME"


def _maybe_crash_for_test(directory: Path) -> None:
    """장애 주입(fault injection): 환경 변수에 적힌 체크포인트 이름을 쓰는 도중, 이름을 바꾸기 직전에
    스스로 SIGKILL한다. "체크포인트를 쓰다 죽어도 마지막 완전한 체크포인트는 멀쩡하다"를 시험하려고 둔다."""
    if os.environ.get(CRASH_ENV) == directory.name:
        os.kill(os.getpid(), signal.SIGKILL)


def _damaged(directory: Path, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint: {directory}를 읽을 수 없습니다: {why}. 이 체크포인트로는 이어 갈 수 없으니 그 "
                           f"폴더를 지우고 다시 시작하거나 다른 --out을 주세요 (checkpoint: truncated or corrupted)")


def verify_checksums(directory: Path) -> None:
    """`checksums.json`의 SHA-256과 파일을 맞춰 본다(이 파일이 없는 이전 형식은 건너뛴다)."""
    listing = Path(directory) / CHECKSUMS_FILE
    if not listing.is_file():
        return
    try:
        sums = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise _damaged(directory, f"{CHECKSUMS_FILE}이(가) 깨졌습니다({err})") from None
    for name, expected in sums.items():
        path = Path(directory) / name
        if not path.is_file():
            raise _damaged(directory, f"{name}이(가) 없습니다")
        if sha256_file(path) != expected:
            raise _damaged(directory, f"{name}의 SHA-256이 저장할 때와 다릅니다(잘렸거나 바뀜)")


def read_checkpoint(directory: Path) -> tuple[dict, dict, dict, TrainConfig | None]:
    """(가중치, 옵티마이저·난수 텐서, 메타데이터, 설정). 없거나 잘렸거나 손상되면 `CheckpointError`."""
    directory = Path(directory)
    if not (directory / "trainable.safetensors").is_file():
        raise _damaged(directory, "trainable.safetensors가 없습니다")
    verify_checksums(directory)
    state_file = directory / "trainer_state.safetensors"
    try:
        weights = load_file(directory / "trainable.safetensors")
        if not state_file.exists():
            return weights, {}, {}, None
        with safe_open(state_file, "pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(state_file)
        config = TrainConfig.from_json(meta["config"])
        for key in ("optimizer", "trainer"):
            json.loads(meta[key])
    except (SafetensorError, OSError, ValueError, KeyError) as err:
        if isinstance(err, ConfigError):
            raise _damaged(directory, f"저장된 설정이 이 버전의 설정과 맞지 않습니다({err})") from None
        raise _damaged(directory, f"{type(err).__name__}: {err}") from None
    return weights, tensors, meta, config


def config_changes(saved: TrainConfig, current: TrainConfig) -> list[str]:
    """두 설정에서 다른 칸(`lora.r: 4 → 8`). 체크포인트 간격은 결과와 무관해 뺀다."""
    a, b = (config_leaves(json.loads(c.to_json())) for c in (saved, current))
    return [f"{k}: {json.dumps(a.get(k))} → {json.dumps(b.get(k))}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and k != "checkpoint_every"]


def open_for_resume(directory: Path, config: TrainConfig) -> tuple[dict, dict, dict, dict]:
    """재개할 체크포인트를 읽고 검사한다: (가중치, 텐서, 메타, 학습기 상태). 아무것도 쓰지 않는다."""
    weights, tensors, meta, saved = read_checkpoint(directory)
    if saved is None:
        raise _damaged(directory, "trainer_state.safetensors가 없습니다")
    if meta.get("fingerprint") != config.fingerprint():
        changes = config_changes(saved, config)
        raise CheckpointError(f"resume: {directory}는 다른 설정으로 만든 체크포인트라 재개할 수 없습니다(다른 칸: "
                              f"{'; '.join(changes[:4]) or '구조'}). 같은 명령으로 다시 실행하거나 --out을 바꾸세요 "
                              f"(resume: config fingerprint mismatch)")
    try:
        rng_meta = json.loads(meta.get("rng", "{}"))
        ranks = range(rng_meta["world_size"]) if "torch_rng" not in tensors else ()
        for rank in ranks:
            rng_from_file(tensors, rng_meta, rank)
        state = json.loads(meta["trainer"])
        missing = {"stage_index", "epoch", "step_in_epoch", "global_step", "scheduler", "best", "history"} - set(state)
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise _damaged(directory, f"난수·학습기 상태가 온전하지 않습니다({type(err).__name__}: {err})") from None
    if missing:
        raise _damaged(directory, f"학습기 상태에 {sorted(missing)}이(가) 없습니다")
    return weights, tensors, meta, state


def latest_checkpoint(out_dir: Path) -> Path | None:
    """완전히 쓰인 step 체크포인트 가운데 가장 늦은 것(임시 폴더는 무시한다)."""
    root = Path(out_dir) / "checkpoints"
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and "." not in p.name
            and p.name[5:].isdigit() and (p / "trainer_state.safetensors").exists()]
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
