"""스레드 정책 A/B 벤치마크: 다른 프로세스가 코어 하나를 차지할 때 학습 한 걸음이 얼마나 느려지나.

    flock /tmp/heavy.lock python bench/bench_threads.py [--repo PATH] [--rounds 3] [--policies default,spin1k,...]
    python bench/bench_threads.py --from-json bench/results/threads_<날짜>.json   # 다시 재지 않고 요약만

후보 이름은 POLICIES/EXTRA_POLICIES에 있다. `course`는 --repo의 course_lib.threads 정책을 그대로 쓴다(배선한 뒤 확인용).

한 번 실행 안에서 정책들을 번갈아(interleaved) 잰다. 라운드마다 (정책, 부하) 짝의 순서를 시드로 섞고,
짝마다 공개 CLI(`python -m course_lib train --preset mini ...`)를 새 프로세스로 띄운다. 스레드 환경
변수(OMP_NUM_THREADS, OMP_WAIT_POLICY, GOMP_SPINCOUNT)는 libgomp가 읽힐 때(= torch import 때) 한 번만
읽히므로 정책마다 새 프로세스가 필요하다.

- 부하 없음(quiet): CLI만 돈다.
- 부하 있음(loaded): 따로 띄운 `python -c "while True: pass"`(코어 하나를 계속 쓰는 순수 파이썬 루프)와
  함께 돈다. 끝나면 그 프로세스를 끝낸다.

걸음 시간은 `OUT/metrics.jsonl`의 "seconds"(옵티마이저 한 걸음의 벽시계 시간)에서 읽는다. 단계마다 처음
`--warmup`걸음은 뺀다. 결과는 (정책, 부하, 단계)마다 모든 라운드의 걸음을 모은 중앙값과 라운드별 중앙값,
부하 있음/없음 비, 기본 정책 대비 비. 손실 값은 기본 정책(부하 없음, 첫 라운드)과 비트 단위로 비교한다.

선택 규칙(결과를 보기 전에 정함; `choose()`). 요약에는 깨끗한 실행(남의 CPU ≤ `--foreign-limit`)만 쓴다:
  1) 두 단계 모두 loaded 중앙값 ≤ 2.5 × 같은 정책의 quiet 중앙값,
  2) 두 단계 모두 quiet 중앙값 ≤ 기본 정책 quiet 중앙값 × (1 + 잡음),
     잡음 = max(5%, 기본 정책의 라운드별 quiet 중앙값의 (최대 − 최소) / 중앙값),
  3) 1)과 2)를 만족하는 정책 가운데 실제 작업의 걸음 비(1단계 200 : 2단계 600)로 가중한 loaded 시간이
     가장 작은 것. 그 최소와 5% 안에 드는 정책이 여럿이면 기본 정책과 손실이 비트 단위로 같은 것,
     그다음 환경 변수를 덜 바꾸는 것.
  4) 아무것도 1)·2)를 함께 만족하지 않으면 가중 quiet 시간과 가중 loaded 시간의 합이 가장 작은 것
     (목표 미달이라고 적는다).
부하에 따라 스레드 수를 고르는 정책(OMP_DYNAMIC 따위)은 후보에 넣지 않는다: 결과가 부하에 달라진다.

다른 사람과 기계를 나눠 쓰므로 실행마다 /proc/stat에서 "남의 CPU"(전체 사용 − 이 스크립트의 자식
프로세스 사용)와 steal 시간을 함께 적는다. 남의 CPU가 평균 `--foreign-limit`코어를 넘은 실행은 요약에서
빼고(JSON에는 excluded로 남긴다) 그 자리에서 다시 잰다(전체 `--max-retries`번까지).
`--from-json`은 저장된 실행 기록을 다시 재지 않고 요약만 다시 만든다. 파일 여럿을 합칠 수 있지만, 실행마다
기계 상태가 달라(같은 기본 정책 quiet가 실행에 따라 0.22–0.25 s) 정책 사이 비교는 한 실행 안에서 하는 것이 맞다.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT_REPO = Path(__file__).resolve().parents[1]

# 실행 환경에서 지우고 시작하는 변수(상속된 값이 정책을 흐리지 않게).
THREAD_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_DYNAMIC", "OMP_PROC_BIND",
               "OMP_PLACES", "GOMP_CPU_AFFINITY", "MKL_NUM_THREADS", "MKL_DYNAMIC", "KMP_BLOCKTIME",
               "COURSE_THREAD_POLICY")
# course_lib.threads.apply_thread_policy()를 끄는 스위치. 기본(default) 등 모든 후보는 이걸 켜서
# "저장소의 정책"이 섞이지 않게 하고, "course" 후보만 저장소의 정책을 그대로 쓴다.
OPT_OUT = {"COURSE_THREAD_POLICY": "off"}

# 기본 후보(3라운드가 약 15분). GOMP_SPINCOUNT=0은 libgomp(env.c)에서 OMP_WAIT_POLICY=PASSIVE와 같은 값
# (회전 0, 과밀 시 회전 0)이 되어 추가 후보로 둔다. 기본값(변수 없음)은 회전 300000(libgomp 주석: 약 3 ms).
# spin100k는 2026-12-01 측정에서 loaded가 가장 나빠(6–10×) 추가 후보로 옮겼다(bench/results/threads_2026-12-01*.json).
# "course"는 --repo의 course_lib.threads 정책 그대로(끄는 스위치 없이) — 배선한 뒤 확인용.
POLICIES: dict[str, dict[str, str]] = {
    "default": {},
    "omp1": {"OMP_NUM_THREADS": "1"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin300": {"GOMP_SPINCOUNT": "300"},
    "spin1k": {"GOMP_SPINCOUNT": "1000"},
    "spin10k": {"GOMP_SPINCOUNT": "10000"},
}
EXTRA_POLICIES: dict[str, dict[str, str]] = {
    "spin0": {"GOMP_SPINCOUNT": "0"},
    "spin100k": {"GOMP_SPINCOUNT": "100000"},
    "spin3k": {"GOMP_SPINCOUNT": "3000"},
    "spin30k": {"GOMP_SPINCOUNT": "30000"},
    "omp1_passive": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
}
STAGE_WEIGHTS = {"stage1": 200, "stage2": 600}  # mini 본 작업의 걸음 수(6400/32 × 1 epoch, × 3 epoch)


def policy_env(name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if name == "course":  # 저장소의 course_lib.threads 정책 그대로(끄지 않는다)
        return env
    env.update(OPT_OUT)
    env.update({**POLICIES, **EXTRA_POLICIES}[name])
    return env


# ---------------------------------------------------------------- CPU 회계(남의 부하 감시)
def _proc_stat() -> tuple[float, float]:
    """(사용 중 CPU 초, steal 초) — 기계 전체, 부팅 뒤 누계."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / hz, steal / hz


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- 실행 하나
def read_steps(metrics: Path) -> list[dict]:
    if not metrics.exists():
        return []
    rows = []
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # 시간 초과로 끊긴 마지막 줄
            continue
        if "loss" in row and "seconds" in row and row.get("type") != "eval":
            rows.append({"stage": row["stage"], "global_step": row["global_step"], "loss": row["loss"],
                         "seconds": row["seconds"]})
    return rows


