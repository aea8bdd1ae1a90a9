"""설치 파일들이 서로 맞는지: README의 두 명령, .ci/run, environment.yml, pyproject, nbval 설정."""
import os
import re
import subprocess
import sys

import nbformat
import pytest
import yaml

from course_lib import REPO_ROOT
from course_lib.tooling.project import load_pyproject

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _pyproject():
    return load_pyproject(REPO_ROOT)


def readme_command(marker: str) -> str:
    """README에서 `<!-- command:marker -->` 바로 다음 코드 블록의 한 줄 명령."""
    match = re.search(rf"<!-- command:{marker} -->\s*```bash\n(.+?)\n```", README)
    assert match, f"README에 command:{marker} 코드 블록이 없다"
    return match[1]


def test_readme_gives_the_agreed_commands():
    setup, test = readme_command("setup"), readme_command("test")
    assert setup.startswith('python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]"')
    assert "python -m course_lib doctor" in setup
    assert test == ". .venv/bin/activate && pytest --nbval"


def test_ci_runs_the_readme_commands_verbatim():
    install = readme_command("setup").split(" && python -m course_lib")[0]
    ci_lines = [line.strip() for line in CI_RUN.splitlines()]
    assert install in ci_lines, "CI가 README와 다르게 설치한다"
    assert readme_command("test") in ci_lines, "CI가 README와 다른 테스트 명령을 쓴다"


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
    # 패키지 목록은 pyproject에만 둔다: pip 부분은 이 저장소를 dev 추가 의존성과 함께 설치하는 한 줄뿐.
    assert pip_section == ["-e .[dev]"], pip_section
    assert "dev" in project["optional-dependencies"]
    for needed in ("jupyterlab", "nbval", "pytest"):
        assert any(req.startswith(needed) for req in project["optional-dependencies"]["dev"]), needed


def test_pyproject_basics():
    data = _pyproject()
    project = data["project"]
    assert project["name"] == "course_lib" and project["requires-python"] == ">=3.10"
    names = {re.split(r"[<>=!~;\s\[]", req, maxsplit=1)[0].lower() for req in project["dependencies"]}
    for needed in ("torch", "torchvision", "transformers", "peft", "bitsandbytes", "open_clip_torch", "koreanize-matplotlib"):
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
    assert "python -m course_lib badges" in text and "pytest --nbval" in text


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
        "pip": "#!/bin/bash\nexit 0\n",
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
    if pytest_rc == 5:
        assert "종료 코드 5" in result.stderr


def test_ci_refuses_an_existing_venv(ci_sandbox):
    (ci_sandbox / ".venv").mkdir()
    env = {**os.environ, "PATH": f"{ci_sandbox / 'stubs'}:{os.environ['PATH']}", "PYTEST_RC": "0"}
    result = subprocess.run(["bash", ".ci/run"], cwd=ci_sandbox, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "새 가상환경" in result.stderr
