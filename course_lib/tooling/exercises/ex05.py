"""노트북 05(NF4 양자화와 QLoRA)의 연습문제 채점.

노트북이 보여 준 것(NF4 = 4비트, 블록 64, 길이가 64의 배수인 텐서, lm_head는 bf16)을 바꾼 경우를 묻는다:
3비트 코드의 비트 예산, k비트 NormalFloat 코드북, 아무 코드북·블록 크기·자투리 블록의 양자화, lm_head까지 4비트로.
"""
from __future__ import annotations

import bitsandbytes.functional as bnb_functional
import torch
from transformers import Qwen3Config

from course_lib import quant, weight_memory
from course_lib.lora import count_model_parameters
from course_lib.tooling.exercises import Wrong, close, exercise

_BITS_3BIT_DQ = 3 + 8 / 64 + 32 / (64 * 256)


@exercise("05.1", title="3비트 코드 + 블록 64 + 이중 양자화의 파라미터당 비트", level="🐢",
          wrong_answers=[4 + 8 / 64 + 32 / (64 * 256), 3 + 32 / 64, 3 + 8 / 64, 3.0])
def check_bits_3bit(answer):
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        raise Wrong("비트 수를 float 하나로 답하세요.")
    if close(answer, 4 + 8 / 64 + 32 / (64 * 256)):
        raise Wrong("그것은 NF4(4비트 코드)의 값입니다. 코드 하나가 3비트입니다.")
    if close(answer, 3 + 32 / 64):
        raise Wrong("이중 양자화를 빼고 셌습니다(absmax를 float32로 둔 값). absmax는 8비트로 줄어듭니다.")
    if close(answer, 3 + 8 / 64):
        raise Wrong("2단계 absmax(256블록마다 float32 하나)가 빠졌습니다.")
    if not close(answer, _BITS_3BIT_DQ, rel=1e-9):
        raise Wrong("3비트 코드 + 블록마다 8비트 absmax(÷64) + 256블록마다 32비트(÷(64·256))를 더하세요.")


def normal_float_codebook(bits: int) -> torch.Tensor:
    """05.2의 정답: k비트 NormalFloat 코드북(QLoRA의 구성을 k비트로). 2^k개, 오름차순, [-1, 1], 정확한 0 하나."""
    n = 2**bits
    offset = 0.5 * ((1 - 1 / (2 * (n - 1))) + (1 - 1 / (2 * n)))
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, n // 2 + 1)[:-1].double())
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, n // 2)[:-1].double())
    values = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    return (values / values.max()).float()


