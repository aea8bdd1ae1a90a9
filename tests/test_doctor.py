"""환경 점검(`python -m course_lib doctor`)."""
import os
import subprocess
import sys

import pytest

from course_lib import assets
from course_lib.display import display_width
from course_lib.tooling import doctor


@pytest.fixture
def good_data(tmp_path):
    (tmp_path / "llm.safetensors").write_bytes(b"weights")
    assets.write_manifest([tmp_path / "llm.safetensors"], data_dir=tmp_path, seed=0)
    return tmp_path


def _run_doctor(data_dir):
    env = {**os.environ, "COURSE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "course_lib", "doctor"], env=env, capture_output=True, text=True, timeout=300
    )


def test_doctor_reports_missing_asset_and_fails(good_data):
    """자산 파일 하나가 없으면: 종료 코드 ≠ 0, 메시지에 파일 이름과 고치는 명령."""
    (good_data / "llm.safetensors").unlink()
    result = _run_doctor(good_data)
    assert result.returncode != 0, result.stdout
    assert "llm.safetensors" in result.stdout
    assert "파일 없음" in result.stdout
    assert "python -m course_lib pretrain" in result.stdout
    # 나머지 보고도 빠짐없이 출력된다
    for name in ("Python", "torch", "transformers", "peft", "bitsandbytes", "open_clip_torch", "GPU", "bf16", "한글 글꼴"):
        assert name in result.stdout
    assert "kernels-community" not in result.stderr, "무해한 bitsandbytes 경고는 doctor가 숨긴다"


def test_doctor_asset_checks_in_process(good_data):
    checks = doctor.check_assets(good_data)
    assert [(c.name, c.status) for c in checks] == [("data/llm.safetensors", doctor.OK)]

    (good_data / "llm.safetensors").write_bytes(b"tampered")
    (bad,) = doctor.check_assets(good_data)
    assert bad.status == doctor.FAIL and "해시" in bad.detail and "pretrain" in bad.fix

    (good_data / "MANIFEST.json").unlink()
    (missing,) = doctor.check_assets(good_data)
    assert missing.status == doctor.FAIL and "MANIFEST.json" in missing.detail
    assert "python -m course_lib pretrain" in missing.fix


def test_doctor_main_exit_code(good_data, capsys, monkeypatch):
    """정상과 참고(범위 밖 버전)만 있으면 0, 실패가 하나라도 있으면 1. 이 기계의 설치와 상관없도록 점검 결과를 준다."""
    passing = [doctor.Check("torch", doctor.OK, "2.14.1"), doctor.Check("pytest", doctor.WARN, "범위 밖")]
    seen = []
    monkeypatch.setattr(doctor, "run_checks", lambda data_dir=None: seen.append(data_dir) or list(passing))
    assert doctor.main(good_data) == 0 and seen == [good_data]
    assert "모든 점검을 통과했습니다" in capsys.readouterr().out
    passing.append(doctor.Check("한글 글꼴", doctor.FAIL, "없음", "고치기"))
    assert doctor.main(good_data) == 1
    out = capsys.readouterr().out
    assert "문제 1개" in out and "고치기" in out


def test_missing_package_is_a_failure():
    check = doctor.check_package("no-such-package-xyz", "no_such_package_xyz", ">=1")
    assert check.status == doctor.FAIL and 'pip install -e ".[dev]"' in check.fix


def test_version_outside_range_is_only_a_note():
    check = doctor.check_package("pytest", "pytest", "<1")
    assert check.status == doctor.WARN and "<1" in check.detail


def test_requirements_are_read_from_project():
    specs = doctor._requirements()
    for dist, _ in doctor.CORE_PACKAGES:
        assert dist.replace("_", "-") in specs, dist


def test_report_columns_align_with_hangul():
    report = doctor.format_report(
        [doctor.Check("torch", doctor.OK, "A"), doctor.Check("한글 글꼴", doctor.OK, "B")]
    )
    lines = [line for line in report.splitlines() if line.startswith("[")]
    widths = [display_width(line[:-1]) for line in lines]  # 설명("A", "B")이 시작하는 칸
    assert len(set(widths)) == 1, lines