def run_one(args, policy: str, load: str, work: Path, tag: str) -> dict:
    out = work / tag
    cmd = [args.python, "-m", "course_lib", "train", "--preset", "mini", "--out", str(out), "--no-progress",
           "--max-steps", str(args.max_steps)]
    for item in args.set:
        cmd += ["--set", item]
    env = policy_env(policy)
    busy = None
    if load == "loaded":
        busy = subprocess.Popen([args.python, "-c", "while True: pass"], env=policy_env("default"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    cpu0, steal0, own0, t0 = *_proc_stat(), _children_cpu(), time.perf_counter()
    timed_out, rc, tail = False, None, ""
    try:
        proc = subprocess.run(cmd, cwd=args.repo, env=env, capture_output=True, text=True, timeout=args.timeout)
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-1500:]
    except subprocess.TimeoutExpired as e:
        timed_out = True
        tail = ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""))[-500:]
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    wall = time.perf_counter() - t0
    cpu1, steal1 = _proc_stat()
    own = _children_cpu() - own0
    steps = read_steps(out / "metrics.jsonl")
    shutil.rmtree(out, ignore_errors=True)
    if rc not in (0, None):
        print(f"  !! {tag}: 종료 코드 {rc}\n{tail}", file=sys.stderr)
    return {"policy": policy, "load": load, "wall_s": round(wall, 2), "rc": rc, "timed_out": timed_out,
            "own_cpu_s": round(own, 2), "foreign_cpu_s": round(max(0.0, (cpu1 - cpu0) - own), 2),
            "steal_s": round(steal1 - steal0, 2), "steps": steps}


