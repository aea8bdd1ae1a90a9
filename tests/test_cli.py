"""명령줄의 나쁜 입력: 학습자가 실제로 칠 법한 틀린 명령 하나하나가 트레이스백 없이 한 줄(`키: 한국어 (키: English)`)로
거부되고(종료 코드 2), 이미 있던 실행 폴더·저장소는 바이트까지 그대로다. 그리고 파서는 torch 없이 뜬다.

모두 `course_lib.__main__.main([...])`을 거친다(명령줄과 같은 경로). 오류 경로가 트레이스백으로 돌아가면
(예외가 `main` 밖으로 새면) 테스트가 그 예외로 실패하고, 한 줄이 아니거나 칸 이름이 빠져도 실패한다.
"""
from __future__ import annotations

import importlib
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


def _listed_commands(text: str) -> set[str]:
    """argparse 도움말의 명령 줄(들여쓰기 4칸 + 명령 이름). 설명이 넘쳐 이어진 줄은 더 깊이 들여쓴다."""
    return {m[1] for line in text.splitlines() if (m := re.match(r"^ {4}(\S+)", line))}


def test_no_command_prints_the_command_list(capsys):
    """`python -m course_lib`만 치면 git·pip처럼 명령 목록(명령마다 한 줄 설명)을 보이고 0으로 끝난다."""
    from course_lib.__main__ import COMMANDS

    assert main([]) == 0
    out, err = capsys.readouterr()
    assert err == "" and _listed_commands(out) == set(COMMANDS)
    assert COMMANDS["train"].help in out and "<명령> --help" in out


def test_option_typo_without_a_command_lists_commands_and_suggests_help(capsys):
    """`python -m course_lib --hlep`: 명령 목록(표준 출력)과, 가장 가까운 인자 --help를 권하는 한 줄(표준 오류, 종료 2)."""
    from course_lib.__main__ import COMMANDS

    line = refused(capsys, ["--hlep"], "hlep")
    assert "'--help'을(를) 뜻했나요?" in line and "python -m course_lib --help" in line
    status = main(["--hlep"])
    assert status == 2 and _listed_commands(capsys.readouterr().out) == set(COMMANDS)
    line = refused(capsys, ["--zzz"], "zzz")  # 비슷한 인자가 없어도 --help를 권한다
    assert "뜻했나요" not in line and "python -m course_lib --help" in line


def test_option_typo_after_a_command_suggests_that_commands_option(capsys, tmp_path):
    line = refused(capsys, ["train", "--max-stpes", "3", "--out", tmp_path / "r"], "max-stpes")
    assert "'--max-steps'을(를) 뜻했나요?" in line and "python -m course_lib train --help" in line


# ---------------------------------------------------------------- train: --out의 기본값은 프리셋마다

@pytest.mark.parametrize("argv, expected", [
    ([], "runs/mini"),
    (["--preset", "full"], "runs/full"),
    (["--preset", "mini-v1", "--seed", "3"], "runs/mini-v1"),
    (["--out", "elsewhere"], "elsewhere"),
], ids=["no preset", "full", "mini-v1", "explicit --out"])
def test_train_out_defaults_to_runs_slash_preset(monkeypatch, argv, expected):
    """--out이 없으면 runs/<프리셋>: full 실행이 mini 실행 폴더에 쓰거나 그 폴더 때문에 거부되지 않는다."""
    from course_lib.training import main_job

    seen = []
    monkeypatch.setattr(main_job, "run", lambda args: seen.append(args.out) or 0)
    assert main(["train", *argv]) == 0
    assert seen == [expected]


def test_train_out_with_config_follows_the_config_preset_field(monkeypatch, tmp_path, files):
    from course_lib.training import main_job

    seen = []
    monkeypatch.setattr(main_job, "run", lambda args: seen.append(args.out) or 0)
    config = json.loads((files / "good.json").read_text())
    for preset, expected in (("my-run", "runs/my-run"), ("../up", "runs/custom"), ("", "runs/custom")):
        (tmp_path / "c.json").write_text(json.dumps(dict(config, preset=preset)))
        assert main(["train", "--config", str(tmp_path / "c.json")]) == 0
        assert seen.pop() == expected, preset


