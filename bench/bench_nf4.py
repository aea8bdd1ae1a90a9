"""바닥부터 만든 NF4 양자화(course_lib.quant)와 bitsandbytes CPU 구현의 속도 비교.

    python bench/bench_nf4.py [--sizes 4096,2048] [--repeats 15] [--no-double-quant]

4096×4096 float32 텐서(Qwen3-8B의 q_proj 하나 크기)와 2048×2048을 양자화·복원하는 시간의 중앙값을 재고 비율을 출력한다.
4096×4096의 복원은 결과 64 MiB를 새로 받는 비용(처음 쓰는 메모리 쪽의 페이지 폴트)이 두 구현 모두에서 크고,
2048×2048(16 MiB)은 할당자가 메모리를 다시 쓰기 쉬워 계산 자체의 차이가 더 드러난다: 두 크기를 함께 적는다.
두 구현을 번갈아(ABAB…) 불러 기계의 느린 흔들림이 양쪽에 고르게 섞이게 한다. 먼저 두 결과가 비트까지 같은지
확인한다. 측정값은 기계마다 다르므로 코드에 적어 두지 않고, 실행할 때마다 `bench/results/nf4.json`에 쓴다.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import course_lib  # noqa: E402,F401  torch보다 먼저(스레드 정책)
import torch  # noqa: E402

from course_lib.quant import bits_per_parameter, dequantize_nf4, quantize_nf4  # noqa: E402


RESULTS = Path(__file__).resolve().parent / "results" / "nf4.json"


def interleaved_medians(first, second, repeats: int) -> tuple[float, float]:
    """두 함수를 번갈아 `repeats`번씩 부른 시간의 중앙값(초). 처음 한 번씩은 데우기로 버린다."""
    first(), second()
    times = ([], [])
    for _ in range(repeats):
        for fn, bucket in zip((first, second), times):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def measure(size: int, double_quant: bool, repeats: int) -> dict:
    """size×size 텐서 하나: 비트가 같은지 확인하고, 양자화·복원을 번갈아 잰다."""
    import bitsandbytes.functional as bnb_functional

    x = torch.randn(size, size, generator=torch.Generator().manual_seed(0))

    def ours():
        return quantize_nf4(x, blocksize=64, double_quant=double_quant)

    def theirs():
        return bnb_functional.quantize_4bit(x, quant_type="nf4", blocksize=64, compress_statistics=double_quant)

    q, (packed, state) = ours(), theirs()
    restored = bnb_functional.dequantize_4bit(packed, state)
    same = torch.equal(q.packed, packed) and torch.equal(dequantize_nf4(q), restored)
    print(f"텐서 {size}×{size} float32, 이중 양자화 {double_quant}: bitsandbytes와 비트까지 같음 {same}, "
          f"파라미터당 비트 {bits_per_parameter(q):.4f}")
    rows = {
        "quantize": interleaved_medians(ours, theirs, repeats),
        "dequantize": interleaved_medians(lambda: dequantize_nf4(q),
                                          lambda: bnb_functional.dequantize_4bit(packed, state), repeats),
    }
    for name, (mine, reference) in rows.items():
        label = {"quantize": "양자화", "dequantize": "복원"}[name]
        print(f"  {label}: course_lib {mine * 1e3:.1f} ms, bitsandbytes {reference * 1e3:.1f} ms, "
              f"비율(course_lib/bitsandbytes) {mine / reference:.2f}")
    return {"size": size, "bit_identical": same,
            "seconds": {name: {"course_lib": mine, "bitsandbytes": reference, "ratio": mine / reference}
                        for name, (mine, reference) in rows.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,2048",
                        help="쉼표로 나눈 변의 길이. 4096은 Qwen3-8B의 q_proj 하나(목표를 재는 크기)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-double-quant", action="store_true")
    args = parser.parse_args()
    double_quant = not args.no_double_quant
    print(f"torch {torch.__version__}, 스레드 {torch.get_num_threads()}")
    results = [measure(int(size), double_quant, args.repeats) for size in args.sizes.split(",")]
    record = {"command": " ".join(["python bench/bench_nf4.py", *sys.argv[1:]]), "date": time.strftime("%Y-%m-%d"),
              "cpu": platform.machine(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "double_quant": double_quant, "repeats": args.repeats, "results": results}
    RESULTS.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
