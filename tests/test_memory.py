"""course_lib.memory: 잰 활성값 바이트와 해석적 계산이 맞는지, 체크포인팅이 얼마나 줄이는지."""
import pytest
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from course_lib import memory

# 해석적 계산과 측정의 허용 오차(상대). torch 2.14.1 + transformers 5.24에서는 바이트까지 같다(오차 0).
# 의존성 범위 안의 다른 버전이 저장 방식을 조금 바꿔도 잡아낼 수 있게 1%로 둔다.
ANALYTIC_TOLERANCE = 0.01
# 아래 TINY 설정(4층, 시퀀스 64, float32, sdpa)에서 체크포인팅이 저장 활성값 전체를 줄이는 최소 배수.
# 잰 값은 11.2배(층 부분만 보면 24배). 노트북이 이 상수를 인용한다.
MIN_CHECKPOINT_REDUCTION = 8

TINY = dict(vocab_size=128, hidden_size=64, intermediate_size=192, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False, use_cache=False)


def tiny_model(dtype=torch.float32, attn="sdpa", checkpointing=False, **overrides):
    config = Qwen3Config(**{**TINY, **overrides}, attn_implementation=attn)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).to(dtype).train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, config


def measure(model, batch, seq_len):
    ids = torch.randint(0, model.config.vocab_size, (batch, seq_len), generator=torch.Generator().manual_seed(1))
    return memory.saved_bytes_per_layer(model, input_ids=ids, labels=ids, use_cache=False)


def test_weights_are_excluded_and_storage_deduplicated():
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8, requires_grad=True)
    # Linear는 입력과 가중치를 저장한다. 가중치(잎 파라미터)는 세지 않는다.
    assert memory.saved_activation_bytes(layer, x) == x.nbytes
    # x * x는 x를 두 번 저장하지만 같은 저장소라 한 번만 센다.
    assert memory.saved_activation_bytes(lambda t: t * t, x) == x.nbytes


@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize("dtype, attn", [(torch.float32, "sdpa"), (torch.bfloat16, "sdpa"),
                                         (torch.float32, "eager"), (torch.bfloat16, "eager")])
@pytest.mark.parametrize("batch, seq_len, layers", [(2, 16, 1), (2, 64, 2), (1, 33, 3)])
def test_measured_matches_analytic(batch, seq_len, layers, dtype, attn, checkpointing):
    model, config = tiny_model(dtype, attn, checkpointing, num_hidden_layers=layers)
    measured = sum(measure(model, batch, seq_len).values())
    expected = memory.qwen3_activation_bytes(config, batch, seq_len, dtype.itemsize, checkpointing, attn)["total"]
    assert abs(measured - expected) <= ANALYTIC_TOLERANCE * expected


@pytest.mark.parametrize("dtype, attn", [(torch.float32, "sdpa"), (torch.bfloat16, "eager")])
def test_one_layer_matches_analytic(dtype, attn):
    model, config = tiny_model(dtype, attn)
    per_layer = measure(model, 2, 32)
    # layer.0은 모든 층이 공유하는 cos·sin을 처음 저장하므로 그 뒤 층과 비교한다.
    expected = sum(memory.qwen3_layer_activation_bytes(config, 2, 32, dtype.itemsize, attn).values())
    assert abs(per_layer["layer.1"] - expected) <= ANALYTIC_TOLERANCE * expected


def test_checkpointing_keeps_only_layer_inputs():
    model, config = tiny_model(checkpointing=True)
    per_layer = measure(model, 2, 64)
    hidden_state_bytes = 2 * 64 * config.hidden_size * 4
    assert all(per_layer[f"layer.{i}"] == hidden_state_bytes for i in range(config.num_hidden_layers))


def test_checkpointing_reduction_factor():
    plain = sum(measure(tiny_model()[0], 2, 64).values())
    checkpointed = sum(measure(tiny_model(checkpointing=True)[0], 2, 64).values())
    assert plain / checkpointed >= MIN_CHECKPOINT_REDUCTION


def test_peak_cuda_bytes_and_timing():
    peak = memory.peak_cuda_bytes(lambda: torch.ones(1024, device="cuda" if torch.cuda.is_available() else "cpu"))
    if torch.cuda.is_available():
        assert peak >= 4096
    else:
        assert peak is None
    assert memory.median_time(lambda: sum(range(1000)), repeats=3) > 0
