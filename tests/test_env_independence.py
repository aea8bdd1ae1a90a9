"""엄격하게 비교되는 노트북 출력이 환경(Python·라이브러리 버전, 경로, CPU)에 기대지 않는가.

nbval은 `# NBVAL_IGNORE_OUTPUT`이 없는 코드 셀의 출력을 tests/nbval_sanitize.cfg로 양쪽 다 씻은 뒤 글자까지 비교한다.
그러니 씻은 뒤에도 버전 번호, 설치 경로, CPU 이름·코어 수가 남으면, 그 노트북은 다른 기계나 다른 버전에서 실패한다
(예: 라이브러리 버전을 찍는 줄은 Python 3.12 환경에서 다른 버전을 찍는다). 여기서는 커밋된 노트북을 훑어 그런 글자를 찾는다.
"""
from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import find_comment_markers, find_metadata_tags, get_sanitize_patterns

from course_lib.tooling.doctor import cpu_name
from course_lib import REPO_ROOT
from course_lib.tooling import colab

SANITIZE = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
CONSTRAINTS = REPO_ROOT / "constraints.txt"
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
# nbval이 비교하지 않는 출력 키(nbval.plugin.IPyNbFile.skip_compare와 같게)
NOT_COMPARED = {"metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}
# 버전이 출력에 나오면 안 되는 패키지(배포판 이름)
VERSIONED = ("torch", "torchvision", "transformers", "peft", "bitsandbytes", "open_clip_torch", "accelerate")


def sanitizer():
    patterns = get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8"))

    def clean(text: str) -> str:
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    return clean


def strict_outputs(nb):
    """(셀 번호, 출력 글자): nbval이 엄격하게 비교하는 것만."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        options = dict(find_comment_markers(cell.source))
        options.update(find_metadata_tags(cell.metadata))
        if options.get("check") is False or options.get("skip"):
            continue
        for output in cell.get("outputs", []):
            for key, value in output.items():
                if key == "data":
                    for mime, text in value.items():
                        if mime not in NOT_COMPARED and isinstance(text, str):
                            yield index, text
                elif key not in NOT_COMPARED and isinstance(value, str):
                    yield index, value


def version_token(version: str) -> str:
    """'2.14.1'이 '12.14.10'이나 '2.14.15' 속이 아니라 따로 나올 때만 걸리게."""
    return rf"(?<![\w.]){re.escape(version)}(?![\d]|\.\d)"


def recorded_versions() -> dict[str, set[str]]:
    """VERSIONED 패키지마다 지금 설치된 버전과 constraints.txt에 기록된 버전(커밋된 출력을 만든 것)."""
    found = {name: set() for name in VERSIONED}
    for name in VERSIONED:
        try:
            found[name].add(metadata.version(name))
        except metadata.PackageNotFoundError:
            pass
    if CONSTRAINTS.exists():
        for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
            match = re.match(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
            if match and match[1].lower().replace("-", "_") in {n.replace("-", "_") for n in VERSIONED}:
                found[match[1].lower().replace("-", "_")].add(match[2])
    return found


def environment_patterns(python_versions=()) -> list[tuple[str, re.Pattern]]:
    """(무엇인가, 정규식): 씻은 뒤의 엄격 출력에 나오면 안 되는 환경의 흔적."""
    pats = []
    for version in {platform.python_version(), *python_versions}:
        pats.append((f"Python 버전 {version}", version_token(version)))
    for name, versions in recorded_versions().items():
        pats += [(f"{name} 버전 {v}", version_token(v)) for v in sorted(versions)]
    paths = {str(REPO_ROOT), sys.prefix, sys.base_prefix, str(Path.home()) + os.sep,
             tempfile.gettempdir().rstrip(os.sep) + os.sep}
    pats += [(f"이 기계의 경로 {p}", re.escape(p)) for p in sorted(paths) if len(p) > 1]
    pats.append(("설치 경로(site-packages)", r"(?:site|dist)-packages"))
    pats.append(("라이브러리 소스의 줄 번호", r"SITE-PACKAGES/\S+?\.py:\d+"))
    pats.append(("라이브러리의 폐기 예고 경고(버전마다 생기고 사라진다: course_lib.quiet에서 거르거나 셀에서 잡는다)",
                 r"\b(?:Future|Deprecation|PendingDeprecation)Warning\b"))
    if cpu_name():
        pats.append((f"CPU 이름 {cpu_name()}", re.escape(cpu_name())))
    pats.append((f"CPU 코어 수 {os.cpu_count()}",
                 rf"(?<![\d.]){os.cpu_count()}\s?(?:코어|cores?\b|v?CPUs?\b|스레드|threads?\b)"))
    return [(label, re.compile(regex)) for label, regex in pats]


def findings(nb, clean) -> list[str]:
    python_versions = {nb.metadata.get("language_info", {}).get("version")} - {None}
    patterns = environment_patterns(python_versions)
    found = []
    for index, raw in strict_outputs(nb):
        text = clean(raw)
        for label, regex in patterns:
            match = regex.search(text)
            if match:
                context = text[max(0, match.start() - 60): match.end() + 60].replace("\n", "⏎")
                found.append(f"셀 {index}: {label}: …{context}…")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_strict_outputs_do_not_depend_on_the_environment(path):
    problems = findings(nbformat.read(path, as_version=4), sanitizer())
    assert not problems, (
        f"{path.name}: 엄격하게 비교되는 출력에 환경의 흔적이 있다. 환경마다 다른 값은 출력하지 않거나, "
        "그 셀에 `# NBVAL_IGNORE_OUTPUT`을 붙이고 주장은 assert로 확인하거나, 잡음이면 tests/nbval_sanitize.cfg에 좁은 규칙을 더한다:\n"
        + "\n".join(problems)
    )


def synthetic_notebook(cells):
    """cells: (소스, stdout, stderr) 목록으로 출력까지 든 노트북을 만든다."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    for source, stdout, stderr in cells:
        cell = nbformat.v4.new_code_cell(source)
        for name, text in (("stdout", stdout), ("stderr", stderr)):
            if text:
                cell.outputs.append(nbformat.v4.new_output("stream", name=name, text=text))
        nb.cells.append(cell)
    return nbformat.from_dict(nb)


def test_the_scan_catches_environment_text_in_a_synthetic_notebook(tmp_path):
    """검사가 실제로 실패할 수 있는가: 환경의 흔적을 하나씩 심은 노트북."""
    versions = recorded_versions()
    torch_version = sorted(versions["torch"])[0]
    peft_version = sorted(versions["peft"])[0]
    site = f"{sys.prefix}/lib/python3.11/site-packages"
    cells = [
        ("print(torch.__version__)", f"torch 버전은 {torch_version}+cu130\n", ""),                   # 0 버전
        ("print(peft.__version__)", f"peft {peft_version}\n", ""),                                    # 1 버전
        ("print(sys.version)", "3.11.7 (main, ...)\n", ""),                                           # 2 Python(노트북 메타데이터)
        ("print(path)", f"{REPO_ROOT}/data/MANIFEST.json\n", ""),                                     # 3 저장소 경로
        ("print(cpu)", f"CPU: {cpu_name() or 'x'}\n", ""),                                            # 4 CPU 이름
        ("print(n)", f"{os.cpu_count()}코어로 학습\n", ""),                                            # 5 코어 수
        ("model.is_gradient_checkpointing", "",
         f"{site}/transformers/modeling_utils.py:3312: FutureWarning: `x` is deprecated\n  warnings.warn(\n"),  # 6
        ("# NBVAL_IGNORE_OUTPUT\nprint(torch.__version__)", f"torch {torch_version}\n", ""),          # 7 무시되는 셀
        ("print(43_646_976)", "학습 파라미터 43,646,976개, 0.5301%, 4.127 비트\n", ""),                # 8 결정적
        ("bootstrap()", f"Python 3.12.1 | torch {torch_version}+cpu | peft {peft_version}\n장치: CPU 16코어(GPU 없음)\n", ""),  # 9
        ("loss.backward()", "",
         f"{site}/torch/utils/checkpoint.py:242: UserWarning: None of the inputs have requires_grad=True\n"
         "  check_backward_validity(args)\n"),                                                       # 10 위치만 씻김
    ]
    nb = synthetic_notebook(cells)
    problems = findings(nb, sanitizer())
    flagged = {int(p.split(":")[0].removeprefix("셀 ")) for p in problems}
    expected = {0, 1, 2, 3, 5, 6} | ({4} if cpu_name() else set())
    assert flagged == expected, "\n".join(problems)
    # 같은 노트북을 파일로 써서 실제 테스트 함수에 넣으면 실패한다
    path = tmp_path / "99_env.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(AssertionError, match="환경의 흔적"):
        test_strict_outputs_do_not_depend_on_the_environment(path)


def _bootstrap_output(monkeypatch, capsys, versions=None, device=None) -> str:
    if versions is not None:
        monkeypatch.setattr(colab, "versions", lambda: versions)
    if device is not None:
        monkeypatch.setattr(colab, "device_summary", lambda: device)
    colab.bootstrap(colab=False)
    return capsys.readouterr().out


def test_bootstrap_lines_are_the_same_in_every_environment_after_sanitizing(monkeypatch, capsys):
    """셀 2의 버전·장치 줄: 여기, Colab(3.12, GPU), 패키지가 빠진 환경에서 씻으면 같은 글자가 된다."""
    clean = sanitizer()
    here = _bootstrap_output(monkeypatch, capsys)
    colab_like = _bootstrap_output(
        monkeypatch, capsys,
        versions={"Python": "3.12.11", "torch": "2.8.0+cu126", "transformers": "4.57.1", "peft": "0.17.1",
                  "bitsandbytes": "0.48.2", "open_clip": "없음(ModuleNotFoundError)"},
        device="CUDA GPU: Tesla T4",
    )
    laptop = _bootstrap_output(monkeypatch, capsys, versions={"Python": "3.10.13", "torch": "2.4.0"},
                               device="CPU 12코어(GPU 없음)")
    mac = _bootstrap_output(monkeypatch, capsys, device="Apple MPS")
    assert here != colab_like
    assert clean(here) == clean(colab_like) == clean(laptop) == clean(mac) == "Python VERSIONS\n장치: DEVICE\n"


def test_committed_bootstrap_output_matches_this_environment_after_sanitizing(monkeypatch, capsys):
    """셀 2를 엄격하게 비교하는 노트북: 커밋된 출력(다른 기계에서 만든 것)과 지금 기계의 bootstrap 출력이
    씻은 뒤 같다 = 어느 기계에서든 그 줄로는 실패하지 않는다."""
    clean = sanitizer()
    here = clean(_bootstrap_output(monkeypatch, capsys))
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        cell = nb.cells[1]
        assert colab.SNIPPET_BEGIN in cell.source, f"{path.name}: 셀 2가 Colab 준비 셀이 아니다"
        if nb.cells[1].outputs and any(index == 1 for index, _ in strict_outputs(nb)):
            committed = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
            assert here in clean(committed), path.name


def test_library_warning_location_is_sanitized_but_the_message_is_kept():
    clean = sanitizer()
    one = ("/a/.venv/lib/python3.11/site-packages/torch/utils/checkpoint.py:242: UserWarning: None of the inputs\n"
           "  check_backward_validity(args)\n다음 줄\n")
    other = ("/usr/local/lib/python3.12/dist-packages/torch/utils/checkpoint.py:87: UserWarning: None of the inputs\n"
             "  torch._C._check(args)\n다음 줄\n")
    assert clean(one) == clean(other) == "SITE-PACKAGES/torch/utils/checkpoint.py:LINE: UserWarning: None of the inputs\n다음 줄\n"
    assert clean(one.replace("None of the inputs", "Other")) != clean(other)  # 다른 경고는 다르게 보인다
