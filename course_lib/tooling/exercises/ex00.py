"""노트북 00(준비와 작은 세계)의 연습문제 채점."""
from __future__ import annotations

from course_lib.tooling.exercises import Wrong, exercise


def _always_i(word):
    return word + "이"


def _by_length(word):
    return word + ("이" if len(word) % 2 else "가")


@exercise("00.1", title="받침에 맞는 주격 조사 붙이기", level="🐢", wrong_answers=[_always_i, _by_length])
def grade_subject_particle(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: subject_particle(word) -> '원이' 같은 문자열")
    cases = {"별": "별이", "하트": "하트가", "오각형": "오각형이", "사과": "사과가", "책": "책이", "나무": "나무가",
             "곰": "곰이", "고양이": "고양이가"}
    for word, want in cases.items():
        got = fn(word)
        if got != want:
            raise Wrong(f"{word!r} → {got!r}, 기대한 값 {want!r}. 마지막 글자의 받침을 보세요: (코드 - 0xAC00) % 28이 0이면 받침이 없습니다.")


@exercise("00.2", title="칸 하나에 놓일 수 있는 서로 다른 도형의 가짓수", level="🐢", wrong_answers=[16, 8, 128, 33])
def grade_object_kinds(answer):
    from course_lib import world

    want = len(world.SIZES) * len(world.COLORS) * len(world.SHAPES)
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise Wrong(f"정수 하나로 답하세요. 받은 값: {answer!r}")
    if answer == want * len(world.POSITIONS):
        raise Wrong("위치까지 곱했습니다. 칸 하나 안에서는 위치가 정해져 있습니다.")
    if answer == want + 1:
        raise Wrong("빈 칸은 도형이 아닙니다.")
    if answer != want:
        raise Wrong("크기, 색, 모양의 가짓수를 모두 곱하세요(world.SIZES, world.COLORS, world.SHAPES).")


def _count_substring(caption):
    from course_lib import world

    return {color: caption.count(color) for color in world.COLORS if color in caption}


def _always_empty(caption):
    return {}


@exercise("00.3", title="캡션을 파싱해 색별 도형 수 세기", level="🐕", wrong_answers=[_always_empty, _count_substring])
def grade_color_counts(fn):
    import random

    from course_lib import world

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
