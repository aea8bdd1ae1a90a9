"""명령줄의 나쁜 입력: 학습자가 실제로 칠 법한 틀린 명령 하나하나가 트레이스백 없이 한 줄(`키: 한국어 (키: English)`)로
거부되고(종료 코드 2), 이미 있던 실행 폴더·저장소는 바이트까지 그대로다. 그리고 파서는 torch 없이 뜬다.

모두 `course_lib.__main__.main([...])`을 거친다(명령줄과 같은 경로). 오류 경로가 트레이스백으로 돌아가면
(예외가 `main` 밖으로 새면) 테스트가 그 예외로 실패하고, 한 줄이 아니거나 칸 이름이 빠져도 실패한다.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course_lib import REPO_ROOT
from course_lib.__main__ import PRESET_NAMES, main

HEAVY = ("torch", "torchvision", "transformers", "open_clip", "peft", "bitsandbytes", "accelerate")


def refused(capsys, argv, field, code=2):
    """`main(argv)`가 종료 코드 `code`로 끝나고, 표준 오류에 `field: … (field: …)` 한 줄만 남겼는지. 그 줄을 돌려준다."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == code, (status, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert re.match(rf"^{re.escape(field)}: .+ \({re.escape(field)}: [^()]+\)$", line), line
    assert re.search("[가-힣]", line), line  # 한국어 설명이 있다
    return line


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- train: 설정과 인자(학습 없이 거부)

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """틀린 --config 파일들."""
    from course_lib import presets

    folder = tmp_path_factory.mktemp("configs")
    good = json.loads(presets.mini().to_json())
    (folder / "empty.json").write_text("")
    (folder / "broken.json").write_text('{"stages": [')
    (folder / "list.json").write_text("[1, 2]")
    unknown = json.loads(json.dumps(good))
    unknown["stages"][0]["lr"] = 1e-3
    (folder / "unknown_key.json").write_text(json.dumps(unknown))
    missing = json.loads(json.dumps(good))
    del missing["stages"][1]["epochs"]
    (folder / "missing_key.json").write_text(json.dumps(missing))
    typed = json.loads(json.dumps(good))
    typed["n_val"] = "300"
    (folder / "string_number.json").write_text(json.dumps(typed))
    (folder / "good.json").write_text(json.dumps(good))
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00\x81")
    (folder / "a_file").write_text("not a folder")
    return folder


TRAIN_BAD = [  # (명령줄 인자, 거부 메시지가 이름을 대야 하는 칸)
    (["--set", "n_train=abc"], "n_train"),                       # 수 자리에 글자
    (["--set", "n_train=1.5"], "n_train"),                       # 정수 자리에 소수
    (["--set", "n_train=true"], "n_train"),                      # 정수 자리에 bool
    (["--set", "n_train=0"], "n_train"),                         # 0
    (["--set", "lr=1e-3"], "lr"),                                # 중첩된 칸을 맨 위에서
    (["--set", "stages.5.epochs=2"], "stages.5"),                # 없는 단계
    (["--set", "stages.-1.epochs=2"], "stages.-1"),              # 음수 번호
    (["--set", "stages.1.epochs=0"], "stages.1.epochs"),         # 범위 밖
    (["--set", "stages.0.lr_projector=-1e-3"], "stages.0.lr_projector"),  # 음수 학습률
    (["--set", "lora.dropout=NaN"], "lora.dropout"),             # NaN
    (["--set", "stages.1.lr_lora=Infinity"], "stages.1.lr_lora"),  # 무한대
    (["--set", "lora.r=0"], "lora.r"),
    (["--set", "lora.target_modules=q_proj"], "lora.target_modules"),  # 목록 자리에 글자 하나
    (["--set", "gradient_checkpointing=1"], "gradient_checkpointing"),  # bool 자리에 정수
    (["--set", "stages.0.batch_size=100000"], "stages.0.batch_size"),   # 데이터보다 큰 배치
    (["--set", "mixed_precision=fp8"], "mixed_precision"),
    (["--set", "n_train"], "set"),                               # = 빠짐
    (["--set"], "set"),                                          # 값 빠짐
    (["--seed", "-1"], "seed"),
    (["--max-steps", "abc"], "max-steps"),
    (["--max-steps", "0"], "max-steps"),
    (["--presett", "mini"], "presett"),                          # 인자 이름 오타
    (["--preset", "minii"], "preset"),                           # 없는 프리셋
    (["--image-folder", "imgs"], "image-folder"),                # --data 없이
]


