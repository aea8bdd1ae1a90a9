"""노트북 00(준비와 미니 월드)의 연습문제 채점. 모두 노트북이 보여 주지 않은 변형을, 처음 보는 입력으로 채점한다."""
from __future__ import annotations

import random
from math import comb, perm

import torch
from einops import rearrange

from course_lib import evaluate, world
from course_lib.models import pretrained
from course_lib.tooling.exercises import Wrong, choices, exercise, grade_choice

HANGUL_BASE = 0xAC00
RIEUL = 8  # 받침 번호: (코드 - 0xAC00) % 28 == 8이면 ㄹ 받침


# ---------------------------------------------------------------- 00.1 방향 조사 으로/로

def _ro_like_josa(word):  # 받침이 있으면 '으로': ㄹ 받침의 예외를 잊은 답
    return word + ("으로" if (ord(word[-1]) - HANGUL_BASE) % 28 else "로")


def _always_ro(word):
    return word + "로"


@exercise("00.1", title="방향 조사 '으로/로' 붙이기(ㄹ 받침의 예외)", level="🐢",
          wrong_answers=[_ro_like_josa, _always_ro, lambda word: word + "으로"])
def grade_direction_particle(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: direction_particle(word) -> '칼로' 같은 문자열")
    cases = {"칼": "칼로", "연필": "연필로", "집": "집으로", "학교": "학교로", "서울": "서울로", "부산": "부산으로",
             "바다": "바다로", "밖": "밖으로", "하늘": "하늘로", "위": "위로", "물": "물로", "옆": "옆으로"}
    for word, want in cases.items():
        got = fn(word)
        if got != want:
            batchim = (ord(word[-1]) - HANGUL_BASE) % 28
            why = ("ㄹ 받침 뒤에는 '으'를 넣지 않습니다(칼로, 서울로)" if batchim == RIEUL
                   else "받침이 없으면 '로', ㄹ이 아닌 받침이면 '으로'입니다")
            raise Wrong(f"{word!r} → {got!r}, 기대한 값 {want!r}. {why}. 받침 번호는 (ord(글자) - 0xAC00) % 28, "
                        f"ㄹ은 {RIEUL}번입니다.")


# ---------------------------------------------------------------- 00.2 장면 조합 수

def count_scenes_reference(n_cells: int, n_kinds: int, max_objects: int) -> int:
    """칸 n_cells개 가운데 1~max_objects칸을 고르고(순서 없음), 고른 칸마다 도형 n_kinds가지 가운데 하나."""
    return sum(comb(n_cells, k) * n_kinds ** k for k in range(1, max_objects + 1))


@exercise("00.2", title="서로 다른 장면(속성 조합)의 수 세기", level="🐕",
          wrong_answers=[lambda n_cells, n_kinds, max_objects: (n_kinds + 1) ** n_cells - 1,
                         lambda n_cells, n_kinds, max_objects: sum(perm(n_cells, k) * n_kinds ** k
                                                                   for k in range(1, max_objects + 1)),
                         lambda n_cells, n_kinds, max_objects: sum(comb(n_cells, k) * n_kinds ** k
                                                                   for k in range(0, max_objects + 1))])
def grade_count_scenes(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: count_scenes(n_cells, n_kinds, max_objects) -> int")
    kinds = len(world.SIZES) * len(world.COLORS) * len(world.SHAPES)
    mini = (len(world.POSITIONS), kinds, len(world.COUNT_WORDS))
    for args in (mini, (9, 5, 2), (6, 3, 6), (2, 10, 1), (5, 7, 4), (3, 1, 3)):
        want, got = count_scenes_reference(*args), fn(*args)
        if got == want:
            continue
        n_cells, n_kinds, max_objects = args
        if got == count_scenes_reference(n_cells, n_kinds, max_objects) + 1:
            raise Wrong(f"{args}: 빈 장면(도형 0개)까지 셌습니다. 장면에는 도형이 1개 이상 있습니다.")
        if max_objects < n_cells and got == (n_kinds + 1) ** n_cells - 1:
            raise Wrong(f"{args}: 도형 수의 상한 max_objects={max_objects}를 쓰지 않았습니다.")
        raise Wrong(f"{args}: 기대 {want:,}, 받은 값 {got!r}. 칸을 고르는 것은 순서가 없는 조합(math.comb)이고, "
                    f"고른 칸마다 도형을 따로 고릅니다.")


# ---------------------------------------------------------------- 00.3 색별 도형 수

def _count_substring(caption):
    return {color: caption.count(color) for color in world.COLORS if color in caption}


def _always_empty(caption):
    return {}


@exercise("00.3", title="캡션을 파싱해 색별 도형 수 세기", level="🐕", wrong_answers=[_always_empty, _count_substring])
def grade_color_counts(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: color_counts(caption) -> {색: 개수}")
    rng = random.Random(7)
    for scene in world.make_scenes("val", 30, seed=5):
        caption = world.write_caption(scene, rng)
        want = {}
        for obj in scene.objects:
            want[obj.color] = want.get(obj.color, 0) + 1
        got = fn(caption)
        if got != want:
            raise Wrong(f"{caption!r}에서 {got}를 셌지만 정답은 {want}입니다. world.parse_caption(caption).objects를 쓰세요.")
    bad = fn("도형이 세 개 있다. 왼쪽 위에 빨간 빨간 원이 있다.")
    if bad != {}:
        raise Wrong("읽을 수 없는 캡션(parse_caption(...).ok가 False)에는 빈 사전 {}을 돌려주세요.")


# ---------------------------------------------------------------- 00.4 패치 토큰을 그림으로 되돌리기

def patchify_reference(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """노트북의 자르기와 같은 순서: 토큰은 행 우선 (gh gw), 토큰 안은 (c ph pw)."""
    return rearrange(images, "b c (gh ph) (gw pw) -> b (gh gw) (c ph pw)", ph=patch_size, pw=patch_size)


@exercise("00.4", title="패치 토큰을 그림으로 되돌리기(unpatchify, 직사각형 격자)", level="🦁",
          wrong_answers=[
              lambda tokens, patch_size, grid_h, grid_w: rearrange(
                  tokens, "b (gw gh) (c ph pw) -> b c (gh ph) (gw pw)", gh=grid_h, gw=grid_w, ph=patch_size,
                  pw=patch_size),
              lambda tokens, patch_size, grid_h, grid_w: rearrange(
                  tokens, "b (gh gw) (ph pw c) -> b c (gh ph) (gw pw)", gh=grid_h, gw=grid_w, ph=patch_size,
                  pw=patch_size),
              lambda tokens, patch_size, grid_h, grid_w: tokens.reshape(
                  tokens.shape[0], -1, grid_h * patch_size, grid_w * patch_size)])
def grade_unpatchify(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: unpatchify(tokens, patch_size, grid_h, grid_w) -> [B, C, H, W]")
    generator = torch.Generator().manual_seed(0)
    for batch, channels, patch, grid_h, grid_w in ((2, 3, 4, 3, 5), (1, 2, 6, 2, 2), (3, 1, 5, 4, 1), (1, 3, 3, 2, 7)):
        images = torch.randn(batch, channels, grid_h * patch, grid_w * patch, generator=generator)
        got = fn(patchify_reference(images, patch), patch, grid_h, grid_w)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(images.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise Wrong(f"패치 {patch}, 격자 {grid_h}×{grid_w}: 모양 {tuple(images.shape)}이어야 하는데 {shape}입니다.")
        if not torch.equal(got, images):
            raise Wrong(f"패치 {patch}, 격자 {grid_h}×{grid_w}(세로×가로): 모양은 맞지만 값의 자리가 다릅니다. 토큰 순서는 "
                        f"(gh gw) — 가로 줄을 먼저 채우는 행 우선 — 이고, 토큰 안의 값은 (c ph pw) 순서입니다.")


# ---------------------------------------------------------------- 00.5 예측해 보기: 좌우로 뒤집은 그림의 SigLIP 점수

FLIP_OPTIONS = choices(
    "거의 그대로다(뒤집은 그림의 점수가 원래 점수의 0.9배 이상): SigLIP 모델은 위치를 거의 보지 않는다",
    "조금 떨어진다(0.5배 이상 0.9배 미만)",
    "크게 떨어진다(0.5배 미만): 캡션의 '왼쪽/오른쪽'이 틀려지자 짝이 아니라고 본다",
)


def flip_score_ratio(n_scenes: int = 200, seed: int = 11) -> float:
    """val 장면에서: 좌우로 뒤집은 그림과 원래 캡션의 평균 SigLIP 점수 ÷ 원래 그림과 원래 캡션의 평균 점수.

    좌우가 대칭인 장면(뒤집어도 같은 캡션이 맞는 장면)은 뺀다: 뒤집으면 캡션이 틀려지는 장면만 잰다.
    """
    swap = {"왼쪽": "오른쪽", "오른쪽": "왼쪽"}
    parts = pretrained.load_parts()
    scenes = []
    for scene in world.make_scenes("val", 4 * n_scenes, seed=seed):
        mirrored = {(" ".join(swap.get(w, w) for w in o.position.split()), o.size, o.color, o.shape)
                    for o in scene.objects}
        if mirrored != {(o.position, o.size, o.color, o.shape) for o in scene.objects}:
            scenes.append(scene)
        if len(scenes) == n_scenes:
            break
    pixels = world.render_batch(scenes)
    captions = [world.write_caption(s, random.Random(i)) for i, s in enumerate(scenes)]
    original = evaluate.siglip_scores(parts.siglip, parts.tokenizer, pixels, captions).mean()
    flipped = evaluate.siglip_scores(parts.siglip, parts.tokenizer, pixels.flip(-1), captions).mean()
    return (flipped / original).item()


def flip_option(ratio: float) -> str:
    return "a" if ratio >= 0.9 else ("b" if ratio >= 0.5 else "c")


@exercise("00.5", title="예측해 보기: 그림을 좌우로 뒤집으면 정답 캡션의 SigLIP 점수는?", level="🐢",
          wrong_answers=["b", "c", "d"])
def grade_flip_prediction(answer):
    grade_choice(answer, FLIP_OPTIONS, truth=lambda: flip_option(flip_score_ratio()),   # 채점할 때 실제로 잰다
                 hint="잰 결과와 다릅니다. 아래 셀을 실행해 잰 비율을 보고, 왜 그런지 생각해 보세요.")
