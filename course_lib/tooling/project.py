"""저장소의 설정 파일(pyproject.toml)과 노트북 목록. 강의 도구들이 함께 읽는다."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from course_lib import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


def load_pyproject(root: Path = REPO_ROOT) -> dict:
    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class CourseSettings:
    slug: str
    branch: str


def course_settings(root: Path = REPO_ROOT) -> CourseSettings:
    """pyproject.toml의 `[tool.course]`: Colab 배지가 가리키는 GitHub 저장소와 브랜치."""
    table = load_pyproject(root).get("tool", {}).get("course", {})
    if "github_slug" not in table:
        raise KeyError("pyproject.toml에 [tool.course] github_slug 가 없습니다.")
    return CourseSettings(table["github_slug"], table.get("branch", "main"))


def course_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """배지를 받아야 하는 노트북: notebooks/*.ipynb 와 notebooks/student/*.ipynb."""
    folder = root / "notebooks"
    return sorted(folder.glob("*.ipynb")) + sorted((folder / "student").glob("*.ipynb"))
