"""그림 토큰이 LLM에 들어가는 길의 그림(노트북 00의 7절): 2×2 합치기에서 어느 패치가 어느 토큰이 되나(`draw_merge_grid`),
그리고 LLM이 받는 한 줄 [그림 토큰][지시문][캡션][끝][채움]을 자리마다(`draw_sequence`).

무엇이 어느 자리에 있는지는 진짜 배치의 텐서에서 읽는다(타자로 친 수 없음): 그림 자리는 앞의 `n_image`개,
채움은 주의 마스크가 0인 자리, 지시문은 마스크가 1이고 라벨이 -100인 글 자리, 끝은 라벨이 끝 토큰인 자리,
나머지 라벨이 붙은 자리가 캡션이다. 손실은 라벨이 -100이 아닌 자리(캡션과 끝)의 토큰만 맞힌다.
"""
from __future__ import annotations

from typing import Sequence

import torch
from matplotlib.patches import Patch, Rectangle

from course_lib import plots

IGNORE_INDEX = -100  # models.vlm.IGNORE_INDEX와 같은 값(이 모듈은 모델을 읽지 않는다)
KINDS = ("image", "prompt", "caption", "end", "padding")
KIND_LABELS = {"image": "그림 토큰", "prompt": "지시문", "caption": "캡션", "end": "끝 토큰", "padding": "채움"}
KIND_COLORS = {"image": "#f4a261", "prompt": "#a8dadc", "caption": "#457b9d", "end": "#1d3557", "padding": "#eeeeee"}


MERGE_COLORS = ("#e76f51", "#2a9d8f", "#e9c46a", "#264653")  # 합친 토큰마다 한 색(2×2 합치기 → 4개)


