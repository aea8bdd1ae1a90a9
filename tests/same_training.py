"""두 학습이 "같은 학습"인지: 덧셈 순서만 다른(예: gloo의 all-reduce) 두 결과를 비교하는 공통 기준과,
두 프로세스(gloo) 학습을 돌려 그 기준으로 한 프로세스 학습과 견주는 공통 절차(tests/test_train.py, tests/test_real_data.py).

반올림 차이는 원소 값의 크기가 아니라 학습이 가중치를 움직인 양에 비례한다. AdamW는 기울기를 그 크기로 나누므로
기울기가 작은 원소에서도 한 걸음이 학습률 정도로 움직이고, 덧셈 순서가 바꾼 끝자리도 함께 커진다. 0 가까이에서 끝난
원소를 원소별 상대 오차로 재면 정상인 두 학습도 떨어진다(AVX512 CPU에서 lora_A 한 원소가 1.06e-05 달랐다). 그래서
노트북 06의 누적 시험과 같은 기준을 쓴다: 가장 큰 차이가 학습이 움직인 가장 큰 양의 1%보다 작다. 진짜 결함(기울기를
평균하지 않음, 프로세스가 따로 학습함)은 움직인 양과 같은 크기의 차이를 낸다.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from course_lib import training

RATIO = 0.01
REPO = Path(__file__).resolve().parent.parent


def assert_same_training(two: dict, one: dict, initial: dict, ratio: float = RATIO) -> None:
    assert one.keys() == two.keys() == initial.keys()
    moved = max((one[k] - initial[k]).abs().max().item() for k in one)
    assert moved > 0, "학습이 가중치를 움직이지 않았다"
    gaps = {k: (two[k] - one[k]).abs().max().item() for k in one}
    worst = max(gaps, key=gaps.get)
    assert gaps[worst] < ratio * moved, f"{worst}: 차이 {gaps[worst]:.2e} ≥ {ratio} × 움직인 양 {moved:.2e}"


def snapshot(state: dict) -> dict:
    return {k: v.detach().clone() for k, v in state.items()}


def saved_world_size(out) -> int:
    """마지막 step 체크포인트에 학습기가 적은 프로세스 수(두 프로세스가 정말 함께 학습했는지)."""
    _, _, meta, _ = training.read_checkpoint(training.latest_checkpoint(Path(out)))
    return json.loads(meta["trainer"])["world_size"]


def assert_two_processes_train_like_one(out, train_args, one: dict, initial: dict, port: int) -> dict:
    """`python -m course_lib train <train_args> --out OUT --no-progress`를 두 프로세스(torchrun, gloo)로 돌려:
    끝까지 돌았고, 둘이 함께 학습했으며(따로 돈 둘이 아니라 world_size 2), 마지막 학습 가중치가 한 프로세스의 결과
    `one`과 같은 학습(`assert_same_training`, 처음 값 `initial`)인지 본다. 그 실행의 summary.json을 돌려준다.
    `port`는 시험마다 달리 준다(두 시험이 함께 돌아도 부딪히지 않게)."""
    out = Path(out)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "course_lib", "train", *train_args, "--out", str(out), "--no-progress"]
    done = subprocess.run(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert saved_world_size(out) == 2
    assert_same_training(load_file(out / "final" / "trainable.safetensors"), one, initial)
    return json.loads((out / "summary.json").read_text())
