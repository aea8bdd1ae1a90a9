"""터미널 표의 글자 폭: 한글은 두 칸을 차지하므로 `len()`으로는 열이 맞지 않는다."""
from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """터미널에서 차지하는 칸 수(한글 같은 전각 문자는 두 칸)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """칸 수 `width`까지 오른쪽을 공백으로 채운다."""
    return text + " " * max(0, width - display_width(text))