def timed_seconds(run: dict, warmup: int) -> dict[str, list[float]]:
    """단계마다 처음 `warmup`걸음을 뺀 걸음 시간."""
    by_stage: dict[str, list[float]] = {}
    for row in run["steps"]:
        by_stage.setdefault(row["stage"], []).append(row["seconds"])
    return {stage: secs[warmup:] for stage, secs in by_stage.items()}


# ---------------------------------------------------------------- 요약과 선택
def summarise(runs: list[dict], policies: list[str], warmup: int) -> dict:
    table: dict = {}
    for policy in policies:
        for load in ("quiet", "loaded"):
            mine = [r for r in runs if r["policy"] == policy and r["load"] == load]
            for stage in ("stage1", "stage2"):
                pooled, per_round = [], []
                for r in mine:
                    secs = timed_seconds(r, warmup).get(stage, [])
                    pooled += secs
                    if secs:
                        per_round.append(statistics.median(secs))
                table.setdefault(policy, {}).setdefault(load, {})[stage] = {
                    "median_s": statistics.median(pooled) if pooled else None, "n_steps": len(pooled),
                    "round_medians_s": [round(x, 4) for x in per_round],
                    "runs_timed_out": sum(r["timed_out"] for r in mine)}
    for policy, row in table.items():
        for stage in ("stage1", "stage2"):
            q, lo = row["quiet"][stage]["median_s"], row["loaded"][stage]["median_s"]
            row.setdefault("loaded_over_quiet", {})[stage] = lo / q if q and lo else None
            d = table["default"]["quiet"][stage]["median_s"] if "default" in table else None
            row.setdefault("quiet_over_default_quiet", {})[stage] = q / d if q and d else None
    return table


def bit_identity(runs: list[dict]) -> dict:
    """정책마다: 모든 실행의 손실이 기본 정책(quiet, 첫 실행)과 겹치는 걸음에서 비트 단위로 같은가.
    (float → JSON → float는 왕복이 정확하므로 metrics.jsonl 값 비교가 곧 비트 비교다.)"""
    ref_run = next((r for r in runs if r["policy"] == "default" and r["load"] == "quiet" and r["steps"]), None)
    if ref_run is None:
        return {}
    ref = {s["global_step"]: s["loss"] for s in ref_run["steps"]}
    out: dict = {}
    for r in runs:
        losses = {s["global_step"]: s["loss"] for s in r["steps"]}
        common = sorted(set(ref) & set(losses))
        same = all(ref[g] == losses[g] for g in common)
        entry = out.setdefault(r["policy"], {"identical_to_default": True, "compared_steps": 0,
                                             "final_loss": None, "final_loss_default": None,
                                             "max_abs_diff": 0.0})
        entry["identical_to_default"] &= same
        entry["compared_steps"] = max(entry["compared_steps"], len(common))
        if common:
            entry["max_abs_diff"] = max(entry["max_abs_diff"], max(abs(ref[g] - losses[g]) for g in common))
            if len(common) == len(ref):
                entry["final_loss"], entry["final_loss_default"] = losses[common[-1]], ref[common[-1]]
    # 같은 정책 안에서 부하가 결과를 바꾸는가(정책이 부하에 달라지면 안 된다).
    for policy in out:
        mine = [r for r in runs if r["policy"] == policy and r["steps"]]
        first = {s["global_step"]: s["loss"] for s in mine[0]["steps"]} if mine else {}
        out[policy]["same_across_its_runs"] = all(
            first[s["global_step"]] == s["loss"] for r in mine for s in r["steps"] if s["global_step"] in first)
    return out


