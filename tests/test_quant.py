"""course_lib.quant: 바닥부터 만든 NF4가 bitsandbytes와 비트까지 같은지, 메모리 산수가 맞는지."""
import dataclasses
import math

import pytest
import torch

bnb_functional = pytest.importorskip("bitsandbytes.functional")

from course_lib import quant, weight_memory  # noqa: E402

QWEN3_8B = dict(vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False)


@pytest.fixture(autouse=True)
def no_dynamo():
    """bitsandbytes는 마지막 차원이 홀수인 텐서를 torch.compile된 파이썬 경로로 복원한다.
    컴파일에만 수십 초가 걸리므로 테스트 동안은 꺼 둔다(같은 연산을 즉시 실행)."""
    with torch._dynamo.config.patch(disable=True):
        yield


def bnb_roundtrip(x, quant_type, double_quant):
    packed, state = bnb_functional.quantize_4bit(x, quant_type=quant_type, blocksize=64,
                                                 compress_statistics=double_quant)
    # bitsandbytes CPU 커널은 1차원 입력을 (1, n) 모양으로 돌려준다. 값만 비교하려고 원래 모양으로 맞춘다.
    return packed, state, bnb_functional.dequantize_4bit(packed, state).reshape(x.shape)


def random_tensor(shape, dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator) * 0.02
    if x.numel() >= 128:
        x.view(-1)[64:128] = 0  # 모두 0인 블록 하나
    return x.to(dtype)


def test_codebook_construction_matches_bitsandbytes_table():
    table = bnb_functional.get_4bit_type("nf4", device="cpu")
    assert torch.equal(quant.nf4_codebook(), table)
    assert torch.equal(quant.nf4_codebook_from_quantiles(), table)
    # 처음부터 float64로 계산하면 마지막 비트 근처에서만 다르다.
    float64_version = quant.nf4_codebook_from_quantiles(float64_grid=True)
    assert (float64_version - table).abs().max() < 2e-7


def test_codebook_shape():
    code = quant.nf4_codebook()
    assert code.numel() == 16
    assert (code < 0).sum() == 7 and (code == 0).sum() == 1 and (code > 0).sum() == 8
    assert code.min() == -1 and code.max() == 1
    assert torch.all(code[1:] > code[:-1])


def test_other_maps_match_bitsandbytes():
    assert torch.equal(quant.dynamic_8bit_map(), bnb_functional.create_dynamic_map())
    assert torch.equal(quant.fp4_codebook(), bnb_functional.get_4bit_type("fp4", device="cpu"))


SHAPES = [(64,), (3,), (4, 64), (37, 50), (5, 7), (300, 64)]


