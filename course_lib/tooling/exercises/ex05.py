"""노트북 05(NF4 양자화와 QLoRA)의 연습문제 채점.

노트북이 보여 준 것(NF4 = 4비트, 분위수로 만든 데이터와 무관한 코드북, 블록 absmax로 나누는 대칭 양자화,
lm_head는 bf16)을 바꾼 경우를 묻는다: 3비트 코드의 비트 예산, 코드북을 데이터에 맞추는 로이드(Lloyd) 반복,
블록마다 최솟값·최댓값을 쓰는 비대칭(affine) 양자화(자투리 블록 포함), lm_head까지 4비트로.
"""
from __future__ import annotations

import torch
from transformers import Qwen3Config

from course_lib import quant, weight_memory
from course_lib.lora import count_model_parameters
from course_lib.tooling.exercises import Wrong, choices, close, exercise, grade_choice

_BITS_3BIT_DQ = 3 + 8 / 64 + 32 / (64 * 256)


@exercise("05.1", title="3비트 코드 + 블록 64 + 이중 양자화의 파라미터당 비트", level="🐢",
          wrong_answers=[4 + 8 / 64 + 32 / (64 * 256), 3 + 32 / 64, 3 + 8 / 64, 3.0])
def grade_bits_3bit(answer):
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
    """k비트 NormalFloat 코드북(QLoRA의 구성을 k비트로): 2^k개, 오름차순, [-1, 1], 정확한 0 하나. 4비트면 NF4.
    05.2가 3비트 코드북에서 출발하는 경우에 쓴다."""
    n = 2**bits
    offset = 0.5 * ((1 - 1 / (2 * (n - 1))) + (1 - 1 / (2 * n)))
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, n // 2 + 1)[:-1].double())
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, n // 2)[:-1].double())
    values = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    return (values / values.max()).float()


# ---------------------------------------------------------------- 05.2 코드북을 데이터에 맞추기(로이드 반복)

FIXED_CODES = (-1.0, 0.0, 1.0)  # absmax 값(±1)과 0은 오차 없이 담아야 하므로 움직이지 않는다


def lloyd_codebook(values: torch.Tensor, codebook: torch.Tensor, steps: int) -> torch.Tensor:
    """05.2의 기준: 1차원 k-평균(로이드 반복). 걸음마다 값을 가장 가까운 코드에 모으고(이웃 코드의 중간점, 같으면
    아래 코드), −1·0·+1이 아닌 코드를 모인 값의 평균으로 옮긴다. 값이 하나도 모이지 않은 코드는 그대로 둔다."""
    book = codebook.clone().float()
    values = values.reshape(-1).float()
    free = ~torch.isin(book, torch.tensor(FIXED_CODES))
    for _ in range(steps):
        codes = quant.nearest_code(values, book).long()
        sums = torch.zeros(book.numel(), dtype=torch.float64).index_add_(0, codes, values.double())
        counts = torch.bincount(codes, minlength=book.numel())
        move = free & (counts > 0)
        book[move] = (sums[move] / counts[move]).float()
    return book


def _lloyd_moves_every_code(values, codebook, steps):
    """틀린 답: −1, 0, +1까지 평균으로 옮긴다(블록의 absmax 값을 더는 오차 없이 담지 못한다)."""
    book, values = codebook.clone().float(), values.reshape(-1).float()
    for _ in range(steps):
        codes = quant.nearest_code(values, book).long()
        for i in range(book.numel()):
            if (codes == i).any():
                book[i] = values[codes == i].mean()
    return book


def _lloyd_ignores_steps(values, codebook, steps):
    """틀린 답: 걸음 수와 상관없이 한 번만 옮긴다."""
    return lloyd_codebook(values, codebook, 1)


def _lloyd_empty_to_zero(values, codebook, steps):
    """틀린 답: 값이 모이지 않은 코드를 0으로 둔다(코드가 겹치고 순서가 깨진다)."""
    book, values = codebook.clone().float(), values.reshape(-1).float()
    free = ~torch.isin(book, torch.tensor(FIXED_CODES))
    for _ in range(steps):
        codes = quant.nearest_code(values, book).long()
        for i in torch.nonzero(free).flatten().tolist():
            chosen = values[codes == i]
            book[i] = chosen.mean() if chosen.numel() else 0.0
    return book


def _scaled_blocks(x: torch.Tensor) -> torch.Tensor:
    return quant.blockwise_absmax_scale(x, quant.NF4_BLOCKSIZE)[0]


