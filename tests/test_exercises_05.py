"""노트북 05 연습문제: 풀이는 받아들이고 등록된 틀린 답은 모두 거절한다. 05.2·05.3의 정답은 bitsandbytes와, 05.5의
정답은 측정과 맞춰 본다."""
from __future__ import annotations

import pytest
import torch

bnb_functional = pytest.importorskip("bitsandbytes.functional")

from course_lib import quant, weight_memory  # noqa: E402
from course_lib.tooling.exercises import REGISTRY, ex05, load_all, verdict  # noqa: E402

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()


def _codebook(bits):
    # 학습자가 노트북의 NF4 코드북 셀을 k비트로 일반화한 풀이
    n = 2**bits
    offset = ((1 - 1 / (2 * (n - 1))) + (1 - 1 / (2 * n))) / 2
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, n // 2 + 1)[:-1].double()).float()
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, n // 2)[:-1].double()).float()
    values = torch.cat([negative, torch.zeros(1), positive]).sort().values
    return values / values.max()


def _roundtrip(x, codebook, blocksize):
    # 자투리 블록을 0으로 채워 꽉 찬 블록으로 만든 뒤, 복원하고 잘라 낸다
    flat = x.reshape(-1).float()
    blocks = torch.nn.functional.pad(flat, (0, -flat.numel() % blocksize)).reshape(-1, blocksize)
    absmax = blocks.abs().max(dim=1, keepdim=True).values
    scaled = (blocks / absmax).clamp(-1, 1)
    codes = torch.bucketize(scaled, (codebook[:-1] + codebook[1:]) / 2)
    return (codebook[codes] * absmax).reshape(-1)[: flat.numel()].reshape(x.shape)


def _lm_head_too(config):
    lm_head = config.vocab_size * config.hidden_size
    return (weight_memory.quantized_model_bytes(config, "nf4+dq") - 2 * lm_head
            + weight_memory.nf4_weight_bytes(lm_head, double_quant=True))


SOLUTIONS = {
    "05.1": 3 + 8 / 64 + 32 / (64 * 256),
    "05.2": _codebook,
    "05.3": _roundtrip,
    "05.4": _lm_head_too,
    "05.5": "다",
}


def test_every_exercise_of_05_has_a_solution_here():
    assert sorted(k for k in REGISTRY if k.startswith("05.")) == sorted(SOLUTIONS)


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


def test_normal_float_reference_is_nf4_at_four_bits_and_symmetric_in_count():
    assert torch.allclose(ex05.normal_float_codebook(4), bnb_functional.get_4bit_type("nf4", device="cpu"), atol=1e-6)
    for bits in (2, 3, 5):
        book = ex05.normal_float_codebook(bits)
        assert (book < 0).sum() == 2 ** (bits - 1) - 1 and (book > 0).sum() == 2 ** (bits - 1) and (book == 0).sum() == 1


def test_roundtrip_reference_equals_bitsandbytes_nf4_with_a_tail_block():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(3))  # 1000 = 64·15 + 40: 자투리 블록 하나
    packed, state = bnb_functional.quantize_4bit(x, quant_type="nf4", blocksize=64, compress_statistics=False)
    expected = bnb_functional.dequantize_4bit(packed, state).reshape(-1)
    assert torch.equal(ex05.blockwise_roundtrip(x, quant.nf4_codebook(), 64), expected)


def test_lm_head_reference_counts_the_stored_tensors():
    from transformers import Qwen3Config

    config = Qwen3Config(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False)
    lm_head = torch.randn(config.vocab_size, config.hidden_size)
    stored = sum(t.numel() * t.element_size() for t in quant.quantize_nf4(lm_head).storage_tensors())
    assert ex05.lm_head_too_bytes(config) - weight_memory.quantized_model_bytes(config, "nf4+dq") == stored - 2 * lm_head.numel()


def test_outlier_prediction_matches_measurement():
    x = torch.randn(256, 256, generator=torch.Generator().manual_seed(1)) * 0.02
    assert ex05.outlier_rmse_ratio(x) >= 5  # 보기 "다"
    assert ex05.outlier_rmse_ratio(x, factor=1) == pytest.approx(1.0)  # 이상값이 원래 absmax와 같으면 그대로
