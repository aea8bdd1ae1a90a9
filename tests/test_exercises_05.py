"""노트북 05 연습문제: 풀이는 받아들이고 등록된 틀린 답은 모두 거절한다. 05.2·05.3의 기준은 성질(오차가 줄어든다,
복원 오차가 반 칸 안)로, 05.5의 정답은 측정으로 확인한다."""
from __future__ import annotations

import pytest
import torch

bnb_functional = pytest.importorskip("bitsandbytes.functional")

from course_lib import quant, weight_memory  # noqa: E402
from course_lib.tooling.exercises import REGISTRY, ex05, load_all  # noqa: E402

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()


def _lloyd(values, codebook, steps):
    # 로이드 반복을 코드마다 도는 반복문으로(기준은 index_add로 한 번에): −1, 0, +1은 그대로, 빈 코드도 그대로
    book = codebook.clone()
    for _ in range(steps):
        codes = torch.bucketize(values, (book[:-1] + book[1:]) / 2)
        for i, code in enumerate(book.tolist()):
            chosen = values[codes == i]
            if code not in (-1.0, 0.0, 1.0) and chosen.numel():
                book[i] = chosen.mean()
    return book


def _affine(x, blocksize, bits):
    # 블록을 하나씩 잘라(자투리도 제 원소만으로), 반올림은 floor(+0.5)로: 기준(torch.round, 한 번에)과 다른 길
    flat, levels, out = x.reshape(-1).float(), 2**bits - 1, []
    for start in range(0, flat.numel(), blocksize):
        block = flat[start:start + blocksize]
        lo, hi = block.min(), block.max()
        if hi == lo:
            out.append(block.clone())
            continue
        scale = (hi - lo) / levels
        out.append(lo + torch.floor((block - lo) / scale + 0.5).clamp(0, levels) * scale)
    return torch.cat(out).reshape(x.shape)


def _lm_head_too(config):
    lm_head = config.vocab_size * config.hidden_size
    return (weight_memory.quantized_model_bytes(config, "nf4+dq") - 2 * lm_head
            + weight_memory.nf4_weight_bytes(lm_head, double_quant=True))


SOLUTIONS = {
    "05.1": 3 + 8 / 64 + 32 / (64 * 256),
    "05.2": _lloyd,
    "05.3": _affine,
    "05.4": _lm_head_too,
    "05.5": "c",  # (c) 5배 이상: test_outlier_prediction_matches_measurement가 재어 확인
}


def test_every_exercise_of_05_has_a_solution_here():
    assert sorted(k for k in REGISTRY if k.startswith("05.")) == sorted(SOLUTIONS)


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


def test_normal_float_reference_is_nf4_at_four_bits_and_symmetric_in_count():
    assert torch.allclose(ex05.normal_float_codebook(4), bnb_functional.get_4bit_type("nf4", device="cpu"), atol=1e-6)
    for bits in (2, 3, 5):
        book = ex05.normal_float_codebook(bits)
        assert (book < 0).sum() == 2 ** (bits - 1) - 1 and (book > 0).sum() == 2 ** (bits - 1) and (book == 0).sum() == 1


def test_lloyd_reference_lowers_the_error_on_its_data_and_keeps_the_fixed_codes():
    for values, start, steps in ex05._lloyd_cases():
        book = ex05.lloyd_codebook(values, start, steps)
        mse = lambda b: (b[quant.nearest_code(values, b).long()] - values).pow(2).mean().item()  # noqa: E731
        assert mse(book) <= mse(start) and bool((book[1:] > book[:-1]).all())
        fixed = torch.isin(start, torch.tensor(ex05.FIXED_CODES))
        assert int(fixed.sum()) == 3 and torch.equal(book[fixed], start[fixed])
    values, start, steps = ex05._lloyd_cases()[2]   # 이상값 블록: 빈 코드가 실제로 생긴다(그래서 "빈 코드는 그대로"를 가른다)
    counts = torch.bincount(quant.nearest_code(values, start).long(), minlength=start.numel())
    assert (counts == 0).any()


def test_affine_reference_stays_within_half_a_step_and_keeps_each_blocks_range():
    for x, blocksize, bits in ex05._affine_cases():
        restored = ex05.affine_roundtrip(x, blocksize, bits)
        flat, out = x.reshape(-1), restored.reshape(-1)
        for start in range(0, flat.numel(), blocksize):
            block, back = flat[start:start + blocksize], out[start:start + blocksize]
            step = (block.max() - block.min()) / (2**bits - 1)
            assert (back - block).abs().max() <= step / 2 + 1e-6
            assert back.min() == block.min()   # 최솟값은 코드 0: 오차 없이
    positive, blocksize, _ = ex05._affine_cases()[1]
    assert positive.min() > 0 and positive.numel() % blocksize  # 모두 양수이고 자투리가 있다: 0으로 채우면 틀린다


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
