"""본 작업(main job) 벤치마크: 레시피 둘을 같은 기계에서 번갈아 돌려 벽시계 시간의 **비율**을 잰다.

    python bench/bench_train.py                          # mini-v2(지난 레시피)와 mini를 번갈아 2번씩
    python bench/bench_train.py --presets mini --repeats 1
    python bench/bench_train.py --presets mini-v2,merge,merge-s1half   # 탐색 후보(bench/recipe_search.py)도 이름으로

이름이 프리셋이 아니면 레시피 탐색의 후보(`bench/recipe_search.py`의 CANDIDATES)로 보고, 그 설정을 JSON으로 써서
`--config`로 돌린다(시드 0, 검증 장면 수는 기준 프리셋 그대로 — 본 작업이 쓸 설정과 같다). 탐색의 규칙이 "가장 빠른 후보"를
고를 때 이 벤치마크를 결선 후보에 한자리에서 돌린다.

실행마다 README 명령 1의 본 작업(`python -m course_lib train --preset P`)을 새 프로세스로 그대로 돌리고(부품 읽기, 두 단계,
epoch마다 검증, test 평가, 그림까지), `summary.json`과 `metrics.jsonl`에서 잰다. 순서는 ABAB…라서 기계의 느린 흔들림이
두 레시피에 고르게 섞인다. 결과는 `bench/results/bench_train.json`에 쓰고, `python -m course_lib readme`가 README의
"본 작업의 시간과 속도" 표를 이 파일에서 만든다(숫자를 손으로 옮겨 적지 않는다).

활용률(utilisation) = 모델 FLOP/초 ÷ 같은 실행, 같은 스레드 수에서 잰 행렬곱 최고 FLOP/초. 모델 FLOP은 설정과
걸음마다 기록한 토큰 수(그림 토큰 + 채움을 뺀 글 토큰)에서 센다(`model_flops_per_token`):
- 순전파: 행렬곱 하나에 2·(가중치 수)·토큰 — 디코더 층의 Linear, lm_head, 그리고 LoRA의 A·B. 어텐션 점수(QKᵀ, AV)도 더한다.
  임베딩은 조회라 0이다. 시각 인코더는 0이다: 미니 월드는 인코더 출력을 그림마다 한 번만 계산해 다시 쓴다(캐시).
- 역전파: 얼어 있는 가중치도 입력 쪽 기울기를 흘려보내므로 순전파와 같은 양, 학습하는 가중치(LoRA, 프로젝터)는 가중치
  기울기만큼 더. 프로젝터의 입력(인코더 출력)에는 기울기가 필요 없다.
채움(padding) 자리도 실제로는 계산되지만 쓸모없는 일이므로 세지 않는다(그만큼 활용률이 낮게 나온다; 채움 비율을 함께 적는다).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "bench_train.json"
sys.path.insert(0, str(REPO))

import course_lib  # noqa: E402,F401  torch보다 먼저(스레드 정책)
import torch  # noqa: E402
from transformers import Qwen3Config  # noqa: E402

from course_lib import assets, lora, presets, threads  # noqa: E402


def peak_matmul_flops(n: int = 1024, repeats: int = 20) -> float:
    """이 CPU, 지금 스레드 수에서 큰 정사각 행렬곱의 최고 FLOP/초(가장 빠른 한 번)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times)


def model_flops_per_token(llm_config, settings, seq_len: int, trainable_lora: bool) -> float:
    """LLM 쪽 한 토큰의 순전파 + 역전파 FLOP(위 설명의 셈). seq_len은 어텐션 점수 항에 쓰는 평균 길이."""
    shapes = lora.decoder_linear_shapes(llm_config)  # 이름 → (입력, 출력, 편향)
    layers = llm_config.num_hidden_layers
    base = layers * sum(n_in * n_out for n_in, n_out, _ in shapes.values())
    base += llm_config.hidden_size * llm_config.vocab_size  # lm_head
    lora_params = layers * sum(settings.r * (shapes[m][0] + shapes[m][1]) for m in settings.target_modules)
    heads_width = llm_config.num_attention_heads * getattr(llm_config, "head_dim", None) or llm_config.hidden_size
    attention = layers * 2 * 2 * seq_len * heads_width  # QKᵀ와 AV, 토큰당
    forward = 2 * (base + lora_params) + attention
    backward = 2 * (base + lora_params) + 2 * attention + (2 * lora_params if trainable_lora else 0)
    return forward + backward


def projector_flops_per_image_token(vision_width: int, llm_hidden: int, trainable: bool, merge: int = 1) -> float:
    """프로젝터의 그림 토큰 하나(2×2로 합쳤으면 합친 토큰 하나, 입력 폭 × 4)의 순전파 + 역전파 FLOP."""
    params = vision_width * merge * merge * llm_hidden + llm_hidden * llm_hidden
    return 2 * params + (2 * params if trainable else 0)