def _lloyd_cases():
    """(블록 absmax로 나눈 값, 출발 코드북, 걸음 수): 노트북에 없는 분포들."""
    generator = torch.Generator().manual_seed(5052)
    laplace = torch.sign(torch.randn(64 * 300, generator=generator)) * -torch.log(torch.rand(64 * 300, generator=generator))
    mixture = torch.randn(64 * 300, generator=generator) * torch.exp(0.7 * torch.randn(64 * 300, generator=generator))
    outliers = torch.randn(200, 64, generator=generator)
    outliers[:, 0] = outliers.abs().max(dim=1).values * 10   # 블록마다 이상값 하나: 나머지가 0 근처에 몰려 빈 코드가 생긴다
    uniform = torch.rand(64 * 100, generator=generator) * 2 - 1
    return [(_scaled_blocks(laplace), quant.nf4_codebook(), 1), (_scaled_blocks(mixture), quant.nf4_codebook(), 4),
            (_scaled_blocks(outliers), quant.nf4_codebook(), 3), (_scaled_blocks(uniform), normal_float_codebook(3), 3)]


@exercise("05.2", title="NF4 코드북을 데이터에 맞추기: 로이드 반복(−1·0·+1은 고정)", level="🐕",
          wrong_answers=[_lloyd_moves_every_code, _lloyd_ignores_steps, _lloyd_empty_to_zero])
def grade_lloyd_codebook(fn):
    if not callable(fn):
        raise Wrong("함수 lloyd_codebook(values, codebook, steps)를 넘기세요.")
    for values, start, steps in _lloyd_cases():
        expected = lloyd_codebook(values, start, steps)
        got = torch.as_tensor(fn(values.clone(), start.clone(), steps)).float().reshape(-1)
        where = f"코드 {start.numel()}개에서 출발, {steps}걸음"
        if got.numel() != start.numel():
            raise Wrong(f"{where}: 코드북은 값 {start.numel()}개 그대로여야 하는데 {got.numel()}개입니다.")
        fixed = torch.isin(start, torch.tensor(FIXED_CODES))
        if not torch.equal(got[fixed], start[fixed]):
            raise Wrong(f"{where}: −1, 0, +1은 움직이지 마세요. 블록의 absmax(±1)와 0을 오차 없이 담는 코드입니다.")
        if not torch.allclose(got, expected, rtol=0, atol=1e-4):
            i = int((got - expected).abs().argmax())
            empty = "값이 하나도 모이지 않은 코드는 그대로 두세요. " if not bool((got[1:] > got[:-1]).all()) else ""
            raise Wrong(f"{where}: 번호 {i}의 코드가 {got[i].item():.5f}, 기대값 {expected[i].item():.5f}. {empty}"
                        f"걸음마다 (1) 값을 가장 가까운 코드에 모으고(중간점 비교) (2) 움직일 코드를 모인 값의 평균으로 "
                        f"옮깁니다. 이것을 steps번 되풀이하세요.")


# ---------------------------------------------------------------- 05.3 비대칭(affine) 4비트: 블록마다 최솟값·최댓값

def _affine_blocks(blocks: torch.Tensor, bits: int) -> torch.Tensor:
    levels = 2**bits - 1
    lo, hi = blocks.min(dim=1, keepdim=True).values, blocks.max(dim=1, keepdim=True).values
    scale = (hi - lo) / levels
    codes = torch.round((blocks - lo) / torch.where(scale > 0, scale, 1.0)).clamp(0, levels)
    return torch.where(scale > 0, lo + codes * scale, lo)   # 한 값뿐인 블록(hi = lo)은 그 값 그대로


def affine_roundtrip(x: torch.Tensor, blocksize: int, bits: int = 4) -> torch.Tensor:
    """05.3의 기준: 펴서 blocksize개씩(마지막 자투리 블록은 제 원소만으로), 블록마다 lo = 최솟값, hi = 최댓값,
    scale = (hi − lo)/(2^bits − 1), 코드 = round((v − lo)/scale) ∈ [0, 2^bits − 1], 복원 = lo + 코드·scale."""
    flat = x.reshape(-1).float()
    full = flat.numel() - flat.numel() % blocksize
    parts = [_affine_blocks(flat[:full].reshape(-1, blocksize), bits).reshape(-1)] if full else []
    if full < flat.numel():
        parts.append(_affine_blocks(flat[full:].reshape(1, -1), bits).reshape(-1))
    return torch.cat(parts).reshape(x.shape)


def _affine_one_block(x, blocksize, bits=4):
    """틀린 답: 텐서 전체의 최솟값·최댓값 하나로."""
    return _affine_blocks(x.reshape(1, -1).float(), bits).reshape(x.shape)


def _affine_zero_padded_tail(x, blocksize, bits=4):
    """틀린 답: 노트북의 absmax_blocks처럼 자투리 블록을 0으로 채워 꽉 찬 블록으로 만든다(0이 최솟값·최댓값을 바꾼다)."""
    flat = x.reshape(-1).float()
    blocks = torch.nn.functional.pad(flat, (0, -flat.numel() % blocksize)).reshape(-1, blocksize)
    return _affine_blocks(blocks, bits).reshape(-1)[: flat.numel()].reshape(x.shape)