@pytest.mark.parametrize("argv, field", TRAIN_BAD, ids=[" ".join(a) for a, _ in TRAIN_BAD])
def test_train_refuses_bad_arguments(capsys, tmp_path, argv, field):
    out = tmp_path / "run"
    refused(capsys, ["train", "--out", out, *argv], field)
    assert not out.exists(), "거부된 명령이 --out을 만들었다"


CONFIG_BAD = [
    ("nope.json", "config"), ("empty.json", "config"), ("broken.json", "config"), ("list.json", "config"),
    ("binary.json", "config"), (".", "config"),  # 폴더
    ("unknown_key.json", "stages.0.lr"), ("missing_key.json", "stages.1.epochs"), ("string_number.json", "n_val"),
]


@pytest.mark.parametrize("name, field", CONFIG_BAD, ids=[n for n, _ in CONFIG_BAD])
def test_train_refuses_bad_config_files(capsys, tmp_path, files, name, field):
    out = tmp_path / "run"
    line = refused(capsys, ["train", "--config", files / name, "--out", out], field)
    assert not out.exists()
    if field == "config" and name != ".":
        assert name in line  # 어느 파일인지 말한다


def test_train_refuses_config_and_preset_together(capsys, tmp_path, files):
    refused(capsys, ["train", "--config", files / "good.json", "--preset", "mini", "--out", tmp_path / "r"], "preset")


def test_unknown_key_suggests_the_nested_name(capsys, tmp_path):
    line = refused(capsys, ["train", "--set", "lr=1e-3", "--out", tmp_path / "r"], "lr")
    assert "stages.0.lr_projector" in line and "stages.1.lr_lora" in line


def test_train_refuses_out_that_is_a_file(capsys, files):
    before = (files / "a_file").read_bytes()
    refused(capsys, ["train", "--out", files / "a_file"], "out")
    assert (files / "a_file").read_bytes() == before


def test_resume_with_nothing_to_resume(capsys, tmp_path):
    refused(capsys, ["train", "--resume", "--out", tmp_path / "empty"], "resume")
    (tmp_path / "empty").mkdir()
    refused(capsys, ["train", "--resume", "--out", tmp_path / "empty"], "resume")
    assert list((tmp_path / "empty").iterdir()) == []


def test_real_presets_and_data(capsys, tmp_path):
    line = refused(capsys, ["train", "--preset", "full", "--out", tmp_path / "r"], "data")
    assert "--data" in line
    refused(capsys, ["train", "--data", tmp_path / "missing.json", "--out", tmp_path / "r"], "data")
    from course_lib import real_data

    small = real_data.write_mini_world_dataset(tmp_path / "small", 4)  # 4쌍: 검증 300개(mini의 n_val)를 뗄 수 없다
    refused(capsys, ["train", "--data", small, "--out", tmp_path / "r"], "n_val")
    (small.parent / "images" / "000" / "000002.png").unlink()
    refused(capsys, ["train", "--data", small, "--set", "n_val=2", "--out", tmp_path / "r"], "data")  # 그림 하나 없음
    assert not (tmp_path / "r").exists()


def test_command_typo_suggests_the_command(capsys):
    line = refused(capsys, ["trian"], "command")
    assert "'train'" in line


# ---------------------------------------------------------------- train: 이미 있는 실행 폴더는 바뀌지 않는다

