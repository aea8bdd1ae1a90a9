"""본 작업(main job) 벤치마크: 벽시계 시간, 단계별 걸음/초, 활용률(utilisation) 추정.

    python bench/bench_train.py [--preset mini] [--out runs/bench]

활용률 = (모델 FLOP / 초) ÷ (같은 실행에서 잰 이 CPU의 행렬곱 최고 FLOP / 초).
모델 FLOP은 걸음마다 처리한 토큰 수로 어림한다:
  LLM: 순전파 2·N_llm·토큰 + 역전파 중 활성값 기울기 2·N_llm·토큰(얼어 있는 가중치도 기울기를 흘려보낸다)
       + 학습하는 파라미터의 가중치 기울기 2·N_train·토큰,
  시각 인코더: 순전파만 2·N_vision·패치 수 (얼어 있고 기울기가 필요 없다).
어텐션 점수 계산(T² 항)은 이 작은 모델에서 작아 뺐다. 그래서 활용률은 약간 낮게 나온다.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch


def peak_matmul_flops(n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--out", default="runs/bench")
    args = parser.parse_args()

    from course_lib import presets, training
    from course_lib.models.pretrained import load_parts

    peak = peak_matmul_flops()
    config = presets.get_preset(args.preset)
    start = time.time()
    parts = load_parts()
    trainer = training.Trainer(config, parts, out_dir=Path(args.out), progress=False, log=lambda _: None).run()
    wall = time.time() - start
    vlm = trainer.vlm
    n_llm = sum(p.numel() for n, p in vlm.llm.named_parameters() if "lora_" not in n)
    n_vision = sum(p.numel() for p in vlm.vision.parameters())
    rows = {}
    for stage in config.stages:
        steps = [s for s in trainer.history.steps if s["stage"] == stage.name]
        n_train = training.expected_counts(vlm, stage, config.lora)
        n_trainable = n_train["projector"] + n_train["lora"]
        seconds = sum(s["seconds"] for s in steps)
        tokens = sum(s["tokens"] for s in steps)
        images = len(steps) * stage.batch_size * stage.grad_accum
        flops = tokens * (4 * n_llm + 2 * n_trainable) + images * vlm.vision.num_patches * 2 * n_vision
        rows[stage.name] = {"steps": len(steps), "seconds": round(seconds, 1),
                            "steps_per_s": round(len(steps) / seconds, 2),
                            "median_step_ms": round(1000 * statistics.median(s["seconds"] for s in steps), 1),
                            "model_gflops_per_s": round(flops / seconds / 1e9, 2),
                            "utilisation": round(flops / seconds / peak, 3)}
    report = {"preset": args.preset, "wall_time_s": round(wall, 1), "threads": torch.get_num_threads(),
              "peak_matmul_gflops_per_s": round(peak / 1e9, 1), "stages": rows}
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
