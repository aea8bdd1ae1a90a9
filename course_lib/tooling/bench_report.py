"""README의 "본 작업의 시간과 속도" 표를 `bench/results/`의 기록 파일에서 만든다(`python -m course_lib readme`).

README의 측정값은 손으로 옮겨 적지 않는다. 벤치마크가 쓴 JSON이 하나뿐인 출처이고, 표는 이 모듈이 만든다:
- `bench_train.json`(`python bench/bench_train.py`): 지난 레시피와 지금 레시피의 본 작업을 번갈아 잰 벽시계 시간, 걸음/초, 활용률
- `recipe_final.json`(`python bench/recipe_search.py --final`): 고른 레시피의 본 작업을 시드마다 한 번씩 돌린 test 결과.
  예전 기계의 같은 기록은 `recipe_final_<날짜>.json`으로 남겨 시드마다 나란히 놓는다(`cpu_comparison`)
- `recipe_search.json`(`python bench/recipe_search.py`): 레시피를 고른 검증(val) 탐색의 기록
- `length_group.json`(`python bench/bench_length_group.py`): 길이로 묶은 배치의 채움과 걸음 시간(채택 전의 측정)
- `nf4.json`(`python bench/bench_nf4.py`): 바닥부터 만든 NF4 양자화·복원과 bitsandbytes CPU의 시간 비율
- `compile.json`(`python bench/bench_compile.py`): `torch.compile`을 켠 걸음과 컴파일 시간(채택 전의 측정)
- `threads_*.json`(`python bench/bench_threads.py`): 스레드 정책의 A/B — README 문제 해결의 스레드 정책 문단(`threads_sentence`)
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

from course_lib import REPO_ROOT, presets
from course_lib.training.config import TrainConfig
from course_lib.tooling.search_rule import (FINAL_SEEDS, SEARCH_SEEDS, WHY, merge_search_table, merge_verdict,  # noqa: F401
                                           stage1_exact)

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
THREADS_START = "<!-- threads:start -->"
THREADS_END = "<!-- threads:end -->"
ATTRIBUTES = (("exact", "정확 일치"), ("count", "개수"), ("position", "위치"), ("size", "크기"), ("color", "색"),
              ("shape", "모양"))


def _load(root: Path, name: str) -> dict | None:
    path = root / "bench" / "results" / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def speed_table(bench: dict) -> list[str]:
    base = bench["baseline"]
    cpu = " ".join(str(v) for v in (bench["cpu"], bench.get("cpu_capability"), f"{bench['cpu_count']}코어") if v)
    lines = [f"`{bench['command']}` ({bench['date']}, {cpu}, "
             f"torch {bench['torch']}, "
             f"스레드 {bench['threads']}, {bench['thread_policy'].split(' — ')[0]}; 행렬곱 최고 "
             f"{bench['peak_matmul_gflops_per_s']} GFLOP/s). 레시피마다 본 작업 전체를 새 프로세스로 번갈아 "
             f"{len(next(iter(bench['presets'].values()))['runs'])}번씩 돌린 중앙값입니다.", "",
             "| 프리셋 | 본 작업 벽시계(중앙값) | 기준 대비 | 옵티마이저 걸음 | 1단계 걸음/초 | 2단계 걸음/초 | 활용률 1단계 / 2단계 | "
             "채움 비율 | test 정확 일치 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, preset in bench["presets"].items():
        runs = preset["runs"]
        stages = [s for s in runs[0]["stages"]]

        def med(stage, key):
            return statistics.median(r["stages"][stage][key] for r in runs)

        rates = [f"{med(s, 'steps_per_s'):.2f}({med(s, 'median_step_ms'):.0f} ms)" for s in stages]
        util = " / ".join(f"{med(s, 'utilisation'):.2f}" for s in stages)
        pad = f"{statistics.median(r['stages'][stages[-1]]['padding_fraction'] for r in runs):.0%}"
        exact = ", ".join(sorted({f"{r['test_exact']:.3f}" for r in runs if r["test_exact"] is not None})) or "—"
        label = f"`{name}`" + (" (기준)" if name == base else "")
        lines.append(f"| {label} | {preset['median_wall_s']:.0f}초 | {preset['wall_ratio_to_baseline']:.2f}× | "
                     f"{runs[0]['global_steps']} | {rates[0]} | {rates[-1]} | {util} | {pad} | {exact} |")
    return lines


def seeds_table(final: dict) -> list[str]:
    header = "| 시드 | " + " | ".join(label for _, label in ATTRIBUTES) + " | 눈 가린 기준선(정확 일치) | 검증 정확 일치 |"
    lines = [f"`{final['command']}` ({final['date']}{machine_label(final)}): 고른 레시피(`{final['preset']}`)로 본 작업을 시드마다 한 번 돌려 "
             f"test 분할({final['n_test']}장면)을 한 번씩 잰 값입니다.", "", header, "|" + "---|" * (len(ATTRIBUTES) + 3)]
    for run in final["runs"]:
        values = " | ".join(f"{run['test'][key]:.3f}" for key, _ in ATTRIBUTES)
        lines.append(f"| {run['seed']} | {values} | {run['blind']['exact']:.3f} | {run['val_exact']:.3f} |")
    exacts = [r["test"]["exact"] for r in final["runs"]]
    lines.append(f"| 최소 / 평균 | {min(exacts):.3f} / {statistics.mean(exacts):.3f} |" + " |" * (len(ATTRIBUTES) + 1))
    return lines


def machine_label(final: dict) -> str:
    """기록한 CPU(명령어 집합까지). 예전 기록에는 없을 수 있다."""
    machine = final.get("machine", {})
    words = [str(machine[k]) for k in ("cpu", "cpu_capability") if machine.get(k)]
    return (", " + " ".join(words)) if words else ""


def cpu_comparison(latest: dict, earlier: list[dict]) -> list[str]:
    """같은 시드·같은 코드의 본 작업을 다른 날 다른 기계에서 돌린 test 정확 일치를 시드마다 나란히 놓는다.

    부동소수 연산의 끝자리는 CPU의 명령어 집합(AVX2, AVX512)과 스레드 수에 따라 달라지고, 1200걸음은 그 차이를
    키운다. 그래서 README의 한 숫자(예: 시드 0의 test)는 그 기계의 값이지, 다른 CPU에서 똑같이 나올 값이 아니다.
    """
    rows = [latest] + sorted(earlier, key=lambda r: r["date"], reverse=True)
    seeds = sorted(set.intersection(*({run["seed"] for run in r["runs"]} for r in rows)))
    if len(rows) < 2 or not seeds:
        return []
    # 뒤에 생긴 설정 칸은 예전 기록에 없다: 기본값으로 채워 읽은 설정끼리 비교한다(TrainConfig.from_dict)
    configs = [TrainConfig.from_dict(r["config"]).to_json() for r in rows if "config" in r]
    same_config = len(configs) == len(rows) and len(set(configs)) == 1
    exact = [{run["seed"]: run["test"]["exact"] for run in record["runs"]} for record in rows]
    lines = ["| 기록 | " + " | ".join(f"시드 {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds)]
    for record, by_seed in zip(rows, exact):
        label = f"{record['date']}{machine_label(record) or ', CPU 기록 없음'}"
        lines.append(f"| {label} | " + " | ".join(f"{by_seed[s]:.3f}" for s in seeds) + " |")
    gaps = [max(e[s] for e in exact) - min(e[s] for e in exact) for s in seeds]
    spread = (f"시드마다 기록 사이의 차이는 최대 {max(gaps):.3f}입니다: 위 표의 숫자는 그 기계의 값이고, 다른 CPU에서는 "
              "끝자리가 달라질 수 있습니다." if max(gaps) > 0 else "모든 시드에서 값이 같았습니다.")
    intro = (f"같은 레시피{'(설정이 같다)' if same_config else '(주의: 설정이 다르거나 기록에 없다)'}, 같은 시드의 본 작업을 "
             f"다른 날(기계가 다를 수 있다) 다시 돌린 test 정확 일치입니다. {spread}")
    return [intro, ""] + lines


def other_recipe(a: dict, b: dict) -> bool:
    """두 `--final` 기록이 **다른** 설정에서 나왔다고 알 수 있나(둘 다 설정을 적었고 서로 다르다; 뒤에 생긴 칸은
    기본값으로 채워 읽는다). 설정을 적지 않은 옛 기록은 같은 레시피로 보고 CPU 비교 표에 "기록에 없다"고 적는다."""
    if "config" not in a or "config" not in b:
        return False
    return TrainConfig.from_dict(a["config"]).to_json() != TrainConfig.from_dict(b["config"]).to_json()


def recipe_label(record: dict) -> str:
    """`--final` 기록의 레시피를 한 줄로: 그림 토큰 합치기와 옵티마이저 걸음 수."""
    config = TrainConfig.from_dict(record["config"])
    merge = "2×2 합친 그림 토큰 4개" if config.projector_merge == 2 else "패치 토큰 16개"
    steps = sum(min(config.n_train // (s.batch_size * s.grad_accum), s.steps_per_epoch or config.n_train) * s.epochs
                for s in config.stages)
    return f"{merge}, {steps}걸음"


def recipe_comparison(latest: dict, previous: dict) -> list[str]:
    """지금 레시피와 지난 레시피의 시드별 test 정확 일치(각자의 `--final` 기록)."""
    seeds = sorted({r["seed"] for r in latest["runs"]} & {r["seed"] for r in previous["runs"]})
    lines = ["| 기록 | 레시피 | " + " | ".join(f"시드 {s}" for s in seeds) + " | 최소 / 평균 |",
             "|---|---|" + "---|" * (len(seeds) + 1)]
    for record in (latest, previous):
        by_seed = {r["seed"]: r["test"]["exact"] for r in record["runs"]}
        values = [by_seed[s] for s in seeds]
        lines.append(f"| {record['date']}{machine_label(record)} | {recipe_label(record)} | "
                     + " | ".join(f"{v:.3f}" for v in values) + f" | {min(values):.3f} / {statistics.mean(values):.3f} |")
    return lines




def recipe_verdict(search: dict) -> list[dict]:
    """레시피 탐색의 규칙(`bench/recipe_search.py`의 docstring, 노트북 06이 손으로 다시 적용한다)을 적용한 후보 목록.

    후보마다 시드별 검증 정확 일치, 최솟값, 시드 0·1·2를 다 돌았는지, 통과 여부(모든 시드 ≥ 목표), 학습 걸음 시간 평균.
    규칙이 고르는 순서로 정렬한다: 통과한 후보는 빠른 것부터, 없으면(나중에 더한 규칙) 시드를 다 돈 후보 가운데 최소가 높은 것부터.
    """
    rows = []
    for name in dict.fromkeys(r["candidate"] for r in search["runs"]):
        runs = sorted((r for r in search["runs"] if r["candidate"] == name), key=lambda r: r["seed"])
        vals = [r["val_exact"] for r in runs]
        complete = {r["seed"] for r in runs} >= set(SEARCH_SEEDS)
        rows.append({"candidate": name, "val_exact": vals, "min": min(vals), "complete": complete,
                     "passes": complete and min(vals) >= search["val_target"],
                     "train_seconds": statistics.mean(r["train_seconds"] for r in runs)})
    return sorted(rows, key=lambda r: (not r["passes"], not r["complete"],
                                       r["train_seconds"] if r["passes"] else -r["min"], -r["min"]))


def chosen_candidate(search: dict) -> str | None:
    """규칙이 고르는 후보(`recipe_verdict`의 첫 줄). 기록이 비었으면 None."""
    rows = recipe_verdict(search)
    return rows[0]["candidate"] if rows else None


def search_table(search: dict) -> list[str]:
    runs = defaultdict(dict)
    descriptions = {}
    for run in search["runs"]:
        runs[run["candidate"]][run["seed"]] = run
        descriptions[run["candidate"]] = run["description"]
    lines = [f"규칙{search['rule']}", "",
             "| 후보 | 무엇을 바꿨나 | 걸음 | 검증 정확 일치(시드 0 / 1 / 2) | 최소 | 걸음 시간 합(초, 시드 평균) |",
             "|---|---|---|---|---|---|"]
    verdicts = recipe_verdict(search)
    chosen = verdicts[0]["candidate"] if verdicts else None
    by_name = {row["candidate"]: row for row in verdicts}
    for name, by_seed in runs.items():
        vals = " / ".join(f"{by_seed[s]['val_exact']:.3f}" if s in by_seed else "—" for s in SEARCH_SEEDS)
        row = by_name[name]
        lowest, seconds = row["min"], row["train_seconds"]
        mark = (" ✓" if row["passes"] else "") + (" ← 고름" if name == chosen else "")
        steps = next(iter(by_seed.values()))["steps"]
        lines.append(f"| `{name}`{mark} | {descriptions[name]} | {steps} | {vals} | {lowest:.3f} | {seconds:.0f} |")
    return lines


def nf4_line(nf4: dict) -> str:
    parts = []
    for result in nf4["results"]:
        sec = result["seconds"]
        parts.append(f"{result['size']}×{result['size']}: 비트까지 같음 {'예' if result['bit_identical'] else '아니오'}, "
                     f"양자화 {sec['quantize']['course_lib'] * 1e3:.1f} ms 대 {sec['quantize']['bitsandbytes'] * 1e3:.1f} ms"
                     f"({sec['quantize']['ratio']:.2f}×), 복원 {sec['dequantize']['course_lib'] * 1e3:.1f} ms 대 "
                     f"{sec['dequantize']['bitsandbytes'] * 1e3:.1f} ms({sec['dequantize']['ratio']:.2f}×)")
    return (f"`{nf4['command']}` ({nf4['date']}, {nf4['cpu']}, torch {nf4['torch']}, 스레드 {nf4['threads']}, 이중 양자화 "
            f"{'켬' if nf4['double_quant'] else '끔'}, 번갈아 {nf4['repeats']}번씩 잰 중앙값, `course_lib.quant` 대 "
            f"bitsandbytes CPU) — " + "; ".join(parts) + ".")


def compile_line(record: dict) -> str:
    est = record["main_job_step_seconds_estimate"]
    # 프리셋을 적지 않은 기록은 그림 토큰 합치기 전(2026-12-02)의 `mini`, 곧 지금의 `mini-v2`에서 잰 것이다
    measured_on = record.get("preset", "mini-v2")
    where = "" if measured_on == "mini" else f"지난 레시피 `{measured_on}`(그림 토큰 16개)에서 잰 값 — "
    return (f"{where}`{record['command']}` ({record['date']}, {record['cpu']}, torch {record['torch']}, 스레드 {record['threads']}, "
            f"{record['stage']} {record['steps']}걸음 × eager·compile 번갈아 {len(record['runs']) // 2}번, "
            f"{'빈 컴파일 캐시' if record['cold_cache'] else '데운 컴파일 캐시'}): 걸음 시간 중앙값 "
            f"{record['eager']['median_step_s'] * 1e3:.0f} ms → {record['compiled']['median_step_s'] * 1e3:.0f} ms"
            f"({record['step_ratio_compiled_to_eager']:.2f}×), 컴파일 약 {record['compile_seconds']:.0f}초. 본 작업 "
            f"{record['main_job_steps']}걸음으로 옮기면(모든 걸음을 이 단계의 걸음 시간으로 어림) 걸음 시간 {est['eager']:.0f}초 → {est['compiled']:.0f}초"
            f"({est['compiled'] / est['eager']:.2f}×). 손실은 eager와 최대 {record['max_loss_gap_compiled_vs_eager']:.1e} "
            f"달라(연산을 합치면 덧셈 순서가 바뀐다) 켜려면 검증 탐색부터 다시 해야 합니다. 그래서 `mini`는 아직 켜지 않습니다.")


def length_group_line(record: dict, search: dict | None = None) -> str:
    grouped = f"group{record['group_batches']}"
    stages = []
    for stage, ratio in record["step_ratio_grouped_to_default"].items():
        base, new = record["summary"]["default"][stage], record["summary"][grouped][stage]
        stages.append(f"{stage} 채움 {base['padding_fraction']:.1%} → {new['padding_fraction']:.1%}, 걸음 시간 중앙값 "
                      f"{base['median_step_ms']:.0f} ms → {new['median_step_ms']:.0f} ms({ratio:.2f}×)")
    merge = record.get("projector_merge", 1)  # 이 칸이 없는 기록은 그림 토큰 합치기 전의 mini(지금의 mini-v2)
    recipe = (f"`mini`(그림 토큰 {'2×2 합침' if merge == 2 else '16개'})" if merge == presets.mini().projector_merge
              else "지난 레시피 `mini-v2`(그림 토큰 16개)")
    return (f"`{record['command'].strip()}` ({record['date']}, {record['cpu']} {record['cpu_capability']}, "
            f"torch {record['torch']}, 스레드 {record['threads']}, {recipe} 각 단계 {record['steps']}걸음 × 기본·묶음 번갈아 {record['rounds']}번, 묶음 하나 = "
            f"배치 {record['group_batches']}개): " + "; ".join(stages) + ". " +
            length_group_verdict(record["group_batches"], search))


def length_group_verdict(group_batches: int, search: dict | None = None) -> str:
    """`mini`가 켰는지는 프리셋에서, 켜지 않은 까닭은 검증 탐색의 기록에서 읽는다(문장에 적어 두지 않는다).

    탐색에 "고른 후보 + 이 묶기"(`{고른 후보}-group{k}`)가 있으면 두 후보의 시드별 검증 정확 일치를 나란히 적는다.
    """
    used = presets.mini().length_group_batches
    if used == group_batches:
        return f"`mini`는 검증 탐색을 거쳐 이것을 켭니다(`length_group_batches={used}`)."
    rows = {row["candidate"]: row for row in recipe_verdict(search)} if search and search.get("runs") else {}
    chosen = chosen_candidate(search) if rows else None
    tried = rows.get(f"{chosen}-group{group_batches}")
    if tried is None:
        return ("배치의 구성이 바뀌어 손실도 바뀌므로, 켜려면 검증 탐색(`bench/recipe_search.py`)부터 다시 해야 합니다. "
                f"그래서 `mini`는 켜지 않습니다(`TrainConfig.length_group_batches`, `mini`의 값 {used}).")

    def vals(row: dict) -> str:
        return " / ".join(f"{v:.3f}" for v in row["val_exact"])

    base = rows[chosen]
    # 묶은 후보의 최소가 더 높았다면 규칙이 그것을 골랐을 것이다(그러면 이 함수는 위에서 끝난다): 남는 경우는 둘
    compare = "낮아" if tried["min"] < base["min"] else "높지 않아"
    return (f"지난 검증 탐색(그림 토큰 합치기 전)에서 고른 레시피에 이것만 더한 후보 `{tried['candidate']}`의 검증 정확 일치는 시드 0 / 1 / 2에서 "
            f"{vals(tried)}(최소 {tried['min']:.3f})로, 더하지 않은 `{chosen}`의 {vals(base)}(최소 {base['min']:.3f})보다 "
            f"{compare} `mini`는 켜지 않습니다(`mini`의 값 {used}). 묶기가 배치의 구성을 어떻게 바꾸는지는 노트북 06의 10절이 잽니다.")


def bench_section(root: Path = REPO_ROOT) -> str:
    parts = []
    bench, final, search, merge_search, nf4, compiled, grouped = (
        _load(root, n) for n in ("bench_train.json", "recipe_final.json", "recipe_search.json",
                                 "recipe_search_merge.json", "nf4.json", "compile.json", "length_group.json"))
    if bench:
        parts += ["**속도: 지난 레시피와 지금 레시피**", ""] + speed_table(bench) + [""]
    if final:
        parts += ["**시드마다의 test 결과**", ""] + seeds_table(final) + [""]
        earlier = [json.loads(p.read_text(encoding="utf-8"))
                   for p in sorted((root / "bench" / "results").glob("recipe_final_*.json"))]
        if comparison := cpu_comparison(final, [r for r in earlier if not other_recipe(r, final)]):
            parts += ["**같은 시드, 다른 CPU**", ""] + comparison + [""]
        if previous := sorted((r for r in earlier if other_recipe(r, final)), key=lambda r: r["date"]):
            parts += ["**지난 레시피와 견주기**(각 레시피의 `--final` 기록, 같은 시드의 test 정확 일치)", ""] + \
                     recipe_comparison(final, previous[-1]) + [""]
    if merge_search:
        walls = {name: p["median_wall_s"] for name, p in bench["presets"].items()} if bench else {}
        verdict = merge_verdict(merge_search, walls)
        parts += ["**레시피를 고른 검증 탐색: 그림 토큰 합치기**(`bench/results/recipe_search_merge.json`; test 분할은 보지 않았다)", "",
                  f"규칙{merge_search['rule']}", "", f"고른 후보: `{verdict['chosen']}` — {WHY[verdict['why']]}.", ""] + \
                 merge_search_table(merge_search, walls) + [""]
    if search:
        parts += ["**지난 검증 탐색**(`bench/results/recipe_search.json`, 검증 300장면; 그 선택이 지금의 `mini-v2`)", ""] + \
                 search_table(search) + [""]
    if nf4:
        parts += ["**NF4 참조 구현의 속도**(bitsandbytes CPU 대비)", "", nf4_line(nf4), ""]
    if compiled:
        parts += ["**`torch.compile`을 켜면**(재기만 하고 쓰지 않는 선택지)", "", compile_line(compiled), ""]
    if grouped:
        parts += ["**길이로 묶은 배치(length grouping)**" + ("" if presets.mini().length_group_batches else
                                                           "(재기만 하고 쓰지 않는 선택지)"), "",
                  length_group_line(grouped, search), ""]
    if not parts:
        parts = ["(아직 잰 기록이 없습니다: `python bench/bench_train.py`, `python bench/recipe_search.py`)"]
    return "\n".join(parts).rstrip()


def _ratio_range(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.1f}배" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}–{high:.1f}배"


def threads_sentence(root: Path = REPO_ROOT, policy: str = "spin1k") -> str:
    """스레드 정책 A/B(`bench/results/threads_*.json`의 `table`)를 README의 한 문장으로: 정책과 PyTorch 기본값의
    (부하 ÷ 한가) 비율 범위, 한가할 때 기본값 대비 가장 느렸던 비율, 기본값을 여러 번 잰 흔들림, `OMP_NUM_THREADS=1`의 한가할 때 비율.
    범위는 기록 파일 전부, 두 단계 모두에 걸친 최소–최대다."""
    files = sorted((root / "bench" / "results").glob("threads_*.json"))
    tables = [(f.name, json.loads(f.read_text(encoding="utf-8")).get("table") or {}) for f in files]
    tables = [(name, t) for name, t in tables if policy in t and "default" in t]
    if not tables:
        return "(스레드 정책의 A/B 기록이 없습니다: `python bench/bench_threads.py`)"

    def ratios(name: str, key: str) -> list[float]:
        return [v for _, t in tables if name in t for v in t[name][key].values() if v is not None]

    spreads = [(max(rm) - min(rm)) / row["median_s"] for _, t in tables for row in t["default"]["quiet"].values()
               if len(rm := row["round_medians_s"]) >= 2 and row["median_s"]]
    slowest = max(ratios(policy, "quiet_over_default_quiet"))
    text = (f"이 저장소를 만든 2코어 VM에서 번갈아 잰 값(`python bench/bench_threads.py`, 기록 "
            f"{', '.join(f'`bench/results/{name}`' for name, _ in tables)}, 두 단계): 코어 하나가 바쁠 때 한 걸음이 "
            f"한가할 때의 {_ratio_range(ratios(policy, 'loaded_over_quiet'))}(PyTorch 기본값은 "
            f"{_ratio_range(ratios('default', 'loaded_over_quiet'))}), 한가할 때는 "
            + (f"기본값보다 가장 느린 측정에서 {slowest - 1:.0%} 느렸습니다" if slowest > 1 else "기본값보다 느리지 않았습니다"))
    if spreads:
        text += f"(같은 기본값을 여러 번 잰 중앙값끼리도 최대 {max(spreads):.0%}까지 흔들렸습니다)"
    text += "."
    omp1 = ratios("omp1", "quiet_over_default_quiet")
    if omp1:
        text += (f" `OMP_NUM_THREADS=1`은 부하에는 강하지만 한가할 때 기본값의 {_ratio_range(omp1)}로 느려 "
                 "권하지 않습니다.")
    return text