def weighted(row: dict, load: str) -> float | None:
    vals = [row[load][st]["median_s"] for st in STAGE_WEIGHTS]
    if any(v is None for v in vals):
        return None
    return sum(w * v for w, v in zip(STAGE_WEIGHTS.values(), vals)) / sum(STAGE_WEIGHTS.values())


def choose(table: dict, identity: dict, target_ratio: float = 2.5) -> dict:
    base = table["default"]["quiet"]
    spreads = []
    for st in STAGE_WEIGHTS:
        rm = base[st]["round_medians_s"]
        if len(rm) >= 2 and base[st]["median_s"]:
            spreads.append((max(rm) - min(rm)) / base[st]["median_s"])
    noise = max([0.05] + spreads)
    verdicts = {}
    for policy, row in table.items():
        ratio_ok = all(row["loaded_over_quiet"][st] is not None and row["loaded_over_quiet"][st] <= target_ratio
                       for st in STAGE_WEIGHTS)
        quiet_ok = all(row["quiet"][st]["median_s"] is not None
                       and row["quiet"][st]["median_s"] <= base[st]["median_s"] * (1 + noise) for st in STAGE_WEIGHTS)
        verdicts[policy] = {"ratio_ok": ratio_ok, "quiet_ok": quiet_ok, "weighted_loaded_s": weighted(row, "loaded"),
                            "weighted_quiet_s": weighted(row, "quiet")}
    ok = [p for p, v in verdicts.items() if v["ratio_ok"] and v["quiet_ok"] and v["weighted_loaded_s"] is not None]
    if ok:
        best = min(verdicts[p]["weighted_loaded_s"] for p in ok)
        near = [p for p in ok if verdicts[p]["weighted_loaded_s"] <= best * 1.05]
        n_vars = lambda p: len({**POLICIES, **EXTRA_POLICIES}.get(p, {"?": "?"}))  # noqa: E731
        near.sort(key=lambda p: (not identity.get(p, {}).get("identical_to_default", False), n_vars(p),
                                 verdicts[p]["weighted_loaded_s"]))
        return {"chosen": near[0], "met_target": True, "noise": noise, "candidates_within_5pct": near,
                "verdicts": verdicts}
    scored = [(v["weighted_quiet_s"] + v["weighted_loaded_s"], p) for p, v in verdicts.items()
              if v["weighted_quiet_s"] is not None and v["weighted_loaded_s"] is not None]
    return {"chosen": min(scored)[1] if scored else None, "met_target": False, "noise": noise,
            "verdicts": verdicts}


