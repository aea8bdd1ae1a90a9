#!/usr/bin/env bash
# GPU 스모크 테스트: 실제 구조(무작위 가중치, 다운로드 없음) + NF4 + LoRA + 체크포인팅으로 2단계 몇 걸음.
#   bash bench/gpu_smoke.sh [--preset full|colab] [--steps 6] [--json out.json]
# 필요: CUDA GPU, torch, transformers, peft, accelerate, bitsandbytes, open_clip_torch, timm, safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
missing=$("$PY" - <<'PYEOF'
import importlib.util
need = {"torch": "torch", "transformers": "transformers", "peft": "peft", "accelerate": "accelerate",
        "bitsandbytes": "bitsandbytes", "open_clip": "open_clip_torch", "timm": "timm", "safetensors": "safetensors"}
print(" ".join(dist for mod, dist in need.items() if importlib.util.find_spec(mod) is None))
PYEOF
)
if [ -n "$missing" ]; then
  echo "빠진 패키지: $missing — 설치를 시도합니다(pip install $missing)"
  "$PY" -m pip install -q $missing || { echo "설치 실패: 'pip install $missing' 후 다시 실행하세요"; exit 2; }
fi
"$PY" -c 'import torch; assert torch.cuda.is_available(), "CUDA GPU가 없습니다"; print(torch.__version__, torch.cuda.get_device_name(0))'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec "$PY" bench/gpu_smoke.py "$@"
