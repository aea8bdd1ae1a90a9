#!/usr/bin/env bash
# GPU 스모크 테스트: 실제 구조(무작위 가중치, 다운로드 없음) + NF4 + LoRA + 체크포인팅으로 2단계 몇 걸음.
#   bash bench/gpu_smoke.sh [--preset full|colab] [--steps 6] [--json out.json]
#   bash bench/gpu_smoke.sh --tiny-cpu     # GPU 없이 같은 코드 경로를 아주 작은 구조로(CPU, 설치하지 않음)
# 필요: torch, transformers, peft, accelerate, bitsandbytes, open_clip_torch, safetensors (GPU 모드는 timm과 CUDA GPU도).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
tiny=0
for arg in "$@"; do
  if [ "$arg" = "--tiny-cpu" ]; then tiny=1; fi
done
missing=$(SMOKE_TINY=$tiny "$PY" - <<'PYEOF'
import importlib.util, os
need = {"torch": "torch", "transformers": "transformers", "peft": "peft", "accelerate": "accelerate",
        "bitsandbytes": "bitsandbytes", "open_clip": "open_clip_torch", "safetensors": "safetensors"}
if os.environ["SMOKE_TINY"] == "0":
    need["timm"] = "timm"  # GPU 모드의 SigLIP 채점기(ViT-B-16-SigLIP)는 timm 시각 타워를 쓴다
print(" ".join(dist for mod, dist in need.items() if importlib.util.find_spec(mod) is None))
PYEOF
)
if [ -n "$missing" ]; then
  if [ "$tiny" = 1 ]; then  # CPU 점검(테스트)은 아무것도 설치하지 않는다
    echo "빠진 패키지: $missing — 저장소 루트에서 'pip install -e \".[dev]\"' 후 다시 실행하세요" >&2
    exit 2
  fi
  echo "빠진 패키지: $missing — 설치를 시도합니다(pip install $missing)"
  "$PY" -m pip install -q $missing || { echo "설치 실패: 'pip install $missing' 후 다시 실행하세요" >&2; exit 2; }
fi
if [ "$tiny" = 0 ]; then
  "$PY" -c 'import sys, torch
if not torch.cuda.is_available():
    sys.exit("CUDA GPU가 없습니다 (no CUDA device). 코드 경로만 보려면: bash bench/gpu_smoke.sh --tiny-cpu")
print(torch.__version__, torch.cuda.get_device_name(0))'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec "$PY" bench/gpu_smoke.py "$@"