def markdown(table: dict, identity: dict, verdicts: dict) -> str:
    fmt = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    lines = ["| 정책 | 환경 | 1단계 quiet s | 1단계 loaded s | 1단계 비 | 2단계 quiet s | 2단계 loaded s | 2단계 비 "
             "| quiet/기본 (1·2단계) | 기본과 비트 동일 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for policy, row in table.items():
        env = " ".join(f"{k}={v}" for k, v in {**POLICIES, **EXTRA_POLICIES}.get(policy, {}).items()) or \
            ("(저장소 정책)" if policy == "course" else "(없음)")
        cells = []
        for st in ("stage1", "stage2"):
            q, lo = row["quiet"][st], row["loaded"][st]
            mark = f" ({lo['runs_timed_out']}회 시간 초과)" if lo["runs_timed_out"] else ""
            cells += [fmt(q["median_s"]), fmt(lo["median_s"]) + mark,
                      "—" if row["loaded_over_quiet"][st] is None else f"{row['loaded_over_quiet'][st]:.2f}×"]
        rel = " · ".join("—" if row["quiet_over_default_quiet"][st] is None else f"{row['quiet_over_default_quiet'][st]:.2f}"
                         for st in ("stage1", "stage2"))
        ident = identity.get(policy, {})
        same = "예" if ident.get("identical_to_default") else ("아니오" if ident else "—")
        ok = verdicts.get(policy, {})
        flag = "" if not ok else (" ✓" if ok["ratio_ok"] and ok["quiet_ok"] else "")
        lines.append(f"| {policy}{flag} | {env} | " + " | ".join(cells) + f" | {rel} | {same} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=SCRIPT_REPO, help="잴 저장소(기본: 이 스크립트의 저장소)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="라운드 안 순서를 섞는 시드")
    parser.add_argument("--policies", default=",".join(POLICIES),
                        help="쉼표로 나눈 후보 이름(추가 후보: " + ", ".join(EXTRA_POLICIES) + ", course)")
    parser.add_argument("--max-steps", type=int, default=18, help="1단계 10걸음 + 2단계 8걸음(n_train=320)")
    parser.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                        help="CLI에 넘길 --set(기본: n_train=320 n_val=16 n_test=16)")
    parser.add_argument("--warmup", type=int, default=3, help="단계마다 빼는 처음 걸음 수")
    parser.add_argument("--timeout", type=float, default=40.0, help="실행 하나의 상한(초; 넘으면 그때까지의 걸음만 쓴다)")
    parser.add_argument("--foreign-limit", type=float, default=0.1,
                        help="남의 CPU가 이 코어 수(평균)를 넘은 실행은 빼고 다시 잰다")
    parser.add_argument("--max-retries", type=int, default=3, help="다시 재기 상한(전체)")
    parser.add_argument("--out", type=Path, default=None,
                        help="결과 JSON(기본: 이 스크립트의 bench/results/threads_<날짜>.json)")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None,
                        help="재지 않고, 저장된 결과 JSON(여럿이면 실행 기록을 합쳐)으로 표와 선택만 다시 만든다"
                             "(--foreign-limit 적용; 여럿이면 --out 필요)")
    args = parser.parse_args(argv)
    if args.from_json:
        return resummarise(args)
    args.repo = args.repo.resolve()
    if args.set is None:
        args.set = ["n_train=320", "n_val=16", "n_test=16"]
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if "default" not in policies:
        policies.insert(0, "default")
    start = time.perf_counter()
    rng = random.Random(args.seed)
    runs: list[dict] = []
    retries = 0
    work = Path(tempfile.mkdtemp(prefix="bench_threads_"))
    try:
        for rnd in range(args.rounds):
            order = [(p, load) for p in policies for load in ("quiet", "loaded")]
            rng.shuffle(order)
            for i, (policy, load) in enumerate(order):
                tag = f"r{rnd}_{i}_{policy}_{load}"
                while True:
                    run = run_one(args, policy, load, work, tag)
                    run["round"] = rnd
                    run["excluded"] = contaminated(run, args.foreign_limit)
                    runs.append(run)
                    _print_run(run, start, args.warmup)
                    if not run["excluded"] or retries >= args.max_retries:
                        break
                    # 남의 프로세스가 코어를 썼다: 이 실행은 요약에서 빼고(기록은 남긴다) 다시 잰다.
                    retries += 1
                    tag += "_retry"
                    print(f"  남의 CPU가 평균 {args.foreign_limit}코어를 넘음 — {policy} {load} 다시 잽니다", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = None
    settings = {"rounds": args.rounds, "seed": args.seed, "max_steps": args.max_steps, "set": args.set,
                "warmup": args.warmup, "timeout_s": args.timeout, "foreign_limit_cores": args.foreign_limit,
                "retries": retries, "python": args.python,
                "policies": {p: (POLICIES | EXTRA_POLICIES).get(p, "repo") for p in policies}}
    result = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "repo": str(args.repo), "commit": commit,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_end": os.getloadavg()},
              "settings": settings, "total_seconds": round(time.perf_counter() - start, 1),
              "runs": [{k: v for k, v in r.items() if k != "steps"}
                       | {"seconds": [s["seconds"] for s in r["steps"]], "stages": [s["stage"] for s in r["steps"]],
                          "losses": [s["loss"] for s in r["steps"]]} for r in runs]}
    out = args.out or SCRIPT_REPO / "bench" / "results" / f"threads_{_dt.date.today().isoformat()}.json"
    return finish(result, runs, policies, args.warmup, out)


def contaminated(run: dict, limit: float) -> bool:
    return run["foreign_cpu_s"] / max(run["wall_s"], 1e-9) > limit


