"""NF4 양자화(quantization)의 그림: 64개 블록 하나가 absmax → 4비트 코드 → 복원값으로 가는 길과, 이중 양자화의 층.

값은 모두 `course_lib.quant`(bitsandbytes와 비트까지 같은 구현)로 계산한다. 그림에 적는 수(absmax, 코드, 오차,
파라미터당 비트)도 받은 텐서에서 계산한 것이다.
"""
from __future__ import annotations

from typing import Callable

import torch
from matplotlib.figure import Figure

from course_lib import plots, quant


def draw_nf4_block(block: torch.Tensor) -> Figure:
    """블록 하나(기본 64개)의 NF4 양자화를 네 칸으로 그린다: 원래 값과 absmax, absmax로 나눈 값과 가장 가까운 코드,
    4비트 코드(바이트에 두 개씩), 복원값과 오차."""
    values = block.reshape(-1).float()
    n = values.numel()
    q = quant.quantize_nf4(values, blocksize=n, double_quant=False)
    absmax = q.absmax[0].item()
    codes = quant.unpack_nibbles(q.packed, n)
    scaled = values / absmax
    restored = quant.dequantize_nf4(q)
    book = quant.nf4_codebook()
    index = torch.arange(n)

    fig, axes = plots.new_figure(ncols=2, nrows=2, width=6.2, height=3.3)
    ax = axes[0, 0]
    ax.stem(index, values, basefmt=" ", markerfmt=".", linefmt="tab:gray")
    peak = int(values.abs().argmax())
    ax.plot([peak], [values[peak]], "o", color="tab:red", ms=8, label=f"absmax = |x[{peak}]| = {absmax:.4f}")
    for sign in (1, -1):
        ax.axhline(sign * absmax, color="tab:red", ls="--", lw=0.8)
    ax.set_title(f"① 블록 하나: 값 {n}개와 절댓값 최댓값(absmax)", fontsize=10)
    ax.set_xlabel("블록 안의 위치")
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[0, 1]
    for value in book.tolist():
        ax.axhline(value, color="tab:blue", lw=0.6, alpha=0.5)
    chosen = book[codes]
    ax.vlines(index, scaled, chosen, color="tab:orange", lw=1)
    ax.plot(index, scaled, ".", color="tab:gray", label="x / absmax")
    ax.plot(index, chosen, "_", color="tab:blue", ms=8, mew=2, label="가장 가까운 NF4 코드")
    ax.set_ylim(-1.08, 1.08)
    ax.set_title("② absmax로 나눠 [-1, 1]로, 가장 가까운 코드 16개 중 하나로", fontsize=10)
    ax.set_xlabel("블록 안의 위치")
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[1, 0]
    columns = 16
    grid = codes.reshape(-1, columns)
    ax.imshow(grid, cmap="coolwarm", vmin=0, vmax=15, aspect="auto")
    for (row, col), code in zip(torch.cartesian_prod(torch.arange(grid.shape[0]), torch.arange(columns)).tolist(),
                                grid.reshape(-1).tolist()):
        ax.text(col, row, f"{code}", ha="center", va="center", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    stored = q.packed.numel() + 4
    ax.set_title(f"③ 4비트 코드 {n}개(0–15) = {q.packed.numel()}바이트\n+ absmax float32 4바이트 "
                 f"= {8 * stored / n:.2f}비트/값", fontsize=10, linespacing=1.4)

    ax = axes[1, 1]
    ax.plot(index, values, "o", mfc="none", color="tab:gray", ms=5, label="원래 값")
    ax.plot(index, restored, ".", color="tab:blue", label="복원값 = 코드북[코드] × absmax")
    rmse = (restored - values).pow(2).mean().sqrt().item()
    ax.set_title(f"④ 복원: 오차 RMSE {rmse:.2e} (absmax의 {rmse / absmax:.1%})", fontsize=10)
    ax.set_xlabel("블록 안의 위치")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def draw_double_quant(x: torch.Tensor, blocksize: int = quant.NF4_BLOCKSIZE) -> Figure:
    """이중 양자화(double quantization)의 층: 블록마다의 float32 absmax를 평균을 빼고 256개씩 8비트로 다시 양자화한다.
    왼쪽은 첫 256블록의 absmax(원래 값과 8비트에서 복원한 값), 오른쪽은 저장한 텐서로 잰 파라미터당 비트."""
    plain = quant.quantize_nf4(x, blocksize=blocksize, double_quant=False)
    double = quant.quantize_nf4(x, blocksize=blocksize, double_quant=True)
    group = quant.ABSMAX_BLOCKSIZE
    shown = min(group, plain.absmax.numel())
    original = plain.absmax[:shown]
    restored = quant.block_absmax(double)[:shown]

    fig, axes = plots.new_figure(ncols=2, width=6.2, height=4.2)
    ax = axes[0]
    ax.plot(range(shown), original, "o", mfc="none", color="tab:gray", ms=4, label="absmax(float32)")
    ax.plot(range(shown), restored, ".", color="tab:purple", ms=4, label="8비트 코드에서 복원 + 평균")
    ax.axhline(double.absmax_offset.item(), color="tab:green", ls="--", lw=1,
               label=f"빼 둔 평균 {double.absmax_offset.item():.4f}")
    worst = ((restored - original).abs() / original).max().item()
    ax.set_title(f"블록 {shown}개의 absmax를 8비트 코드 {shown}개와 float32 하나로\n(상대 오차 최대 {worst:.2%})",
                 fontsize=10, linespacing=1.4)
    ax.set_xlabel(f"블록 번호(블록 하나 = 값 {blocksize}개)")
    ax.set_ylabel("absmax")
    ax.legend(fontsize=8)

    ax = axes[1]
    parts = {  # (이름, 파라미터당 비트, 색)
        "이중 양자화 없음": [("4비트 코드", 4.0, "tab:blue"), (f"absmax float32 ÷ {blocksize}", 32 / blocksize, "tab:orange")],
        "이중 양자화": [("4비트 코드", 4.0, "tab:blue"), (f"absmax 8비트 ÷ {blocksize}", 8 / blocksize, "tab:purple"),
                     (f"2단계 float32 ÷ ({blocksize}·{group})", 32 / (blocksize * group), "tab:green")],
    }
    # 글은 막대 안(두꺼운 조각), 막대 위(합계), 막대 오른쪽(너무 얇은 조각)에만 둔다: 축이나 서로에 겹치지 않게.
    for i, (name, pieces) in enumerate(parts.items()):
        bottom = 0.0
        for label, bits, color in pieces:
            ax.bar(i, bits, bottom=bottom, color=color, width=0.6)
            if bits >= 1:  # 아래가 잘린 4비트 부분은 보이는 곳에 적는다
                ax.text(i, 3.75, f"{label} {bits:.0f}", ha="center", va="center", fontsize=8, color="white")
            elif bits > 0.05:
                ax.text(i, bottom + bits / 2, f"{label}\n{bits:.3f}", ha="center", va="center", fontsize=8, color="white",
                        linespacing=1.4)
            else:  # 너무 얇아 막대 안에 글자가 들어가지 않는다: 막대 오른쪽 아래에 적고 선으로 잇는다
                ax.annotate(f"{label}\n= {bits:.4f}", (i + 0.3, bottom + bits), (i + 0.4, bottom - 0.25), fontsize=8,
                            color=color, ha="left", va="center", linespacing=1.4,
                            arrowprops={"arrowstyle": "-", "color": color})
            bottom += bits
        measured = quant.bits_per_parameter(plain if name == "이중 양자화 없음" else double)
        extra = "\n(빼 둔 평균 float32 하나 포함)" if name == "이중 양자화" else ""
        ax.text(i, bottom + 0.03, f"식 {bottom:.4f}비트\n저장한 텐서로 잰 값 {measured:.4f}비트{extra}", ha="center",
                va="bottom", fontsize=8, linespacing=1.4)
    ax.set_xticks(range(len(parts)), list(parts))
    ax.set_xlim(-0.55, len(parts) - 1 + 1.05)
    ax.set_ylim(3.5, 4.8)
    ax.set_ylabel("파라미터당 비트")
    ax.set_title(f"{tuple(x.shape)} 텐서의 파라미터당 비트", fontsize=10)
    return fig


def _example_tensor() -> torch.Tensor:
    """정규분포 가중치(표준편차 0.02, 시드 0), 1024 × 128: 블록 64개짜리 2,048개 = 이중 양자화 묶음 8개."""
    return torch.randn(1024, 128, generator=torch.Generator().manual_seed(0)) * 0.02


EXAMPLES: dict[str, Callable[[], Figure]] = {
    "block": lambda: draw_nf4_block(_example_tensor().reshape(-1)[: quant.NF4_BLOCKSIZE]),
    "double_quant": lambda: draw_double_quant(_example_tensor()),
}
