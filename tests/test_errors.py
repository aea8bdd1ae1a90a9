"""오류 도우미(course_lib.errors): 한 줄 설정 오류, "뜻했나요?" 한 마디, 설정 칸 경로 펴기."""
from __future__ import annotations

import json

from course_lib import presets
from course_lib.errors import ConfigError, config_error, config_leaves, did_you_mean


def test_config_error_names_the_key_in_korean_and_english():
    err = config_error("lora.r", "1 이상이어야 합니다", "must be >= 1")
    assert isinstance(err, ConfigError) and isinstance(err, ValueError)
    assert str(err) == "lora.r: 1 이상이어야 합니다 (lora.r: must be >= 1)"
    assert str(err.under("stages.1")) == "stages.1.lora.r: 1 이상이어야 합니다 (stages.1.lora.r: must be >= 1)"


def test_did_you_mean_suggests_only_a_close_name():
    assert did_you_mean("batsh_size", ["batch_size", "epochs", "grad_accum"]) == " 'batch_size'을(를) 뜻했나요?"
    assert did_you_mean("trian", ["train", "pretrain", "doctor"]) == " 'train'을(를) 뜻했나요?"
    assert did_you_mean("xyz", ["train", "pretrain", "doctor"]) == ""
    assert did_you_mean(3, ["3.0"]) == ""  # 글자가 아닌 값도 글자로 견준다(JSON의 수 키)


def test_config_leaves_are_the_override_paths():
    """펴낸 경로는 `--set`이 받는 경로와 같다: 단계는 번호로, LoRA는 lora.칸으로, 모듈 목록은 값 하나로."""
    config = presets.mini()
    leaves = config_leaves(json.loads(config.to_json()))
    assert leaves["stages.1.epochs"] == config.stages[1].epochs
    assert leaves["lora.r"] == config.lora.r
    assert leaves["lora.target_modules"] == list(config.lora.target_modules)
    assert "stages" not in leaves and "lora" not in leaves
    assert config_leaves({"a": {"b": [], "c": [1, 2]}, "d": [{"e": 1}, {"e": 2}]}) == {
        "a.b": [], "a.c": [1, 2], "d.0.e": 1, "d.1.e": 2}
