"""강의 코드가 던지는 오류의 종류.

명령줄(`python -m course_lib …`)은 `CourseError`를 한 곳(`course_lib.__main__.main`)에서 받아 한 줄로 알리고
종료 코드 2로 끝낸다(트레이스백 없음). 메시지는 `키: 한국어 설명 (키: English)` 꼴이라, 학습자는 한국어로 읽고
검색은 영어로 할 수 있다. 날것의 오류(JSON 오류, 파일 없음, 잘린 파일 …)는 생긴 곳에서 이 종류로 바꾼다.
"""
from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import fields
from pathlib import Path


class CourseError(Exception):
    """학습자가 고칠 수 있는 입력·환경 문제. 메시지 한 줄에 무엇이 틀렸고 어떻게 고치는지 담는다."""


class ConfigError(CourseError, ValueError):
    """잘못된 설정 값이나 명령줄 인자. `config_error`로 만들면 `key`(틀린 칸의 이름)를 함께 지닌다."""

    key: str | None = None
    korean: str = ""
    english: str = ""

    def under(self, prefix: str) -> "ConfigError":
        """중첩된 설정의 칸 이름을 앞에 붙인 같은 오류: `epochs` → `stages.1.epochs`."""
        if self.key is None:
            return self
        return config_error(f"{prefix}.{self.key}", self.korean, self.english)


class AssetError(CourseError, RuntimeError):
    """`data/`의 자산(가중치, 토크나이저, 매니페스트)이 없거나 손상됨."""


class DataFormatError(CourseError, ValueError):
    """`--data`로 준 실제 캡션 데이터(LLaVA/COCO JSON)의 형식이 틀림."""


class CheckpointError(CourseError, RuntimeError):
    """체크포인트가 없거나, 잘렸거나, 다른 설정에서 만들어짐."""


def config_error(key: str, korean: str, english: str) -> ConfigError:
    """`key: 한국어 (key: english)` 꼴의 설정 오류."""
    err = ConfigError(f"{key}: {korean} ({key}: {english})")
    err.key, err.korean, err.english = key, korean, english
    return err


def did_you_mean(word: str, choices) -> str:
    """틀린 이름 뒤에 붙일 한 마디: 가장 비슷한 선택지가 있으면 ` 'x'을(를) 뜻했나요?`, 없으면 빈 글자열.
    비슷함은 `difflib.get_close_matches`의 기본 기준(0.6 이상)으로 잰다."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" '{close[0]}'을(를) 뜻했나요?" if close else ""


def config_leaves(node, prefix: str = "") -> dict:
    """설정 사전(`json.loads(config.to_json())`)을 칸 경로 → 값으로 편다: `{"lora": {"r": 4}}` → `{"lora.r": 4}`.
    사전의 목록(단계들)은 번호로 내려가고(`stages.1.epochs`), 다른 목록은 값 하나다. 경로는 `config_error`의 키와 같다."""
    if isinstance(node, dict):
        return {k: v for key, item in node.items() for k, v in config_leaves(item, f"{prefix}{key}.").items()}
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return {k: v for i, item in enumerate(node) for k, v in config_leaves(item, f"{prefix}{i}.").items()}
    return {prefix[:-1]: node}


def one_line(err: BaseException) -> str:
    """오류를 한 줄로(여러 줄 메시지는 ` / `로 잇는다). 명령줄이 이 한 줄만 출력한다."""
    text = str(err).strip() or type(err).__name__
    return " / ".join(part.strip() for part in text.splitlines() if part.strip())


def check_output_folder(path: Path, key: str = "out") -> None:
    """결과를 쓸 폴더로 쓸 수 있는지(파일이 아니고, 만들 수 있고, 쓰기 권한이 있는지) 미리 본다. 아무것도 쓰지 않는다.
    몇 분 학습한 뒤에야 폴더를 못 만들어 실패하지 않도록, 명령들이 시작할 때 부른다."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise config_error(key, f"{path}은(는) 폴더가 아니라 파일입니다. 결과를 쓸 폴더를 주세요", "not a folder")
    parent = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise config_error(key, f"{parent}에 폴더를 만들 수 없습니다(파일이거나 쓰기 권한이 없음)", "cannot write here")


def shown(value) -> str:
    """받은 값을 학습자가 친 모양(JSON)으로: "abc", true, 1.5, NaN."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def check_types(obj) -> None:
    """데이터클래스의 칸마다 선언된 종류(int, float, bool, str)인지 본다. bool은 정수로 치지 않는다."""
    for f in fields(obj):
        value, key = getattr(obj, f.name), f.name
        if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise config_error(key, f"정수여야 합니다. 받은 값 {shown(value)}", "must be an integer")
        if f.type == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise config_error(key, f"수여야 합니다. 받은 값 {shown(value)}", "must be a number")
            if not math.isfinite(value):
                raise config_error(key, f"유한한 수여야 합니다. 받은 값 {shown(value)}", "must be finite")
        if f.type == "bool" and not isinstance(value, bool):
            raise config_error(key, f"true 또는 false여야 합니다. 받은 값 {shown(value)}", "must be true or false")
        if f.type == "str" and not isinstance(value, str):
            raise config_error(key, f"글자열이어야 합니다. 받은 값 {shown(value)}", "must be a string")
