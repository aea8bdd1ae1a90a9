"""크기 × 방향: [out, in] 가중치의 행(출력 특성) 하나하나를 길이 m_i와 길이 1인 방향 V_i로 나눈 그림.

실제 가중치를 받아 그린다. 행마다 W_i = m_i · V_i 이므로 가운데 막대(m)와 오른쪽 그림(V)을 곱하면 왼쪽 그림(W)이 된다.
DoRA는 m을 벡터로 직접 학습하고, V는 LoRA로 고친 W₀ + sBA를 다시 길이 1로 만든 것이다.
"""
from __future__ import annotations

from typing import Callable

import torch
from matplotlib.figure import Figure

from course_lib import plots
from course_lib.models.pretrained import load_llm


def pick_rows(magnitude: torch.Tensor, n_rows: int) -> list[int]:
    """크기 순으로 늘어놓고 고르게 n_rows개: 가장 큰 행부터 가장 작은 행까지 골고루 보이도록."""
    order = torch.argsort(magnitude, descending=True)
    positions = torch.linspace(0, len(order) - 1, n_rows).round().long()
    return order[positions].tolist()


def draw_magnitude_direction(weight: torch.Tensor, n_rows: int = 6, name: str = "q_proj",
                             n_columns: int | None = None) -> Figure:
    """왼쪽부터 W의 행들 = 크기 m(막대) ⊙ 방향 V의 행들. 입력 쪽은 앞의 n_columns개 열만 보인다(없으면 모두)."""
    weight = weight.detach().float()
    magnitude = weight.norm(dim=1)
    direction = weight / magnitude[:, None]
    rows = pick_rows(magnitude, n_rows)
    columns = slice(0, n_columns or weight.shape[1])
    shown_w, shown_v = weight[rows, columns], direction[rows, columns]
    n_shown = shown_w.shape[1]
    fig, axes = plots.new_figure(ncols=3, width=3.4, height=0.6 + 0.42 * n_rows,
                                 gridspec_kw={"width_ratios": [n_shown, max(4, n_shown // 4), n_shown]})
    w_limit, v_limit = shown_w.abs().max().item(), shown_v.abs().max().item()
    labels = [f"행 {i}" for i in rows]
    axes[0].imshow(shown_w, cmap="RdBu_r", vmin=-w_limit, vmax=w_limit, aspect="auto")
    axes[0].set_title(f"W의 행 [{n_rows}개, 입력 {n_shown}칸]")
    axes[1].barh(range(n_rows), magnitude[rows], color="#d9480f")
    axes[1].invert_yaxis()
    axes[1].set_title("크기 m = ‖행‖")
    for k, value in enumerate(magnitude[rows].tolist()):
        axes[1].text(value, k, f" {value:.2f}", va="center", fontsize=8)
    axes[1].set_xlim(0, 1.45 * magnitude[rows].max().item())
    axes[2].imshow(shown_v, cmap="RdBu_r", vmin=-v_limit, vmax=v_limit, aspect="auto")
    axes[2].set_title("방향 V = 행 / ‖행‖ (길이 1)")
    for ax in axes:
        ax.set_yticks(range(n_rows), labels if ax is axes[0] else [""] * n_rows)
        ax.grid(False)
    for ax in (axes[0], axes[2]):
        ax.set_xlabel("입력 특성")
    fig.suptitle(f"{name} {list(weight.shape)}: 행마다 W = m · V  (DoRA: m은 벡터로 학습, V는 W₀ + sBA의 방향)")
    return fig


def _mini_q_proj() -> torch.Tensor:
    return load_llm().model.layers[0].self_attn.q_proj.weight.detach()


EXAMPLES: dict[str, Callable[[], Figure]] = {
    "mini_q_proj": lambda: draw_magnitude_direction(_mini_q_proj(), n_rows=6, name="미니 월드 0층 q_proj",
                                                    n_columns=32),
    "random_rows": lambda: draw_magnitude_direction(
        torch.randn(12, 20, generator=torch.Generator().manual_seed(0))
        * torch.linspace(0.2, 2.0, 12)[:, None], n_rows=4, name="무작위 [12, 20]"),
}