TINY_RUN = {"stages": [{"name": "stage1", "epochs": 1, "lr_projector": 2e-3, "lr_lora": 0.0, "batch_size": 8,
                        "warmup_steps": 1},
                       {"name": "stage2", "epochs": 1, "lr_projector": 1e-3, "lr_lora": 1e-3, "batch_size": 8,
                        "warmup_steps": 1}],
            "lora": {"r": 2, "alpha": 4, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
            "n_train": 16, "n_val": 8, "n_test": 8, "checkpoint_every": 1, "eval_every_epoch": False,
            "mixed_precision": "no", "preset": "tiny-cli"}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """실제로 두 걸음 학습한 실행 폴더(checkpoints/step-0000002, final/, metrics.jsonl). 테스트마다 복사해 쓴다."""
    folder = tmp_path_factory.mktemp("run_src")
    config = folder / "tiny.json"
    config.write_text(json.dumps(TINY_RUN))
    status = main(["train", "--config", str(config), "--out", str(folder / "run"), "--max-steps", "2", "--no-progress"])
    assert status == 0
    assert (folder / "run" / "checkpoints" / "step-0000002" / "checksums.json").is_file()
    return folder


@pytest.fixture
def run_copy(run_folder, tmp_path):
    shutil.copytree(run_folder, tmp_path / "src")
    return tmp_path / "src" / "tiny.json", tmp_path / "src" / "run"


def _step(run: Path) -> Path:
    return run / "checkpoints" / "step-0000002"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_and_drop_checksums(run: Path) -> None:
    (_step(run) / "checksums.json").unlink()  # 이전 형식(체크섬 없음)이어도 잘린 파일은 잡는다
    _truncate(_step(run) / "trainer_state.safetensors")


RUN_BAD = [  # (폴더를 망가뜨리는 방법, 추가 인자, 이름을 대야 하는 칸)
    ("fresh run into a finished folder", None, [], "out"),
    ("resume with another config", None, ["--resume", "--set", "lora.r=4"], "resume"),
    ("resume with another seed", None, ["--resume", "--seed", "7"], "resume"),
    ("resume to fewer steps", None, ["--resume", "--max-steps", "1"], "max-steps"),
    ("resume from a truncated checkpoint", lambda run: _truncate(_step(run) / "trainer_state.safetensors"),
     ["--resume"], "checkpoint"),
    ("resume from a flipped byte", lambda run: _flip_last_byte(_step(run) / "trainable.safetensors"),
     ["--resume"], "checkpoint"),
    ("resume from a truncated checkpoint without checksums", _damage_and_drop_checksums, ["--resume"], "checkpoint"),
]


@pytest.mark.parametrize("case, damage, extra, field", RUN_BAD, ids=[c for c, *_ in RUN_BAD])
def test_refused_command_leaves_the_run_folder_byte_identical(capsys, run_copy, case, damage, extra, field):
    config, run = run_copy
    if damage:
        damage(run)
    before = snapshot(run)
    line = refused(capsys, ["train", "--config", config, "--out", run, "--no-progress", *extra], field)
    assert snapshot(run) == before, f"{case}: 거부된 명령이 실행 폴더를 바꿨다"
    if field == "resume" and "--set" in extra:
        assert "lora.r: 2 → 4" in line  # 무엇이 다른지 말한다


@pytest.fixture
def tampered_data(tmp_path, monkeypatch):
    """data/의 임시 사본(COURSE_DATA_DIR)."""
    from course_lib import data_dir

    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    monkeypatch.setenv("COURSE_DATA_DIR", str(copy))
    return copy


def test_tampered_asset_is_refused_before_the_run_folder_changes(capsys, run_copy, tampered_data):
    config, run = run_copy
    _flip_last_byte(tampered_data / "llm" / "model.safetensors")
    before = snapshot(run)
    line = refused(capsys, ["train", "--config", config, "--out", run, "--resume", "--no-progress"], "assets")
    assert "model.safetensors" in line and "python -m course_lib pretrain" in line
    assert snapshot(run) == before


def test_missing_asset_file_is_refused_before_anything_is_written(capsys, tmp_path, tampered_data):
    (tampered_data / "tokenizer" / "tokenizer.json").unlink()
    line = refused(capsys, ["train", "--out", tmp_path / "new", "--max-steps", "1"], "assets")
    assert "tokenizer.json" in line
    assert not (tmp_path / "new").exists()


def test_resume_of_the_intact_folder_still_works(capsys, run_copy):
    """대조군: 같은 폴더를 망가뜨리지 않으면 같은 명령이 재개해 끝까지 간다(위 거부들이 폴더 탓이 아님을 보인다)."""
    config, run = run_copy
    assert main(["train", "--config", str(config), "--out", str(run), "--resume", "--max-steps", "3",
                 "--no-progress"]) == 0
    assert (run / "checkpoints" / "step-0000003").is_dir()


# ---------------------------------------------------------------- pretrain, doctor

@pytest.mark.parametrize("argv, field", [
    (["--siglip-steps", "0"], "siglip-steps"),
    (["--llm-steps", "-5"], "llm-steps"),
    (["--n-train-scenes", "many"], "n-train-scenes"),
    (["--seed", "-2"], "seed"),
], ids=["siglip-steps 0", "llm-steps -5", "n-train-scenes many", "seed -2"])
def test_pretrain_refuses_bad_values_before_training(capsys, tmp_path, argv, field):
    refused(capsys, ["pretrain", "--out", tmp_path / "data", *argv], field)
    assert not (tmp_path / "data").exists()


def test_pretrain_refuses_out_that_is_a_file(capsys, files):
    refused(capsys, ["pretrain", "--out", files / "a_file", "--siglip-steps", "1"], "out")


@pytest.mark.parametrize("argv, field", [
    (["--preset", "huge"], "preset"),
    (["--gpu-gib", "16"], "gpu-gib"),
    (["--preset", "colab", "--gpu-gib", "nan"], "gpu-gib"),
    (["--preset", "colab", "--gpu-gib", "-4"], "gpu-gib"),
    (["--preset", "colab", "--gpu-gib", "lots"], "gpu-gib"),
    (["--data-dri", "data"], "data-dri"),
], ids=["preset huge", "gpu-gib without preset", "gpu-gib nan", "gpu-gib negative", "gpu-gib text", "typo"])
def test_doctor_refuses_bad_arguments(capsys, argv, field):
    refused(capsys, ["doctor", *argv], field)


# ---------------------------------------------------------------- exercises, badges (저장소의 임시 사본)

@pytest.fixture
def repo_copy(tmp_path):
    """강의 도구가 쓰는 부분만 복사한 저장소(pyproject, README, INSTRUCTORS, notebooks/)."""
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks")
    for name in ("pyproject.toml", "README.md", "INSTRUCTORS.md"):
        shutil.copy2(REPO_ROOT / name, root / name)
    return root


def _drop_end_marker(root: Path) -> None:
    import nbformat

    path = next(p for p in sorted((root / "notebooks").glob("*.ipynb"))
                if "### END SOLUTION" in p.read_text(encoding="utf-8"))
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "### END SOLUTION" in c.source)
    cell.source = cell.source.replace("### END SOLUTION", "# (지워진 표시)", 1)
    nbformat.write(nb, path)


