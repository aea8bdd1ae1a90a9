"""연습문제(exercise) 채점: 한 줄짜리 한국어 판정과, 틀리면 예외.

노트북의 풀이 셀은 `check("02.1", answer)`로 끝난다. 맞으면 "✅ 정답"을 출력하고, 틀리면 무엇이 틀렸는지와
힌트를 출력한 뒤 `ExerciseFailed`를 던진다. 그래서 nbval로 노트북을 돌리면 풀이가 깨졌을 때 CI가 알아챈다.

채점 함수는 노트북마다 한 모듈(`ex02.py`, `ex03.py` …)에 `@exercise(...)`로 등록하고, 이름은 `grade_*`로 짓는다.
여러 모듈이 함께 쓰는 것은 여기 한 곳에 있다: 정수 답 읽기(`as_int`), 보기 고르기(예측해 보기)의 보기(`choices`)와
채점(`grade_choice`). 보기 기호는 강의 전체에서 (a)–(d) 하나뿐이다.
등록할 때 "틀린 답" 예시를 함께 적는다. 테스트가 그 예시마다 채점이 실제로 거절하는지 확인한다
(어떤 답도 통과시키는 채점은 결함이다). 코드 문제의 채점은 학습자가 보지 못한 입력으로 함수를 돌린다.

학생용 사본(정답을 빈칸으로 바꾼 노트북)은 `student.py`가 만든다: `python -m course_lib exercises release`.
번호는 "노트북 두 자리.문제 번호"(예: "02.1")이고, 노트북 파일 이름이 그 두 자리로 시작한다.
"""
from __future__ import annotations

import importlib
import math
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable

LEVELS = ("🐢", "🐕", "🦁")  # 쉬움, 보통, 어려움


class Wrong(Exception):
    """채점 함수가 던지는 "틀림". 메시지는 무엇이 틀렸는지 + 힌트(한국어)."""


class ExerciseFailed(AssertionError):
    """`check`가 틀린 답에 던지는 예외(nbval이 셀 실패로 잡는다)."""


@dataclass
class Exercise:
    exercise_id: str
    title: str
    level: str
    grade: Callable[[Any], None]
    wrong_answers: list[Any] = field(default_factory=list)

    @property
    def notebook_prefix(self) -> str:
        """노트북 번호("02.1" → "02"). 노트북 파일 이름이 이 두 자리로 시작한다."""
        return notebook_prefix(self.exercise_id)


REGISTRY: dict[str, Exercise] = {}
ID_RE = re.compile(r"^(?P<notebook>\d\d)\.(?P<number>\d+)$")  # "02.1": 노트북 02의 1번 문제


def notebook_prefix(exercise_id: str) -> str:
    match = ID_RE.match(exercise_id)
    if match is None:
        raise ValueError(f"연습문제 번호는 '노트북 두 자리.문제 번호' 꼴이어야 합니다(예: '02.1'): {exercise_id!r}")
    return match["notebook"]


def _same_function(a: Callable, b: Callable) -> bool:
    """같은 모듈의 같은 함수인가(모듈을 다시 불러 재등록하는 경우, importlib.reload 등)."""
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        getattr(b, "__module__", None),
        getattr(b, "__qualname__", None),
    )


def exercise(exercise_id: str, *, title: str, level: str, wrong_answers: list[Any] | None = None):
    """채점 함수를 등록하는 데코레이터. 채점 함수는 답이 틀리면 `Wrong`을 던진다."""
    if level not in LEVELS:
        raise ValueError(f"level은 {LEVELS} 가운데 하나여야 합니다: {level!r}")
    notebook_prefix(exercise_id)  # 번호 꼴 검사

    def decorator(grade: Callable[[Any], None]):
        if exercise_id in REGISTRY and not _same_function(REGISTRY[exercise_id].grade, grade):
            raise ValueError(f"연습문제 번호가 겹칩니다: {exercise_id}")
        REGISTRY[exercise_id] = Exercise(exercise_id, title, level, grade, list(wrong_answers or []))
        return grade

    return decorator


def load_all() -> dict[str, Exercise]:
    """`ex*.py` 모듈을 모두 불러 등록을 마친다."""
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("ex"):
            importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY


def by_notebook() -> dict[str, list[Exercise]]:
    """노트북 번호("02") → 그 노트북의 연습문제들(번호 순)."""
    groups: dict[str, list[Exercise]] = {}
    for ex in sorted(load_all().values(), key=lambda e: (e.notebook_prefix, int(ID_RE.match(e.exercise_id)["number"]))):
        groups.setdefault(ex.notebook_prefix, []).append(ex)
    return groups


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def verdict(exercise_id: str, answer: Any) -> tuple[bool, str]:
    """(맞았는지, 한 줄 판정). 예외를 던지지 않는다."""
    load_all()
    if exercise_id not in REGISTRY:
        return False, f"❌ 알 수 없는 연습문제 번호: {exercise_id}"
    ex = REGISTRY[exercise_id]
    if answer is NotImplemented or answer is None or answer is Ellipsis:
        return False, f"❌ [{exercise_id}] 아직 답이 없습니다. 빈칸을 채우세요."
    try:
        ex.grade(answer)
    except Wrong as err:
        return False, _one_line(f"❌ [{exercise_id}] {err}")
    except NotImplementedError:
        return False, f"❌ [{exercise_id}] 아직 구현하지 않았습니다(NotImplementedError). 빈칸을 채우세요."
    except Exception as err:  # 학습자 코드가 터진 경우: 무엇이 터졌는지 보여 준다
        return False, _one_line(f"❌ [{exercise_id}] 답을 실행하다 오류가 났습니다: {type(err).__name__}: {err}")
    return True, f"✅ 정답 [{exercise_id}] {ex.level} {ex.title}"


def check(exercise_id: str, answer: Any) -> None:
    """판정을 한 줄 출력하고, 틀리면 `ExerciseFailed`를 던진다."""
    ok, line = verdict(exercise_id, answer)
    print(line)
    if not ok:
        raise ExerciseFailed(line)


def close(actual: float, expected: float, rel: float = 1e-6, abs_: float = 0.0) -> bool:
    return abs(actual - expected) <= max(abs_, rel * abs(expected))


# ---------------------------------------------------------------- 여러 노트북의 채점이 함께 쓰는 것

def as_int(answer: Any) -> int:
    """정수 답을 읽는다(정수 값의 float도 받는다). bool, 문자열, 소수, 무한대는 `Wrong`."""
    if (isinstance(answer, bool) or not isinstance(answer, (int, float)) or not math.isfinite(answer)
            or answer != int(answer)):
        raise Wrong(f"정수 하나로 답하세요. 받은 값: {answer!r}")
    return int(answer)


CHOICE_LETTERS = "abcd"  # 강의의 보기 기호: (a)–(d)


def choices(*texts: str) -> dict[str, str]:
    """보기 글들 → {"a": 첫째, "b": 둘째, …}. 기호를 손으로 적지 않아 노트북마다 기호가 갈리지 않는다."""
    if not 2 <= len(texts) <= len(CHOICE_LETTERS):
        raise ValueError(f"보기는 2–{len(CHOICE_LETTERS)}개여야 합니다: {len(texts)}개")
    return dict(zip(CHOICE_LETTERS, texts))


def choice_letter(answer: Any, options: dict[str, str]) -> str:
    """답을 보기 기호 하나로 읽는다: 공백·괄호·대소문자는 묻지 않는다(" (B) " → "b"). 보기에 없으면 `Wrong`."""
    letter = answer.strip().strip("()").strip().lower() if isinstance(answer, str) else None
    if letter not in options:
        listed = ", ".join(f"({key}) {text}" for key, text in options.items())
        raise Wrong(f"보기 기호 하나로 답하세요: {listed}. 받은 값: {answer!r}")
    return letter


def grade_choice(answer: Any, options: dict[str, str], truth: str | Callable[[], str],
                 hints: dict[str, str] | None = None, hint: str = "다시 생각해 보세요.") -> None:
    """보기 고르기(예측해 보기)의 채점 하나. `truth`는 정답 기호, 또는 그것을 재거나 계산해 정하는 함수(답이 보기
    기호일 때만 부른다), `hints`는 틀린 기호마다의 힌트(없으면 `hint`)."""
    letter = choice_letter(answer, options)
    truth = truth() if callable(truth) else truth
    if truth not in options:
        raise ValueError(f"정답 기호 {truth!r}가 보기 {sorted(options)}에 없습니다")  # 채점기 자체의 결함
    if letter != truth:
        raise Wrong(f"({letter})는 맞지 않습니다. {(hints or {}).get(letter, hint)}")