def _print_run(run: dict, start: float, warmup: int) -> None:
    med = {st: (round(statistics.median(s), 3) if s else None) for st, s in timed_seconds(run, warmup).items()}
    print(f"[{time.perf_counter() - start:6.0f}s] 라운드 {run['round']} {run['policy']:>9} {run['load']:>6}: "
          f"걸음 중앙값 {med} 벽 {run['wall_s']}s 남의 CPU {run['foreign_cpu_s']}s steal {run['steal_s']}s"
          + (" (시간 초과)" if run["timed_out"] else "") + (" [제외]" if run["excluded"] else ""), flush=True)


def finish(result: dict, runs: list[dict], policies: list[str], warmup: int, out: Path) -> int:
    """요약·선택·표를 만들어 `result`에 넣고 JSON으로 쓴 뒤 표를 찍는다."""
    used = [r for r in runs if not r["excluded"]]
    table = summarise(used, policies, warmup)
    identity = bit_identity(used)
    decision = choose(table, identity) if "default" in table else {}
    md = markdown(table, identity, decision.get("verdicts", {}))
    result.update({"runs_used": len(used), "runs_excluded": len(runs) - len(used), "table": table,
                   "bit_identity": identity, "decision": decision, "markdown": md})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print()
    print(md)
    print()
    if decision:
        print(f"잡음 한계 {decision['noise']:.1%}; 선택: {decision['chosen']}"
              + ("" if decision["met_target"] else " (목표 미달: 1)·2)를 함께 만족하는 정책 없음)"))
    print(f"실행 {len(runs)}개 중 {len(used)}개 사용(남의 CPU로 {len(runs) - len(used)}개 제외); "
          f"측정 {result['total_seconds']:.0f}초, 결과: {out}")
    return 0


def resummarise(args) -> int:
    """저장된 JSON의 실행 기록을 지금의 제외 규칙(--foreign-limit)으로 다시 요약한다(다시 재지 않는다).
    파일이 여럿이면 실행 기록을 합친다(각 파일이 그 안에서 번갈아 잰 A/B이므로 합쳐도 짝이 맞는다)."""
    if len(args.from_json) > 1 and args.out is None:
        raise SystemExit("--from-json에 파일이 여럿이면 --out을 주세요")
    sources = [json.loads(path.read_text(encoding="utf-8")) for path in args.from_json]
    runs, policies = [], []
    for path, source in zip(args.from_json, sources):
        for p in source["settings"]["policies"]:
            if p not in policies:
                policies.append(p)
        for r in source["runs"]:
            steps = [{"stage": st, "global_step": i + 1, "loss": loss, "seconds": sec}
                     for i, (st, loss, sec) in enumerate(zip(r["stages"], r["losses"], r["seconds"]))]
            runs.append({**{k: v for k, v in r.items() if k not in ("stages", "losses", "seconds")},
                         "steps": steps, "source": path.name})
    for r in runs:
        r["excluded"] = contaminated(r, args.foreign_limit)
    if len(sources) == 1:
        result = sources[0]
        result["settings"]["foreign_limit_cores"] = args.foreign_limit
    else:
        result = {"date": _dt.datetime.now().isoformat(timespec="seconds"),
                  "pooled_from": [str(p) for p in args.from_json],
                  "settings": {"foreign_limit_cores": args.foreign_limit, "warmup": sources[0]["settings"]["warmup"],
                               "policies": {p: (POLICIES | EXTRA_POLICIES).get(p, "repo") for p in policies}},
                  "total_seconds": round(sum(src["total_seconds"] for src in sources), 1),
                  "runs": [{k: v for k, v in r.items() if k != "steps"}
                           | {"seconds": [s["seconds"] for s in r["steps"]], "stages": [s["stage"] for s in r["steps"]],
                              "losses": [s["loss"] for s in r["steps"]]} for r in runs]}
    result["resummarised"] = _dt.datetime.now().isoformat(timespec="seconds")
    if "default" in policies:
        policies.insert(0, policies.pop(policies.index("default")))
    return finish(result, runs, policies, result["settings"]["warmup"], args.out or args.from_json[0])


if __name__ == "__main__":
    sys.exit(main())
