"""미니 월드 레시피 탐색: 검증(val) 분할만 보고 `mini` 프리셋의 값을 고른다. test 분할은 열지 않는다.

    python bench/recipe_search.py --jobs 2                      # 토큰 합치기 탐색: 아래 CANDIDATES를 시드 0·1·2로(선별)
    python bench/recipe_search.py --jobs 2 --finalists          # 선별을 통과한 후보(결선)를 시드 3·4로
    python bench/recipe_search.py --search 2026-12-02 --only attn --seeds 0   # 지난 탐색(기록 recipe_search.json)

규칙(2026-12-07, 토큰 합치기 탐색; 첫 실행 전에 정함. 문턱값은 이슈의 시험 실행 — 2×2 합치기로 시드 0·1·2에서 검증
정확 일치 0.997 / 0.960 / 1.000 — 을 본 뒤에 정했다): 탐색은 검증 장면 **1000개**로 잰다(정확 일치 0.95 근처에서
표준오차 √(0.95·0.05/1000) ≈ 0.007). 후보마다 본 작업과 똑같이 **검증 SigLIP 점수가 가장 높은 epoch**의 체크포인트를
고르고(1000장면에서) 그 epoch의 검증 정확 일치를 그 시드의 값으로 삼는다.
1. 선별: 모든 후보를 시드 0·1·2로 돌린다. 시드 0·1·2의 평균 ≥ 0.97이고 모든 시드 ≥ 0.95인 후보가 결선에 오른다.
2. 결선: 결선 후보를 시드 3·4로도 돌린다. 시드 0~4의 **평균 ≥ 0.98이고 모든 시드 ≥ 0.96**이면 통과다.
3. 통과한 후보 가운데 가장 빠른 것을 고른다. "빠르다"는 탐색의 걸음 시간이 아니라 결선 후보를 한자리에서
   `bench/bench_train.py`로 번갈아 잰 본 작업의 벽시계 중앙값이다.
4. 통과한 후보가 없으면: 결선 후보 가운데 시드 0~4 평균이 가장 높은 것(같으면 빠른 쪽), 결선 후보도 없으면 선별한
   후보 가운데 시드 0·1·2 평균이 가장 높은 것을 고르고, 규칙에 얼마나 못 미쳤는지 적는다.
후보의 차례(CANDIDATES의 차례)도 첫 실행 전에 정했다: 시간이 모자라 뒤의 후보를 못 돌리면 못 돌렸다고 적는다.
모든 후보(대조군 포함)를 한 기계, 한자리에서 프로세스 2개 × 스레드 1개로 돈다. test 분할은 고른 레시피로
본 작업을 돌릴 때(`--final`) 한 번만 잰다.

결과는 `bench/results/recipe_search_merge.json`에 실행이 끝날 때마다 덧붙는다(중간에 멈춰도 잃지 않는다). 같은
(후보, 시드)가 이미 있으면 건너뛴다(`--force`면 다시). 지난 탐색(2026-11-30 ~ 12-02, 후보 11개, 검증 300장면)의
기록과 규칙은 `bench/results/recipe_search.json`에 그대로 남아 있다.

    python bench/recipe_search.py --final --seeds 0,1,2,3,4   # 고른 레시피(mini 프리셋)의 본 작업을 시드마다 한 번

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

from course_lib import lora, presets, quiet  # noqa: E402
from course_lib.models import pretrained  # noqa: E402
from course_lib.tooling.bench_report import SEARCH_SEEDS, merge_verdict, recipe_verdict  # noqa: E402
from course_lib.training import Trainer  # noqa: E402

RESULTS = REPO / "bench" / "results" / "recipe_search_merge.json"
OLD_RESULTS = REPO / "bench" / "results" / "recipe_search.json"
FINAL = REPO / "bench" / "results" / "recipe_final.json"
SEEDS = SEARCH_SEEDS  # 선별 시드(course_lib.tooling.bench_report)
FINAL_SEEDS = (3, 4)  # 결선에서 더 도는 시드
N_VAL = 1000  # 탐색의 검증 장면 수(탐색 설정: 본 작업은 제 n_val로 체크포인트를 고른다)


def _stages(config, **by_stage):
    """단계별로 값을 바꾼 설정. by_stage = {"stage1": {...}, "stage2": {...}}."""
    return replace(config, stages=tuple(replace(s, **by_stage.get(s.name, {})) for s in config.stages))


def _lora(config, **values):
    return replace(config, lora=replace(config.lora, **values))


# 지난 탐색의 후보(기록 recipe_search.json): 이름 → (설명, 기준 프리셋에서 설정을 만드는 함수). 기준은 `mini-v1`이다.
OLD_CANDIDATES = {
    "v1": ("지난 레시피 그대로(1단계 1 epoch, 2단계 3 epoch, 배치 32, lr 2e-3/4e-3, LoRA r16 7모듈)", lambda c: c),
    "lr2x": ("학습률 두 배(프로젝터 4e-3, LoRA 8e-3), 걸음은 그대로",
             lambda c: _stages(c, stage1={"lr_projector": 4e-3}, stage2={"lr_projector": 4e-3, "lr_lora": 8e-3})),
    "attn": ("LoRA를 어텐션 4모듈(q,k,v,o)에만(걸음당 계산이 줄어든다), 학습률은 그대로",
             lambda c: _lora(c, target_modules=lora.ATTENTION_MODULES)),
    "proj4": ("2단계 프로젝터 학습률 4e-3(LoRA 4e-3과 같게)", lambda c: _stages(c, stage2={"lr_projector": 4e-3})),
    "s1lr4": ("1단계 프로젝터 학습률 4e-3(2단계는 그대로)", lambda c: _stages(c, stage1={"lr_projector": 4e-3})),
    "attn-proj4": ("어텐션 LoRA + 2단계 프로젝터 학습률 4e-3",
                   lambda c: _stages(_lora(c, target_modules=lora.ATTENTION_MODULES),
                                     stage2={"lr_projector": 4e-3})),
    "attn-s2x4": ("어텐션 LoRA + 2단계 4 epoch(1000걸음)",
                  lambda c: _stages(_lora(c, target_modules=lora.ATTENTION_MODULES),
                                    stage2={"epochs": 4})),
    "attn-s2x5": ("어텐션 LoRA + 2단계 5 epoch(1200걸음)",
                  lambda c: _stages(_lora(c, target_modules=lora.ATTENTION_MODULES),
                                    stage2={"epochs": 5})),
    # 위 둘에서 epoch을 늘려도 시드 0이 오르지 않았다(0.950 → 0.947): 같은 걸음 수(1200)를 더 많은 장면에 쓴다
    "attn-n9600": ("어텐션 LoRA + 학습 장면 9600(1.5배), epoch 그대로(1200걸음)",
                   lambda c: replace(_lora(c, target_modules=lora.ATTENTION_MODULES), n_train=9600)),
    "attn-n12800-s2x2": ("어텐션 LoRA + 학습 장면 12800(2배), 2단계 2 epoch(1200걸음)",
                         lambda c: _stages(replace(_lora(c, target_modules=lora.ATTENTION_MODULES),
                                                   n_train=12800), stage2={"epochs": 2})),
    # 위 넷의 최소가 0.947~0.953에 머물렀다: 장면도 걸음도 늘린 것, 그리고 같은 걸음에서 LoRA 학습률을 반으로 한 것
    "attn-n12800": ("어텐션 LoRA + 학습 장면 12800(2배), epoch 그대로(1600걸음)",
                    lambda c: replace(_lora(c, target_modules=lora.ATTENTION_MODULES), n_train=12800)),
    "attn-n12800-s2x2-lora2": ("attn-n12800-s2x2 + LoRA 학습률 2e-3(반)",
                               lambda c: _stages(replace(_lora(c, target_modules=lora.ATTENTION_MODULES),
                                                         n_train=12800), stage2={"epochs": 2, "lr_lora": 2e-3})),
    # (2026-12-02) 길이로 묶은 배치가 걸음 시간을 0.77~0.79배로 줄였다(bench/results/length_group.json): 그 몫으로 장면을 늘린다
    "attn-n16000-s2x2-group8": ("attn-n12800-s2x2 + 학습 장면 16000 + 길이로 묶은 배치(배치 8개씩, 1500걸음)"
                                " — 시드 3개를 프로세스 3개로 나란히 돌려(코어 2개) 걸음 시간은 다른 후보(프로세스 2개)와"
                                " 비교할 수 없다",
                                lambda c: _stages(replace(_lora(c, target_modules=lora.ATTENTION_MODULES),
                                                          n_train=16000, length_group_batches=8),
                                                  stage2={"epochs": 2})),
    # (2026-12-02 저녁, 결과를 보기 전) 위 후보는 장면 수와 배치 묶기를 함께 바꿨다: 고른 레시피에 묶기만 더한 것.
    # 걸음 수·장면은 그대로(1200걸음)이고 걸음 시간만 0.77~0.79배(bench/results/length_group.json)일 것이다
    "attn-n12800-s2x2-group8": ("attn-n12800-s2x2 + 길이로 묶은 배치(배치 8개씩), 장면·걸음 그대로(1200걸음)"
                                " — 다른 날 다른 CPU(AVX512)에서 돌아 걸음 시간은 다른 후보와 비교할 수 없다",
                                lambda c: _stages(replace(_lora(c, target_modules=lora.ATTENTION_MODULES),
                                                          n_train=12800, length_group_batches=8),
                                                  stage2={"epochs": 2})),
}


# 토큰 합치기 탐색의 후보(2026-12-07, 첫 실행 전에 정한 차례). 기준은 `mini-v2`(이 탐색 전의 mini)다.
CANDIDATES = {
    "mini-v2": ("대조군: 이 탐색 전의 mini 그대로(패치 토큰 16개, 1200걸음)", lambda c: c),
    "merge": ("2×2 토큰 합치기(그림 토큰 16개 → 4개, 폭 128 → 512), 나머지는 mini-v2 그대로(1200걸음)",
              lambda c: replace(c, projector_merge=2)),
    "merge-s1half": ("merge + 1단계를 반으로(200걸음; 합친 토큰은 1단계가 하는 일이 적다), 1000걸음",
                     lambda c: _stages(replace(c, projector_merge=2), stage1={"steps_per_epoch": 200})),
    "merge-warm": ("merge + 2단계 예열 100걸음(10 → 100; 시드 1의 정체)",
                   lambda c: _stages(replace(c, projector_merge=2), stage2={"warmup_steps": 100})),
    "merge-lora2": ("merge + LoRA 학습률 2e-3(반; 시드 1의 정체)",
                    lambda c: _stages(replace(c, projector_merge=2), stage2={"lr_lora": 2e-3})),
    "merge-last": ("merge + 프로젝터가 인코더의 마지막 층을 읽음(끝에서 두 번째 대신)",
                   lambda c: replace(c, projector_merge=2, vision_feature_layer=-1)),
}
SEARCHES = {  # 탐색 이름 → (후보, 기준 프리셋, 기록 파일, 검증 장면 수)
    "merge": (CANDIDATES, "mini-v2", RESULTS, N_VAL),
    "2026-12-02": (OLD_CANDIDATES, "mini-v1", OLD_RESULTS, 300),
}


def run_one(name: str, seed: int, search: str = "merge") -> dict:
    candidates, base, _, n_val = SEARCHES[search]
    description, make = candidates[name]
    config = replace(make(presets.get_preset(base)), seed=seed, n_val=n_val, n_test=1, checkpoint_every=0)
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
                        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                        "threads": torch.get_num_threads()}}


def _run_one_thread(job: tuple[str, int, str]) -> dict:
    """작업 프로세스: 스레드 하나로 실행 하나(이 CPU에서 스레드 1개와 2개의 손실은 비트까지 같았다:
    bench/results/threads_*.json). 둘을 나란히 돌리면 하나를 스레드 2개로 돌리는 것보다 빨리 끝난다."""
    torch.set_num_threads(1)
    quiet.install()
    return run_one(*job)


def rule_text() -> str:
    return __doc__.split("규칙", 1)[1].split("결과는")[0].strip()


def load(search: str) -> dict:
    path = SEARCHES[search][2]
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"runs": []}
    if search == "merge":  # 규칙은 늘 이 파일의 설명에서. 지난 탐색의 기록은 제 규칙을 그대로 둔다
        record.update(rule=rule_text(), n_val=N_VAL, screen_seeds=list(SEEDS), final_seeds=list(FINAL_SEEDS),
                      candidates_in_order=list(CANDIDATES))
    return record


def save(record: dict, search: str) -> None:
    path = SEARCHES[search][2]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


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
    parser.add_argument("--search", default="merge", choices=sorted(SEARCHES), help="어느 탐색(기본: merge)")
    parser.add_argument("--only", default=None, help="쉼표로 구분한 후보 이름(기본: 전부)")
    parser.add_argument("--seeds", default=None, help="쉼표로 구분한 시드(기본: 선별 0,1,2; --finalists면 3,4)")
    parser.add_argument("--finalists", action="store_true", help="선별을 통과한 후보만 결선 시드(3, 4)로")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="나란히 돌릴 프로세스 수(프로세스마다 스레드 1개)")
    parser.add_argument("--final", action="store_true", help="고른 레시피(mini)의 본 작업을 시드마다 한 번: test 결과")
    args = parser.parse_args(argv)
    quiet.install()
    if args.final:
        return final([int(s) for s in (args.seeds or "0,1,2,3,4").split(",")], args.jobs)
    search = args.search
    record = load(search)
    if args.finalists:
        names = [row["candidate"] for row in merge_verdict(record)["rows"] if row["finalist"]]
        seeds = args.seeds or ",".join(map(str, FINAL_SEEDS))
        print(f"결선 후보: {', '.join(names) or '없음'}")
    else:
        names = args.only.split(",") if args.only else list(SEARCHES[search][0])
        seeds = args.seeds or ",".join(map(str, SEEDS))
    record["machine"] = {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                         "torch": torch.__version__, "threads": threads.describe_policy(), "jobs": args.jobs}
    jobs = [(name, seed, search) for name in names for seed in map(int, seeds.split(","))
            if args.force or not any((r["candidate"], r["seed"]) == (name, seed) for r in record["runs"])]

    def keep(result: dict) -> None:
        record["runs"] = [r for r in record["runs"]
                          if (r["candidate"], r["seed"]) != (result["candidate"], result["seed"])] + [result]
        save(record, search)
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
    if search != "merge":
        for row in recipe_verdict(record):
            print(f"{row['candidate']:>14}: 검증 {', '.join(f'{v:.3f}' for v in row['val_exact'])} "
                  f"최소 {row['min']:.3f} {'통과' if row['passes'] else '—'}  걸음 시간 {row['train_seconds']:.0f}초")
        return 0
    verdict = merge_verdict(record)
    for row in verdict["rows"]:
        vals = ", ".join(f"{s}:{v:.3f}" for s, v in row["val_exact"].items())
        print(f"{row['candidate']:>14}: 검증 {vals}  선별 평균 {row['screen_mean']:.3f} "
              f"{'결선' if row['finalist'] else '—'}" + (f"  0~4 평균 {row['mean']:.3f} {'통과' if row['passes'] else '못 미침'}"
                                                       if row['confirmed'] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
