"""노트북 05(NF4 양자화와 QLoRA)의 연습문제 채점."""
from __future__ import annotations

from course_lib.tooling.exercises import Wrong, close, exercise

_BITS_128_DQ = 4 + 8 / 128 + 32 / (128 * 256)


@exercise("05.1", title="블록 128 + 이중 양자화의 파라미터당 비트", level="🐢",
          wrong_answers=[4 + 8 / 64 + 32 / (64 * 256), 4 + 32 / 128, 4 + 8 / 128, 4.127])
def check_bits_blocksize_128(answer):
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        raise Wrong("비트 수를 float 하나로 답하세요.")
    if close(answer, 4 + 32 / 128):
        raise Wrong("이중 양자화를 빼고 셌습니다(absmax를 float32로 둔 값). absmax는 8비트로 줄어듭니다.")
    if close(answer, 4 + 8 / 128):
        raise Wrong("2단계 absmax(256블록마다 float32 하나)가 빠졌습니다.")
    if not close(answer, _BITS_128_DQ, rel=1e-9):
        raise Wrong("4비트 코드 + 블록마다 8비트 absmax(÷128) + 256블록마다 32비트(÷(128·256))를 더하세요.")


@exercise("05.2", title="NF4 코드북: 0의 번호와 양수 코드 수", level="🐢",
          wrong_answers=[(8, 8), (7, 7), (8, 7), (0, 8)])
def check_zero_code(answer):
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise Wrong("(0인 코드의 번호, 양수 코드의 개수) 꼴의 튜플로 답하세요.")
    index, positives = answer
    if index != 7:
        raise Wrong(f"0인 코드의 번호가 {index}가 아닙니다. 오름차순으로 음수가 먼저 몇 개 있는지 세어 보세요(번호는 0부터).")
    if positives != 8:
        raise Wrong(f"양수 코드는 {positives}개가 아닙니다. NF4는 비대칭이라 음수와 양수의 개수가 다릅니다.")


@exercise("05.3", title="블록 absmax + 가장 가까운 NF4 코드(처음 보는 텐서로 채점)", level="🐕",
          wrong_answers=[lambda x: __import__("torch").zeros(x.numel(), dtype=__import__("torch").long),
                         lambda x: _nearest_without_block_scaling(x),
                         lambda x: _nearest_ties_up(x)])
def check_nf4_codes(fn):
    import bitsandbytes.functional as bnb_functional
    import torch

    from course_lib.quant import unpack_nibbles

    if not callable(fn):
        raise Wrong("함수 nf4_codes(x)를 넘기세요.")
    generator = torch.Generator().manual_seed(505)
    cases = [torch.randn(64 * 9, generator=generator) * 0.03, torch.rand(64 * 4, generator=generator) * 2 - 1]
    ties = _tie_block()
    cases.append(ties)
    for x in cases:
        packed, _ = bnb_functional.quantize_4bit(x, quant_type="nf4", blocksize=64, compress_statistics=False)
        expected = unpack_nibbles(packed, x.numel())
        got = torch.as_tensor(fn(x.clone())).reshape(-1).long()
        if got.shape != expected.shape:
            raise Wrong(f"코드 {expected.numel()}개를 돌려줘야 하는데 {got.numel()}개입니다.")
        if not torch.equal(got, expected):
            where = int((got != expected).nonzero()[0])
            hint = ("정확히 중간점에 놓인 값은 아래쪽 코드로 갑니다(torch.bucketize(right=False))." if x is ties
                    else "블록(64개)마다 absmax로 나눈 뒤 가장 가까운 코드를 고르세요.")
            raise Wrong(f"{x.numel()}개 중 {int((got != expected).sum())}개가 bitsandbytes와 다릅니다"
                        f"(처음 다른 위치 {where}: {int(got[where])} ≠ {int(expected[where])}). {hint}")


def _tie_block():
    """이웃 코드의 중간점에 정확히 놓인 값이 있는 블록(absmax = 1)."""
    import torch

    from course_lib.quant import nf4_codebook

    book = nf4_codebook()
    midpoints = (book[:-1] + book[1:]) / 2
    values = torch.cat([midpoints, torch.tensor([1.0]), -midpoints.flip(0)[:3]])
    return torch.cat([values, torch.zeros(64 - values.numel())])


def _nearest_without_block_scaling(x):
    import torch

    from course_lib.quant import nf4_codebook

    book = nf4_codebook()
    scaled = x / x.abs().max()
    return torch.bucketize(scaled, (book[:-1] + book[1:]) / 2)


def _nearest_ties_up(x):
    import torch

    from course_lib.quant import nf4_codebook

    book = nf4_codebook()
    blocks = x.reshape(-1, 64)
    scaled = (blocks / blocks.abs().max(dim=1, keepdim=True).values).reshape(-1)
    return torch.bucketize(scaled, (book[:-1] + book[1:]) / 2, right=True)


def _unseen_configs():
    from transformers import Qwen3Config

    return [
        Qwen3Config(vocab_size=32000, hidden_size=2560, intermediate_size=9728, num_hidden_layers=7,
                    num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
        Qwen3Config(vocab_size=1000, hidden_size=200, intermediate_size=600, num_hidden_layers=3,
                    num_attention_heads=5, num_key_value_heads=1, head_dim=40, tie_word_embeddings=True),
    ]


@exercise("05.4", title="설정에서 NF4+DQ 가중치 바이트 계산(처음 보는 설정으로 채점)", level="🦁",
          wrong_answers=[lambda config: 0,
                         lambda config: __import__("course_lib.weight_memory", fromlist=["x"]).quantized_model_bytes(config, "nf4"),
                         lambda config: __import__("course_lib.lora", fromlist=["x"]).count_model_parameters(config) // 2])
def check_nf4_dq_bytes(fn):
    from course_lib.weight_memory import quantized_model_bytes

    if not callable(fn):
        raise Wrong("함수 nf4_dq_model_bytes(config)를 넘기세요.")
    for config in _unseen_configs():
        got, expected = fn(config), quantized_model_bytes(config, "nf4+dq")
        if got != expected:
            hint = ("이중 양자화 없이 absmax를 float32로 셌습니다." if got == quantized_model_bytes(config, "nf4")
                    else "Linear는 텐서마다 코드·absmax·2단계 상태를 따로 세고, 임베딩·lm_head·norm은 bf16 2바이트입니다.")
            raise Wrong(f"hidden {config.hidden_size}, 층 {config.num_hidden_layers}인 설정에서 {got:,}, 기대값 {expected:,}. {hint}")
