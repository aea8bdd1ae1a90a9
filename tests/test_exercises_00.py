"""노트북 00 연습문제: 풀이는 받아들이고, 등록된 틀린 답(그리고 몇 가지 더)은 거절한다."""
from __future__ import annotations

from math import comb

import torch
from einops import rearrange

from course_lib import world
from course_lib.tooling.exercises import REGISTRY, ex00, load_all, verdict

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()


def direction_particle(word):
    batchim = (ord(word[-1]) - 0xAC00) % 28
    return word + ("로" if batchim in (0, 8) else "으로")


def count_scenes(n_cells, n_kinds, max_objects):
    return sum(comb(n_cells, k) * n_kinds ** k for k in range(1, min(max_objects, n_cells) + 1))


def color_counts(caption):
    parsed = world.parse_caption(caption)
    counts = {}
    for obj in parsed.objects if parsed.ok else ():
        counts[obj.color] = counts.get(obj.color, 0) + 1
    return counts


def unpatchify(tokens, patch_size, grid_h, grid_w):
    return rearrange(tokens, "b (gh gw) (c ph pw) -> b c (gh ph) (gw pw)", gh=grid_h, gw=grid_w,
                     ph=patch_size, pw=patch_size)


MEASURED_FLIP = ex00.flip_option(ex00.flip_score_ratio())
SOLUTIONS = {"00.1": direction_particle, "00.2": count_scenes, "00.3": color_counts, "00.4": unpatchify,
             "00.5": MEASURED_FLIP}


def test_every_exercise_of_00_has_a_solution_here():
    assert sorted(k for k in REGISTRY if k.startswith("00.")) == sorted(SOLUTIONS)


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


def test_more_plausible_mistakes_are_rejected():
    # ㄹ 받침만 '로'로 고치고 받침 없는 말을 '으로'로 쓴 답
    assert not verdict("00.1", lambda w: w + ("로" if (ord(w[-1]) - 0xAC00) % 28 == 8 else "으로"))[0]
    # 미니 월드의 값만 외운 답(처음 보는 입력에서 틀린다)
    mini = count_scenes(len(world.POSITIONS), len(world.SIZES) * len(world.COLORS) * len(world.SHAPES), 3)
    assert not verdict("00.2", lambda n, k, m: mini)[0]
    # 정사각형 격자만 생각한 답
    assert not verdict("00.4", lambda t, p, gh, gw: unpatchify(t, p, gh, gh))[0]
    assert not verdict("00.4", lambda t, p, gh, gw: torch.zeros(1))[0]


def test_every_other_option_of_the_prediction_is_rejected():
    for option in ex00.FLIP_OPTIONS:
        assert verdict("00.5", option)[0] == (option == MEASURED_FLIP)
    assert verdict("00.5", f" {MEASURED_FLIP.upper()} ")[0]  # 공백·대문자는 너그럽게


def test_prediction_options_cover_every_ratio():
    assert [ex00.flip_option(r) for r in (1.2, 0.9, 0.89, 0.5, 0.49, 0.0)] == ["a", "a", "b", "b", "c", "c"]