def _codebook_fixed_offset(bits: int) -> torch.Tensor:
    """틀린 답: 비트 수와 상관없이 NF4의 가장 바깥 분위수(0.9677)를 쓴다."""
    n = 2**bits
    positive = torch.special.ndtri(torch.linspace(quant.NF4_OFFSET, 0.5, n // 2 + 1)[:-1].double())
    negative = -torch.special.ndtri(torch.linspace(quant.NF4_OFFSET, 0.5, n // 2)[:-1].double())
    values = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    return (values / values.max()).float()


def _codebook_symmetric(bits: int) -> torch.Tensor:
    """틀린 답: 양쪽에 같은 개수(0 없음), 분위수를 칸의 가운데에서."""
    n = 2**bits
    values = torch.special.ndtri((torch.arange(n, dtype=torch.float64) + 0.5) / n)
    return (values / values.max()).float()


@exercise("05.2", title="k비트 NormalFloat 코드북을 분위수로 만들기(3·4·5비트로 채점)", level="🐕",
          wrong_answers=[lambda bits: torch.linspace(-1, 1, 2**bits), _codebook_fixed_offset, _codebook_symmetric])
def check_normal_float_codebook(fn):
    if not callable(fn):
        raise Wrong("함수 normal_float_codebook(bits)를 넘기세요.")
    for bits in (3, 4, 5):
        got = torch.as_tensor(fn(bits)).float().reshape(-1)
        expected = normal_float_codebook(bits)
        if got.numel() != expected.numel():
            raise Wrong(f"{bits}비트 코드북은 값 {expected.numel()}개여야 하는데 {got.numel()}개입니다.")
        if not torch.all(got[1:] > got[:-1]):
            raise Wrong(f"{bits}비트: 값이 오름차순이 아닙니다(코드 번호 = 크기 순서).")
        if int((got == 0).sum()) != 1:
            raise Wrong(f"{bits}비트: 정확한 0이 하나 있어야 합니다(패딩·0인 가중치를 오차 없이 담으려고).")
        if not torch.allclose(got, expected, rtol=0, atol=1e-6):
            where = int((got - expected).abs().argmax())
            raise Wrong(f"{bits}비트: 번호 {where}의 값이 {got[where].item():.6f}, 기대값 {expected[where].item():.6f}. 양수 "
                        "2^(k−1)개, 음수 2^(k−1)−1개, 가장 바깥 분위수는 비트 수에 맞춘 offset인지 보세요.")
    if not torch.allclose(torch.as_tensor(fn(4)).float(), bnb_functional.get_4bit_type("nf4", device="cpu"), atol=1e-6):
        raise Wrong("4비트에서 bitsandbytes의 NF4 표와 다릅니다.")


def blockwise_roundtrip(x: torch.Tensor, codebook: torch.Tensor, blocksize: int) -> torch.Tensor:
    """05.3의 정답(course_lib.quant의 부품으로): 블록 absmax → 가장 가까운 코드 → 복원. 자투리 블록은 따로."""
    scaled, absmax = quant.blockwise_absmax_scale(x, blocksize)
    values = codebook[quant.nearest_code(scaled, codebook).long()]
    per_value = absmax.repeat_interleave(blocksize)[: values.numel()]
    return (values * per_value).reshape(x.shape)


def _roundtrip_global_absmax(x, codebook, blocksize):
    """틀린 답: 블록마다가 아니라 텐서 전체의 absmax 하나로 나눈다."""
    absmax = x.abs().max()
    scaled = x.reshape(-1) / absmax
    return (codebook[quant.nearest_code(scaled, codebook).long()] * absmax).reshape(x.shape)


def _roundtrip_uniform(x, codebook, blocksize):
    """틀린 답: 코드북을 보지 않고 [-1, 1]을 같은 간격으로 나눈 격자에 반올림한다."""
    grid = torch.linspace(-1, 1, codebook.numel())
    scaled, absmax = quant.blockwise_absmax_scale(x, blocksize)
    values = grid[quant.nearest_code(scaled, grid).long()]
    return (values * absmax.repeat_interleave(blocksize)[: values.numel()]).reshape(x.shape)


def _roundtrip_drops_tail(x, codebook, blocksize):
    """틀린 답: 꽉 찬 블록만 양자화하고 자투리는 0으로 둔다."""
    flat = x.reshape(-1)
    full = flat.numel() - flat.numel() % blocksize
    out = torch.zeros_like(flat)
    out[:full] = blockwise_roundtrip(flat[:full], codebook, blocksize)
    return out.reshape(x.shape)


@exercise("05.3", title="아무 코드북·블록 크기로 양자화하고 복원하기(자투리 블록 포함, 처음 보는 입력으로 채점)", level="🐕",
          wrong_answers=[lambda x, codebook, blocksize: x.clone(), _roundtrip_global_absmax, _roundtrip_uniform,
                         _roundtrip_drops_tail])
def check_blockwise_roundtrip(fn):
    if not callable(fn):
        raise Wrong("함수 quantize_dequantize(x, codebook, blocksize)를 넘기세요.")
    generator = torch.Generator().manual_seed(505)
    cases = [(torch.randn(7, 50, generator=generator) * 0.03, normal_float_codebook(3), 32),
             (torch.randn(1000, generator=generator), quant.nf4_codebook(), 128),
             (torch.rand(3, 5, 24, generator=generator) * 2 - 1, normal_float_codebook(5), 64)]
    for x, codebook, blocksize in cases:
        expected = blockwise_roundtrip(x, codebook, blocksize)
        got = torch.as_tensor(fn(x.clone(), codebook.clone(), blocksize))
        if got.shape != x.shape:
            raise Wrong(f"복원값의 모양이 입력과 같은 {tuple(x.shape)}여야 합니다(받은 것 {tuple(got.shape)}).")
        if torch.equal(got, x):
            raise Wrong("입력을 그대로 돌려줬습니다. 코드북의 값으로 바꾼 뒤 absmax를 곱해 복원하세요.")
        mismatch = ~torch.isclose(got.float(), expected, rtol=1e-5, atol=1e-8)
        if mismatch.any():
            where = int(mismatch.reshape(-1).nonzero()[0])
            tail_start = x.numel() - x.numel() % blocksize
            hint = ("마지막 자투리 블록(원소 수가 블록 크기로 나누어떨어지지 않을 때 남는 것)도 자기 absmax로 양자화하세요."
                    if where >= tail_start else
                    "블록마다 absmax로 나눠 [-1, 1]에 맞추고, 이웃 코드의 중간점과 비교해 가장 가까운 코드를 고르세요.")
            raise Wrong(f"코드북 {codebook.numel()}개, 블록 {blocksize}, 모양 {tuple(x.shape)}에서 "
                        f"{int(mismatch.sum())}개가 다릅니다(처음 다른 위치 {where}). {hint}")


def _untied_unseen_configs():
    return [
        Qwen3Config(vocab_size=32000, hidden_size=2560, intermediate_size=9728, num_hidden_layers=7,
                    num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
        Qwen3Config(vocab_size=1000, hidden_size=200, intermediate_size=600, num_hidden_layers=3,
                    num_attention_heads=5, num_key_value_heads=1, head_dim=40, tie_word_embeddings=False),
    ]


def lm_head_too_bytes(config, lm_head_double_quant: bool = True) -> int:
    """05.4의 정답: 층 안의 Linear와 lm_head를 NF4(+이중 양자화)로, 나머지(임베딩·norm)는 bf16으로 둘 때의 가중치 바이트."""
    lm_head = config.vocab_size * config.hidden_size
    return (weight_memory.quantized_model_bytes(config, "nf4+dq") - 2 * lm_head
            + weight_memory.nf4_weight_bytes(lm_head, lm_head_double_quant))


@exercise("05.4", title="lm_head까지 NF4+DQ로: 설정에서 가중치 바이트 계산(처음 보는 설정으로 채점)", level="🦁",
          wrong_answers=[lambda config: weight_memory.quantized_model_bytes(config, "nf4+dq"),
                         lambda config: lm_head_too_bytes(config, lm_head_double_quant=False),
                         lambda config: count_model_parameters(config) // 2])
def check_lm_head_too_bytes(fn):
    if not callable(fn):
        raise Wrong("함수 nf4_dq_with_lm_head_bytes(config)를 넘기세요.")
    for config in _untied_unseen_configs():
        got, expected = fn(config), lm_head_too_bytes(config)
        if got == expected:
            continue
        if got == weight_memory.quantized_model_bytes(config, "nf4+dq"):
            hint = "lm_head를 bf16으로 셌습니다(노트북의 기본). 이번에는 lm_head도 4비트입니다."
        elif got == lm_head_too_bytes(config, lm_head_double_quant=False):
            hint = "lm_head의 absmax를 float32로 셌습니다. lm_head도 이중 양자화합니다."
        else:
            hint = ("Linear 텐서마다 코드 ⌈n/2⌉ + 블록마다 uint8 absmax + 256블록마다 float32 + 평균 float32 하나, "
                    "입력 임베딩과 norm은 bf16 2바이트입니다.")
        raise Wrong(f"어휘 {config.vocab_size}, hidden {config.hidden_size}, 층 {config.num_hidden_layers}인 설정에서 "
                    f"{got:,}, 기대값 {expected:,}. {hint}")


# 05.5 예측해 보기: 블록마다 값 하나를 그 블록 absmax의 10배로 바꾸면, 나머지 63개의 복원 오차(RMSE)는?
OUTLIER_FACTOR = 10
PREDICTION_OPTIONS = {"가": "거의 그대로(2배 미만)", "나": "2배에서 5배 사이", "다": "5배 이상"}


def outlier_rmse_ratio(x: torch.Tensor, factor: float = OUTLIER_FACTOR, blocksize: int = quant.NF4_BLOCKSIZE) -> float:
    """05.5의 근거: 블록마다 첫 값을 (블록 absmax × factor)로 바꿨을 때, 나머지 값들의 RMSE가 몇 배가 되나."""
    def rest_rmse(blocks):
        restored = quant.dequantize_nf4(quant.quantize_nf4(blocks.reshape(-1), blocksize, double_quant=False))
        return (restored.reshape(blocks.shape)[:, 1:] - blocks[:, 1:]).double().pow(2).mean().sqrt().item()

    blocks = x.reshape(-1, blocksize).float().clone()
    before = rest_rmse(blocks)
    blocks[:, 0] = blocks.abs().max(dim=1).values * factor
    return rest_rmse(blocks) / before


@exercise("05.5", title="예측해 보기: 블록 안의 이상값(outlier) 하나", level="🐢", wrong_answers=["가", "나"])
def check_outlier_prediction(answer):
    if answer not in PREDICTION_OPTIONS:
        raise Wrong(f"보기 가운데 하나를 글자로 고르세요: {', '.join(f'{k}({v})' for k, v in PREDICTION_OPTIONS.items())}")
    if answer != "다":
        raise Wrong("이상값이 블록의 absmax가 됩니다. 나머지 값들은 absmax로 나누면 0 근처의 아주 좁은 구간에 몰리는데, "
                    "NF4 코드는 그 구간에 몇 개나 있나요?")
