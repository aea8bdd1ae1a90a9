"""길이로 묶기(length grouping, `TrainConfig.length_group_batches`)가 걸음을 얼마나 빠르게 하는지 잰다(채택 전의 측정).

    python bench/bench_length_group.py [--steps 60] [--group 8] [--rounds 3]

`mini` 프리셋의 두 단계를 각각 `--steps` 걸음씩, 길이로 묶지 않은 학습기와 묶은 학습기로 번갈아 돌린다(라운드마다 새
학습기, 차례 ABAB…). 같은 예제를 같은 걸음 수로 보고, 바뀌는 것은 배치의 구성뿐이다. 잰 것:
- 걸음 시간의 중앙값(처음 `--warmup` 걸음을 뺌)과 그 비(묶음 ÷ 기본)
- 채움 비율(padding fraction): 계산한 자리 가운데 채움 토큰의 몫(학습기가 걸음마다 센 `positions`와 `tokens`)

배치의 구성이 바뀌므로 손실도 바뀐다: 정확도는 이 파일이 아니라 검증 탐색(`bench/recipe_search.py`)이 잴 일이다.
결과는 `bench/results/length_group.json`.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import course_lib  # noqa: E402,F401  torch보다 먼저(스레드 정책)
import torch  # noqa: E402

from course_lib import presets, quiet, threads  # noqa: E402
from course_lib.models import pretrained  # noqa: E402
from course_lib.training import Trainer  # noqa: E402

RESULTS = REPO / "bench" / "results" / "length_group.json"


def one_run(config, stage_index: int, steps: int, warmup: int) -> dict:
    trainer = Trainer(config, pretrained.load_parts(), progress=False, max_steps=steps, log=lambda *_: None)
    trainer.run_stage(stage_index)
    records = trainer.history.steps
    positions = sum(r["positions"] for r in records)
    return {"median_step_ms": round(1000 * statistics.median(r["seconds"] for r in records[warmup:]), 1),
            "padding_fraction": round(1 - sum(r["tokens"] for r in records) / positions, 4),
            "positions_per_step": round(positions / len(records), 1), "steps": len(records),
            "mean_loss": round(statistics.fmean(r["loss"] for r in records), 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--group", type=int, default=8, help="묶음 하나의 배치 수(length_group_batches)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    quiet.install()
    base = replace(presets.get_preset("mini"), n_test=1, checkpoint_every=0, eval_every_epoch=False)
    arms = {"default": base, f"group{args.group}": replace(base, length_group_batches=args.group)}
    runs = {name: {s.name: [] for s in base.stages} for name in arms}
    start = time.perf_counter()
    for round_index in range(args.rounds):
        names = list(arms) if round_index % 2 == 0 else list(arms)[::-1]  # 차례를 라운드마다 뒤집는다
        for stage_index, stage in enumerate(base.stages):
            for name in names:
                result = one_run(arms[name], stage_index, args.steps, args.warmup)
                runs[name][stage.name].append(result)
                print(f"round {round_index + 1} {stage.name} {name}: {result}", flush=True)
    summary = {}
    for name in arms:
        summary[name] = {stage: {"median_step_ms": statistics.median(r["median_step_ms"] for r in rs),
                                 "padding_fraction": statistics.median(r["padding_fraction"] for r in rs),
                                 "positions_per_step": statistics.median(r["positions_per_step"] for r in rs)}
                         for stage, rs in runs[name].items()}
    grouped = f"group{args.group}"
    ratios = {stage: round(summary[grouped][stage]["median_step_ms"] / summary["default"][stage]["median_step_ms"], 3)
              for stage in summary["default"]}
    record = {"command": "python bench/bench_length_group.py " + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"), "cpu": platform.machine(),
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
              "thread_policy": threads.describe_policy(), "torch": torch.__version__, "preset": "mini",
              "projector_merge": base.projector_merge,
              "steps": args.steps, "warmup": args.warmup, "group_batches": args.group, "rounds": args.rounds,
              "runs": runs, "summary": summary, "step_ratio_grouped_to_default": ratios,
              "wall_seconds": round(time.perf_counter() - start, 1)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"summary": summary, "ratio": ratios}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
