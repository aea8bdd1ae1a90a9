"""작은 세계: 결정성, 캡션 왕복(round-trip), 조사, 파서의 잘못된 입력 처리, 분할의 분리."""
import itertools
import random

import numpy as np
import pytest
import torch

from course_lib import world


def test_scenes_are_deterministic():
    a = world.make_scenes("train", 50, seed=3)
    b = world.make_scenes("train", 50, seed=3)
    assert a == b
    assert np.array_equal(world.render_batch(a).numpy(), world.render_batch(b).numpy())
    assert world.make_scenes("train", 50, seed=4) != a


def test_splits_are_disjoint_by_attribute_combination():
    combos = {split: {s.objects for s in world.make_scenes(split, 400)} for split in world.SPLITS}
    for x, y in itertools.combinations(world.SPLITS, 2):
        assert not combos[x] & combos[y], f"{x}와 {y}가 같은 속성 조합을 공유한다"


def test_scene_attributes_vary():
    scenes = world.make_scenes("train", 500)
    objects = [o for s in scenes for o in s.objects]
    assert {s.count for s in scenes} == {1, 2, 3}
    for name, values in (("position", world.POSITIONS), ("shape", world.SHAPES), ("color", world.COLORS),
                         ("size", world.SIZES)):
        assert {getattr(o, name) for o in objects} == set(values)


def test_render_shape_and_range():
    """[N, 3, 48, 48] uint8(0~255 그대로, 0~1로 줄이지 않음): 빈 곳은 배경색, 도형의 한가운데는 그 도형의 색."""
    scenes = world.make_scenes("val", 20)
    img = world.render_batch(scenes)
    assert img.shape == (20, 3, world.IMAGE_SIZE, world.IMAGE_SIZE) and img.dtype == torch.uint8
    for picture, scene in zip(img, scenes):
        assert picture[:, 0, 0].tolist() == list(world.BACKGROUND)  # 구석: 어느 칸의 도형도 닿지 않는다
        for obj, (dx, dy) in zip(scene.objects, scene.offsets):
            col, row = world.POSITIONS.index(obj.position) % 2, world.POSITIONS.index(obj.position) // 2
            x, y = int((col + 0.5) * world.CELL + dx), int((row + 0.5) * world.CELL + dy)
            got = picture[:, y, x].int()
            # 줄이기(LANCZOS)가 한 색으로 칠한 안쪽을 바꾸는 것은 반올림 1 이내다
            assert (got - torch.tensor(world.RGB[obj.color])).abs().max() <= 1, (scene, obj)


@pytest.mark.parametrize("word, pair, expected", [
    ("원", "이/가", "원이"), ("마름모", "이/가", "마름모가"), ("사각형", "을/를", "사각형을"),
    ("마름모", "을/를", "마름모를"), ("위", "은/는", "위는"), ("삼각형", "과/와", "삼각형과"),
])
def test_josa(word, pair, expected):
    assert world.josa(word, pair) == expected


def test_every_template_round_trips():
    for scene in world.make_scenes("test", 120):
        for caption in world.all_caption_variants(scene):
            parsed = world.parse_caption(caption)
            assert parsed.ok, (caption, parsed.reason)
            assert parsed.objects == scene.objects
            if parsed.stated_count is not None:
                assert parsed.stated_count == scene.count


def test_all_templates_are_used_by_the_random_writer():
    rng = random.Random(0)
    captions = [world.write_caption(s, rng) for s in world.make_scenes("train", 200)]
    for marker in ("있다.", "보인다.", "놓여 있다.", "볼 수 있다.", "도형이"):
        assert any(marker in c for c in captions), marker


@pytest.mark.parametrize("caption", [
    "", "   ", None, 42, "왼쪽 위에 작은 빨간 원이 있다", "왼쪽 위에 작은 빨간 원가 있다.",
    "왼쪽 위에 작은 보라 원이 있다.", "가운데에 작은 빨간 원이 있다.", "도형이 두 개 있다. 왼쪽 위에 큰 파란 원이 있다.",
    "왼쪽 위에 큰 파란 원이 있다. 왼쪽 위에 작은 빨간 원이 있다.", "도형이 한 개 있다.", ".", "hello world.",
    "왼쪽 위에서 작은 빨간 마름모을 볼 수 있다.",
])
def test_malformed_captions_are_unparseable_not_crashes(caption):
    parsed = world.parse_caption(caption)
    assert not parsed.ok and parsed.reason


def test_render_batch_is_the_same_with_any_thread_count():
    """그림은 스레드로 나눠 그린다(world.render_batch): 스레드 1개와 2개, 한 장씩 그린 것이 바이트까지 같다."""
    scenes = world.make_scenes("train", 40, seed=3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = world.render_batch(scenes)
        torch.set_num_threads(2)
        two = world.render_batch(scenes)
    finally:
        torch.set_num_threads(before)
    alone = torch.stack([torch.tensor(np.asarray(world.render(s), dtype=np.uint8).transpose(2, 0, 1)) for s in scenes])
    assert one.dtype == torch.uint8 and torch.equal(one, two) and torch.equal(one, alone)