def _symmetric_absmax(x, blocksize, bits=4):
    """틀린 답: 노트북의 int4처럼 대칭 absmax(0을 가운데에 둔 균일 격자)."""
    flat = x.reshape(-1).float()
    blocks = torch.nn.functional.pad(flat, (0, -flat.numel() % blocksize)).reshape(-1, blocksize)
    half = 2 ** (bits - 1) - 1
    scale = blocks.abs().max(dim=1, keepdim=True).values.clamp(min=1e-38) / half
    return (torch.round(blocks / scale).clamp(-half, half) * scale).reshape(-1)[: flat.numel()].reshape(x.shape)


def _affine_floor(x, blocksize, bits=4):
    """틀린 답: 반올림 대신 내림."""
    flat = x.reshape(-1).float()
    out = []
    for start in range(0, flat.numel(), blocksize):
        block = flat[start:start + blocksize]
        lo, hi = block.min(), block.max()
        scale = (hi - lo) / (2**bits - 1)
        out.append(lo + torch.floor((block - lo) / scale) * scale if scale > 0 else block.clone())
    return torch.cat(out).reshape(x.shape)


def _affine_cases():
    generator = torch.Generator().manual_seed(5053)
    return [(torch.randn(7, 50, generator=generator) * 0.03, 32, 4),            # 자투리 350 % 32 = 30개
            (torch.rand(3, 5, 24, generator=generator) + 0.5, 64, 4),          # 모두 양수: 0으로 채우면 최솟값이 바뀐다
            (torch.randn(1000, generator=generator), 128, 3),                   # 3비트, 자투리 104개
            (torch.cat([torch.zeros(64), torch.randn(10, generator=generator)]), 64, 4)]  # 한 값뿐인 블록


@exercise("05.3", title="비대칭 양자화: 블록마다 최솟값·최댓값으로(자투리 블록 포함)", level="🐕",
          wrong_answers=[_affine_one_block, _affine_zero_padded_tail, _symmetric_absmax, _affine_floor])
def grade_affine_roundtrip(fn):
    if not callable(fn):
        raise Wrong("함수 affine_roundtrip(x, blocksize, bits)를 넘기세요.")
    for x, blocksize, bits in _affine_cases():
        expected = affine_roundtrip(x, blocksize, bits)
        got = torch.as_tensor(fn(x.clone(), blocksize, bits))
        where = f"모양 {tuple(x.shape)}, 블록 {blocksize}, {bits}비트"
        if got.shape != x.shape:
            raise Wrong(f"{where}: 복원값의 모양이 입력과 같은 {tuple(x.shape)}여야 합니다(받은 것 {tuple(got.shape)}).")
        if torch.isnan(got).any():
            raise Wrong(f"{where}: NaN이 나왔습니다. 모든 값이 같은 블록은 hi − lo = 0이라 나눌 수 없습니다: 그 값 그대로 두세요.")
        mismatch = ~torch.isclose(got.float(), expected, rtol=1e-5, atol=1e-7)
        if mismatch.any():
            first = int(mismatch.reshape(-1).nonzero()[0])
            tail_start = x.numel() - x.numel() % blocksize
            hint = ("마지막 자투리 블록은 제 원소만으로 최솟값·최댓값을 잽니다(0으로 채우면 0이 끼어듭니다)."
                    if first >= tail_start and x.numel() % blocksize else
                    "블록마다 lo = 최솟값, scale = (최댓값 − lo)/(2^bits − 1), 코드 = round((v − lo)/scale), "
                    "복원 = lo + 코드·scale입니다(0을 가운데에 둔 대칭 격자가 아닙니다).")
            raise Wrong(f"{where}: {int(mismatch.sum())}개가 다릅니다(처음 다른 위치 {first}). {hint}")


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
def grade_lm_head_too_bytes(fn):
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
PREDICTION_OPTIONS = choices("거의 그대로(2배 미만)", "2배에서 5배 사이", "5배 이상")


def outlier_rmse_ratio(x: torch.Tensor, factor: float = OUTLIER_FACTOR, blocksize: int = quant.NF4_BLOCKSIZE) -> float:
    """05.5의 근거: 블록마다 첫 값을 (블록 absmax × factor)로 바꿨을 때, 나머지 값들의 RMSE가 몇 배가 되나."""
    def rest_rmse(blocks):
        restored = quant.dequantize_nf4(quant.quantize_nf4(blocks.reshape(-1), blocksize, double_quant=False))
        return (restored.reshape(blocks.shape)[:, 1:] - blocks[:, 1:]).double().pow(2).mean().sqrt().item()

    blocks = x.reshape(-1, blocksize).float().clone()
    before = rest_rmse(blocks)
    blocks[:, 0] = blocks.abs().max(dim=1).values * factor
    return rest_rmse(blocks) / before


@exercise("05.5", title="예측해 보기: 블록 안의 이상값(outlier) 하나", level="🐢", wrong_answers=["a", "b", "d"])
def grade_outlier_prediction(answer):
    grade_choice(answer, PREDICTION_OPTIONS, truth="c",
                 hint="이상값이 블록의 absmax가 됩니다. 나머지 값들은 absmax로 나누면 0 근처의 아주 좁은 구간에 몰리는데, "
                      "NF4 코드는 그 구간에 몇 개나 있나요?")
