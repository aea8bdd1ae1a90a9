"""표를 보여 주기: 터미널에서는 글자 폭을 맞춘 글, 노트북에서는 Markdown 표.

한글은 두 칸을 차지하므로 `len()`이나 f-string의 `:<10`으로는 열이 맞지 않는다(파이썬은 코드 포인트 수로 채운다).
터미널 출력(doctor, 메모리 표)은 `display_width`/`pad`로 칸을 세고, 노트북의 표는 `markdown_table`로 Markdown을
만들어 `show_table`로 그린다(브라우저가 열을 맞춘다).
"""
from __future__ import annotations

import unicodedata
from typing import Sequence


def display_width(text: str) -> int:
    """터미널에서 차지하는 칸 수(한글 같은 전각 문자는 두 칸)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """칸 수 `width`까지 오른쪽을 공백으로 채운다."""
    return text + " " * max(0, width - display_width(text))


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence], align: str | None = None) -> str:
    """Markdown 표 글. `align`은 열마다 한 글자('l', 'r', 'c'; 기본: 모두 왼쪽). 칸의 값은 `str()`로 쓴다
    (숫자의 자릿수는 부르는 쪽이 f-string으로 정한다)."""
    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"모든 줄의 칸 수가 머리글({len(headers)}칸)과 같아야 합니다")
    align = align or "l" * len(headers)
    if len(align) != len(headers) or set(align) - set("lrc"):
        raise ValueError(f"align은 열마다 'l', 'r', 'c' 가운데 한 글자여야 합니다: {align!r}")
    rule = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(map(_cell, headers)) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def show_table(headers: Sequence[str], rows: Sequence[Sequence], align: str | None = None, title: str | None = None):
    """노트북에 Markdown 표를 그린다(`title`이 있으면 그 위에 굵게). IPython이 없으면(터미널) 글 그대로 출력한다.
    값을 assert하려면 표를 만든 `rows`를 쓴다(돌려주는 값이 없어 셀 끝에 써도 Out[]이 두 번 찍히지 않는다)."""
    text = (f"**{title}**\n\n" if title else "") + markdown_table(headers, rows, align)
    try:
        from IPython.display import Markdown, display  # 노트북에서만 필요하다
    except ImportError:  # pragma: no cover - IPython은 [dev]와 Colab에 있다
        print(text)
    else:
        display(Markdown(text))
