"""미니 월드(mini world): 합성 그림과 한국어 캡션.

그림 한 장은 2×2 칸(왼쪽 위, 오른쪽 위, 왼쪽 아래, 오른쪽 아래) 가운데 1~3칸에 도형이 하나씩
놓인 장면이다. 도형마다 모양(shape), 색(color), 크기(size), 위치(position)가 있고, 장면에는 개수(count)가
있다. 캡션은 이 속성을 여러 문형(template)의 자연스러운 한국어 문장으로 쓰고, `parse_caption`은
어떤 문형으로 쓰인 캡션이든 속성으로 되돌린다. 그래서 생성된 캡션의 정확도를 정확히 잴 수 있다.

분할(split): 장면의 속성 조합을 해시해 train / val / test 가운데 하나에 고정으로 배정한다.
그래서 test의 속성 조합은 train에 한 번도 나오지 않는다(같은 장면을 외워서 맞힐 수 없다).
"""
from __future__ import annotations

import hashlib
import itertools
import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

IMAGE_SIZE = 48
RENDER_SCALE = 4  # 4배 크게 그린 뒤 줄여서 가장자리를 부드럽게(antialiasing) 한다.

POSITIONS = ("왼쪽 위", "오른쪽 위", "왼쪽 아래", "오른쪽 아래")
SHAPES = ("원", "사각형", "삼각형", "마름모")
COLORS = ("빨간", "파란", "초록", "노란")
SIZES = ("작은", "큰")
COUNT_WORDS = ("한", "두", "세")

BACKGROUND = (245, 245, 240)  # 도형이 없는 곳의 색(RGB)
RGB = {
    "빨간": (220, 40, 40),
    "파란": (40, 80, 230),
    "초록": (30, 160, 60),
    "노란": (235, 200, 20),
}
RADIUS = {"작은": 5.0, "큰": 9.0}  # 48×48 그림에서의 반지름(픽셀)
CELL = IMAGE_SIZE // 2
# 칸 안에서 도형 중심이 흔들리는 최대 폭(픽셀). 크게 흔들면 작은 ViT가 모양(shape)을 배우지 못했다:
# 같은 예산에서 패치 토큰의 모양 선형 탐침(linear probe) 정확도가 ±6픽셀일 때 62%, ±1픽셀일 때 97%.
MAX_JITTER = 1

SPLITS = ("train", "val", "test")
SPLIT_BUCKETS = {"test": (0,), "val": (1,), "train": tuple(range(2, 10))}
WORLD_VERSION = 1


@dataclass(frozen=True, order=True)
class SceneObject:
    position: str
    size: str
    color: str
    shape: str

    def describe(self) -> str:
        return f"{self.size} {self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]  # 위치 순서(읽는 순서)로 정렬됨
    offsets: tuple[tuple[int, int], ...]  # 칸 안에서 도형 중심이 움직인 양(픽셀)

    @property
    def count(self) -> int:
        return len(self.objects)


# ---------------------------------------------------------------- 조사(josa)

def has_final_consonant(word: str) -> bool:
    """마지막 글자에 받침이 있는가. 한글 음절은 (코드 - 0xAC00) % 28 이 받침 번호다."""
    last = word[-1]
    if not "가" <= last <= "힣":
        raise ValueError(f"한글 음절로 끝나야 합니다: {word!r}")
    return (ord(last) - 0xAC00) % 28 != 0


def josa(word: str, pair: str) -> str:
    """받침에 맞는 조사를 붙인다. pair는 '이/가', '은/는', '을/를', '과/와' 꼴(받침 있을 때/없을 때)."""
    with_batchim, without = pair.split("/")
    return word + (with_batchim if has_final_consonant(word) else without)


# ---------------------------------------------------------------- 캡션 문형

def _sentence(template: int, obj: SceneObject) -> str:
    pos, desc, shape = obj.position, f"{obj.size} {obj.color}", obj.shape
    if template == 0:
        return f"{pos}에 {desc} {josa(shape, '이/가')} 있다."
    if template == 1:
        return f"{desc} {shape} 하나가 {pos}에 보인다."
    if template == 2:
        return f"{pos}에는 {desc} {josa(shape, '이/가')} 놓여 있다."
    if template == 3:
        return f"{pos}에서 {desc} {josa(shape, '을/를')} 볼 수 있다."
    raise ValueError(f"알 수 없는 문형 번호(template): {template}")


N_SENTENCE_TEMPLATES = 4


