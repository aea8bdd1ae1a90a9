#!/usr/bin/env python3
"""constraints.txt(기록된 환경)를 만들고 지금 환경과 비교한다.

constraints.txt는 커밋된 노트북 출력을 만든 환경의 정확한 버전이다. README 명령 1과 .ci/run이
`pip install -c constraints.txt -e ".[dev]"`로 설치하고, pyproject.toml은 범위만 둔다(Colab과 다른 사용자).

    python .ci/constraints.py write   # 켜 둔 가상환경에서 constraints.txt를 다시 쓴다(갱신 절차: CONTRIBUTING.md)
    python .ci/constraints.py diff    # 켜 둔 가상환경이 constraints.txt와 어디가 다른가(종료 코드는 늘 0)
    python .ci/constraints.py check   # 기록된 패키지가 하나라도 다른 버전이면 종료 코드 1

적는 패키지는 `course_lib[dev]`가 (지금 Python에서) 실제로 끌어오는 것 전부이고, 이 저장소 자신은 뺀다.
어떤 버전이 지원하는 Python(requires-python) 일부를 받지 않으면 그 줄에 환경 표시(marker)를 붙인다.
예: numpy 2.4가 3.11 이상만 받으면 `numpy==2.4.6 ; python_full_version >= "3.11"`. 그 Python에서는
그 줄이 빠지고 pip가 범위 안 최신을 고른다(README의 Python 3.10 안내).
표준 라이브러리와 packaging만 쓴다(packaging은 course_lib의 의존성).
"""
from __future__ import annotations

import argparse
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FILE = REPO / "constraints.txt"
PROJECT = "course_lib"
EXTRAS = ("dev",)
# 환경 표시를 정할 때 보는 Python들: 이 저장소가 받는 가장 낮은 3.10부터 3.14까지, 각각 첫 패치(0)와 충분히 큰 패치(99)
PYTHONS = tuple(f"3.{minor}.{patch}" for minor in range(10, 15) for patch in (0, 99))
LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)\s*(?:;\s*(?P<marker>.+))?$")


def requirements_of(dist: metadata.Distribution, extras: set[str]) -> list[Requirement]:
    """dist가 지금 환경(과 고른 extras)에서 실제로 요구하는 것."""
    found = []
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None:
            found.append(req)
            continue
        if any(req.marker.evaluate({"extra": extra}) for extra in (extras or {""})):
            found.append(req)
    return found


def closure(project: str = PROJECT, extras: tuple[str, ...] = EXTRAS) -> dict[str, metadata.Distribution]:
    """project[extras]가 끌어오는 설치된 배포판 전부(이름은 정규화, project 자신은 뺀다)."""
    installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    root = canonicalize_name(project)
    if root not in installed:
        raise SystemExit(f"{project}가 이 가상환경에 설치되어 있지 않습니다: pip install -e \".[dev]\"")
    todo = [(root, set(extras))]
    seen: dict[str, set[str]] = {}
    while todo:
        name, wanted = todo.pop()
        if name in seen and wanted <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | wanted
        dist = installed.get(name)
        if dist is None:
            raise SystemExit(f"{name}가 필요한데 설치되어 있지 않습니다(지금 가상환경이 깨졌습니다).")
        for req in requirements_of(dist, seen[name]):
            todo.append((canonicalize_name(req.name), set(req.extras)))
    return {name: installed[name] for name in sorted(seen) if name != root}


def excludes_a_supported_release(spec) -> bool:
    """'!=3.14.1'처럼 지원하는 Python 하나만 빼는 조건(PYTHONS의 표본에는 안 걸리므로 따로 본다)."""
    return spec.operator == "!=" and Version(spec.version.removesuffix(".*")) >= Version(PYTHONS[0])


def python_marker(requires_python: str | None) -> str | None:
    """배포판의 requires-python 가운데 우리가 받는 Python(PYTHONS)을 가르는 조건만 환경 표시로 옮긴다."""
    if not requires_python:
        return None
    kept = [spec for spec in SpecifierSet(requires_python)
            if not all(spec.contains(v) for v in PYTHONS) or excludes_a_supported_release(spec)]
    if not kept:
        return None
    return " and ".join(f'python_full_version {spec.operator} "{spec.version}"' for spec in sorted(kept, key=str))