def named_config(name: str):
    """프리셋 이름이면 그 프리셋, 아니면 레시피 탐색의 후보(기준 프리셋에서 만든 설정, 시드 0)."""
    if name in presets.PRESETS:
        return presets.get_preset(name)
    sys.path.insert(0, str(REPO / "bench"))
    from recipe_search import CANDIDATES, SEARCHES  # noqa: E402  (탐색 스크립트가 후보의 한 곳)

    if name not in CANDIDATES:
        raise SystemExit(f"{name}: 프리셋({sorted(presets.PRESETS)})도 탐색 후보({sorted(CANDIDATES)})도 아닙니다")
    return CANDIDATES[name][1](presets.get_preset(SEARCHES["merge"][1]))


def run_main_job(name: str, out: Path) -> dict:
    start = time.perf_counter()
    if name in presets.PRESETS:
        how = ["--preset", name]
    else:
        config_file = out.with_suffix(".json")
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(named_config(name).to_json(), encoding="utf-8")
        how = ["--config", str(config_file)]
    subprocess.run([sys.executable, "-m", "course_lib", "train", *how, "--out", str(out),
                    "--no-progress"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    process_seconds = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    return {"summary": summary, "steps": [s for s in steps if "loss" in s], "process_seconds": process_seconds}


def measure(preset: str, run: dict, peak: float) -> dict:
    config = named_config(preset)
    llm_config = Qwen3Config.from_json_file(assets.require_asset(assets.LLM_CONFIG_FILE))
    siglip = json.loads(assets.require_asset(assets.SIGLIP_CONFIG_FILE).read_text(encoding="utf-8"))
    vision_width = siglip["vision_cfg"]["width"]
    image_tokens = (siglip["vision_cfg"]["image_size"] // siglip["vision_cfg"]["patch_size"]) ** 2 // config.projector_merge ** 2
    stages = {}
    for stage in config.stages:
        rows = [s for s in run["steps"] if s["stage"] == stage.name]
        seconds = sum(s["seconds"] for s in rows)
        tokens = sum(s["tokens"] for s in rows)
        positions = sum(s.get("positions", s["tokens"]) for s in rows)
        images = len(rows) * stage.batch_size * stage.grad_accum
        seq_len = tokens / images
        flops = (tokens * model_flops_per_token(llm_config, config.lora, seq_len, stage.lr_lora > 0)
                 + images * image_tokens * projector_flops_per_image_token(
                     vision_width, llm_config.hidden_size, stage.lr_projector > 0, config.projector_merge))
        stages[stage.name] = {"steps": len(rows), "seconds": round(seconds, 1),
                              "steps_per_s": round(len(rows) / seconds, 2),
                              "median_step_ms": round(1000 * statistics.median(s["seconds"] for s in rows), 1),
                              "model_gflops_per_s": round(flops / seconds / 1e9, 2),
                              "utilisation": round(flops / seconds / peak, 3),
                              "padding_fraction": round(1 - tokens / positions, 3)}
    summary = run["summary"]
    # 탐색 후보(아직 고르지 않은 레시피)의 test 값은 읽지 않는다: 본 작업이 test를 재기는 하지만(벽시계에 들어간다)
    # 고르는 데 쓰이지 않도록 기록하지도, 출력하지도 않는다.
    seen = preset in presets.PRESETS
    return {"preset": preset, "wall_time_s": summary["wall_time_s"], "train_time_s": summary["train_time_s"],
            "process_seconds": round(run["process_seconds"], 1), "global_steps": summary["global_steps"],
            "setup_time_s": summary.get("setup_time_s"),
            "test_exact": summary["test"]["exact"] if seen else None,
            "blind_exact": summary["blind_baseline"]["exact"] if seen else None, "stages": stages}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="mini-v2,mini", help="쉼표로 구분(첫째가 비율의 기준); 탐색 후보 이름도 된다")
    parser.add_argument("--repeats", type=int, default=2, help="레시피마다 몇 번(번갈아)")
    parser.add_argument("--no-save", action="store_true", help="bench/results/bench_train.json을 쓰지 않는다")
    args = parser.parse_args(argv)
    names = args.presets.split(",")
    peak = peak_matmul_flops()
    runs: dict[str, list[dict]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        for repeat in range(args.repeats):
            for name in names:
                result = measure(name, run_main_job(name, Path(tmp) / f"{name}-{repeat}"), peak)
                runs[name].append(result)
                exact = "" if result["test_exact"] is None else f", test 정확 일치 {result['test_exact']:.3f}"
                print(f"[{repeat}] {name}: 벽 {result['wall_time_s']}초{exact}", flush=True)
    base = statistics.median(r["wall_time_s"] for r in runs[names[0]])
    report = {
        "command": "python bench/bench_train.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"), "cpu": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # 같은 코드도 명령어 집합(AVX2/AVX512)마다 끝자리가 다르다
        "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "thread_policy": threads.describe_policy(),
        "torch": torch.__version__, "peak_matmul_gflops_per_s": round(peak / 1e9, 1), "baseline": names[0],
        "presets": {name: {"runs": rs, "median_wall_s": statistics.median(r["wall_time_s"] for r in rs),
                           "wall_ratio_to_baseline": round(statistics.median(r["wall_time_s"] for r in rs) / base, 3)}
                    for name, rs in runs.items()},
    }
    print(json.dumps({n: {k: v for k, v in p.items() if k != "runs"} for n, p in report["presets"].items()},
                     ensure_ascii=False, indent=1))
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
