"""Colab 준비(bootstrap): 모든 노트북의 두 번째 셀이 쓴다.

Colab에서만 저장소를 내려받아(`git clone`) `pip install -e`로 설치한다. 그래야 `data/`의
사전학습 가중치까지 함께 있다. 로컬에서는 아무것도 설치하지 않고 버전만 출력한다.

노트북 셀 2의 맨 앞은 `bootstrap_snippet()`이 만든 몇 줄이다(`python -m course_lib badges`가
모든 노트북에 같은 내용으로 넣는다). course_lib가 설치되기 전에도 돌아가야 하므로 표준
라이브러리만 쓰고, 저장소를 받은 뒤에는 이 모듈의 `bootstrap()`에 나머지를 맡긴다.

`bootstrap()`이 찍는 버전 줄과 장치 줄은 기계마다 다르다. nbval은 두 줄을 tests/nbval_sanitize.cfg의
`bootstrap-versions`·`bootstrap-device` 규칙으로 씻고 비교하므로, 줄 모양을 바꾸면 그 규칙도 함께 고친다
(tests/test_env_independence.py가 확인).

수업용 고정: Colab에서 셀 2를 실행하기 전에 `%env COURSE_CONSTRAINTS=1`을 두면, 저장소의 constraints.txt
(커밋된 출력을 만든 버전)로 설치한다. Colab이 GPU 드라이버에 맞춰 깔아 둔 torch 묶음(COLAB_KEEPS)만 빼고 고정한다.
"""
from __future__ import annotations

import importlib
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

from course_lib import quiet

CLONE_DIR_NAME = "course"  # Colab의 /content/course
CONSTRAINTS_FILE = "constraints.txt"  # 저장소 루트의 기록된 환경(README 명령 1이 쓰는 것과 같은 파일)
CONSTRAINTS_ENV = "COURSE_CONSTRAINTS"  # "1"이면 Colab에서도 기록된 버전으로 설치
# Colab이 GPU 드라이버에 맞춰 미리 깔아 둔 것: 기록된 버전으로 바꾸면 수 GB를 다시 받고 드라이버와 어긋날 수 있다
COLAB_KEEPS = ("torch", "torchvision", "torchaudio", "triton")
COLAB_KEEPS_PREFIXES = ("nvidia-", "cuda-")
SNIPPET_BEGIN = "# --- Colab 준비: `python -m course_lib badges`가 관리하는 부분 ---"
SNIPPET_END = "# --- Colab 준비 끝 ---"

# 버전을 출력할 패키지: (표시 이름, import 이름)
VERSION_PACKAGES = (
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("peft", "peft"),
    ("bitsandbytes", "bitsandbytes"),
    ("open_clip", "open_clip"),
)

Runner = Callable[..., object]


def in_colab() -> bool:
    """Colab 커널 안인가? Colab은 `google.colab` 모듈을 미리 불러 둔다."""
    return "google.colab" in sys.modules


def bootstrap_snippet(slug: str, branch: str = "main") -> str:
    """노트북 셀 2 맨 앞에 들어가는 코드. course_lib 없이도 돌아간다."""
    return "\n".join(
        [
            SNIPPET_BEGIN,
            "import sys, os, subprocess",
            'if "google.colab" in sys.modules and not os.path.isdir("' + CLONE_DIR_NAME + '"):',
            "    subprocess.run([\"git\", \"clone\", \"-q\", \"--depth\", \"1\", \"-b\", "
            f'"{branch}", "https://github.com/{slug}.git", "{CLONE_DIR_NAME}"], check=True)',
            'if "google.colab" in sys.modules:',
            f'    sys.path.insert(0, os.path.abspath("{CLONE_DIR_NAME}"))',
            "from course_lib.tooling.colab import bootstrap",
            "bootstrap()  # Colab: pip install -e 후 버전 출력 / 로컬: 버전만 출력",
            SNIPPET_END,
        ]
    )


def colab_constraints(repo_dir: Path) -> Path:
    """저장소의 constraints.txt에서 Colab이 가진 torch 묶음(COLAB_KEEPS) 줄을 뺀 사본을 쓰고 그 경로를 돌려준다."""
    kept = []
    for line in (repo_dir / CONSTRAINTS_FILE).read_text(encoding="utf-8").splitlines():
        name = re.split(r"[\s=<>!~;]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        if name in COLAB_KEEPS or name.startswith(COLAB_KEEPS_PREFIXES):
            continue
        kept.append(line)
    target = repo_dir / "runs" / "constraints-colab.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return target


def install_in_colab(repo_dir: Path, run: Runner | None = None, pinned: bool = False) -> None:
    """Colab에서 받은 저장소를 설치한다(의존성 포함). 이미 설치되어 있으면 pip가 금방 끝낸다.
    pinned면 기록된 버전(constraints.txt, torch 묶음 빼고)으로 설치한다."""
    run = run or subprocess.run
    pins = ["-c", str(colab_constraints(repo_dir))] if pinned else []
    run([sys.executable, "-m", "pip", "install", "-q", *pins, "-e", str(repo_dir)], check=True)
    # 편집 가능 설치(editable)는 새 프로세스부터 보이므로, 지금 커널에서는 경로를 직접 넣는다.
    if str(repo_dir) not in sys.path:
        sys.path.insert(0, str(repo_dir))
    importlib.invalidate_caches()


def versions() -> dict[str, str]:
    """Python과 주요 패키지의 버전. 설치되지 않은 패키지는 "없음"."""
    found = {"Python": platform.python_version()}
    for label, module in VERSION_PACKAGES:
        try:
            found[label] = getattr(importlib.import_module(module), "__version__", "?")
        except Exception as err:  # 설치 안 됨, 또는 import 중 오류
            found[label] = f"없음({type(err).__name__})"
    return found


def device_summary() -> str:
    import torch  # 이 모듈은 의존성을 설치하기 전에도 import된다(Colab 준비): torch는 쓸 때만

    if torch.cuda.is_available():
        return f"CUDA GPU: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "Apple MPS"
    return f"CPU {os.cpu_count()}코어(GPU 없음)"


def bootstrap(
    *, colab: bool | None = None, repo_dir: str | os.PathLike | None = None, run: Runner | None = None
) -> dict[str, str]:
    """Colab이면 저장소를 설치하고(환경 변수 COURSE_CONSTRAINTS=1이면 기록된 버전으로), 어디서든 버전을 출력한 뒤
    그 dict를 돌려준다."""
    colab = in_colab() if colab is None else colab
    if colab:
        repo = Path(repo_dir) if repo_dir is not None else Path(CLONE_DIR_NAME).resolve()
        if not (repo / "pyproject.toml").is_file():
            raise RuntimeError(
                f"Colab에서 저장소 {repo} 를 찾지 못했습니다. 노트북의 두 번째 셀을 처음부터 다시 실행하세요."
            )
        install_in_colab(repo, run=run, pinned=os.environ.get(CONSTRAINTS_ENV) == "1")
    quiet.install()
    found = versions()
    print(" | ".join(f"{name} {version}" for name, version in found.items()))
    print("장치:", device_summary())
    return found
