"""VLM 2단계 학습과 LoRA 강의를 받쳐 주는 패키지.

노트북은 가르치는 아이디어를 직접 코드로 보여 주고, 가르치지 않는 기반(데이터, 모델, 학습기)은
이 패키지에서 가져온다. 모듈 하나에 아이디어 하나. 모듈 지도는 CONTRIBUTING.md의 "지도".

이 패키지를 import하면 CPU 스레드 정책(`course_lib.threads`)이 환경 변수로 들어간다. torch보다 먼저 import되어야
효과가 있으므로(노트북 셀 2, `python -m course_lib`, 테스트의 conftest가 그렇게 한다) 여기서 한다.
"""
from __future__ import annotations

import os
from pathlib import Path

from course_lib.threads import apply_thread_policy

apply_thread_policy()

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """강의가 쓰는 사전학습 가중치와 토크나이저가 있는 폴더(`data/`).

    환경 변수 `COURSE_DATA_DIR`로 바꿀 수 있다(테스트가 임시 폴더를 쓸 때).
    """
    return Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data"))
