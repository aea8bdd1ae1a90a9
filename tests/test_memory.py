"""course_lib.memory: 잰 활성값 바이트와 해석적 계산이 맞는지, 체크포인팅이 얼마나 줄이는지."""
from types import SimpleNamespace

import pytest
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from course_lib import compat, memory
from course_lib.diagrams import checkpointing as checkpoint_diagram

# 해석적 계산과 측정의 허용 오차(상대). torch 2.14.1 + transformers 5.24에서는 바이트까지 같다(오차 0).
# 의존성 범위 안의 다른 버전이 저장 방식을 조금 바꿔도 잡아낼 수 있게 1%로 둔다.
ANALYTIC_TOLERANCE = 0.01
# 아래 TINY 설정(4층, 배치 2 × 시퀀스 64, float32, sdpa)에서 체크포인팅이 저장 활성값 전체를 줄이는 최소 배수
# (층 부분만 보면 훨씬 크게 줄고, 손실 쪽 B·T·V가 남아 전체 배수를 누른다). 손으로 센 값(행 = 2·64 = 128, 4바이트):
#   층 하나 = norm 둘 2·(4·128·64 + 4·128 + 4·128·64 + 4·128·64) = 197,632 + q_norm(행 512, 폭 16) 67,584
#           + k_norm(행 256) 33,792 + 어텐션(q·k·v·출력 24,576개 × 4 + logsumexp 4·2·4·64) 100,352 + MLP 4·4·128·192 393,216
#           = 792,576 → 4층 3,170,304; 공통 = cos·sin 8,192 + 토큰 id 1,024 + 마지막 norm 98,816
#           + 손실(log-softmax 4·128·128 + 정답 id 8·128 + 스칼라 4) 66,564
#   체크포인팅 없음 3,344,900 ÷ 있음(층마다 입력 4·128·64 = 32,768 × 4층 + 공통에서 cos·sin 뺀 166,404) 297,476 ≈ 11.2
MIN_CHECKPOINT_REDUCTION = 8

TINY = dict(vocab_size=128, hidden_size=64, intermediate_size=192, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False, use_cache=False)


def tiny_model(dtype=torch.float32, attn="sdpa", checkpointing=False, **overrides):
    config = Qwen3Config(**{**TINY, **overrides}, attn_implementation=attn)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).to(dtype).train()
    if checkpointing:
        compat.enable_activation_checkpointing(model)
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


@pytest.mark.parametrize("dtype, attn", [(torch.float32, "sdpa"), (torch.bfloat16, "sdpa"),
                                         (torch.float32, "eager"), (torch.bfloat16, "eager")])
def test_each_component_matches_analytic(dtype, attn):
    """구성 요소마다(norm, q_norm, k_norm, 어텐션, MLP) 잰 바이트 = 해석식. 노트북 04의 표가 이것을 보인다."""
    model, config = tiny_model(dtype, attn, num_hidden_layers=3)
    ids = torch.randint(0, config.vocab_size, (2, 33), generator=torch.Generator().manual_seed(1))
    measured = memory.saved_bytes_per_component(model, layer_index=1, input_ids=ids, labels=ids)
    assert measured == memory.qwen3_layer_activation_bytes(config, 2, 33, dtype.itemsize, attn)
    # 층 하나의 합 = 층별 측정의 layer.1(layer.0은 모든 층이 공유하는 cos·sin을 처음 저장해 더 크다)
    assert sum(measured.values()) == memory.saved_bytes_per_layer(model, input_ids=ids, labels=ids)["layer.1"]


def test_component_boundaries_name_real_submodules():
    model, _ = tiny_model(num_hidden_layers=1)
    names = dict(memory.decoder_layers(model)[0].named_modules())
    assert all(module in names for module, _, _ in memory.QWEN3_COMPONENT_BOUNDARIES)
    assert {c for _, _, c in memory.QWEN3_COMPONENT_BOUNDARIES} == set(memory.QWEN3_COMPONENTS)


@pytest.mark.parametrize("n_layers, segment", [(4, None), (4, 1), (4, 2), (7, 3), (36, 1), (5, 5)])
def test_checkpoint_timeline_peak_matches_the_segment_formula(n_layers, segment):
    """그림(course_lib.diagrams.checkpointing)의 시간표: 최대 = ⌈n/k⌉·h + (마지막이 아닌 가장 긴 구간)·L."""
    h, L = 3, 100
    steps = checkpoint_diagram.checkpoint_timeline(n_layers, L, h, segment)
    if segment is None:
        assert checkpoint_diagram.peak_bytes(steps) == n_layers * L
        assert sum(s.kind == "재계산" for s in steps) == 0 and steps[-1].total == L
    else:
        # 구간 i를 다시 계산하는 동안: 구간 입력 i + 1개 + 그 구간의 층 수만큼의 L
        starts = range(0, n_layers, segment)
        expected = max((i + 1) * h + min(segment, n_layers - start) * L for i, start in enumerate(starts))
        assert checkpoint_diagram.peak_bytes(steps) == expected
        assert expected <= -(-n_layers // segment) * h + segment * L  # 노트북 04의 ⌈n/k⌉·h + k·L은 위쪽 한계
        assert sum(s.kind == "재계산" for s in steps) == n_layers and steps[-1].total == h + L
    assert [s.kind for s in steps].count("역전파") == n_layers


def test_checkpointing_keeps_only_layer_inputs():
    model, config = tiny_model(checkpointing=True)
    per_layer = measure(model, 2, 64)
    hidden_state_bytes = 2 * 64 * config.hidden_size * 4
    assert all(per_layer[f"layer.{i}"] == hidden_state_bytes for i in range(config.num_hidden_layers))


def test_checkpointing_reduction_factor():
    plain = sum(measure(tiny_model()[0], 2, 64).values())
    checkpointed = sum(measure(tiny_model(checkpointing=True)[0], 2, 64).values())
    assert plain / checkpointed >= MIN_CHECKPOINT_REDUCTION


def test_median_time_drops_warmup_and_takes_the_median(monkeypatch):
    """가짜 시계로: warmup번의 실행은 버리고, 남은 repeats번의 걸린 시간 가운데 중앙값을 낸다."""
    durations = iter([0.5, 9.0, 5.0, 90.0, 6.0, 7.0])  # 첫 번째(0.5)는 warmup
    now = [0.0]

    def perf_counter():
        return now[0]

    def fn():
        now[0] += next(durations)

    monkeypatch.setattr(memory, "time", SimpleNamespace(perf_counter=perf_counter))
    monkeypatch.setattr(memory.torch.cuda, "is_available", lambda: False)
    # 중앙값(9, 5, 90, 6, 7) = 7. warmup을 넣고 마지막을 빼면 6, 여섯 모두의 중앙값은 6.5, 평균이면 23.4
    assert memory.median_time(fn, repeats=5, warmup=1) == 7.0
    assert next(durations, None) is None  # 정확히 warmup + repeats = 6번 불렀다