def test_train_out_default_is_not_chosen_for_a_bad_config(capsys, monkeypatch, files):
    """기본 폴더를 정하려고 설정을 읽다가 틀린 설정을 만나면, 학습 전과 같은 한 줄로 거부한다."""
    from course_lib.training import main_job

    monkeypatch.setattr(main_job, "run", lambda args: pytest.fail("틀린 설정으로 학습을 시작했다"))
    refused(capsys, ["train", "--config", files / "broken.json"], "config")
    refused(capsys, ["train", "--set", "n_train=0"], "n_train")


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
    """실제로 한 걸음 학습한 실행 폴더(checkpoints/step-0000001, final/, metrics.jsonl). 테스트마다 복사해 쓴다.
    거부 사례는 걸음 수와 상관없고, 재개하는 대조군이 한 걸음 더 간다."""
    folder = tmp_path_factory.mktemp("run_src")
    config = folder / "tiny.json"
    config.write_text(json.dumps(TINY_RUN))
    status = main(["train", "--config", str(config), "--out", str(folder / "run"), "--max-steps", "1", "--no-progress"])
    assert status == 0
    assert (folder / "run" / "checkpoints" / "step-0000001" / "checksums.json").is_file()
    return folder


@pytest.fixture
def run_copy(run_folder, tmp_path):
    shutil.copytree(run_folder, tmp_path / "src")
    return tmp_path / "src" / "tiny.json", tmp_path / "src" / "run"


def _step(run: Path) -> Path:
    return run / "checkpoints" / "step-0000001"


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
    ("resume to no more steps", None, ["--resume", "--max-steps", "1"], "max-steps"),  # 체크포인트와 같은 걸음
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
        assert "lora.r: 2 → 4" in line and "fingerprint mismatch" in line  # 무엇이 다른지 말한다


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
    assert main(["train", "--config", str(config), "--out", str(run), "--resume", "--max-steps", "2",
                 "--no-progress"]) == 0
    assert (run / "checkpoints" / "step-0000002").is_dir()


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
    """강의 도구가 쓰는 부분만 복사한 저장소(pyproject, README, INSTRUCTORS, notebooks/, bench/results/)."""
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks")
    shutil.copytree(REPO_ROOT / "bench" / "results", root / "bench" / "results")
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
    (["readme"], _truncate_notebook, "notebook"),
    (["readme", "--check"], _drop_course_table, "pyproject"),
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


# ---------------------------------------------------------------- 내려받기 진행 막대(colab/full은 수 GB를 받는다)

def _hub_bars_on():
    """huggingface_hub의 막대를 켠 상태에서 시작한다. 사용자가 환경 변수로 끈 기계에서는 이 시험의 전제가 없다."""
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

    if importlib.import_module("huggingface_hub.utils.tqdm").HF_HUB_DISABLE_PROGRESS_BARS is True:
        pytest.skip("HF_HUB_DISABLE_PROGRESS_BARS=1: 이 기계에서는 사용자가 허브의 막대를 껐다")
    enable_progress_bars()
    assert not are_progress_bars_disabled()


def test_quiet_keeps_download_bars_and_hides_weight_loading_bars():
    """quiet.install() 뒤에도 허브의 내려받기 막대(hf_hub_download가 쓰는 이름)는 그려지고, transformers 자신의
    "Loading weights" 막대는 빈 막대다. 아무것도 내려받지 않는다(막대만 만들어 본다)."""
    import io

    from huggingface_hub.utils import are_progress_bars_disabled, tqdm as hub_tqdm
    from transformers.utils import logging as hf_logging

    from course_lib import quiet

    _hub_bars_on()
    quiet.install()
    quiet.install()  # 두 번 불러도 한 번과 같다
    assert not are_progress_bars_disabled()
    screen = io.StringIO()
    bar = hub_tqdm(total=10, desc="model.safetensors", file=screen, name="huggingface_hub.http_get")
    assert not bar.disable  # close()는 disable을 True로 바꾼다: 그 전에 본다
    bar.update(5)
    bar.close()
    assert "model.safetensors" in screen.getvalue() and "5/10" in screen.getvalue()
    assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.tqdm(range(3), desc="Loading weights").__class__ is hf_logging.EmptyTqdm


