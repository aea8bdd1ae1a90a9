"""미니 월드 레시피 탐색: 검증(val) 분할만 보고 `mini` 프리셋의 값을 고른다. test 분할은 열지 않는다.

    python bench/recipe_search.py                       # 아래 CANDIDATES 전부 × 시드 0, 1, 2
    python bench/recipe_search.py --only v1,lr-up --seeds 0

규칙(결과를 보기 전에 정함, 노트북 06과 README가 인용한다): 후보마다 시드 0·1·2로 학습하고, 본 작업과 똑같이
**검증 SigLIP 점수가 가장 높은 epoch**의 체크포인트를 고른다고 보고 그 epoch의 검증 정확 일치를 잰다.
검증 장면 300개에서 정확 일치 0.95 근처의 표준오차는 √(0.95·0.05/300) ≈ 0.013이므로, 여유를 두어
**모든 시드에서 검증 정확 일치 ≥ 0.96**인 후보 가운데 학습 걸음 시간의 합이 가장 작은 것을 고른다(같으면 최소 검증 값이
높은 쪽). test 분할은 고른 레시피로 본 작업을 돌릴 때 한 번만 잰다.
(탐색 도중, 처음 여섯 후보가 모두 0.96에 못 미친 뒤 마지막 두 후보를 돌리기 전에 더한 규칙) 통과한 후보가 없으면 시드 3개를 다
돈 후보 가운데 최소 검증 정확 일치가 가장 높은 것을 고르고, 목표에 못 미쳤다고 적는다.

결과는 `bench/results/recipe_search.json`에 실행이 끝날 때마다 덧붙는다(중간에 멈춰도 잃지 않는다). 같은
(후보, 시드)가 이미 있으면 건너뛴다(`--force`면 다시).

    python bench/recipe_search.py --final --seeds 0,1,2,3   # 고른 레시피(mini 프리셋)의 본 작업을 시드마다 한 번

`--final`은 README 명령 1의 본 작업(`python -m course_lib train --preset mini --seed S`)을 새 프로세스로 돌려
그 `summary.json`(test 분할을 한 번 잰 값)을 `bench/results/recipe_final.json`에 모은다. 탐색에는 쓰지 않는다.
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course_lib import threads  # noqa: E402

threads.apply_thread_policy()  # torch보다 먼저(스레드 정책: README 문제 해결)

import torch  # noqa: E402

from course_lib import presets, quiet  # noqa: E402
from course_lib.models import pretrained  # noqa: E402
from course_lib.tooling.bench_report import SEARCH_SEEDS, recipe_verdict  # noqa: E402
from course_lib.training import Trainer  # noqa: E402

RESULTS = REPO / "bench" / "results" / "recipe_search.json"
FINAL = REPO / "bench" / "results" / "recipe_final.json"
VAL_TARGET = 0.96
SEEDS = SEARCH_SEEDS  # 규칙이 요구하는 시드(course_lib.tooling.bench_report)


def _stages(config, **by_stage):
    """단계별로 값을 바꾼 설정. by_stage = {"stage1": {...}, "stage2": {...}}."""
    return replace(config, stages=tuple(replace(s, **by_stage.get(s.name, {})) for s in config.stages))


def _lora(config, **values):
    return replace(config, lora=replace(config.lora, **values))


# 후보: 이름 → (설명, 기준 프리셋에서 설정을 만드는 함수). 기준은 지난 레시피(`mini-v1`)다.
CANDIDATES = {
    "v1": ("지난 레시피 그대로(1단계 1 epoch, 2단계 3 epoch, 배치 32, lr 2e-3/4e-3, LoRA r16 7모듈)", lambda c: c),
    "lr2x": ("학습률 두 배(프로젝터 4e-3, LoRA 8e-3), 걸음은 그대로",
             lambda c: _stages(c, stage1={"lr_projector": 4e-3}, stage2={"lr_projector": 4e-3, "lr_lora": 8e-3})),
    "attn": ("LoRA를 어텐션 4모듈(q,k,v,o)에만(걸음당 계산이 줄어든다), 학습률은 그대로",
             lambda c: _lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj"))),
    "proj4": ("2단계 프로젝터 학습률 4e-3(LoRA 4e-3과 같게)", lambda c: _stages(c, stage2={"lr_projector": 4e-3})),
    "s1lr4": ("1단계 프로젝터 학습률 4e-3(2단계는 그대로)", lambda c: _stages(c, stage1={"lr_projector": 4e-3})),
    "attn-proj4": ("어텐션 LoRA + 2단계 프로젝터 학습률 4e-3",
                   lambda c: _stages(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")),
                                     stage2={"lr_projector": 4e-3})),
    "attn-s2x4": ("어텐션 LoRA + 2단계 4 epoch(1000걸음)",
                  lambda c: _stages(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")),
                                    stage2={"epochs": 4})),
    "attn-s2x5": ("어텐션 LoRA + 2단계 5 epoch(1200걸음)",
                  lambda c: _stages(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")),
                                    stage2={"epochs": 5})),
    # 위 둘에서 epoch을 늘려도 시드 0이 오르지 않았다(0.950 → 0.947): 같은 걸음 수(1200)를 더 많은 장면에 쓴다
    "attn-n9600": ("어텐션 LoRA + 학습 장면 9600(1.5배), epoch 그대로(1200걸음)",
                   lambda c: replace(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")), n_train=9600)),
    "attn-n12800-s2x2": ("어텐션 LoRA + 학습 장면 12800(2배), 2단계 2 epoch(1200걸음)",
                         lambda c: _stages(replace(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")),
                                                   n_train=12800), stage2={"epochs": 2})),
    # 위 넷의 최소가 0.947~0.953에 머물렀다: 장면도 걸음도 늘린 것, 그리고 같은 걸음에서 LoRA 학습률을 반으로 한 것
    "attn-n12800": ("어텐션 LoRA + 학습 장면 12800(2배), epoch 그대로(1600걸음)",
                    lambda c: replace(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")), n_train=12800)),
    "attn-n12800-s2x2-lora2": ("attn-n12800-s2x2 + LoRA 학습률 2e-3(반)",
                               lambda c: _stages(replace(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")),
                                                         n_train=12800), stage2={"epochs": 2, "lr_lora": 2e-3})),
    # (2026-12-02) 길이로 묶은 배치가 걸음 시간을 0.77~0.79배로 줄였다(bench/results/length_group.json): 그 몫으로 장면을 늘린다
    "attn-n16000-s2x2-group8": ("attn-n12800-s2x2 + 학습 장면 16000 + 길이로 묶은 배치(배치 8개씩, 1500걸음)"
                                " — 시드 3개를 프로세스 3개로 나란히 돌려(코어 2개) 걸음 시간은 다른 후보(프로세스 2개)와"
                                " 비교할 수 없다",
                                lambda c: _stages(replace(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")),
                                                          n_train=16000, length_group_batches=8),
                                                  stage2={"epochs": 2})),
    # (2026-12-02 저녁, 결과를 보기 전) 위 후보는 장면 수와 배치 묶기를 함께 바꿨다: 고른 레시피에 묶기만 더한 것.
    # 걸음 수·장면은 그대로(1200걸음)이고 걸음 시간만 0.77~0.79배(bench/results/length_group.json)일 것이다
    "attn-n12800-s2x2-group8": ("attn-n12800-s2x2 + 길이로 묶은 배치(배치 8개씩), 장면·걸음 그대로(1200걸음)"
                                " — 다른 날 다른 CPU(AVX512)에서 돌아 걸음 시간은 다른 후보와 비교할 수 없다",
                                lambda c: _stages(replace(_lora(c, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")),
                                                          n_train=12800, length_group_batches=8),
                                                  stage2={"epochs": 2})),
}


def run_one(name: str, seed: int) -> dict:
    description, make = CANDIDATES[name]
    config = replace(make(presets.get_preset("mini-v1")), seed=seed, n_test=1, checkpoint_every=0)
    torch.manual_seed(seed)
    start = time.perf_counter()
    trainer = Trainer(config, pretrained.load_parts(), progress=False, log=lambda _: None).run()
    wall = time.perf_counter() - start
    evals = [{k: v for k, v in e.items() if k != "captions"} for e in trainer.history.evals]
    chosen = max(evals, key=lambda e: e["siglip_score"])
    return {"candidate": name, "description": description, "seed": seed, "config": json.loads(config.to_json()),
            "steps": trainer.global_step,
            "step_seconds": {s.name: round(sum(r["seconds"] for r in trainer.history.steps if r["stage"] == s.name), 2)
                             for s in config.stages},
            "train_seconds": round(sum(r["seconds"] for r in trainer.history.steps), 2), "wall_seconds": round(wall, 1),
            "evals": evals, "chosen": {"stage": chosen["stage"], "epoch": chosen["epoch"]},
            "val_exact": chosen["acc_exact"], "val_shape": chosen["acc_shape"],
            # 탐색은 여러 날, 여러 기계에 걸쳐 쌓인다: 걸음 시간은 같은 기계(같은 명령어 집합)의 실행끼리만 비교한다
            "machine": {"date": time.strftime("%Y-%m-%d"), "cpu": platform.processor() or platform.machine(),
                        "cpu_capability": torch.backends.cpu.get_cpu_capability()}}


def _run_one_thread(job: tuple[str, int]) -> dict:
    """작업 프로세스: 스레드 하나로 실행 하나(이 CPU에서 스레드 1개와 2개의 손실은 비트까지 같았다:
    bench/results/threads_*.json). 둘을 나란히 돌리면 하나를 스레드 2개로 돌리는 것보다 빨리 끝난다."""
    torch.set_num_threads(1)
    quiet.install()
    return run_one(*job)


def rule_text() -> str:
    return __doc__.split("규칙", 1)[1].split("결과는")[0].strip()


def load() -> dict:
    record = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {"runs": []}
    record.update(rule=rule_text(), val_target=VAL_TARGET)  # 규칙은 늘 이 파일의 설명에서(더한 규칙도 함께)
    return record


def save(record: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _final_one(job: tuple[int, str]) -> dict:
    """본 작업 하나를 명령줄 그대로 새 프로세스에서(스레드 하나) 돌리고 summary.json을 읽는다."""
    seed, out = job
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-m", "course_lib", "train", "--preset", "mini", "--seed", str(seed), "--out", out,
               "--no-progress"]
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    summary = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
    best = summary["best_epoch_by_siglip"]
    return {"seed": seed, "test": summary["test"], "blind": summary["blind_baseline"],
            "val_exact": best["acc_exact"], "best": {"stage": best["stage"], "epoch": best["epoch"]},
            "wall_seconds": round(wall, 1)}


def final(seeds: list[int], jobs: int) -> int:
    """고른 레시피(mini)의 test 결과를 시드마다 한 번. 탐색(검증)과 따로 기록한다."""
    config = presets.get_preset("mini")
    folder = Path(tempfile.mkdtemp(prefix="recipe_final_"))
    work = [(seed, str(folder / f"seed{seed}")) for seed in seeds]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        runs = list(pool.map(_final_one, work))
    record = {"command": "python bench/recipe_search.py --final --seeds " + ",".join(map(str, seeds)),
              "date": time.strftime("%Y-%m-%d"), "preset": "mini", "n_test": config.n_test,
              "config": json.loads(config.to_json()), "runs": runs,
              "machine": {"cpu": platform.processor() or platform.machine(),
                          "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_count": os.cpu_count(),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "threads_per_run": 1, "parallel_runs": jobs}}
    if FINAL.is_file():  # 앞의 기록(다른 날, 다른 기계일 수 있다)은 날짜를 붙여 남긴다: README가 시드마다 나란히 놓는다
        previous = json.loads(FINAL.read_text(encoding="utf-8"))
        keep = FINAL.with_name(f"recipe_final_{previous['date']}.json")
        if not keep.exists():
            keep.write_text(json.dumps(previous, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    FINAL.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for run in runs:
        print(f"seed {run['seed']}: test 정확 일치 {run['test']['exact']:.3f}, 눈 가림 {run['blind']['exact']:.3f}, "
              f"검증 {run['val_exact']:.3f}, 벽 {run['wall_seconds']:.0f}초")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="쉼표로 구분한 후보 이름(기본: 전부)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="나란히 돌릴 프로세스 수(프로세스마다 스레드 1개)")
    parser.add_argument("--final", action="store_true", help="고른 레시피(mini)의 본 작업을 시드마다 한 번: test 결과")
    args = parser.parse_args(argv)
    quiet.install()
    if args.final:
        return final([int(s) for s in args.seeds.split(",")], args.jobs)
    names = args.only.split(",") if args.only else list(CANDIDATES)
    record = load()
    record["machine"] = {"cpu_count": torch.get_num_threads(), "python": platform.python_version(),
                         "torch": torch.__version__, "threads": threads.describe_policy()}
    jobs = [(name, seed) for name in names for seed in map(int, args.seeds.split(","))
            if args.force or not any((r["candidate"], r["seed"]) == (name, seed) for r in record["runs"])]

    def keep(result: dict) -> None:
        record["runs"] = [r for r in record["runs"]
                          if (r["candidate"], r["seed"]) != (result["candidate"], result["seed"])] + [result]
        save(record)
        print(f"{result['candidate']} seed {result['seed']}: 검증 정확 일치 {result['val_exact']:.3f} "
              f"(모양 {result['val_shape']:.3f}), {result['steps']}걸음, 걸음 시간 {result['train_seconds']:.0f}초, "
              f"벽 {result['wall_seconds']:.0f}초", flush=True)

    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
            for result in pool.map(_run_one_thread, jobs):
                keep(result)
    else:
        for job in jobs:
            keep(run_one(*job))
    for row in recipe_verdict(record):
        print(f"{row['candidate']:>14}: 검증 {', '.join(f'{v:.3f}' for v in row['val_exact'])} "
              f"최소 {row['min']:.3f} {'통과' if row['passes'] else '—'}  걸음 시간 {row['train_seconds']:.0f}초")
    return 0


if __name__ == "__main__":
    sys.exit(main())
