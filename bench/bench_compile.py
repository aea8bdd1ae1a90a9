"""`torch.compile`이 미니 본 작업의 걸음을 얼마나 빠르게 하는지, 컴파일 시간까지 세어 잰다(채택 전의 측정).

    python bench/bench_compile.py [--steps 60] [--stage stage2] [--rounds 2]

`mini` 프리셋의 한 단계(기본 2단계: 프로젝터 + LoRA)를 같은 데이터 순서로 `--steps` 걸음씩, 컴파일하지 않은 학습기(eager)와
LLM을 `torch.compile`로 감싼 학습기로 번갈아 돌린다(라운드마다 새 학습기, 순서 ABAB). 잰 것:
- 첫 걸음의 시간(컴파일이 여기에 들어간다; 두 쪽 모두 시각 인코더 출력 캐시도 첫 걸음에 만든다)과, 처음 `--warmup` 걸음을 뺀 걸음 시간의 중앙값
- 본 작업 전체로 옮겼을 때의 추정: 컴파일 시간 + 걸음 수 × 중앙값(본 작업의 걸음 수는 프리셋에서)
- 두 학습의 손실이 비트까지 같은지(컴파일은 연산을 합쳐 덧셈 순서가 달라질 수 있다: 같지 않으면 최대 차이)

컴파일한 코드는 보통 `/tmp/torchinductor_<사용자>`에 캐시되어 두 번째 실행부터 빨라진다. 새 기계에서 처음 도는
본 작업과 같게, 컴파일하는 실행마다 빈 캐시 폴더(`TORCHINDUCTOR_CACHE_DIR`)를 준다(`--warm-cache`면 기본 캐시를 쓴다).

결과는 `bench/results/compile.json`. 모양(길이)이 배치마다 달라 다시 컴파일되지 않도록 `dynamic=True`로 감싼다.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
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

RESULTS = REPO / "bench" / "results" / "compile.json"


class _Clock:
    """걸음마다 벽시계 시간(학습기가 기록하는 seconds는 옵티마이저 걸음만 잰다: 여기서도 그것을 쓴다)."""

    def __init__(self):
        self.seconds, self.losses = [], []

    def on_step_end(self, trainer, record):
        self.seconds.append(record["seconds"])
        self.losses.append(record["loss"])


def one_run(config, steps: int, compiled: bool) -> dict:
    clock = _Clock()
    parts = pretrained.load_parts()  # 실행마다 새로: 학습기가 LLM에 LoRA를 붙이므로 같은 부품을 다시 쓰면 두 번 붙는다
    trainer = Trainer(config, parts, progress=False, max_steps=steps, log=lambda *_: None, callbacks=[clock])
    if compiled:
        trainer.model.llm = torch.compile(trainer.model.llm, dynamic=True)
    start = time.perf_counter()
    trainer.run()
    return {"compiled": compiled, "wall_s": round(time.perf_counter() - start, 2), "seconds": clock.seconds,
            "losses": clock.losses}


def main_job_steps(config) -> int:
    return sum(s.epochs * (config.n_train // (s.batch_size * s.grad_accum)) for s in config.stages)


def summarise(runs: list[dict], warmup: int, job_steps: int) -> dict:
    """eager와 compile 각각: 첫 걸음(중앙값), 데우기 뒤 걸음 시간(중앙값); 컴파일 시간 = 두 첫 걸음의 차이.
    손실은 같은 쪽 실행끼리 비트까지 같은지(재현성), eager와 compile 사이의 최대 차이(덧셈 순서)를 본다."""
    def side(compiled: bool) -> dict:
        mine = [r for r in runs if r["compiled"] == compiled]
        return {"first_step_s": statistics.median(r["seconds"][0] for r in mine),
                "median_step_s": statistics.median(s for r in mine for s in r["seconds"][warmup:])}

    def identical(compiled: bool) -> bool:
        losses = [r["losses"] for r in runs if r["compiled"] == compiled]
        return all(run == losses[0] for run in losses)

    eager, comp = side(False), side(True)
    compile_s = comp["first_step_s"] - eager["first_step_s"]
    reference = next(r["losses"] for r in runs if not r["compiled"])
    gap = max(abs(a - b) for r in runs if r["compiled"] for a, b in zip(r["losses"], reference))
    return {"eager": eager, "compiled": comp, "compile_seconds": round(compile_s, 2),
            "step_ratio_compiled_to_eager": comp["median_step_s"] / eager["median_step_s"], "main_job_steps": job_steps,
            "main_job_step_seconds_estimate": {"eager": job_steps * eager["median_step_s"],
                                               "compiled": compile_s + job_steps * comp["median_step_s"]},
            "eager_runs_identical": identical(False), "compiled_runs_identical": identical(True),
            "max_loss_gap_compiled_vs_eager": gap}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stage", default="stage2", choices=("stage1", "stage2"))
    parser.add_argument("--warm-cache", action="store_true", help="컴파일 캐시를 비우지 않는다")
    args = parser.parse_args(argv)
    quiet.install()
    base = presets.get_preset("mini")
    stage = next(s for s in base.stages if s.name == args.stage)
    config = replace(base, stages=(stage,), eval_every_epoch=False, checkpoint_every=0)
    runs = []
    for round_index in range(args.rounds):
        for compiled in (False, True):
            torch._dynamo.reset()
            if compiled and not args.warm_cache:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor_cold_")
            run = one_run(config, args.steps, compiled)
            run["round"] = round_index
            runs.append(run)
            timed = run["seconds"][args.warmup:]
            print(f"라운드 {round_index} {'compile' if compiled else 'eager  '}: 첫 걸음 {run['seconds'][0]:.2f}초, "
                  f"중앙값 {statistics.median(timed) * 1e3:.0f} ms", flush=True)

    record = summarise(runs, args.warmup, main_job_steps(base))
    record = {"command": " ".join(["python bench/bench_compile.py", *(argv if argv is not None else sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d"), "cpu": platform.machine(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "thread_policy": threads.describe_policy(), "stage": args.stage,
              "steps": args.steps, "warmup": args.warmup, "cold_cache": not args.warm_cache, **record, "runs": runs}
    RESULTS.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    est = record["main_job_step_seconds_estimate"]
    print(f"컴파일 시간 약 {record['compile_seconds']:.1f}초; 걸음 중앙값 eager {record['eager']['median_step_s'] * 1e3:.0f} ms, "
          f"compile {record['compiled']['median_step_s'] * 1e3:.0f} ms (비율 {record['step_ratio_compiled_to_eager']:.2f}); "
          f"본 작업 {record['main_job_steps']}걸음으로 옮기면 걸음 시간 eager {est['eager']:.0f}초, compile {est['compiled']:.0f}초; "
          f"손실: eager끼리 같음 {record['eager_runs_identical']}, compile끼리 같음 {record['compiled_runs_identical']}, "
          f"eager와 compile의 최대 차이 {record['max_loss_gap_compiled_vs_eager']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