def draw_merge_grid(image: torch.Tensor, patch_size: int, merge: int):
    """그림 위에 패치 번호(행 우선)와, 그 패치가 들어가는 합친 토큰(색)을 그린다. 왼쪽: 패치 격자, 오른쪽: 합친 토큰."""
    channels, height, width = image.shape
    grid = height // patch_size
    fig, (left, right) = plots.new_figure(ncols=2, width=4.2, height=4.4)
    for ax in (left, right):
        ax.imshow(image.permute(1, 2, 0).numpy(), extent=(0, width, height, 0))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    per_row = grid // merge
    for row in range(grid):
        for col in range(grid):
            token = (row // merge) * per_row + col // merge
            color = MERGE_COLORS[token % len(MERGE_COLORS)]
            x, y = col * patch_size, row * patch_size
            left.add_patch(Rectangle((x, y), patch_size, patch_size, fill=False, edgecolor="white", linewidth=1.5))
            left.text(x + patch_size / 2, y + patch_size / 2, str(row * grid + col), ha="center", va="center",
                      fontsize=10, color="black")
            right.add_patch(Rectangle((x, y), patch_size, patch_size, facecolor=color, alpha=0.45, edgecolor="white",
                                      linewidth=1.0))
            right.text(x + patch_size / 2, y + patch_size * 0.65, str(row * grid + col), ha="center", va="center",
                       fontsize=9, color="black")
    size = patch_size * merge
    for token in range(per_row * per_row):
        x, y = (token % per_row) * size, (token // per_row) * size
        right.add_patch(Rectangle((x, y), size, size, fill=False, edgecolor=MERGE_COLORS[token % len(MERGE_COLORS)],
                                  linewidth=3))
        right.text(x + 2, y + 3, f"토큰 {token}", ha="left", va="top", fontsize=9, color="black",
                   bbox={"facecolor": "white", "alpha": 0.8, "pad": 1, "edgecolor": "none"})
    left.set_title(f"패치 토큰 {grid * grid}개(행 우선 번호)", fontsize=10)
    right.set_title(f"{merge}×{merge} 합치기: 그림 토큰 {per_row * per_row}개", fontsize=10)
    return fig


def position_kinds(attention_mask: torch.Tensor, labels: torch.Tensor, input_ids: torch.Tensor, n_image: int,
                   eos_token_id: int) -> list[list[str]]:
    """[그림 + 글] 한 줄의 자리마다 종류. `attention_mask`, `labels`, `input_ids`는 그림 자리까지 이어 붙인 것([B, L])."""
    kinds = []
    for mask, label, ids in zip(attention_mask.tolist(), labels.tolist(), input_ids.tolist()):
        row = []
        for position, (m, y, token) in enumerate(zip(mask, label, ids)):
            if position < n_image:
                row.append("image")
            elif m == 0:
                row.append("padding")
            elif y == IGNORE_INDEX:
                row.append("prompt")
            else:
                row.append("end" if token == eos_token_id else "caption")
        kinds.append(row)
    return kinds


def draw_sequence(kinds: Sequence[Sequence[str]], tokens: Sequence[Sequence[str]],
                  loss_targets: Sequence[Sequence[bool]], title: str, row_height: float = 0.2):
    """예제마다 한 열, 자리마다 한 줄. 칸의 색은 종류, 글은 토큰, 오른쪽 작은 칸이 채워져 있으면 손실이 맞히는 자리."""
    n_examples, length = len(kinds), len(kinds[0])
    fig, ax = plots.new_figure(width=3.2 * n_examples, height=max(3.0, row_height * length + 1.2))
    ax.grid(False)
    ax.spines[:].set_visible(False)
    for column in range(n_examples):
        left = column * 3.2
        for position in range(length):
            kind = kinds[column][position]
            y = length - 1 - position
            ax.add_patch(Rectangle((left, y), 2.4, 0.92, color=KIND_COLORS[kind]))
            text_color = "white" if kind in ("caption", "end") else "black"
            ax.text(left + 1.2, y + 0.46, tokens[column][position], ha="center", va="center", fontsize=7,
                    color=text_color)
            ax.add_patch(Rectangle((left + 2.5, y + 0.1), 0.35, 0.72, facecolor="#e63946" if loss_targets[column][position]
                                   else "white", edgecolor="#999999", linewidth=0.5))
        ax.text(left + 1.2, length + 0.4, f"예제 {column}", ha="center", va="bottom", fontsize=9)
    ax.set_yticks([length - 1 - p + 0.46 for p in range(0, length, 4)], [str(p) for p in range(0, length, 4)], fontsize=7)
    ax.set_ylabel("자리(position)")
    ax.set_xticks([])
    ax.set_xlim(-0.2, n_examples * 3.2)
    ax.set_ylim(-0.2, length + 1.4)
    ax.set_title(title, fontsize=9)
    handles = [Patch(color=KIND_COLORS[k], label=KIND_LABELS[k]) for k in KINDS]
    handles.append(Patch(facecolor="#e63946", edgecolor="#999999", label="손실이 맞히는 토큰"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=3, frameon=False, fontsize=8)
    return fig


def token_texts(tokenizer, input_ids: Sequence[int]) -> list[str]:
    """자리마다 보여 줄 글: 그 토큰에서 끝나는 글자들. 바이트 수준 BPE는 한글 한 글자를 여러 토큰으로 쪼개기도 해서,
    앞까지 풀어 쓴 글과 이 토큰까지 풀어 쓴 글의 차이를 쓴다(글자가 아직 안 끝났으면 "…")."""
    texts, done = [], ""
    for k in range(len(input_ids)):
        now = tokenizer.decode(list(input_ids[:k + 1]))
        piece = now[len(done):] if now.startswith(done) and "\ufffd" not in now[len(done):] else ""
        texts.append(piece.strip() or ("…" if not piece else "(공백)"))
        if piece:
            done = now
    return texts


def _merge_example():
    from course_lib import world  # 그림 예시에만 필요하다(이 모듈의 그리기 함수는 세계를 모른다)

    return draw_merge_grid(world.render_batch(world.make_scenes("test", 1, seed=0))[0], patch_size=12, merge=2)


def _sequence_example():
    from course_lib import world  # 예시에만 필요하다
    from course_lib.models.pretrained import load_tokenizer  # 예시에만 필요하다
    from course_lib.models.vlm import encode_captions  # 예시에만 필요하다

    tokenizer = load_tokenizer()
    scenes = world.make_scenes("test", 2, seed=0)
    text = encode_captions(tokenizer, [world.write_caption(s) for s in scenes])
    n_image = 4
    pad = torch.ones(2, n_image, dtype=torch.long)
    mask = torch.cat([pad, text.attention_mask], dim=1)
    labels = torch.cat([torch.full((2, n_image), IGNORE_INDEX), text.labels], dim=1)
    ids = torch.cat([0 * pad, text.input_ids], dim=1)
    kinds = position_kinds(mask, labels, ids, n_image, tokenizer.eos_token_id)
    shown = [[f"그림 {k}" for k in range(n_image)] + token_texts(tokenizer, row.tolist()) for row in text.input_ids]
    return draw_sequence(kinds, shown, (labels != IGNORE_INDEX).tolist(), f"라벨 {tuple(labels.shape)}")


EXAMPLES = {"merge_grid": _merge_example, "sequence": _sequence_example}
