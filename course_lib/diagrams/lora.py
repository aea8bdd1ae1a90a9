"""W + BA를 같은 축척으로: 얼린 가중치 W 옆에 학습하는 B[out, r]와 A[r, in]가 얼마나 가는지.

모양은 설정(config)에서 `course_lib.lora.decoder_linear_shapes`로 읽는다(그룹 쿼리 어텐션이면 k_proj, v_proj가
q_proj보다 낮다). 사각형의 가로·세로는 행렬의 열 수(입력)·행 수(출력)에 비례하고, 모든 모듈이 한 축척을 쓴다.
"""
from __future__ import annotations

from typing import Callable, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib import lora as lora_math
from course_lib import plots
from course_lib.models.llm import qwen3_8b_config

FROZEN_COLOR = "#9aa5b1"    # 얼린 W
TRAINED_COLOR = "#d9480f"   # 학습하는 A, B


def _box(ax, x, y, width, height, color):
    # 아주 가는 사각형(r = 16 대 4096)도 보이도록 테두리를 같은 색으로 굵게 그린다.
    ax.add_patch(Rectangle((x, y), width, height, facecolor=color, edgecolor=color, linewidth=1.2))


def draw_lora_update(config, modules: Sequence[str] = ("q_proj", "k_proj"), r: int = 16,
                     model_name: str = "Qwen3-8B") -> Figure:
    """모듈마다 한 줄: [W] + [B][A]. 가로 = 입력 특성 수, 세로 = 출력 특성 수, 모두 같은 축척."""
    shapes = lora_math.decoder_linear_shapes(config)
    rows = [(name, *shapes[name][:2]) for name in modules]
    widest = max(n_in for _, n_in, _ in rows)
    gap = 0.2 * widest
    total_height = sum(n_out for _, _, n_out in rows) + gap * len(rows)
    total_width = 2 * widest + 2 * gap
    fig, ax = plots.new_figure(width=9.0, height=0.8 + 8.0 * total_height / total_width)
    y = total_height
    for name, n_in, n_out in rows:
        y -= n_out
        frozen, trained = n_in * n_out, r * (n_in + n_out)
        _box(ax, 0, y, n_in, n_out, FROZEN_COLOR)
        ax.text(0, y + n_out + 0.03 * gap, f"{name}   W [{n_out:,}, {n_in:,}] = {frozen:,}개 (얼림)",
                ha="left", va="bottom", fontsize=9)
        ax.text(n_in + gap / 2, y + n_out / 2, "+", ha="center", va="center", fontsize=18)
        b_x = n_in + gap
        _box(ax, b_x, y, r, n_out, TRAINED_COLOR)
        ax.text(b_x - 0.03 * gap, y + n_out / 2, f"B [{n_out:,}, {r}]", rotation=90, ha="right", va="center",
                fontsize=9, color=TRAINED_COLOR)
        a_x = b_x + r + 0.15 * gap
        _box(ax, a_x, y + n_out - r, n_in, r, TRAINED_COLOR)
        ax.text(a_x, y + n_out + 0.03 * gap, f"A [{r}, {n_in:,}]", ha="left", va="bottom", fontsize=9,
                color=TRAINED_COLOR)
        ax.text(a_x + 0.05 * gap, y + n_out - r - 0.1 * gap,
                f"학습하는 B, A: r·(in + out) = {trained:,}개\nW의 {100 * trained / frozen:.2f}%",
                ha="left", va="top", fontsize=9)
        y -= gap
    ax.set_xlim(-0.02 * widest, total_width)
    ax.set_ylim(-0.02 * widest, total_height + 0.02 * widest)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{model_name}의 W + BA (r = {r}, 가로·세로 모두 같은 축척; 회색 = 얼림, 주황 = 학습)", pad=16)
    return fig


EXAMPLES: dict[str, Callable[[], Figure]] = {
    "qwen3_8b_q_k": lambda: draw_lora_update(qwen3_8b_config(), ("q_proj", "k_proj"), r=16),
    "qwen3_8b_mlp": lambda: draw_lora_update(qwen3_8b_config(), ("gate_proj", "down_proj"), r=64),
}
