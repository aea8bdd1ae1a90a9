"""강의 코드가 던지는 오류의 종류.

명령줄(`python -m course_lib …`)은 `CourseError`를 한 곳에서 받아 한 줄로 알리고 종료 코드 2로 끝낸다
(트레이스백 없음). 메시지는 `키: 한국어 설명 (키: English)` 꼴이라, 학습자는 한국어로 읽고 검색은 영어로 할 수 있다.
"""
from __future__ import annotations


class CourseError(Exception):
    """학습자가 고칠 수 있는 입력·환경 문제. 메시지 한 줄에 무엇이 틀렸고 어떻게 고치는지 담는다."""


class ConfigError(CourseError, ValueError):
    """잘못된 설정 값이나 명령줄 인자."""


class AssetError(CourseError, RuntimeError):
    """`data/`의 자산(가중치, 토크나이저, 매니페스트)이 없거나 손상됨."""


class DataFormatError(CourseError, ValueError):
    """`--data`로 준 실제 캡션 데이터(LLaVA/COCO JSON)의 형식이 틀림."""


class CheckpointError(CourseError, RuntimeError):
    """체크포인트가 없거나, 잘렸거나, 다른 설정에서 만들어짐."""


def config_error(key: str, korean: str, english: str) -> ConfigError:
    """`key: 한국어 (key: english)` 꼴의 설정 오류."""
    return ConfigError(f"{key}: {korean} ({key}: {english})")
