"""바닥부터 만든 NF4 양자화(course_lib.quant)와 bitsandbytes CPU 구현의 속도 비교.

    python bench/bench_nf4.py [--size 4096] [--repeats 5] [--no-double-quant]

4096×4096 float32 텐서(Qwen3-8B의 q_proj 하나 크기)를 양자화·복원하는 시간의 중앙값을 재고 비율을 출력한다.
먼저 두 결과가 비트까지 같은지 확인한다. 측정값은 기계마다 다르므로 코드에 적어 두지 않는다.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import course_lib  # noqa: E402,F401  torch보다 먼저(스레드 정책)
import torch  # noqa: E402

from course_lib.memory import median_time  # noqa: E402
from course_lib.quant import bits_per_parameter, dequantize_nf4, quantize_nf4  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-double-quant", action="store_true")
    args = parser.parse_args()

    import bitsandbytes.functional as bnb_functional

    double_quant = not args.no_double_quant
    x = torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(0))

    def ours():
        return quantize_nf4(x, blocksize=64, double_quant=double_quant)

    def theirs():
        return bnb_functional.quantize_4bit(x, quant_type="nf4", blocksize=64, compress_statistics=double_quant)

    q, (packed, state) = ours(), theirs()
    restored = bnb_functional.dequantize_4bit(packed, state)
    same = torch.equal(q.packed, packed) and torch.equal(dequantize_nf4(q), restored)
    print(f"torch {torch.__version__}, 스레드 {torch.get_num_threads()}, 텐서 {args.size}×{args.size} float32, "
          f"이중 양자화 {double_quant}")
    print(f"bitsandbytes와 비트까지 같음: {same}, 파라미터당 비트: {bits_per_parameter(q):.4f}")

    rows = {
        "양자화": (median_time(ours, args.repeats), median_time(theirs, args.repeats)),
        "복원": (median_time(lambda: dequantize_nf4(q), args.repeats),
                 median_time(lambda: bnb_functional.dequantize_4bit(packed, state), args.repeats)),
    }
    for name, (mine, reference) in rows.items():
        print(f"{name}: course_lib {mine * 1e3:.1f} ms, bitsandbytes {reference * 1e3:.1f} ms, "
              f"비율(course_lib/bitsandbytes) {mine / reference:.2f}")


if __name__ == "__main__":
    main()
