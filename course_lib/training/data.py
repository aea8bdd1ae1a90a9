"""미니 월드의 학습 데이터: (그림, 캡션) 묶음과 epoch마다 섞는 순서.

캡션 문형과 섞는 순서는 상태 없이 (seed, 단계, epoch, 번호)만으로 정해진다. 그래서 학습을 어디서 끊고
재개(resume)하든 같은 데이터를 같은 순서로 본다.
"""
from __future__ import annotations

import random
from functools import cached_property
from typing import Sequence

import torch

from course_lib import world

class SceneCaptionData:
    """미니 월드의 (그림, 캡션) 데이터. 캡션 문형은 (seed, epoch, 번호)로 정해져 재개해도 같다."""

    def __init__(self, split: str, n: int, seed: int = 0):
        self.split = split
        self.scenes = world.make_scenes(split, n, seed=seed)
        self.seed = seed

    @cached_property
    def images(self) -> torch.Tensor:
        """[N, 3, H, W] uint8. 처음 쓸 때 한 번 그린다(장면과 캡션만 보는 쪽은 그리는 시간을 쓰지 않는다)."""
        return world.render_batch(self.scenes)

    def __len__(self) -> int:
        return len(self.scenes)

    def captions(self, indices: Sequence[int], epoch: int) -> list[str]:
        return [world.write_caption(self.scenes[i], random.Random(f"{self.seed}-{epoch}-{i}")) for i in indices]


def epoch_order(n: int, seed: int, stage_index: int, epoch: int) -> list[int]:
    """epoch마다 섞는 순서. 상태 없이 (seed, 단계, epoch)만으로 정해지므로 재개가 쉽다."""
    generator = torch.Generator().manual_seed(hash_int(seed, stage_index, epoch))
    return torch.randperm(n, generator=generator).tolist()


def length_grouped_order(order: Sequence[int], lengths: Sequence[int], batch_size: int, group_batches: int,
                         seed: int, stage_index: int, epoch: int) -> list[int]:
    """길이로 묶은 순서(length grouping): 섞은 순서를 `group_batches`개 배치씩 큰 묶음(mega-batch)으로 자르고,
    묶음 안에서 길이(토큰 수)로 정렬한 뒤 배치 단위로 자른다. 배치 안의 길이가 비슷해져 채움(padding)이 준다.

    배치의 차례는 묶음 안에서 다시 섞는다(짧은 배치 → 긴 배치가 늘 같은 차례로 오지 않게). 모든 번호가 epoch마다
    정확히 한 번씩 나오고, (seed, 단계, epoch)만으로 정해지므로 재개해도 같다. transformers `Trainer`의
    `group_by_length`(LengthGroupedSampler)와 같은 생각이다. `group_batches`가 0이나 1이면 순서를 그대로 둔다.
    """
    order = list(order)
    if group_batches <= 1:
        return order
    mega = batch_size * group_batches
    generator = torch.Generator().manual_seed(hash_int(seed, stage_index, epoch, "length-group"))
    grouped: list[int] = []
    for start in range(0, len(order), mega):
        block = sorted(order[start:start + mega], key=lambda i: lengths[i])  # 안정 정렬: 같은 길이는 섞인 차례 그대로
        batches = [block[k:k + batch_size] for k in range(0, len(block), batch_size)]
        full = [b for b in batches if len(b) == batch_size]  # 모자란 마지막 조각은 맨 뒤에(걸음에 쓰이지 않는다)
        rest = [b for b in batches if len(b) != batch_size]
        for k in torch.randperm(len(full), generator=generator).tolist():
            grouped += full[k]
        for b in rest:
            grouped += b
    return grouped


def hash_int(*parts) -> int:
    """(seed, 단계, epoch …) → 난수 생성기의 시드(`world.stable_int`: 프로세스·기계와 상관없이 같다)."""
    return world.stable_int(repr(parts), 6)

