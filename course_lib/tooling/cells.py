"""노트북 첫 두 셀의 관리되는 부분: 셀 1의 Colab 배지, 셀 2의 Colab 준비 코드.

`badges`(원본 노트북)와 `student`(학생용 사본)가 같은 규칙으로 고쳐 쓴다.
"""
from __future__ import annotations

import re
from pathlib import Path

from course_lib import REPO_ROOT
from course_lib.tooling.colab import SNIPPET_BEGIN, SNIPPET_END
from course_lib.tooling.project import CourseSettings

BADGE_ALT = "Colab에서 열기"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_RE = re.compile(r"^\[!\[(?P<alt>[^\]]*)\]\((?P<img>[^)]*)\)\]\((?P<link>[^)]*)\)\s*$")


def colab_url(notebook: Path, settings: CourseSettings, root: Path = REPO_ROOT) -> str:
    rel = notebook.resolve().relative_to(root.resolve()).as_posix()
    return f"https://colab.research.google.com/github/{settings.slug}/blob/{settings.branch}/{rel}"


def badge_markdown(notebook: Path, settings: CourseSettings, root: Path = REPO_ROOT) -> str:
    return f"[![{BADGE_ALT}]({BADGE_IMAGE})]({colab_url(notebook, settings, root)})"


def with_badge(source: str, badge: str) -> str:
    """마크다운 셀의 첫 줄을 배지로 바꾼다(배지가 없으면 맨 앞에 넣는다)."""
    lines = source.split("\n")
    if lines and BADGE_RE.match(lines[0]):
        lines[0] = badge
        return "\n".join(lines)
    return badge + "\n\n" + source if source else badge


def with_snippet(source: str, snippet: str) -> str:
    """코드 셀의 표시 주석 사이를 준비 코드로 바꾼다(없으면 맨 앞에 넣는다)."""
    if SNIPPET_BEGIN in source and SNIPPET_END in source:
        head, rest = source.split(SNIPPET_BEGIN, 1)
        _, tail = rest.split(SNIPPET_END, 1)
        return head + snippet + tail
    return snippet + "\n" + source if source else snippet
