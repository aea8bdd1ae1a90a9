"""미니 월드의 학습 데이터: (그림, 캡션) 묶음과 epoch마다 섞는 순서.

캡션 문형과 섞는 순서는 상태 없이 (seed, 단계, epoch, 번호)만으로 정해진다. 그래서 학습을 어디서 끊고
재개(resume)하든 같은 데이터를 같은 순서로 본다.
"""
from __future__ import annotations

import hashlib
import random
from typing import Sequence

import torch

from course_lib import world

class SceneCaptionData:
    """미니 월드의 (그림, 캡션) 데이터. 캡션 문형은 (seed, epoch, 번호)로 정해져 재개해도 같다."""

    def __init__(self, split: str, n: int, seed: int = 0):
        self.split = split
        self.scenes = world.make_scenes(split, n, seed=seed)
        self.images = world.render_batch(self.scenes)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.scenes)

    def captions(self, indices: Sequence[int], epoch: int) -> list[str]:
        return [world.write_caption(self.scenes[i], random.Random(f"{self.seed}-{epoch}-{i}")) for i in indices]


def epoch_order(n: int, seed: int, stage_index: int, epoch: int) -> list[int]:
    """epoch마다 섞는 순서. 상태 없이 (seed, 단계, epoch)만으로 정해지므로 재개가 쉽다."""
    generator = torch.Generator().manual_seed(hash_int(seed, stage_index, epoch))
    return torch.randperm(n, generator=generator).tolist()


def hash_int(*parts) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:6], "little")

