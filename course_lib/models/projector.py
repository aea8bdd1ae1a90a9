"""프로젝터(projector): 시각 토큰을 LLM의 임베딩 공간으로 옮기는 LLaVA-1.5의 `mlp2x_gelu`.

Linear(시각 폭 → LLM 폭) → GELU → Linear(LLM 폭 → LLM 폭). 처음에는 무작위 초기화라서,
1단계(stage 1)에서 이것만 학습해 LLM이 읽을 수 있는 "단어"를 만들게 한다.
"""
from __future__ import annotations

from torch import nn


class Projector(nn.Sequential):
    def __init__(self, vision_hidden_size: int, llm_hidden_size: int):
        super().__init__(
            nn.Linear(vision_hidden_size, llm_hidden_size),
            nn.GELU(),
            nn.Linear(llm_hidden_size, llm_hidden_size),
        )