def write_caption(scene: Scene, rng: random.Random | None = None, templates: Sequence[int] | None = None,
                  with_count: bool | None = None) -> str:
    """장면을 한국어 캡션으로 쓴다. 문형은 rng로 고르거나 `templates`로 정한다.

    with_count가 참이면 "도형이 두 개 있다." 같은 개수 문장으로 시작한다.
    """
    rng = rng or random.Random(0)
    if templates is None:
        templates = [rng.randrange(N_SENTENCE_TEMPLATES) for _ in scene.objects]
    if with_count is None:
        with_count = rng.random() < 0.5
    parts = []
    if with_count:
        parts.append(f"도형이 {COUNT_WORDS[scene.count - 1]} 개 있다.")
    parts += [_sentence(t, o) for t, o in zip(templates, scene.objects)]
    return " ".join(parts)


def all_caption_variants(scene: Scene) -> list[str]:
    """장면 하나로 쓸 수 있는 모든 캡션(문형 조합 × 개수 문장 유무). 테스트와 평가용."""
    variants = []
    for combo in itertools.product(range(N_SENTENCE_TEMPLATES), repeat=scene.count):
        for with_count in (False, True):
            variants.append(write_caption(scene, templates=combo, with_count=with_count))
    return variants


# ---------------------------------------------------------------- 파서

_ALT = lambda words: "|".join(sorted(words, key=len, reverse=True))  # noqa: E731
_POS, _SIZE, _COLOR, _SHAPE = (f"(?P<{n}>{_ALT(w)})" for n, w in
                               (("pos", POSITIONS), ("size", SIZES), ("color", COLORS), ("shape", SHAPES)))
_OBJ = f"{_SIZE} {_COLOR} {_SHAPE}"
_SENTENCE_PATTERNS = [
    re.compile(f"^{_POS}에 {_OBJ}(?P<josa>이|가) 있다$"),
    re.compile(f"^{_OBJ} 하나가 {_POS}에 보인다$"),
    re.compile(f"^{_POS}에는 {_OBJ}(?P<josa>이|가) 놓여 있다$"),
    re.compile(f"^{_POS}에서 {_OBJ}(?P<josa>을|를) 볼 수 있다$"),
]
_COUNT_PATTERN = re.compile(f"^도형이 (?P<count>{_ALT(COUNT_WORDS)}) 개 있다$")
_JOSA_PAIRS = {"이": "이/가", "가": "이/가", "을": "을/를", "를": "을/를"}


@dataclass(frozen=True)
class ParsedCaption:
    ok: bool
    objects: tuple[SceneObject, ...] = ()
    stated_count: int | None = None
    reason: str = ""

    @property
    def count(self) -> int:
        return len(self.objects)


def _parse_sentence(sentence: str) -> SceneObject | str:
    for pattern in _SENTENCE_PATTERNS:
        m = pattern.match(sentence)
        if not m:
            continue
        if "josa" in m.groupdict() and josa(m["shape"], _JOSA_PAIRS[m["josa"]]) != m["shape"] + m["josa"]:
            return f"조사가 틀렸다: {m['shape']}{m['josa']}"
        return SceneObject(m["pos"], m["size"], m["color"], m["shape"])
    return f"알 수 없는 문장: {sentence!r}"


def parse_caption(caption: str) -> ParsedCaption:
    """캡션을 속성으로 되돌린다. 어떤 입력에도 예외를 던지지 않고, 읽을 수 없으면 ok=False와 이유를 준다."""
    if not isinstance(caption, str) or not caption.strip():
        return ParsedCaption(False, reason="빈 캡션")
    sentences = [s.strip() for s in caption.strip().split(".")]
    if sentences[-1] != "":
        return ParsedCaption(False, reason="마침표로 끝나지 않는다")
    sentences = sentences[:-1]
    stated_count = None
    if sentences and (m := _COUNT_PATTERN.match(sentences[0])):
        stated_count = COUNT_WORDS.index(m["count"]) + 1
        sentences = sentences[1:]
    objects = []
    for sentence in sentences:
        parsed = _parse_sentence(sentence)
        if isinstance(parsed, str):
            return ParsedCaption(False, reason=parsed)
        objects.append(parsed)
    if not objects:
        return ParsedCaption(False, reason="도형 문장이 없다")
    positions = [o.position for o in objects]
    if len(set(positions)) != len(positions):
        return ParsedCaption(False, reason="같은 위치가 두 번 나온다")
    if stated_count is not None and stated_count != len(objects):
        return ParsedCaption(False, reason=f"개수 문장({stated_count})과 도형 문장 수({len(objects)})가 다르다")
    return ParsedCaption(True, tuple(sorted(objects, key=lambda o: POSITIONS.index(o.position))), stated_count)