def lock_lines(dists: dict[str, metadata.Distribution]) -> list[str]:
    lines = []
    for name, dist in dists.items():
        line = f"{dist.metadata['Name']}=={dist.version}"
        marker = python_marker(dist.metadata.get("Requires-Python"))
        lines.append(f"{line} ; {marker}" if marker else line)
    return lines


def header() -> list[str]:
    return [
        "# 기록된 환경: 커밋된 노트북 출력을 만든 정확한 버전(course_lib[dev]가 끌어오는 것 전부, 이 저장소 자신은 뺌).",
        "# README 명령 1과 .ci/run:  pip install -c constraints.txt -e \".[dev]\"   (범위는 pyproject.toml에 따로 있다)",
        "# 손으로 고치지 말고 다시 만든다:  python .ci/constraints.py write   (갱신 절차와 드리프트 점검: CONTRIBUTING.md)",
        f"# 만든 곳: Python {platform.python_version()}, {platform.system()} {platform.machine()}."
        " 'python_full_version' 표시가 붙은 줄은 그 Python에서만 고정된다.",
    ]


def read_constraints(path: Path = DEFAULT_FILE) -> dict[str, tuple[str, str, str | None]]:
    """{정규화 이름: (원래 이름, 버전, 환경 표시)}. 주석과 빈 줄은 건너뛴다."""
    pins = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        match = LINE.match(text)
        if not match:
            raise ValueError(f"{path.name}:{number}: 'name==version [; marker]' 꼴이 아닙니다: {raw!r}")
        if match["marker"]:
            Marker(match["marker"])  # 문법 검사
        pins[canonicalize_name(match["name"])] = (match["name"], match["version"], match["marker"])
    return pins


def applies(marker: str | None) -> bool:
    return marker is None or Marker(marker).evaluate()


def compare(pins: dict[str, tuple[str, str, str | None]], dists: dict[str, metadata.Distribution]):
    """(버전이 다른 것, 기록에 없는 것, 기록에는 있는데 이 Python에서 안 깔린 것)."""
    changed, unpinned, absent = [], [], []
    for name, dist in dists.items():
        if name not in pins or not applies(pins[name][2]):
            unpinned.append((dist.metadata["Name"], dist.version))
        elif dist.version != pins[name][1]:
            changed.append((dist.metadata["Name"], pins[name][1], dist.version))
    for name, (label, version, marker) in pins.items():
        if name not in dists and applies(marker):
            absent.append((label, version))
    return changed, unpinned, absent


def report(path: Path) -> tuple[str, int]:
    """사람이 읽을 비교 결과와, 기록과 다른 버전의 수."""
    changed, unpinned, absent = compare(read_constraints(path), closure())
    lines = [f"Python {platform.python_version()} 환경과 {path.name} 비교"]
    if changed:
        width = max(len(n) for n, *_ in changed)
        lines.append(f"버전이 다름 {len(changed)}개 (기록 → 지금):")
        lines += [f"  {n:<{width}}  {old} → {new}" for n, old, new in changed]
    if unpinned:
        lines.append(f"기록에 없음(이 Python에서 범위 안 최신) {len(unpinned)}개: " + ", ".join(f"{n} {v}" for n, v in unpinned))
    if absent:
        lines.append(f"기록에 있으나 이 Python에서는 쓰지 않음 {len(absent)}개: " + ", ".join(f"{n} {v}" for n, v in absent))
    if not (changed or unpinned or absent):
        lines.append("모든 패키지가 기록과 같습니다.")
    return "\n".join(lines), len(changed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("write", "diff", "check"))
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="기본: 저장소 루트의 constraints.txt")
    args = parser.parse_args(argv)
    if args.command == "write":
        lines = lock_lines(closure())
        args.file.write_text("\n".join(header() + lines) + "\n", encoding="utf-8")
        print(f"{args.file}: {len(lines)}개 패키지를 적었습니다(Python {platform.python_version()}).")
        return 0
    text, n_changed = report(args.file)
    print(text)
    return 1 if args.command == "check" and n_changed else 0


if __name__ == "__main__":
    sys.exit(main())
