"""CPU 스레드 정책: 다른 프로그램이 코어 하나를 쓰고 있어도 학습 걸음이 크게 느려지지 않게.

PyTorch의 리눅스 pip 휠은 OpenMP로 GNU libgomp를 쓴다. libgomp는 일을 기다리는 스레드를 잠재우기 전에
한동안 바쁘게 돈다(spin-wait; 기본 `GOMP_SPINCOUNT` 300000, 약 3 ms). 코어 2개 중 하나를 다른 프로세스
(Colab이면 Jupyter 서버, 이 VM이면 다른 작업)가 쓰고 있으면, 그 코어를 나눠 쓰는 작업 스레드가 도는 동안
남의 프로세스와 시간 조각을 다퉈 병렬 구간마다 늦게 끝나고, 걸음이 몇 배에서 수십 배 느려진다.

정책(`POLICY_ENV`): 스레드 수는 그대로(코어 수) 두고 회전 대기만 짧게(`GOMP_SPINCOUNT=1000`) 한다.
값은 `bench/bench_threads.py`의 A/B 측정(2코어 VM, mini 걸음; 기록은 `bench/results/threads_*.json`)으로 골랐고,
잰 배수(바쁠 때·한가할 때, 비교한 다른 후보)는 README의 "스레드 정책" 문단에 있다(그 기록에서
`course_lib.tooling.bench_report.threads_sentence`가 만든다).
여기에는 수를 옮겨 적지 않는다(측정을 다시 하면 README만 바뀐다). 손실 값은 모든 후보에서 기본값과 비트 단위로 같았다.
스레드 수를 지금의 부하에 따라 바꾸지 않는다: 그러면 계산 순서, 곧 결과가 부하에 따라 달라질 수 있다.

이 변수들은 libgomp가 읽힐 때, 곧 `import torch` 때 한 번만 읽힌다. 그래서 `apply_thread_policy()`는
torch를 import하기 **전에** 불러야 하고, 이 모듈은 맨 위에서 torch를 import하지 않는다.

사용자가 바꾸려면:
- 값 하나를 바꾸기: 파이썬을 띄우기 전에 환경 변수를 주면 그 값이 이긴다(`os.environ.setdefault`).
  예) `GOMP_SPINCOUNT=300000 python -m course_lib train ...` (PyTorch 기본값으로).
- 정책을 통째로 끄기: `COURSE_THREAD_POLICY=off`.
"""
from __future__ import annotations

import os
import sys
import warnings

# 고른 정책. bench/bench_threads.py의 측정 결과와 함께 바꾼다.
POLICY_ENV: dict[str, str] = {"GOMP_SPINCOUNT": "1000"}
# 이 값이면 정책을 적용하지 않는다(측정의 "기본" 후보와 사용자의 탈출구).
OPT_OUT_VAR = "COURSE_THREAD_POLICY"
_OFF = {"off", "0", "false", "no", "none"}


def _libgomp_loaded() -> bool:
    """이 프로세스에 libgomp가 이미 읽혔는가(읽혔으면 환경 변수는 늦었다). 리눅스 밖에서는 torch import 여부로 본다."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            return any("libgomp" in line for line in f)
    except OSError:
        return "torch" in sys.modules


def policy_disabled() -> bool:
    return os.environ.get(OPT_OUT_VAR, "").strip().lower() in _OFF


def apply_thread_policy() -> dict[str, str]:
    """정책의 환경 변수를 `setdefault`로 넣는다(이미 있는 값은 사용자의 선택이라 건드리지 않는다).

    돌려주는 값: 이번에 새로 넣은 변수. `COURSE_THREAD_POLICY=off`이면 아무것도 하지 않고 `{}`.
    torch(libgomp)가 이미 읽힌 뒤라면 넣은 값은 이 프로세스에는 효과가 없으므로 경고한다
    (자식 프로세스는 환경을 물려받으므로 그쪽에는 효과가 있다). 여러 번 불러도 된다.
    """
    if policy_disabled():
        return {}
    applied = {}
    for key, value in POLICY_ENV.items():
        if key not in os.environ:
            os.environ[key] = value
            applied[key] = value
    if applied and _libgomp_loaded():
        names = ", ".join(f"{k}={v}" for k, v in applied.items())
        warnings.warn(
            f"스레드 정책({names})을 넣었지만 torch(libgomp)가 이미 읽혀 이 프로세스에는 효과가 없습니다. "
            "torch를 import하기 전에 course_lib.threads.apply_thread_policy()를 부르거나, "
            "노트북이면 커널을 다시 시작하세요 (thread policy set after torch was imported; "
            "it only affects child processes).",
            RuntimeWarning, stacklevel=2)
    return applied


def describe_policy() -> str:
    """README·doctor에 쓸 한 줄 설명(지금 환경에서 실제로 쓰일 값 포함)."""
    if policy_disabled():
        return f"스레드 정책 꺼짐({OPT_OUT_VAR}=off): PyTorch 기본값(코어 수만큼 스레드, GOMP_SPINCOUNT 300000)"
    parts = []
    for key, value in POLICY_ENV.items():
        current = os.environ.get(key)
        parts.append(f"{key}={value}" if current in (None, value) else f"{key}={current}(사용자 값; 정책 {value})")
    return ("스레드 정책: " + ", ".join(parts)
            + " — 스레드 수는 코어 수 그대로, 기다리는 스레드가 짧게만 돌고 잠든다"
            + f" (끄기: {OPT_OUT_VAR}=off, 값 바꾸기: 파이썬을 띄우기 전에 환경 변수로)")
