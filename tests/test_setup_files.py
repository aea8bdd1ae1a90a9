"""설치 파일들이 서로 맞는지: README의 두 명령, .ci/run, environment.yml, pyproject, constraints.txt,
드리프트 점검(.ci/drift), nbval 설정."""
import importlib.util
import os
import re
import subprocess
import sys
from importlib import metadata

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement

from course_lib import REPO_ROOT
from course_lib.tooling.project import load_pyproject

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
DRIFT = (REPO_ROOT / ".ci" / "drift").read_text(encoding="utf-8")
INSTALL = 'pip install -c constraints.txt -e ".[dev]"'


def _load_lock_tool():
    spec = importlib.util.spec_from_file_location("ci_constraints", REPO_ROOT / ".ci" / "constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _load_lock_tool()


def _pyproject():
    return load_pyproject(REPO_ROOT)


def readme_command(marker: str) -> str:
    """README에서 `<!-- command:marker -->` 바로 다음 코드 블록의 한 줄 명령."""
    match = re.search(rf"<!-- command:{marker} -->\s*```bash\n(.+?)\n```", README)
    assert match, f"README에 command:{marker} 코드 블록이 없다"
    return match[1]


def test_readme_gives_the_agreed_commands():
    setup, test = readme_command("setup"), readme_command("test")
    assert setup.startswith(f"python3 -m venv .venv && . .venv/bin/activate && {INSTALL}")
    assert "python -m course_lib doctor" in setup
    assert test == ". .venv/bin/activate && pytest --nbval"


def test_ci_runs_the_readme_commands_verbatim():
    install = readme_command("setup").split(" && python -m course_lib")[0]
    ci_lines = [line.strip() for line in CI_RUN.splitlines()]
    assert install in ci_lines, "CI가 README와 다르게 설치한다"
    assert readme_command("test") in ci_lines, "CI가 README와 다른 테스트 명령을 쓴다"
    assert "python .ci/constraints.py check" in ci_lines, "CI가 설치된 버전을 constraints.txt와 대조하지 않는다"


def test_ci_script_is_strict():
    assert CI_RUN.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in CI_RUN
    assert re.search(r'"\$status" -eq 5 \]; then.*?exit 1', CI_RUN, flags=re.S), "종료 코드 5를 실패로 봐야 한다"
    subprocess.run(["bash", "-n", str(REPO_ROOT / ".ci" / "run")], check=True)


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text(encoding="utf-8"))
    project = _pyproject()["project"]
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    version = python.split("=", 1)[1]
    minimum = project["requires-python"].removeprefix(">=")
    as_tuple = lambda v: tuple(int(x) for x in v.split(".")[:2])
    assert as_tuple(version) >= as_tuple(minimum), "conda의 Python이 requires-python보다 낮다"
    assert "pip" in deps
    (pip_section,) = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    # 패키지 목록은 pyproject(범위)와 constraints.txt(정확한 버전)에만 둔다: pip 부분은 README 명령 1의 설치와 같다.
    assert pip_section == ["-c constraints.txt", "-e .[dev]"], pip_section
    assert INSTALL == "pip install " + " ".join(pip_section).replace(".[dev]", '".[dev]"')
    assert "dev" in project["optional-dependencies"]
    for needed in ("jupyterlab", "nbval", "pytest"):
        assert any(req.startswith(needed) for req in project["optional-dependencies"]["dev"]), needed


def test_pyproject_basics():
    data = _pyproject()
    project = data["project"]
    assert project["name"] == "course_lib" and project["requires-python"] == ">=3.10"
    names = {re.split(r"[<>=!~;\s\[]", req, maxsplit=1)[0].lower() for req in project["dependencies"]}
    # nbformat: 강의 도구(badges, readme, exercises, glossary)가 노트북을 읽는다. dev 묶음에만 딸려 오면 안 된다
    for needed in ("torch", "torchvision", "transformers", "peft", "bitsandbytes", "open_clip_torch", "koreanize-matplotlib",
                   "nbformat"):
        assert needed in names, needed
    assert not any(req.replace(" ", "").startswith("torch==") for req in project["dependencies"]), "torch를 고정하지 않는다"
    assert project["scripts"]["course-lib"] == "course_lib.__main__:main"
    opts = data["tool"]["pytest"]["ini_options"]
    assert "--nbval-sanitize-with tests/nbval_sanitize.cfg" in opts["addopts"]
    assert "--nbval-current-env" in opts["addopts"]
    assert opts["testpaths"] == ["tests", "notebooks"]