def _truncate_notebook(root: Path) -> None:
    _truncate(root / "notebooks" / "03_dora_decomposition.ipynb")


def _drop_course_table(root: Path) -> None:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    (root / "pyproject.toml").write_text(text.replace("[tool.course]", "[tool.other]"), encoding="utf-8")


def _break_toml(root: Path) -> None:
    (root / "pyproject.toml").write_text("[project\nname = ", encoding="utf-8")


REPO_BAD = [
    (["exercises", "release"], _drop_end_marker, "notebook"),
    (["exercises", "release"], _truncate_notebook, "notebook"),
    (["badges"], _truncate_notebook, "notebook"),
    (["badges"], _drop_course_table, "pyproject"),
    (["badges", "--check"], _break_toml, "pyproject"),
    (["exercises", "check"], _drop_end_marker, "notebook"),
]


@pytest.mark.parametrize("argv, damage, field", REPO_BAD,
                         ids=[f"{' '.join(a)} / {d.__name__.strip('_')}" for a, d, _ in REPO_BAD])
def test_repository_commands_refuse_and_change_nothing(capsys, repo_copy, argv, damage, field):
    damage(repo_copy)
    before = snapshot(repo_copy)
    refused(capsys, [*argv, "--root", repo_copy], field)
    assert snapshot(repo_copy) == before, "거부된 명령이 저장소 사본을 바꿨다"


