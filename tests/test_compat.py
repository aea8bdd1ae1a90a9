"""경고 상자 없음: transformers 이름 바뀜을 흡수하는 `course_lib.compat`(두 길 모두), 좁은 경고 거르개 `course_lib.quiet`,
본 작업 출력에 FutureWarning이 없음, 시각 인코더를 불러도 임시 폴더가 남지 않음."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings

import pytest
import torch

from course_lib import REPO_ROOT, compat, quiet


class NewNames:
    """transformers 5.x의 모양: activation_checkpointing_* (옛 이름을 부르면 실패)."""

    def __init__(self):
        self.calls = []
        self._on = False

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None):
        self.calls.append(("enable", activation_checkpointing_kwargs))
        self._on = True

    def activation_checkpointing_disable(self):
        self.calls.append(("disable", None))
        self._on = False

    @property
    def is_activation_checkpointing(self):
        return self._on

    def gradient_checkpointing_enable(self, **kwargs):
        raise AssertionError("새 이름이 있는데 옛 이름을 불렀다")

    @property
    def is_gradient_checkpointing(self):
        raise AssertionError("새 이름이 있는데 옛 이름을 불렀다")


class OldNames:
    """transformers 4.x의 모양: gradient_checkpointing_*만 있다."""

    def __init__(self):
        self.calls = []
        self.is_gradient_checkpointing = False

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        self.calls.append(("enable", gradient_checkpointing_kwargs))
        self.is_gradient_checkpointing = True

    def gradient_checkpointing_disable(self):
        self.calls.append(("disable", None))
        self.is_gradient_checkpointing = False


@pytest.mark.parametrize("make", [NewNames, OldNames], ids=["transformers 5 names", "transformers 4 names"])
def test_compat_calls_the_name_the_model_has(make):
    model = make()
    assert compat.is_activation_checkpointing(model) is False
    compat.enable_activation_checkpointing(model)
    assert compat.is_activation_checkpointing(model) is True
    assert model.calls == [("enable", {"use_reentrant": False})]
    compat.enable_activation_checkpointing(model, use_reentrant=True)
    assert model.calls[-1] == ("enable", {"use_reentrant": True})
    compat.disable_activation_checkpointing(model)
    assert compat.is_activation_checkpointing(model) is False and model.calls[-1] == ("disable", None)


def test_compat_on_the_installed_transformers_warns_nothing():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, head_dim=8)).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 어떤 경고든 실패
        compat.enable_activation_checkpointing(model)
        assert compat.is_activation_checkpointing(model)
        compat.disable_activation_checkpointing(model)
        assert not compat.is_activation_checkpointing(model)


def _warn_from(module: str, message: str, category=FutureWarning) -> None:
    """`module` 안의 코드가 낸 것처럼 경고를 낸다(거르개는 메시지와 모듈을 함께 본다)."""
    warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1, module=module)


def test_quiet_filters_only_the_listed_warning():
    peft_message = ("`is_gradient_checkpointing` is deprecated and will be removed in v6. Use "
                    "`is_activation_checkpointing` instead.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.install()
        quiet.install()  # 두 번 불러도 한 번과 같다
        _warn_from("transformers.modeling_utils", peft_message)
        _warn_from("transformers.modeling_utils", "`gradient_checkpointing_enable` is deprecated and will be removed")
        _warn_from("course_lib.somewhere", peft_message)  # 같은 글이라도 다른 곳에서 나면 보인다
        warnings.warn("something else", UserWarning)
    shown = [(str(w.message), w.filename) for w in caught]
    assert [m for m, f in shown if "is_gradient_checkpointing" in m] == [(peft_message)]
    assert any("gradient_checkpointing_enable" in m for m, _ in shown)  # 강의 코드가 부르는 옛 이름은 드러난다
    assert any(m == "something else" for m, _ in shown)
    for *_, why in quiet.HARMLESS_WARNINGS + quiet.HARMLESS_LOGS:
        assert len(why.strip()) > 20, "거르는 줄마다 왜 무해한지 적는다"


def test_peft_warning_is_filtered_when_lora_is_added():
    """peft의 get_peft_model이 is_gradient_checkpointing(옛 이름)을 읽어 FutureWarning을 낸다: quiet가 그것만 거른다."""
    from course_lib import training
    from course_lib.models.pretrained import load_llm

    settings = training.LoraSettings(r=2, alpha=4, target_modules=("q_proj",))
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        training.add_lora(load_llm(), settings)
    assert any("is_gradient_checkpointing" in str(w.message) for w in raw), "peft가 더는 옛 이름을 읽지 않는다: " \
        "quiet.HARMLESS_WARNINGS의 줄을 지울 때"
    with warnings.catch_warnings(record=True) as filtered:
        warnings.simplefilter("always")
        quiet.install()
        training.add_lora(load_llm(), settings, gradient_checkpointing=True)
    assert [str(w.message) for w in filtered if issubclass(w.category, FutureWarning)] == []


def test_main_job_prints_no_warning(tmp_path):
    """짧은 본 작업(`--max-steps`, 작은 n_train)의 출력 전체에 경고 상자(…Warning)가 없다."""
    cmd = [sys.executable, "-m", "course_lib", "train", "--out", str(tmp_path / "run"), "--max-steps", "2",
           "--set", "n_train=64", "--set", "n_val=8", "--set", "checkpoint_every=1", "--no-progress"]
    done = subprocess.run(cmd, cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Warning" not in output and "Traceback" not in output, output
    assert "--max-steps 2에서 멈췄습니다" in done.stdout


def test_loading_the_encoder_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """`register_siglip_config`는 부를 때마다 임시 폴더를 만들었다(지우지 않음). 두 번 불러도 새 폴더가 없어야 한다."""
    from course_lib.models import pretrained

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # 이 테스트가 만드는 임시 파일은 모두 여기로
    first = pretrained.load_siglip()
    second = pretrained.load_siglip()
    assert list(scratch.iterdir()) == []
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)  # 등록한 설정이 지워진 뒤에도 같은 모델이 만들어진다
