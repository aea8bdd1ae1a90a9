"""노트북 04(그레이디언트 체크포인팅과 메모리)의 연습문제 채점."""
from __future__ import annotations

import math
import random

from course_lib.tooling.exercises import Wrong, exercise

# Qwen3-8B: hidden 4096. 04.1은 배치 4, 시퀀스 1024, bf16(2바이트)에서 체크포인팅한 층 하나가 남기는 입력.
_HIDDEN_8B = 4096


@exercise("04.1", title="체크포인팅한 층 하나가 남기는 바이트(Qwen3-8B)", level="🐢",
          wrong_answers=[4 * 1024 * 4096 * 4, 4 * 1024 * 4096, 1024 * 4096 * 2, 2 * 4 * 1024 * 4096 * 2])
def check_checkpointed_layer_bytes(answer):
    expected = 4 * 1024 * _HIDDEN_8B * 2
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        raise Wrong("바이트 수를 정수 하나로 답하세요.")
    if answer == 4 * 1024 * _HIDDEN_8B * 4:
        raise Wrong("float32(4바이트)로 셌습니다. 원문 설정은 bf16(2바이트)입니다.")
    if answer == 4 * 1024 * _HIDDEN_8B:
        raise Wrong("원소 수만 셌습니다. 원소 하나가 몇 바이트인지 곱하세요.")
    if answer != expected:
        raise Wrong("층 하나의 입력 은닉 상태(batch × seq × hidden) 하나만 남습니다. 원소 수 × dtype 바이트로 계산하세요.")


def _reference_segment_peak(n_layers: int, k: int, input_bytes: int, layer_bytes: int) -> int:
    return math.ceil(n_layers / k) * input_bytes + k * layer_bytes


@exercise("04.2", title="k층마다 체크포인트할 때의 최대 활성값 메모리", level="🐕",
          wrong_answers=[lambda n, k, h, L: (n // k) * h + k * L,
                         lambda n, k, h, L: n * h + L,
                         lambda n, k, h, L: math.ceil(n / k) * h + L])
def check_segment_peak(fn):
    if not callable(fn):
        raise Wrong("함수 segment_peak_bytes(n_layers, k, input_bytes, layer_bytes)를 넘기세요.")
    rng = random.Random(404)
    cases = [(36, 5, 67_108_864, 1_765_000_000), (7, 3, 100, 2_400)]
    cases += [(rng.randint(1, 80), rng.randint(1, 12), rng.randint(1, 10**6), rng.randint(1, 10**8)) for _ in range(20)]
    for n, k, h, L in cases:
        k = min(k, n)
        got, expected = fn(n, k, h, L), _reference_segment_peak(n, k, h, L)
        if got != expected:
            hint = ("구간 수는 올림(ceil)입니다: 36층을 5층씩 나누면 8구간." if got == (n // k) * h + k * L
                    else "저장되는 것: 구간마다 입력 하나, 그리고 역전파 때 한 구간(k층)을 다시 계산하는 동안의 활성값.")
            raise Wrong(f"n={n}, k={k}, h={h}, L={L}에서 {got}, 기대값 {expected}. {hint}")


_EXPECTED_OUTCOMES = {
    "reentrant, 입력 기울기 훅 없음, 층 밖에 학습 파라미터 없음": "error",
    "reentrant, 입력 기울기 훅 없음, 마지막 norm만 층 밖에서 학습": "silent",
    "reentrant + enable_input_require_grads()": "ok",
    "non-reentrant(use_reentrant=False)": "ok",
    "reentrant, 학습하는 프로젝터가 inputs_embeds를 만듦(VLM)": "ok",
}


@exercise("04.3", title="재진입(reentrant) 체크포인팅: 어느 경우에 기울기가 사라지나", level="🐕",
          wrong_answers=[dict.fromkeys(_EXPECTED_OUTCOMES, "ok"),
                         {**_EXPECTED_OUTCOMES, "reentrant, 입력 기울기 훅 없음, 마지막 norm만 층 밖에서 학습": "error"},
                         {**_EXPECTED_OUTCOMES, "reentrant, 학습하는 프로젝터가 inputs_embeds를 만듦(VLM)": "silent"}])
def check_reentrant_outcomes(answer):
    if not isinstance(answer, dict) or set(answer) != set(_EXPECTED_OUTCOMES):
        raise Wrong("`cases`의 키 다섯 개를 모두 그대로 쓰고, 값은 'error' / 'silent' / 'ok' 가운데 하나로 채우세요.")
    for case, expected in _EXPECTED_OUTCOMES.items():
        if answer[case] != expected:
            raise Wrong(f"'{case}'의 결과가 틀렸습니다. 재진입 체크포인트는 입력이 requires_grad=False이면 "
                        "그 구간 안 파라미터의 기울기를 만들지 않습니다. 손실 자체가 기울기를 필요로 하는지도 따져 보세요.")


def _tiny_qwen3(layers: int, attn: str):
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(vocab_size=96, hidden_size=48, intermediate_size=112, num_hidden_layers=layers,
                         num_attention_heads=6, num_key_value_heads=2, head_dim=8, tie_word_embeddings=False,
                         use_cache=False, attn_implementation=attn)
    torch.manual_seed(0)
    return Qwen3ForCausalLM(config).train(), config


@exercise("04.4", title="층 하나의 저장 바이트를 재는 함수(보지 못한 모델로 채점)", level="🦁",
          wrong_answers=[lambda model, batch, seq_len: 0,
                         lambda model, batch, seq_len: batch * seq_len * model.config.hidden_size * 4])
def check_measured_layer_bytes(fn):
    """학습자의 함수를 처음 보는 설정(hidden 48, 헤드 6개, eager/sdpa)에서 돌려 해석식과 비교한다."""
    from course_lib.memory import qwen3_layer_activation_bytes

    if not callable(fn):
        raise Wrong("함수 layer_saved_bytes(model, batch, seq_len)를 넘기세요.")
    for attn, batch, seq_len in (("eager", 3, 20), ("sdpa", 2, 37)):
        model, config = _tiny_qwen3(3, attn)
        got = fn(model, batch, seq_len)
        expected = sum(qwen3_layer_activation_bytes(config, batch, seq_len, 4, attn).values())
        if not isinstance(got, int) or got != expected:
            raise Wrong(f"{attn}, batch={batch}, seq_len={seq_len}에서 {got}, 기대값 {expected}. "
                        "memory.saved_bytes_per_layer로 재고, 공유 cos·sin이 들어간 layer.0 말고 layer.1을 고르세요.")