# ---------------------------------------------------------------- 장면 생성과 분할

def stable_int(text: str, n_bytes: int) -> int:
    """글자열 → 정수: SHA-256의 앞 `n_bytes`바이트(little-endian). 파이썬의 `hash()`와 달리 프로세스·기계·
    PYTHONHASHSEED와 상관없이 언제나 같아서, 분할과 데이터 순서처럼 다시 만들 수 있어야 하는 것에 쓴다."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:n_bytes], "little")


def _combo_bucket(objects: Sequence[SceneObject]) -> int:
    key = "|".join(f"{o.position},{o.size},{o.color},{o.shape}" for o in objects)
    return stable_int(key, 4) % 10


def split_of(objects: Sequence[SceneObject]) -> str:
    """속성 조합이 속한 분할. 같은 조합은 언제나 같은 분할에 간다."""
    bucket = _combo_bucket(objects)
    return next(name for name, buckets in SPLIT_BUCKETS.items() if bucket in buckets)


def random_scene(rng: random.Random) -> Scene:
    count = rng.randint(1, 3)
    positions = sorted(rng.sample(range(len(POSITIONS)), count))
    objects = tuple(SceneObject(POSITIONS[p], rng.choice(SIZES), rng.choice(COLORS), rng.choice(SHAPES))
                    for p in positions)
    offsets = []
    for obj in objects:
        slack = min(MAX_JITTER, int(CELL / 2 - RADIUS[obj.size] - 1))
        offsets.append((rng.randint(-slack, slack), rng.randint(-slack, slack)))
    return Scene(objects, tuple(offsets))


def iter_scenes(split: str, seed: int = 0) -> Iterator[Scene]:
    """분할 `split`의 장면을 정해진 순서로 끝없이 낸다(같은 seed면 언제나 같은 장면)."""
    if split not in SPLITS:
        raise ValueError(f"split은 {SPLITS} 가운데 하나여야 합니다: {split!r}")
    rng = random.Random(f"mini-world-v{WORLD_VERSION}-{split}-{seed}")
    while True:
        scene = random_scene(rng)
        if split_of(scene.objects) == split:
            yield scene


def make_scenes(split: str, n: int, seed: int = 0) -> list[Scene]:
    it = iter_scenes(split, seed)
    return [next(it) for _ in range(n)]


# ---------------------------------------------------------------- 그리기

def _cell_center(position: str) -> tuple[float, float]:
    index = POSITIONS.index(position)
    col, row = index % 2, index // 2
    return (col + 0.5) * CELL, (row + 0.5) * CELL


def render(scene: Scene) -> Image.Image:
    """장면을 IMAGE_SIZE×IMAGE_SIZE RGB 그림으로 그린다(결정적)."""
    s = RENDER_SCALE
    canvas = Image.new("RGB", (IMAGE_SIZE * s, IMAGE_SIZE * s), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for obj, (dx, dy) in zip(scene.objects, scene.offsets):
        cx, cy = _cell_center(obj.position)
        cx, cy, r = (cx + dx) * s, (cy + dy) * s, RADIUS[obj.size] * s
        fill = RGB[obj.color]
        if obj.shape == "원":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        elif obj.shape == "사각형":
            h = r * 0.85
            draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=fill)
        elif obj.shape == "삼각형":
            draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=fill)
        elif obj.shape == "마름모":
            draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill)
    return canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)


def _pixels(scene: Scene) -> np.ndarray:
    return np.asarray(render(scene), dtype=np.uint8).transpose(2, 0, 1)


def render_batch(scenes: Sequence[Scene]) -> torch.Tensor:
    """장면 여러 개를 [N, 3, H, W] uint8 텐서로 그린다(메모리를 아끼려고 uint8로 둔다).

    시간의 대부분은 Pillow의 줄이기(resize)이고, Pillow는 그동안 GIL을 놓는다. 그래서 torch의 스레드 수만큼
    스레드로 나눠 그린다. 그림마다 따로 그리므로 결과는 스레드 수와 상관없이 같다(tests/test_world.py).
    """
    workers = min(torch.get_num_threads(), len(scenes))
    if workers <= 1:
        arrays = [_pixels(s) for s in scenes]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            arrays = list(pool.map(_pixels, scenes))
    return torch.from_numpy(np.stack(arrays))