def test_repository_arguments(capsys, tmp_path, repo_copy, files):
    refused(capsys, ["exercises"], "action")
    refused(capsys, ["exercises", "relase"], "action")
    refused(capsys, ["exercises", "check", "--root", tmp_path / "nowhere"], "root")
    (tmp_path / "not_a_repo").mkdir()
    refused(capsys, ["badges", "--check", "--root", tmp_path / "not_a_repo"], "root")
    before = snapshot(repo_copy)
    refused(capsys, ["exercises", "release", "--root", repo_copy, "--out", files / "a_file"], "out")
    assert snapshot(repo_copy) == before


def test_repository_copy_is_used_by_the_commands(capsys, repo_copy):
    """대조군: 망가뜨리지 않은 사본에서는 명령이 그 사본만 읽고 쓴다(release → check 통과 → 사본을 고치면 낡음)."""
    assert main(["exercises", "release", "--root", str(repo_copy)]) == 0
    assert main(["exercises", "check", "--root", str(repo_copy)]) == 0
    student = repo_copy / "notebooks" / "student" / "02_lora_parameter_arithmetic.ipynb"
    student.write_text(student.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert main(["exercises", "check", "--root", str(repo_copy)]) == 1
    out = capsys.readouterr().out
    assert "02_lora_parameter_arithmetic.ipynb: 원본과 맞지 않습니다" in out
    assert str(REPO_ROOT / "notebooks") not in out


# ---------------------------------------------------------------- torch 없이 뜨는 파서, 깨진 설치의 doctor

def _python(code: str, env: dict | None = None, timeout: int = 120):
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def test_help_and_argument_errors_import_no_torch():
    """torch·transformers·open_clip·peft를 import할 수 없게 막아도(sys.modules에 None) 모든 --help와 인자 오류가 뜬다."""
    result = _python(f"""
        import contextlib, io, json, sys
        for name in {HEAVY!r}:
            sys.modules[name] = None  # 이 이름을 import하면 ImportError
        from course_lib.__main__ import COMMANDS, main
        runs = [[]] + [[c] for c in COMMANDS] + [["exercises", a] for a in ("release", "check", "list")]
        codes = {{}}
        for words in runs:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    main([*words, "--help"])
                except SystemExit as stop:
                    codes[" ".join(words) or "(없음)"] = (stop.code, "usage" in out.getvalue())
        codes["bad int"] = (main(["train", "--max-steps", "abc"]), True)
        codes["gpu-gib"] = (main(["doctor", "--gpu-gib", "1"]), True)
        print(json.dumps(codes, ensure_ascii=False))
        """)
    assert result.returncode == 0, result.stderr
    codes = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(codes) == 1 + 6 + 3 + 2
    for words, (code, usage) in codes.items():
        expected = 2 if words in ("bad int", "gpu-gib") else 0
        assert code == expected and usage, (words, code)
    assert "Traceback" not in result.stderr


def test_help_is_fast_on_a_clean_interpreter():
    """`python -m course_lib train --help`가 무거운 모듈을 하나도 불러오지 않는다(-X importtime의 목록으로 확인)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "course_lib", "train", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--max-steps" in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_preset_choices_match_the_presets():
    from course_lib import presets

    assert tuple(sorted(PRESET_NAMES)) == tuple(sorted(presets.PRESETS))


def _fake_package(root: Path, name: str, error: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(f"raise {error}\n", encoding="utf-8")


@pytest.fixture
def small_data(tmp_path):
    from course_lib import assets

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "weights.bin").write_bytes(b"w")
    assets.write_manifest([tmp_path / "data" / "weights.bin"], data_dir=tmp_path / "data", seed=0)
    return tmp_path / "data"


def test_doctor_reports_a_broken_torch_instead_of_crashing(tmp_path, small_data):
    """torch를 import하면 OSError(없는 CUDA 라이브러리)가 나는 설치: doctor는 실패 줄과 고칠 방법을 내고 1로 끝난다."""
    _fake_package(tmp_path / "fake", "torch", 'OSError("libtorch_cuda.so: cannot open shared object file")')
    env = {"PYTHONPATH": f"{tmp_path / 'fake'}{os.pathsep}{REPO_ROOT}"}
    runs = {}
    for name, argv in (("full", ["doctor", "--data-dir", str(small_data)]), ("preset", ["doctor", "--preset", "mini"])):
        result = _python(f"import sys; from course_lib.__main__ import main; sys.exit(main({argv!r}))", env)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        torch_line = next(line for line in result.stdout.splitlines() if line.startswith("[실패] torch "))
        assert "OSError" in torch_line and "libtorch_cuda.so" in torch_line
        assert 'pip install -e ".[dev]"' in result.stdout
        runs[name] = result.stdout
    assert "  - peft: torch를 먼저 고치세요" in runs["full"]  # torch에 기대는 패키지는 torch부터 고치라고 한다
    assert "[정상] data/weights.bin" in runs["full"]  # 나머지 점검도 끝까지 돈다
    assert "peft" not in runs["preset"]  # --preset 보고는 torch 한 줄


def test_doctor_reports_a_torchvision_that_does_not_match(tmp_path, small_data):
    """torchvision이 torch와 짝이 맞지 않아 import에서 실패하는 설치: torchvision과 open_clip이 실패 줄, 고칠 방법."""
    _fake_package(tmp_path / "fake", "torchvision",
                  'RuntimeError("operator torchvision::nms does not exist")')
    env = {"PYTHONPATH": f"{tmp_path / 'fake'}{os.pathsep}{REPO_ROOT}"}
    result = _python(f"import sys; from course_lib.__main__ import main; sys.exit(main(['doctor', '--data-dir', "
                     f"{str(small_data)!r}]))", env, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("[실패] torchvision ") and "torchvision::nms" in line for line in lines)
    assert any(line.startswith("[실패] open_clip_torch") for line in lines)
    assert "짝이 맞는 torchvision" in result.stdout
    assert any(line.startswith("[정상] torch ") for line in lines)  # torch 자체는 멀쩡하다


def test_torch_torchvision_pairing_rule():
    from course_lib.tooling import doctor

    good = doctor.check_torch_pair({"torch": "2.14.1+cu130", "torchvision": "0.29.1+cu130"})
    assert good.status == doctor.OK
    bad = doctor.check_torch_pair({"torch": "2.14.1", "torchvision": "0.28.0"})
    assert bad.status == doctor.FAIL and "torchvision==0.29.*" in bad.fix and "0.28.0" in bad.detail
    assert doctor.check_torch_pair({"torch": "2.4.0", "torchvision": "0.19.1"}).status == doctor.OK
    assert doctor.check_torch_pair({"torch": "2.4.0", "torchvision": None}) is None
    installed = doctor.check_torch_pair()  # 이 기계의 설치는 짝이 맞는다
    assert installed is None or installed.status == doctor.OK, installed
