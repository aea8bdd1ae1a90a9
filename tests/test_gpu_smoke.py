"""GPU 스모크 테스트가 썩지 않게: 문서(노트북 07)의 명령 `bash bench/gpu_smoke.sh --tiny-cpu`를 그대로 CPU에서 돌린다.

같은 코드 경로(무작위 NF4 `Linear4bit` LLM, open_clip ViT 감싸기, peft LoRA, 그레이디언트 체크포인팅, 학습기의 2단계,
step 체크포인트 쓰기와 재개 검사)를 아주 작은 구조로 지난다. GPU에서만 도는 부분(메모리 측정, ViT-L-14, 채점기)은
GPU가 있을 때 `bash bench/gpu_smoke.sh`로 돈다.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from course_lib import REPO_ROOT

SPEC = importlib.util.spec_from_file_location("gpu_smoke", REPO_ROOT / "bench" / "gpu_smoke.py")
gpu_smoke = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gpu_smoke)


def test_byte_tokenizer_takes_one_text_or_a_batch():
    tokenizer = gpu_smoke.ByteTokenizer(eos_token_id=1, pad_token_id=0)
    assert tokenizer("ab").input_ids == [97, 98]
    assert tokenizer(["ab", "c"]).input_ids == [[97, 98], [99]]


def test_byte_tokenizer_goes_through_encode_captions():
    from course_lib.models.vlm import encode_captions

    batch = encode_captions(gpu_smoke.ByteTokenizer(eos_token_id=1, pad_token_id=0), ["abc", "de"])
    assert batch.input_ids.shape[0] == 2 and batch.input_ids[0, -1].item() == 1


def test_tiny_cpu_mode_runs_from_the_documented_command():
    done = subprocess.run(["bash", "bench/gpu_smoke.sh", "--tiny-cpu"], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["linear4bit"] > 0 and result["lora_layers"] > 0 and result["lora_on_4bit"]
    assert result["activation_checkpointing"] and result["checkpoint"] == "step-0000002"
    assert result["trainable"] == result["expected"] and result["trainable"]["lora"] > 0
    assert len(result["losses"]) == 2 and all(loss == loss for loss in result["losses"])
    assert "Traceback" not in done.stderr
