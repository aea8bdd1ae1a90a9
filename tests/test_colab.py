"""Colab 준비(course_lib.colab): Colab에서만 설치하고, 로컬에서는 버전만 출력한다."""
import shutil
import subprocess
import sys
import types

import pytest

from course_lib import REPO_ROOT
from course_lib.tooling import colab


class RecordingRunner:
    def __init__(self):
        self.calls = []

    def __call__(self, cmd, **kwargs):
        self.calls.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0)


def test_local_does_nothing_but_print_versions(capsys):
    runner = RecordingRunner()
    found = colab.bootstrap(colab=False, run=runner)
    assert runner.calls == []
    out = capsys.readouterr().out
    for name in ("Python", "torch", "transformers", "peft", "bitsandbytes", "open_clip"):
        assert name in found and name in out
    assert "장치:" in out


def test_detection(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not colab.in_colab()
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert colab.in_colab()


def test_in_colab_installs_the_clone(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "course"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[project]\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    runner = RecordingRunner()
    colab.bootstrap(repo_dir=repo, run=runner)
    assert runner.calls == [[sys.executable, "-m", "pip", "install", "-q", "-e", str(repo)]]
    assert sys.path[0] == str(repo)
    assert "torch" in capsys.readouterr().out


def test_in_colab_with_constraints_pins_all_but_the_torch_stack(tmp_path, monkeypatch, capsys):
    """수업용 고정(%env COURSE_CONSTRAINTS=1): 저장소의 constraints.txt로 설치하되, Colab이 가진 torch 묶음은 뺀다."""
    repo = tmp_path / "course"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[project]\n", encoding="utf-8")
    (repo / "constraints.txt").write_text(
        "# 주석\ntorch==2.14.1\ntorchvision==0.29.1\nnvidia-cublas==13.1.1.3\ncuda-toolkit==13.0.3.0\ntriton==3.8.0\n"
        'numpy==2.4.6 ; python_full_version >= "3.11"\npeft==0.21.2\ntyping_extensions==4.16.0\n',
        encoding="utf-8",
    )
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv(colab.CONSTRAINTS_ENV, "1")
    runner = RecordingRunner()
    colab.bootstrap(repo_dir=repo, run=runner)
    (call,) = runner.calls
    used = call[call.index("-c") + 1]
    assert call[-2:] == ["-e", str(repo)]
    assert open(used, encoding="utf-8").read().splitlines() == [
        "# 주석", 'numpy==2.4.6 ; python_full_version >= "3.11"', "peft==0.21.2", "typing_extensions==4.16.0"]
    monkeypatch.setenv(colab.CONSTRAINTS_ENV, "0")  # 1이 아니면 범위대로(기본)
    runner = RecordingRunner()
    colab.bootstrap(repo_dir=repo, run=runner)
    assert "-c" not in runner.calls[0]
    capsys.readouterr()


def test_colab_constraints_of_the_real_file_keep_the_course_libraries(tmp_path):
    shutil.copy(REPO_ROOT / colab.CONSTRAINTS_FILE, tmp_path)
    text = colab.colab_constraints(tmp_path).read_text(encoding="utf-8")
    names = {line.split("==")[0].lower() for line in text.splitlines() if "==" in line}
    assert {"transformers", "peft", "bitsandbytes", "open_clip_torch", "accelerate"} <= names
    assert not names & {"torch", "torchvision", "triton"} and not any(n.startswith("nvidia") for n in names)


def test_in_colab_without_clone_explains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="두 번째 셀"):
        colab.bootstrap(colab=True, run=RecordingRunner())


def test_snippet_clones_only_in_colab(tmp_path, monkeypatch, capsys):
    """노트북 셀 2의 코드를 그대로 실행: Colab이면 git clone → pip install -e, 로컬이면 둘 다 없음."""
    snippet = colab.bootstrap_snippet("owner/repo")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(list(cmd))
        if cmd[:2] == ["git", "clone"]:  # 복제한 것처럼 저장소 폴더를 만든다
            target = tmp_path / cmd[-1]
            target.mkdir()
            (target / "pyproject.toml").write_text("[project]\n", encoding="utf-8")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)  # 셀과 course_lib.colab이 함께 쓰는 subprocess

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(snippet, "<cell 2>", "exec"), {})
    assert calls == []

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(snippet, "<cell 2>", "exec"), {})
    clone_dir = str(tmp_path / colab.CLONE_DIR_NAME)
    assert calls[0] == ["git", "clone", "-q", "--depth", "1", "-b", "main", "https://github.com/owner/repo.git", "course"]
    assert calls[1][-2:] == ["-e", clone_dir]
    assert clone_dir in sys.path

    calls.clear()
    exec(compile(snippet, "<cell 2>", "exec"), {})  # 셀을 다시 실행해도 다시 복제하지 않는다
    assert [c[0] for c in calls] == [sys.executable]


def test_snippet_uses_only_the_standard_library():
    snippet = colab.bootstrap_snippet("owner/repo")
    before_course_lib = snippet.split("from course_lib")[0]
    imports = [line for line in before_course_lib.splitlines() if line.startswith("import")]
    assert imports == ["import sys, os, subprocess"]


def test_kernels_warning_is_filtered(caplog):
    import logging

    from course_lib import quiet

    quiet.install_log_filters()
    quiet.install_log_filters()
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    assert len(logger.filters) == 1  # 여러 번 불러도 거르개는 하나
    with caplog.at_level(logging.WARNING, logger=logger.name):
        logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s.", "No module named 'kernels'")
        logger.warning("다른 경고")
    assert [r.getMessage() for r in caplog.records] == ["다른 경고"]
