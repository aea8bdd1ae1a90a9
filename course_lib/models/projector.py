"""프로젝터(projector): 시각 토큰을 LLM의 임베딩 공간으로 옮기는 LLaVA-1.5의 `mlp2x_gelu`, 필요하면 그 앞에 2×2 토큰 합치기.

Linear(시각 폭 → LLM 폭) → GELU → Linear(LLM 폭 → LLM 폭). 처음에는 무작위 초기화라서,
1단계(stage 1)에서 이것만 학습해 LLM이 읽을 수 있는 "단어"를 만들게 한다.

`merge=2`이면 MLP 앞에서 이웃한 2×2 패치 토큰을 하나로 붙인다(space-to-depth; nanoVLM·SmolVLM·Idefics3의
"pixel shuffle"): 토큰 수는 4분의 1, 폭은 4배가 된다. 미니 월드에서는 4×4=16개 패치(폭 128)가 칸마다 하나씩
4개 토큰(폭 512)이 된다. `merge=1`이면 LLaVA-1.5 그대로다(실제 규모의 `colab`·`full` 프리셋).
"""
from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn


def merge_tokens(tokens: torch.Tensor, merge: int) -> torch.Tensor:
    """[B, 패치 수, 폭] → [B, 패치 수 / merge², 폭 · merge²]. 패치는 행 우선(위 왼쪽부터)으로 놓인 정사각 격자다.

    합친 토큰 하나는 격자의 merge×merge 칸 하나이고, 그 안의 패치를 (위 왼쪽, 위 오른쪽, 아래 왼쪽, 아래 오른쪽)
    차례로 폭 방향에 이어 붙인다.
    """
    if merge == 1:
        return tokens
    grid = math.isqrt(tokens.shape[1])
    return rearrange(tokens, "b (h m1 w m2) c -> b (h w) (m1 m2 c)", h=grid // merge, m1=merge, m2=merge)


class Projector(nn.Sequential):
    """(2×2 토큰 합치기) → Linear → GELU → Linear. 파라미터 이름은 `merge`와 상관없이 `0.*`, `2.*`이다."""

    def __init__(self, vision_hidden_size: int, llm_hidden_size: int, merge: int = 1):
        super().__init__(
            nn.Linear(vision_hidden_size * merge * merge, llm_hidden_size),
            nn.GELU(),
            nn.Linear(llm_hidden_size, llm_hidden_size),
        )
        self.merge = merge

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return super().forward(merge_tokens(tokens, self.merge))

    def num_tokens(self, num_patches: int) -> int:
        """LLM이 받는 그림 토큰 수: 패치 수 / merge²."""
        return num_patches // (self.merge * self.merge)
