"""레시피 탐색의 규칙(`bench/recipe_search.py`의 docstring)을 기록에 적용한다: 토큰 합치기 탐색의 선별·결선·통과와
그 표. 노트북 06은 같은 규칙을 손으로 다시 적용해 이 모듈의 판정과 맞춰 보고, README 표(`bench_report`)도 여기서 만든다.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

SEARCH_SEEDS = (0, 1, 2)  # 선별 시드(지난 탐색도 같다)
# 토큰 합치기 탐색의 규칙(`bench/recipe_search.py`의 docstring): 선별 시드 0·1·2, 결선 시드 3·4.
FINAL_SEEDS = (3, 4)
FINALIST_MEAN, FINALIST_MIN = 0.97, 0.95  # 선별: 시드 0·1·2의 평균과 최소
PASS_MEAN, PASS_MIN = 0.98, 0.96  # 통과: 시드 0~4의 평균과 최소


def merge_verdict(search: dict, wall_seconds: dict[str, float] | None = None) -> dict:
    """토큰 합치기 탐색의 규칙을 적용한다. `wall_seconds`는 후보 → `bench_train.py`로 잰 본 작업 벽시계(중앙값).

    돌려주는 것: `rows`(후보마다 시드별 값, 선별 평균, 결선 여부, 시드 0~4 평균·최소, 통과 여부; 후보 차례 그대로),
    `chosen`(고른 후보, 아직 정할 수 없으면 None), `why`(어느 규칙으로 골랐나: "passes" | "fallback-finalists" |
    "fallback-screened" | "needs-bench" | "empty").
    """
    rows = []
    for name in dict.fromkeys(r["candidate"] for r in search["runs"]):
        vals = {r["seed"]: r["val_exact"] for r in sorted(search["runs"], key=lambda r: r["seed"]) if r["candidate"] == name}
        screened = set(SEARCH_SEEDS) <= set(vals)
        screen = [vals[s] for s in SEARCH_SEEDS if s in vals]
        finalist = screened and statistics.mean(screen) >= FINALIST_MEAN and min(screen) >= FINALIST_MIN
        confirmed = finalist and set(FINAL_SEEDS) <= set(vals)
        every = [vals[s] for s in SEARCH_SEEDS + FINAL_SEEDS if s in vals]
        rows.append({"candidate": name, "val_exact": vals, "screened": screened,
                     "screen_mean": statistics.mean(screen), "finalist": finalist, "confirmed": confirmed,
                     "mean": statistics.mean(every), "min": min(every),
                     "passes": confirmed and statistics.mean(every) >= PASS_MEAN and min(every) >= PASS_MIN})
    wall = wall_seconds or {}
    passing = [r for r in rows if r["passes"]]
    if passing:
        if not all(r["candidate"] in wall for r in passing):
            return {"rows": rows, "chosen": None, "why": "needs-bench"}
        chosen, why = min(passing, key=lambda r: wall[r["candidate"]])["candidate"], "passes"
    elif confirmed := [r for r in rows if r["confirmed"]]:
        chosen = max(confirmed, key=lambda r: (r["mean"], -wall.get(r["candidate"], 0.0)))["candidate"]
        why = "fallback-finalists"
    elif screened := [r for r in rows if r["screened"]]:
        chosen, why = max(screened, key=lambda r: r["screen_mean"])["candidate"], "fallback-screened"
    else:
        chosen, why = None, "empty"
    return {"rows": rows, "chosen": chosen, "why": why}


def stage1_exact(run: dict) -> float | None:
    """1단계만 마친 모델의 검증 정확 일치(1단계 마지막 epoch의 평가). 탐색 기록의 실행 하나에서."""
    stage1 = [e for e in run["evals"] if e["stage"] == "stage1"]
    return stage1[-1]["acc_exact"] if stage1 else None


WHY = {"passes": "규칙을 통과한 후보 가운데 `bench_train.py`로 잰 본 작업이 가장 빠른 것",
       "fallback-finalists": "통과한 후보가 없어, 결선 후보 가운데 시드 0~4 평균이 가장 높은 것",
       "fallback-screened": "결선 후보가 없어, 선별 후보 가운데 시드 0·1·2 평균이 가장 높은 것",
       "needs-bench": "통과한 후보가 있지만 아직 속도를 재지 않았다(`bench_train.py`)", "empty": "기록 없음"}


def merge_search_table(search: dict, wall_seconds: dict[str, float] | None = None) -> list[str]:
    """토큰 합치기 탐색의 표: 후보마다 시드별 검증 정확 일치, 선별 평균, 시드 0~4 평균·최소, 1단계만의 값, 판정."""
    verdict = merge_verdict(search, wall_seconds)
    seeds = SEARCH_SEEDS + FINAL_SEEDS
    runs = defaultdict(dict)
    for run in search["runs"]:
        runs[run["candidate"]][run["seed"]] = run
    lines = ["| 후보 | 무엇을 바꿨나 | 걸음 | 검증 정확 일치(시드 0 / 1 / 2 / 3 / 4) | 선별 평균 | 시드 0~4 평균 / 최소 | "
             "1단계만(시드 평균) | 판정 |", "|---|---|---|---|---|---|---|---|"]
    for row in verdict["rows"]:
        by_seed = runs[row["candidate"]]
        first = next(iter(by_seed.values()))
        vals = " / ".join(f"{row['val_exact'][s]:.3f}" if s in row["val_exact"] else "—" for s in seeds)
        stage1 = [v for r in by_seed.values() if (v := stage1_exact(r)) is not None]
        stage1_text = f"{statistics.mean(stage1):.3f}" if stage1 else "—"
        every = f"{row['mean']:.3f} / {row['min']:.3f}" if row["confirmed"] else "—"
        call = ("통과" if row["passes"] else "결선, 못 미침" if row["confirmed"] else "결선" if row["finalist"]
                else "탈락" if row["screened"] else "덜 돎")
        mark = " ← 고름" if row["candidate"] == verdict["chosen"] else ""
        lines.append(f"| `{row['candidate']}`{mark} | {first['description']} | {first['steps']} | {vals} | "
                     f"{row['screen_mean']:.3f} | {every} | {stage1_text} | {call} |")
    return lines