@pytest.mark.parametrize("double_quant", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", SHAPES)
def test_nf4_equals_bitsandbytes_bit_for_bit(shape, dtype, double_quant):
    x = random_tensor(shape, dtype, seed=math.prod(shape))
    packed, state, expected = bnb_roundtrip(x, "nf4", double_quant)
    q = quant.quantize_nf4(x, blocksize=64, double_quant=double_quant)
    assert torch.equal(q.packed, packed)
    assert torch.equal(q.absmax, state.absmax)
    if double_quant:
        assert torch.equal(q.absmax_offset, state.offset)
        assert torch.equal(q.absmax_scale, state.state2.absmax)
    restored = quant.dequantize_nf4(q)
    assert restored.dtype == dtype and restored.shape == x.shape
    assert torch.equal(restored, expected)


def test_values_on_midpoints_go_to_lower_code():
    code = quant.nf4_codebook()
    midpoints = (code[:-1] + code[1:]) / 2
    x = torch.cat([midpoints, torch.ones(1), torch.zeros(48)])  # absmax 1이라 나눠도 그대로
    q = quant.quantize_nf4(x, double_quant=False)
    packed, _, _ = bnb_roundtrip(x, "nf4", False)
    assert torch.equal(q.packed, packed)
    assert quant.unpack_nibbles(q.packed, 16).tolist() == list(range(16))


def test_byte_value_table_is_the_two_nibble_lookup():
    """복원이 쓰는 256칸 표(바이트 → 값 두 개)가 니블을 풀어 코드북에서 찾은 값과 비트까지 같다."""
    for codebook in (quant.nf4_codebook(), quant.fp4_codebook()):
        table = quant.byte_value_table(codebook)
        every_byte = torch.arange(256, dtype=torch.uint8)
        assert torch.equal(table.reshape(-1), codebook[quant.unpack_nibbles(every_byte, 512)])


def test_pair_value_table_row_is_what_the_two_bytes_hold():
    """복원의 65536행 표: 16비트 수 k로 읽히는 두 바이트의 코드 네 개를 풀어 코드북에서 찾은 값과 비트까지 같다."""
    codebook = quant.nf4_codebook()
    table = quant.pair_value_table(codebook)
    every_key = torch.arange(65536, dtype=torch.int32).to(torch.uint16)
    as_bytes = every_key.view(torch.uint8)  # 이 기계가 그 16비트 수를 메모리에 두는 바이트 순서 그대로
    assert torch.equal(table.reshape(-1), codebook[quant.unpack_nibbles(as_bytes, 4 * 65536)])


def test_cached_value_table_tells_zero_from_minus_zero():
    """복원은 코드북마다 한 번 만든 표를 다시 쓴다: 0과 -0만 다른 코드북 둘을 같은 것으로 여기면 부호 비트가 틀린다."""
    q = quant.quantize_nf4(random_tensor((4, 64), torch.float32, seed=5), double_quant=False)
    plus = torch.linspace(-1, 1, 16)
    plus[7] = 0.0
    minus = plus.clone()
    minus[7] = -0.0
    for codebook in (plus, minus, plus):  # 두 번째 plus는 표를 캐시에서 가져온다
        restored = quant.dequantize_4bit(dataclasses.replace(q, codebook=codebook))
        expected = codebook[quant.unpack_nibbles(q.packed, restored.numel())].reshape(restored.shape) * \
            quant.block_absmax(q).repeat_interleave(64).reshape(restored.shape)
        assert torch.equal(restored.view(torch.int32), expected.view(torch.int32))


def test_value_tables_do_not_pile_up():
    """코드북을 계속 바꿔 복원해도 캐시된 표는 몇 개로 묶인다(표 하나 1 MiB)."""
    q = quant.quantize_nf4(random_tensor((1, 64), torch.float32, seed=6), double_quant=False)
    for k in range(20):
        quant.dequantize_4bit(dataclasses.replace(q, codebook=torch.linspace(-1, 1, 16) * (1 + k / 100)))
    assert len(quant._PAIR_TABLES) <= 8


@pytest.mark.parametrize("offset", [0, 1])
def test_dequantize_reads_packed_bytes_at_any_offset(offset):
    """16비트로 읽을 때 바이트가 홀수 위치에서 시작해도(다른 텐서의 일부) 값이 같다."""
    x = random_tensor((6, 64), torch.float32, seed=3)
    q = quant.quantize_nf4(x, double_quant=False)
    buffer = torch.cat([torch.zeros(offset, dtype=torch.uint8), q.packed.reshape(-1)])
    shifted = dataclasses.replace(q, packed=buffer[offset:].reshape(q.packed.shape))
    assert shifted.packed.storage_offset() == offset
    assert torch.equal(quant.dequantize_nf4(shifted), quant.dequantize_nf4(q))


@pytest.mark.parametrize("double_quant", [False, True])
def test_fp4_equals_bitsandbytes(double_quant):
    x = random_tensor((37, 50), torch.float32, seed=7)
    packed, _, expected = bnb_roundtrip(x, "fp4", double_quant)
    q = quant.quantize_fp4(x, double_quant=double_quant)
    assert torch.equal(q.packed, packed)
    assert torch.equal(quant.dequantize_4bit(q), expected)


def test_nf4_error_is_smallest_on_normal_weights():
    x = random_tensor((256, 256), torch.float32, seed=0)
    errors = {f.__name__: (quant.dequantize_4bit(f(x, double_quant=False)) - x).pow(2).mean().item()
              for f in (quant.quantize_nf4, quant.quantize_fp4, quant.quantize_int4)}
    assert errors["quantize_nf4"] < errors["quantize_int4"] < errors["quantize_fp4"]


def test_bits_per_parameter_measured_from_storage():
    x = random_tensor((1024, 1024), torch.float32, seed=1)
    assert quant.bits_per_parameter(quant.quantize_nf4(x, double_quant=False)) == 4 + 32 / 64
    with_dq = quant.bits_per_parameter(quant.quantize_nf4(x, double_quant=True))
    # 이중 양자화(QLoRA 논문 §3, bitsandbytes의 저장 형식): 코드 4비트 + 블록(64개)마다 8비트 absmax = 8/64
    # + absmax 256개마다 fp32 2단계 absmax 32비트 = 32/(64 × 256) → 4 + 0.125 + 0.001953 = 4.126953 ≈ 4.127.
    # 텐서 하나에 하나인 fp32 평균(32비트 ÷ 1,048,576개 = 0.00003)은 abs=1e-4 안에 든다.
    assert with_dq == pytest.approx(4 + 8 / 64 + 32 / (64 * 256), abs=1e-4)
    assert round(with_dq, 3) == 4.127


@pytest.mark.parametrize("numel", [64, 100, 64 * 256 + 64])
@pytest.mark.parametrize("double_quant", [False, True])
def test_weight_bytes_formula_equals_stored_tensors(numel, double_quant):
    q = quant.quantize_nf4(torch.randn(numel), double_quant=double_quant)
    stored = sum(t.numel() * t.element_size() for t in q.storage_tensors())
    assert weight_memory.nf4_weight_bytes(numel, double_quant) == stored


def test_qwen3_8b_weight_memory():
    """Qwen3-8B 가중치 메모리. 기대값은 손으로 센 것이다(파라미터 수의 유도는 tests/test_lora.py의 test_qwen3_8b_facts):
    - 전체 8,190,735,360개 × 4바이트 = 32,762,941,440 → 32.76 GB, 30.51 GiB; × 2바이트 = 16.38 GB, 15.26 GiB.
    - 4비트로 가는 것은 층마다 q·k·v·o·gate·up·down 가중치 192,937,984개 × 36층 = 6,945,767,424개(텐서 252개,
      모두 64 × 256의 배수). 나머지 1,244,967,936개(임베딩·lm_head 1,244,659,712 + norm 308,224)는 2바이트
      = 2,489,935,872바이트.
    - NF4: 6,945,767,424 × (½ + 4/64)바이트 = 3,906,994,176 → 합 6,396,930,048 = 6.40 GB, 5.96 GiB.
    - NF4 + 이중 양자화: 6,945,767,424 × (½ + 1/64 + 4/(64 × 256))바이트 = 3,583,107,072 + 평균 4바이트 × 252
      → 합 6,073,043,952 = 6.07 GB, 5.66 GiB.
    """
    from transformers import Qwen3Config

    config = Qwen3Config(**QWEN3_8B)
    gigabytes = {s: round(weight_memory.to_gb(weight_memory.quantized_model_bytes(config, s)), 2) for s in weight_memory.SCHEMES}
    assert gigabytes == {"fp32": 32.76, "bf16": 16.38, "nf4": 6.40, "nf4+dq": 6.07}  # GB(10⁹): 모델 카드·원문과 견주는 단위
    gibibytes = {s: round(weight_memory.to_gib(weight_memory.quantized_model_bytes(config, s)), 2) for s in weight_memory.SCHEMES}
    assert gibibytes == {"fp32": 30.51, "bf16": 15.26, "nf4": 5.96, "nf4+dq": 5.66}  # GiB(2³⁰): 강의의 단위
    breakdown = weight_memory.weight_memory_breakdown(config, "nf4+dq")
    assert breakdown["params"] == 8_190_735_360
    assert round(breakdown["other_params"] / 1e9, 2) == 1.24  # 임베딩 + lm_head (+ norm)은 16비트로 남는다


def test_quantized_weights_match_meta_model():
    from transformers import Qwen3Config

    from course_lib.lora import count_model_parameters

    config = Qwen3Config(**QWEN3_8B)
    model = weight_memory.build_meta_model(config)
    found = weight_memory.quantizable_weights(model)
    assert not any(name.startswith("lm_head") for name in found)
    assert sorted(found.values()) == sorted(weight_memory.quantized_weight_numels(config))
    assert sum(p.numel() for p in model.parameters()) == count_model_parameters(config)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="quant_type"):
        quant.quantize_4bit(torch.randn(64), quant_type="nf3")
    with pytest.raises(ValueError, match="dtype"):
        quant.quantize_nf4(torch.arange(64))
    with pytest.raises(ValueError, match="scheme"):
        weight_memory.weight_memory_breakdown(None, "int8")
