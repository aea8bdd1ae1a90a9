"""그레이디언트 체크포인팅(gradient checkpointing)의 시간표: 순전파·역전파 동안 무엇을 저장하고 무엇을 다시 계산하나.

층마다의 바이트는 실제 설정에서 계산한다(`course_lib.memory.qwen3_layer_activation_bytes`, 노트북 04가 측정과
바이트까지 맞춘 식). 시간표의 규칙(노트북 04의 ⌈n/k⌉·h + k·L과 같은 모형):

- 체크포인팅 없음: 층 j의 순전파가 활성값 L을 저장하고, 층 j의 역전파가 끝나면 놓는다.
- k층 구간 체크포인팅: 구간의 첫 층이 입력 h 하나만 저장한다. 역전파는 구간을 뒤에서부터 하나씩
  다시 계산해(재계산, k층의 L) 그 구간의 역전파를 하고, 끝나면 그 구간의 L과 h를 놓는다.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import matplotlib
import matplotlib.patches as mpatches
from matplotlib.figure import Figure

from transformers import Qwen3Config

from course_lib import assets, memory, plots

MIB = 2**20
# 시간표 칸의 종류: (글자, 색). 막대 아래에 "F3"처럼 종류 글자와 층 번호를 적는다.
KINDS = {"순전파": ("F", "tab:blue"), "재계산": ("R", "tab:orange"), "역전파": ("B", "tab:red")}
ALPHA = {"활성값": 0.9, "구간 입력": 0.35, "재계산": 0.55}


@dataclass
class Step:
    """시간표의 한 칸: 무엇을 하는 중이고(kind, layer), 그동안 무엇이 저장돼 있나(held: (층, 종류, 바이트))."""

    kind: str
    layer: int
    held: list[tuple[int, str, int]]

    @property
    def total(self) -> int:
        return sum(nbytes for _, _, nbytes in self.held)


def checkpoint_timeline(n_layers: int, layer_bytes: int, input_bytes: int, segment: Optional[int]) -> list[Step]:
    """순전파 n칸 + (재계산) + 역전파 n칸의 시간표. segment=None이면 체크포인팅 없음, k면 k층씩 한 구간.
    held의 종류: "활성값"(층 하나의 L), "구간 입력"(h), "재계산"(역전파 때 다시 만든 L)."""
    steps: list[Step] = []
    held: list[tuple[int, str, int]] = []
    for j in range(n_layers):
        if segment is None:
            held.append((j, "활성값", layer_bytes))
        elif j % segment == 0:
            held.append((j, "구간 입력", input_bytes))
        steps.append(Step("순전파", j, list(held)))
    if segment is None:
        for j in reversed(range(n_layers)):
            steps.append(Step("역전파", j, list(held)))
            held = [h for h in held if h[0] != j]
        return steps
    for start in reversed(range(0, n_layers, segment)):
        layers = range(start, min(start + segment, n_layers))
        for j in layers:
            held.append((j, "재계산", layer_bytes))
            steps.append(Step("재계산", j, list(held)))
        for j in reversed(layers):
            steps.append(Step("역전파", j, list(held)))
            held = [h for h in held if not (h[0] == j and h[1] == "재계산")]
        held = [h for h in held if not (h[0] == start and h[1] == "구간 입력")]
    return steps


def _label(segment: Optional[int]) -> str:
    if segment is None:
        return "체크포인팅 없음"
    return "층마다 체크포인트(k = 1)" if segment == 1 else f"{segment}층씩 한 구간(k = {segment})"


def draw_checkpoint_timeline(config, batch: int, seq_len: int, dtype_bytes: int, attn_implementation: str = "sdpa",
                             segments: Sequence[Optional[int]] = (None, 1)) -> Figure:
    """설정과 (배치, 시퀀스, dtype)에서 층 부분의 저장 활성값이 시간에 따라 어떻게 쌓이고 풀리는지 그린다.

    줄마다 하나의 방식(segments: None = 없음, k = k층 구간). 막대 하나가 시간표의 한 칸이고, 막대 안의 조각이
    그 순간 저장돼 있는 것(층마다 색, 진한 것 = 순전파가 남긴 활성값, 옅은 것 = 구간 입력, 빗금 = 재계산한 활성값)이다.
    """
    n = config.num_hidden_layers
    layer_bytes = sum(memory.qwen3_layer_activation_bytes(config, batch, seq_len, dtype_bytes, attn_implementation).values())
    input_bytes = batch * seq_len * config.hidden_size * dtype_bytes
    timelines = [checkpoint_timeline(n, layer_bytes, input_bytes, k) for k in segments]
    top = max(step.total for steps in timelines for step in steps) / MIB
    fig, axes = plots.new_figure(nrows=len(segments), width=11, height=2.6, squeeze=False)
    cmap = matplotlib.colormaps["viridis"]
    layer_colors = [cmap(0.15 + 0.7 * j / max(n - 1, 1)) for j in range(n)]
    for ax, k, steps in zip(axes[:, 0], segments, timelines):
        for x, step in enumerate(steps):
            bottom = 0.0
            for layer, kind, nbytes in step.held:
                height = nbytes / MIB
                ax.bar(x, height, bottom=bottom, width=0.8, color=layer_colors[layer], alpha=ALPHA[kind],
                       hatch="//" if kind == "재계산" else None, edgecolor="white", linewidth=0.5)
                bottom += height
            letter, color = KINDS[step.kind]
            ax.text(x, -0.05 * top, f"{letter}{step.layer}", ha="center", va="top", fontsize=7, color=color,
                    fontweight="bold")
        peak = max(steps, key=lambda s: s.total)
        recomputed = sum(step.kind == "재계산" for step in steps)
        ax.set_title(f"{_label(k)}: 최대 {peak.total / MIB:,.2f} MiB, 다시 계산한 층 {recomputed}개", fontsize=10, loc="left")
        ax.set_ylim(-0.16 * top, top * 1.1)
        ax.set_xlim(-0.7, max(len(s) for s in timelines) - 0.3)
        ax.set_xticks([])
        ax.set_ylabel("저장 (MiB)")
        ax.grid(False)
    handles = [mpatches.Patch(color=color, label=f"{letter} = {kind}") for kind, (letter, color) in KINDS.items()]
    handles += [mpatches.Patch(facecolor=layer_colors[0], alpha=ALPHA["활성값"], label="순전파가 남긴 활성값 L"),
                mpatches.Patch(facecolor=layer_colors[0], alpha=ALPHA["구간 입력"], label="구간 입력 h만"),
                mpatches.Patch(facecolor=layer_colors[0], alpha=ALPHA["재계산"], hatch="//", label="다시 계산한 활성값 L")]
    axes[0, 0].legend(handles=handles, fontsize=7, ncols=2, loc="upper right",
                      title=f"막대 조각의 색 = 층 번호(0 … {n - 1})", title_fontsize=7)
    fig.suptitle(f"층 {n}개, 배치 {batch} × 시퀀스 {seq_len}, 원소 {dtype_bytes}바이트: "
                 f"L = {layer_bytes / MIB:,.2f} MiB, h = {input_bytes / MIB:,.2f} MiB", fontsize=10)
    return fig


def _mini_example() -> Figure:
    """미니 월드 Qwen3의 실제 설정(data/의 config.json), 노트북 04와 같은 배치 8 × 시퀀스 64, float32."""
    config = Qwen3Config.from_pretrained(assets.require_asset(assets.LLM_CONFIG_FILE).parent)
    return draw_checkpoint_timeline(config, 8, 64, 4, segments=(None, 1, 2))


EXAMPLES: dict[str, Callable[[], Figure]] = {"mini_timeline": _mini_example}


def peak_bytes(steps: list[Step]) -> int:
    """시간표에서 가장 많이 저장한 순간의 바이트."""
    return max(step.total for step in steps)