def test_quiet_leaves_hub_bars_off_when_the_user_turned_them_off(monkeypatch):
    """HF_HUB_DISABLE_PROGRESS_BARS=1로 끈 사용자의 설정은 켜지 않는다(경고도 내지 않는다)."""
    import warnings

    from huggingface_hub.utils import are_progress_bars_disabled

    from course_lib import quiet

    monkeypatch.setattr(importlib.import_module("huggingface_hub.utils.tqdm"), "HF_HUB_DISABLE_PROGRESS_BARS", True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.install()
    assert are_progress_bars_disabled()


def test_real_preset_starts_its_download_with_progress_bars_on(capsys, monkeypatch, tmp_path):
    """`train --preset colab --data …`가 허브에서 모델을 받기 시작하는 순간(`real.load_real_parts`) 허브의 막대가 켜져
    있다. GPU와 내려받기 대신 그 순간을 가짜로 바꿔 상태만 적고 멈춘다."""
    from types import SimpleNamespace

    from huggingface_hub.utils import are_progress_bars_disabled

    from course_lib import real_data
    from course_lib.errors import CourseError
    from course_lib.training import main_job

    _hub_bars_on()
    seen = []

    def load_real_parts(spec, *args):
        seen.append((spec.llm_repo, are_progress_bars_disabled()))
        raise CourseError("stop: 내려받기 앞에서 멈춤 (stop: before the download)")

    monkeypatch.setattr(main_job.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(main_job, "PartialState", lambda: SimpleNamespace(local_process_index=0))
    monkeypatch.setattr(main_job.real, "load_real_parts", load_real_parts)
    small = real_data.write_mini_world_dataset(tmp_path / "small", 4)
    refused(capsys, ["train", "--preset", "colab", "--data", small, "--set", "n_val=2", "--out", tmp_path / "r"], "stop")
    assert seen == [("Qwen/Qwen3-1.7B", False)]


# ---------------------------------------------------------------- 설치되지 않은 패키지: 트레이스백 대신 한 줄

@pytest.fixture
def without_nbformat(monkeypatch):
    """nbformat이 설치되지 않은 것처럼(import하면 ModuleNotFoundError). nbformat을 맨 위에서 부르는 강의 도구 모듈은
    다시 불러오게 내려놓는다(테스트가 끝나면 모두 되돌린다)."""
    import course_lib.tooling as tooling

    monkeypatch.setitem(sys.modules, "nbformat", None)
    for name in ("badges", "readme", "student", "glossary", "prose"):
        monkeypatch.delitem(sys.modules, f"course_lib.tooling.{name}", raising=False)
        monkeypatch.delattr(tooling, name, raising=False)


@pytest.mark.parametrize("argv", [["badges", "--check"], ["readme"], ["exercises", "list"], ["glossary"]],
                         ids=lambda argv: " ".join(argv))
def test_missing_nbformat_is_one_line_not_a_traceback(capsys, without_nbformat, argv):
    line = refused(capsys, argv, "dependency")
    assert "nbformat" in line and 'pip install -c constraints.txt -e ".[dev]"' in line


def test_missing_dependency_names_the_package_to_install():
    from course_lib.__main__ import missing_dependency

    assert "패키지 pyyaml가 설치되어 있지 않습니다" in str(missing_dependency(ModuleNotFoundError(name="yaml.loader")))
    broken = missing_dependency(ImportError("cannot import name 'v4' from 'nbformat'", name="nbformat"))
    assert "불러올 수 없습니다" in str(broken) and "cannot import name 'v4'" in str(broken)


def test_a_missing_course_lib_module_is_a_bug_and_keeps_its_traceback(monkeypatch):
    """강의 자신의 모듈을 못 찾는 것은 설치 문제가 아니라 버그다: 한 줄로 감추지 않는다."""
    from course_lib.__main__ import COMMANDS, Command

    def run(args):
        raise ModuleNotFoundError("No module named 'course_lib.nothing'", name="course_lib.nothing")

    monkeypatch.setitem(COMMANDS, "glossary", Command("x", lambda parser: None, run))
    with pytest.raises(ModuleNotFoundError):
        main(["glossary"])


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
        codes["no command"] = (main([]), True)
        codes["option typo"] = (main(["--hlep"]), True)
        print(json.dumps(codes, ensure_ascii=False))
        """)
    assert result.returncode == 0, result.stderr
    codes = json.loads(result.stdout.strip().splitlines()[-1])
    from course_lib.__main__ import COMMANDS

    assert len(codes) == 1 + len(COMMANDS) + 3 + 4
    for words, (code, usage) in codes.items():
        expected = 2 if words in ("bad int", "gpu-gib", "option typo") else 0
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


@pytest.mark.parametrize("installed, status", [
    ({"torch": "2.14.1+cu130", "torchvision": "0.29.1"}, "정상"),
    ({"torch": "2.14.1", "torchvision": "0.28.0"}, "실패"),
    ({"torch": "2.14.1"}, None),  # torchvision의 설치 정보가 없다: 다른 점검(패키지 줄)이 알린다
], ids=["pair", "mismatch", "no torchvision"])
def test_torch_pair_reads_the_installed_versions(monkeypatch, installed, status):
    """인자 없이 부르면 설치 정보(importlib.metadata)를 읽는다. 이 기계의 설치와 상관없도록 설치 정보를 준다."""
    import importlib.metadata

    from course_lib.tooling import doctor

    def version(dist):
        if dist not in installed:
            raise importlib.metadata.PackageNotFoundError(dist)
        return installed[dist]

    monkeypatch.setattr(doctor.importlib.metadata, "version", version)
    check = doctor.check_torch_pair()
    assert (check.status if check else None) == status