def test_sanitize_file_handles_the_known_noise():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((REPO_ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf-8"))

    def clean(text):
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    warning = (
        "Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'. "
        "Please make sure you already `pip install kernels` and the kernels >= 0.11.1\n"
    )
    assert clean(warning) == ""
    assert clean("학습 3.2초") == clean("학습 41.0초")
    assert clean("<Foo at 0x7f3a2b4c5d60>") == clean("<Foo at 0x55d1e2f3a4b0>")
    assert clean(" 40%|████      | 4/10 [00:01<00:02,  2.9it/s]\r100%|██████████| 10/10 [00:03<00:00,  3.0it/s]\n") == clean(
        "100%|██████████| 10/10 [00:02<00:00,  4.1it/s]\n"
    )
    # 결정적인 숫자는 지우지 않는다
    for strict in ("학습 파라미터 43,646,976개", "r=16, α=32", "0.5301%", "4.127 비트", "16 steps"):
        assert clean(strict) == strict


def test_student_copies_are_not_collected(tmp_path):
    """notebooks/student/ 의 학생용 사본(정답 자리에서 NotImplementedError)은 pytest --nbval이 모으지 않는다."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "tests" / "nbval_sanitize.cfg").write_text("", encoding="utf-8")
    (tmp_path / "notebooks" / "student").mkdir(parents=True)
    for rel, code in (("notebooks/01_x.ipynb", "1 + 1"), ("notebooks/student/01_x.ipynb", "raise NotImplementedError")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(code)]
        nbformat.write(nb, tmp_path / rel)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--collect-only", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "notebooks/01_x.ipynb" in result.stdout
    assert "student" not in result.stdout


@pytest.mark.parametrize("doc", ["README.md", "CONTRIBUTING.md"])
def test_docs_do_not_tell_users_to_install_kernels(doc):
    text = (REPO_ROOT / doc).read_text(encoding="utf-8")
    assert "pip install kernels" not in text


def test_contributing_gives_the_exact_commands():
    text = (REPO_ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "jupyter nbconvert --to notebook --execute --inplace notebooks/" in text
    assert "python -m course_lib badges" in text and "python -m course_lib readme" in text and "pytest --nbval" in text


@pytest.fixture
def ci_sandbox(tmp_path):
    """.ci/run을 가짜 python3/pip/pytest로 돌려 볼 폴더(설치 없이 종료 코드 처리만 검사)."""
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text(CI_RUN, encoding="utf-8")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    scripts = {
        # python3 -m venv .venv: activate 스크립트만 만든다
        "python3": '#!/bin/bash\nmkdir -p .venv/bin\necho "export PATH=$(dirname "$0"):\\$PATH" > .venv/bin/activate\n',
        "pip": '#!/bin/bash\necho "pip $*"\nexit 0\n',
        "python": '#!/bin/bash\necho "python $*"\nexit 0\n',
        "pytest": '#!/bin/bash\necho "pytest $*"\nexit "$PYTEST_RC"\n',
    }
    for name, body in scripts.items():
        (stubs / name).write_text(body, encoding="utf-8")
        (stubs / name).chmod(0o755)
    return tmp_path


@pytest.mark.parametrize("pytest_rc, expected", [(0, 0), (1, 1), (5, 1)])
def test_ci_exit_codes(ci_sandbox, pytest_rc, expected):
    env = {**os.environ, "PATH": f"{ci_sandbox / 'stubs'}:{os.environ['PATH']}", "PYTEST_RC": str(pytest_rc)}
    result = subprocess.run(["bash", ".ci/run"], cwd=ci_sandbox, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == expected, result.stdout + result.stderr
    assert "pytest --nbval" in result.stdout
    assert "pip install -c constraints.txt -e .[dev]" in result.stdout
    assert "python .ci/constraints.py check" in result.stdout
    if pytest_rc == 5:
        assert "종료 코드 5" in result.stderr


def test_ci_refuses_an_existing_venv(ci_sandbox):
    (ci_sandbox / ".venv").mkdir()
    env = {**os.environ, "PATH": f"{ci_sandbox / 'stubs'}:{os.environ['PATH']}", "PYTEST_RC": "0"}
    result = subprocess.run(["bash", ".ci/run"], cwd=ci_sandbox, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "새 가상환경" in result.stderr


# --- constraints.txt: 기록된 환경 -------------------------------------------------------------

def _pins():
    return lock.read_constraints(REPO_ROOT / "constraints.txt")


def test_constraints_pin_every_dependency_inside_its_range():
    """기록된 버전은 pyproject의 범위 안에 있다(범위 밖 고정은 모순), 직접 의존성은 모두 기록되어 있다."""
    project = _pyproject()["project"]
    pins = _pins()
    # 파일을 만든 Python(머리의 "만든 곳: Python 3.11.7")에서 본다: 지금 도는 Python(3.10, 3.12)과 상관없이 같은 결과
    made_with = re.search(r"만든 곳: Python (\d+\.\d+)\.(\d+)", (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8"))
    where = {"python_version": made_with[1], "python_full_version": f"{made_with[1]}.{made_with[2]}", "extra": ""}
    requirements = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate(where):
            continue  # 예: tomli는 3.11 아래에서만
        name = lock.canonicalize_name(req.name)
        assert name in pins, f"{req.name}가 constraints.txt에 없다"
        _, version, marker = pins[name]
        if marker is None or lock.Marker(marker).evaluate(where):
            assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version}이 범위 {req.specifier} 밖"
    assert lock.canonicalize_name("course_lib") not in pins, "이 저장소 자신은 기록하지 않는다"


def test_constraints_torch_pin_respects_the_machine():
    """torch는 이 기계의 디스크에 있는 2.14.1 짝(torchvision 0.29.1). 2.13(CPU 전용, torchvision 없음)은 고정하지 않는다."""
    pins = _pins()
    torch_version, vision_version = pins["torch"][1], pins["torchvision"][1]
    assert not torch_version.startswith("2.13"), torch_version
    assert (torch_version, vision_version) == ("2.14.1", "0.29.1") or not torch_version.startswith("2.14")


def test_constraints_lines_parse_and_are_unique(tmp_path):
    text = (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8")
    names = [lock.canonicalize_name(line.split("==")[0]) for line in text.splitlines() if line and not line.startswith("#")]
    assert len(names) == len(set(names)) == len(_pins())
    assert "python .ci/constraints.py write" in text, "파일 머리에 다시 만드는 명령이 있어야 한다"
    bad = tmp_path / "bad.txt"
    bad.write_text("torch>=2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="꼴이 아닙니다"):
        lock.read_constraints(bad)


@pytest.mark.parametrize("requires, marker", [
    (None, None),
    (">=3.8", None),
    (">=3.10, !=3.0.*", None),
    (">=3.11", 'python_full_version >= "3.11"'),
    ("!=3.14.1,>=3.11", 'python_full_version != "3.14.1" and python_full_version >= "3.11"'),
    (">=3.11.5", 'python_full_version >= "3.11.5"'),
])
def test_lock_marks_pins_that_some_supported_python_cannot_install(requires, marker):
    assert lock.python_marker(requires) == marker


def test_lock_marker_excludes_exactly_the_pythons_the_release_refuses():
    marker = lock.python_marker(">=3.11")
    assert not lock.Marker(marker).evaluate({"python_full_version": "3.10.13"})
    assert lock.Marker(marker).evaluate({"python_full_version": "3.12.1"})


def test_lock_write_then_read_round_trips_this_environment(tmp_path):
    """write가 적은 파일을 읽으면 지금 환경의 버전이 그대로 나오고, check는 차이 0개를 보고한다."""
    out = tmp_path / "c.txt"
    assert lock.main(["write", "--file", str(out)]) == 0
    pins = lock.read_constraints(out)
    dists = lock.closure()
    assert set(pins) == set(dists) and "torch" in pins and "nbval" in pins
    assert all(pins[name][1] == dist.version for name, dist in dists.items())
    assert lock.main(["check", "--file", str(out)]) == 0


def test_lock_check_fails_on_a_different_version(tmp_path, capsys):
    out = tmp_path / "c.txt"
    torch_version = metadata.version("torch")
    out.write_text(f"torch=={torch_version}9\npeft=={metadata.version('peft')}\nnot-installed-pkg==1.0\n", encoding="utf-8")
    assert lock.main(["check", "--file", str(out)]) == 1
    text = capsys.readouterr().out
    assert f"{torch_version}9 → {torch_version}" in text and "not-installed-pkg 1.0" in text
    assert lock.main(["diff", "--file", str(out)]) == 0  # diff는 보고만 한다


# --- .ci/drift: 범위 안 최신 버전으로 돌려 보기 ------------------------------------------------

@pytest.fixture
def drift_sandbox(tmp_path):
    """.ci/drift를 가짜 python3(가상환경 만들기)/pip/python/pytest로 돌려 볼 폴더."""
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "drift").write_text(DRIFT, encoding="utf-8")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    venv_bin = {
        "pip": '#!/bin/bash\necho "pip $* PIP_CONSTRAINT=${PIP_CONSTRAINT:-없음}" >> "$LOG"\n',
        "python": '#!/bin/bash\necho "python $*" >> "$LOG"\necho "버전이 다름 1개 (기록 → 지금):"\n',
        "pytest": '#!/bin/bash\necho "pytest $*" >> "$LOG"\necho "FAILED notebooks/04_x.ipynb::Cell 1"\n'
                  'echo "==== 1 failed, 9 passed in 3.21s ===="\nexit "$PYTEST_RC"\n',
    }
    body = "".join(
        f"cat > \"$3/bin/{name}\" <<'STUB'\n{text}STUB\nchmod +x \"$3/bin/{name}\"\n" for name, text in venv_bin.items()
    )
    python3 = ('#!/bin/bash\nif [ "$1" = "-V" ]; then echo "Python 3.99.0"; exit 0; fi\n'
               'mkdir -p "$3/bin"\necho "export PATH=$3/bin:\\$PATH" > "$3/bin/activate"\n' + body)
    (stubs / "python3").write_text(python3, encoding="utf-8")
    (stubs / "python3").chmod(0o755)
    return tmp_path


def _run_drift(sandbox, *args, pytest_rc=0):
    log = sandbox / "calls.log"
    env = {**os.environ, "PATH": f"{sandbox / 'stubs'}:{os.environ['PATH']}", "PYTEST_RC": str(pytest_rc),
           "LOG": str(log), "TMPDIR": str(sandbox), "PIP_CONSTRAINT": "/somewhere/pins.txt"}
    result = subprocess.run(["bash", ".ci/drift", *args], cwd=sandbox, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    return result, (log.read_text(encoding="utf-8") if log.exists() else "")


@pytest.mark.parametrize("pytest_rc, expected", [(0, 0), (1, 1), (5, 1)])
def test_drift_installs_without_constraints_and_reports(drift_sandbox, pytest_rc, expected):
    result, calls = _run_drift(drift_sandbox, pytest_rc=pytest_rc)
    assert result.returncode == expected, result.stdout + result.stderr
    assert 'pip install -e .[dev] PIP_CONSTRAINT=없음' in calls, calls  # 제약 없이, PIP_CONSTRAINT도 끄고
    assert "-c" not in calls.split("pip install", 1)[1].split("\n")[0]
    assert "python .ci/constraints.py diff" in calls
    assert "pytest --nbval\n" in calls  # 전체 = README 명령 2 그대로
    out = result.stdout
    assert "버전이 다름 1개" in out and "FAILED notebooks/04_x.ipynb::Cell 1" in out and "1 failed, 9 passed" in out
    assert f"pytest 종료 코드 {pytest_rc}" in out
    reports = list((drift_sandbox / "runs" / "drift").glob("*.txt"))
    assert len(reports) == 1 and "1 failed, 9 passed" in reports[0].read_text(encoding="utf-8")
    assert not list(drift_sandbox.glob("drift.*")), "--keep 없이는 가상환경을 지운다"


def test_drift_quick_runs_the_quick_subset_and_write_needs_the_full_run(drift_sandbox):
    result, calls = _run_drift(drift_sandbox, "--quick", "--keep")
    assert result.returncode == 0, result.stderr
    quick = re.search(r"QUICK_TESTS=\((.*?)\)", DRIFT, flags=re.S)[1].split()
    assert f"pytest --nbval {' '.join(quick)}" in calls
    assert all((REPO_ROOT / path).exists() for path in quick), quick
    assert "가상환경을 남겼습니다" in result.stdout and list(drift_sandbox.glob("drift.*"))
    refused, _ = _run_drift(drift_sandbox, "--quick", "--write")
    assert refused.returncode == 2 and "--write" in refused.stderr


def test_drift_write_rewrites_the_lock_only_after_a_passing_full_run(drift_sandbox):
    result, calls = _run_drift(drift_sandbox, "--write", pytest_rc=1)
    assert result.returncode == 1 and "constraints.py write" not in calls
    result, calls = _run_drift(drift_sandbox, "--write", pytest_rc=0)
    assert result.returncode == 0 and "python .ci/constraints.py write" in calls


def test_drift_script_is_strict():
    assert DRIFT.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in DRIFT
    subprocess.run(["bash", "-n", str(REPO_ROOT / ".ci" / "drift")], check=True)


def test_license_and_citation_agree_with_the_project():
    """라이선스 파일 둘, CITATION.cff, pyproject, README가 같은 것을 말한다(저장소 주소, 제목, 두 라이선스)."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    citation = (root / "CITATION.cff").read_text(encoding="utf-8")
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    readme = (root / "README.md").read_text(encoding="utf-8")
    slug = pyproject["tool"]["course"]["github_slug"]
    assert f'repository-code: "https://github.com/{slug}"' in citation
    assert 'title: "VLM 2단계 학습과 LoRA"' in citation and readme.startswith("# VLM 2단계 학습과 LoRA")
    assert "MIT License" in (root / "LICENSE").read_text(encoding="utf-8") and "license: MIT" in citation
    assert "CC BY 4.0" in (root / "LICENSE-CONTENT.md").read_text(encoding="utf-8")
    assert "[MIT](LICENSE)" in readme and "[CC BY 4.0](LICENSE-CONTENT.md)" in readme and "CITATION.cff" in readme
