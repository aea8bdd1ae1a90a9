"""노트북 04(그레이디언트 체크포인팅과 메모리)의 연습문제 채점.

노트북이 보여 준 것(층 하나의 식, k층 구간의 ⌈n/k⌉·h + k·L, 5절의 재진입 실험)을 바꾼 경우를 묻는다.
코드 문제는 학습자가 보지 못한 설정(hidden 48, 헤드 6개 …)이나 무작위 입력으로 채점한다.
"""
from __future__ import annotations

import copy
import random

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from course_lib import compat, memory
from course_lib.models.llm import qwen3_8b_config
from course_lib.tooling.exercises import Wrong, as_int, choices, exercise, grade_choice

# 04.1: Qwen3-8B, bf16, 배치 1, 시퀀스 1024에서 KV 헤드가 8개 대신 32개(GQA 없음)라면.
GQA_SETTING = {"batch": 1, "seq_len": 1024, "dtype_bytes": 2, "kv_heads": 32}


def _layer_bytes(config, batch, seq_len, dtype_bytes, attn="sdpa") -> int:
    return sum(memory.qwen3_layer_activation_bytes(config, batch, seq_len, dtype_bytes, attn).values())


def gqa_extra_bytes() -> int:
    """04.1의 정답: KV 헤드 32개일 때와 8개(Qwen3-8B)일 때 층 하나의 저장 바이트 차이."""
    base = qwen3_8b_config()
    no_gqa = copy.deepcopy(base)
    no_gqa.num_key_value_heads = GQA_SETTING["kv_heads"]
    args = (GQA_SETTING["batch"], GQA_SETTING["seq_len"], GQA_SETTING["dtype_bytes"])
    return _layer_bytes(no_gqa, *args) - _layer_bytes(base, *args)


def _gqa_kv_only() -> int:
    """틀린 답: k, v 두 텐서만 늘어난다고 센 값(k_norm이 저장하는 것을 빠뜨림)."""
    b, t, d = GQA_SETTING["batch"], GQA_SETTING["seq_len"], GQA_SETTING["dtype_bytes"]
    return 2 * d * b * t * (GQA_SETTING["kv_heads"] - 8) * 128


@exercise("04.1", title="GQA가 없다면: KV 헤드 32개일 때 층 하나가 더 저장하는 바이트(Qwen3-8B)", level="🐢",
          wrong_answers=[0, _gqa_kv_only(), 2 * _gqa_kv_only(), _layer_bytes(qwen3_8b_config(), 1, 1024, 2)])
def grade_gqa_extra_bytes(answer):
    expected = gqa_extra_bytes()
    answer = as_int(answer)
    if answer == _gqa_kv_only():
        raise Wrong("어텐션의 k와 v만 셌습니다. k_norm도 KV 헤드마다 입력(float32)·1/rms·정규화 값을 저장합니다.")
    if answer == _layer_bytes(qwen3_8b_config(), 1, 1024, 2):
        raise Wrong("그것은 GQA가 있을 때 층 하나의 전체 바이트입니다. 두 설정의 **차이**를 구하세요.")
    if answer != expected:
        raise Wrong("노트북의 식(layer_saved_tensors)에 num_key_value_heads만 32로 바꾼 설정을 넣고, 원래 설정과의 "
                    "차이를 구하세요. 원소 하나는 bf16 2바이트, float32로 올린 값은 4바이트입니다.")


def front_checkpoint_peak(n_layers: int, m: int, input_bytes: int, layer_bytes: int) -> int:
    """04.2의 정답: 앞쪽 m층만 층마다 체크포인트할 때 층 부분의 최대 활성값 메모리.
    역전파는 뒤의 n − m층(L씩 저장)부터 풀고, 그다음 체크포인트한 층을 하나씩 다시 계산한다."""
    return m * input_bytes + max(n_layers - m, 1) * layer_bytes


@exercise("04.2", title="앞쪽 m층만 체크포인트할 때의 최대 활성값 메모리", level="🐕",
          wrong_answers=[lambda n, m, h, L: m * h + (n - m) * L,
                         lambda n, m, h, L: m * h + (n - m + 1) * L,
                         lambda n, m, h, L: (n - m) * L + L])
def grade_front_checkpoint_peak(fn):
    if not callable(fn):
        raise Wrong("함수 front_checkpoint_peak(n_layers, m, input_bytes, layer_bytes)를 넘기세요.")
    rng = random.Random(404)
    cases = [(36, 36, 67_108_864, 1_765_000_000), (36, 0, 67_108_864, 1_765_000_000), (12, 5, 100, 2_400)]
    for _ in range(20):
        n = rng.randint(1, 80)
        cases.append((n, rng.randint(0, n), rng.randint(1, 10**6), rng.randint(10**6, 10**8)))
    for n, m, h, L in cases:
        got, expected = fn(n, m, h, L), front_checkpoint_peak(n, m, h, L)
        if got == expected:
            continue
        if got == m * h + (n - m + 1) * L and m < n:
            hint = ("그것은 **뒤쪽** m층을 체크포인트할 때의 값입니다. 앞쪽이면 역전파가 얼리지 않은(체크포인트 안 한) 뒤쪽 층을 "
                    "먼저 다 풀고 난 뒤에야 다시 계산을 시작합니다.")
        elif got == m * h + (n - m) * L:
            hint = "m = n이면 모든 층을 다시 계산합니다. 다시 계산하는 층 하나(L)가 그동안 더해집니다."
        else:
            hint = ("두 순간을 비교하세요: 역전파가 시작할 때(체크포인트한 층의 입력 m개 + 나머지 층의 활성값)와, "
                    "체크포인트한 층 하나를 다시 계산하는 동안(입력 m개 + 층 하나).")
        raise Wrong(f"n={n}, m={m}, h={h}, L={L}에서 {got}, 기대값 {expected}. {hint}")


# 04.3: 모두 "얼어 있는 임베딩, 층마다 q_proj만 학습"(5.2절)에서 한 가지씩 바꾼 경우. 답의 근거는
# tests/test_exercises_04.py가 작은 Qwen3(와 미니 월드 VLM)로 실제로 돌려 확인한다.
REENTRANT_CASES = {
    "재진입, 훅 없음, 임베딩(embed_tokens)도 함께 학습": "ok",
    "재진입, 훅 없음, 첫 층(layer.0)만 체크포인트하지 않음": "ok",
    "재진입, 훅 없음, 마지막 층만 체크포인트하지 않음": "silent",
    "재진입, 훅 없음, 학습하는 것은 layer.0의 q_proj 하나뿐": "error",
    "재진입, transformers가 단 입력 기울기 훅을 그대로 둠, 프로젝터까지 얼린 VLM": "ok",
}


@exercise("04.3", title="재진입(reentrant) 체크포인팅: 처음 보는 다섯 경우", level="🐕",
          wrong_answers=[dict.fromkeys(REENTRANT_CASES, "ok"),
                         {**REENTRANT_CASES, "재진입, 훅 없음, 마지막 층만 체크포인트하지 않음": "ok"},
                         {**REENTRANT_CASES, "재진입, 훅 없음, 학습하는 것은 layer.0의 q_proj 하나뿐": "silent"},
                         {**REENTRANT_CASES, "재진입, transformers가 단 입력 기울기 훅을 그대로 둠, 프로젝터까지 얼린 VLM": "error"}])
def grade_reentrant_cases(answer):
    if not isinstance(answer, dict) or set(answer) != set(REENTRANT_CASES):
        raise Wrong("`cases`의 키 다섯 개를 그대로 쓰고, 값은 'error' / 'silent' / 'ok' 가운데 하나로 채우세요.")
    wrong = [case for case, expected in REENTRANT_CASES.items() if answer[case] != expected]
    if wrong:
        raise Wrong(f"{len(wrong)}개가 틀렸습니다(처음 틀린 것: '{wrong[0]}'). 체크포인트한 구간마다 물으세요: 그 구간의 "
                    "입력이 requires_grad=True인가? 아니면 그 구간 안의 파라미터는 기울기를 받지 못합니다. 그리고 손실이 "
                    "학습하는 무엇에라도 이어져 있는가? 아니면 backward가 오류를 냅니다.")


def _unseen_qwen3(attn: str = "sdpa") -> tuple[Qwen3ForCausalLM, Qwen3Config]:
    """학습자가 보지 못한 모양의 작은 Qwen3(hidden 48, 헤드 6개, KV 2개, 3층)."""
    config = Qwen3Config(vocab_size=96, hidden_size=48, intermediate_size=112, num_hidden_layers=3,
                         num_attention_heads=6, num_key_value_heads=2, head_dim=8, tie_word_embeddings=False,
                         use_cache=False, attn_implementation=attn)
    torch.manual_seed(0)
    return Qwen3ForCausalLM(config).train(), config


def _mlp_detached(model) -> None:
    """틀린 답: MLP 출력을 그래프에서 떼어 낸다(저장은 줄지만 MLP 안 가중치가 기울기를 받지 못한다)."""
    for layer in model.model.layers:
        layer.mlp.forward = lambda x, run=layer.mlp.forward: run(x).detach()


def _mlp_without_grad(model) -> None:
    """틀린 답: MLP를 기울기 없이 돌린다."""
    for layer in model.model.layers:
        layer.mlp.forward = lambda x, run=layer.mlp.forward: torch.no_grad()(run)(x)


@exercise("04.4", title="층의 일부(MLP)만 체크포인트하기(보지 못한 모델로 채점)", level="🦁",
          wrong_answers=[lambda model: None, compat.enable_activation_checkpointing, _mlp_detached,
                         _mlp_without_grad])
def grade_checkpoint_mlp_only(fn):
    """학습자의 함수로 바꾼 모델이 (1) 층마다 MLP가 저장하던 4·B·T·I만큼 덜 저장하고
    (2) 바꾸지 않은 모델과 비트까지 같은 기울기를 내는지 본다."""
    if not callable(fn):
        raise Wrong("함수 checkpoint_mlp_only(model)를 넘기세요(모델을 그 자리에서 바꿉니다).")
    for attn, batch, seq_len in (("sdpa", 2, 37), ("eager", 3, 20)):
        reference, config = _unseen_qwen3(attn)
        model = copy.deepcopy(reference)
        fn(model)
        ids = torch.randint(0, config.vocab_size, (batch, seq_len), generator=torch.Generator().manual_seed(seq_len))
        got = memory.saved_bytes_per_layer(model, input_ids=ids, labels=ids)["layer.1"]
        parts = memory.qwen3_layer_activation_bytes(config, batch, seq_len, 4, attn)
        expected = sum(parts.values()) - parts["mlp"]
        if got != expected:
            if got == sum(parts.values()):
                hint = "저장량이 그대로입니다. MLP의 forward를 torch.utils.checkpoint.checkpoint로 감쌌는지 보세요."
            elif got == batch * seq_len * config.hidden_size * 4:
                hint = "층 전체를 체크포인트했습니다(층 입력 하나만 남음). MLP만 감싸세요."
            else:
                hint = "MLP만 체크포인트하면 그 구간의 입력(post_attention_layernorm의 출력)만 남고 B·T·I 텐서 네 개가 사라집니다."
            raise Wrong(f"{attn}, batch={batch}, seq_len={seq_len}에서 layer.1이 {got:,}바이트를 저장했습니다. "
                        f"기대값 {expected:,}. {hint}")
        model(input_ids=ids, labels=ids).loss.backward()
        reference(input_ids=ids, labels=ids).loss.backward()
        for (name, p), q in zip(model.named_parameters(), reference.parameters()):
            if p.grad is None or not torch.equal(p.grad, q.grad):
                raise Wrong(f"{name}의 기울기가 체크포인팅 없을 때와 다릅니다({'None' if p.grad is None else '값이 다름'}). "
                            "체크포인팅은 메모리만 바꾸고 기울기는 그대로여야 합니다(떼어 내거나 no_grad로 돌리지 마세요).")


# 04.5 예측해 보기: eager 어텐션에서 시퀀스를 64 → 128로 두 배로 하면 층 하나의 저장 바이트는?
PREDICTION_OPTIONS = choices("2배보다 작다", "정확히 2배", "2배보다 크고 4배보다 작다", "4배 이상")


def eager_doubling_ratio(config, batch: int, seq_len: int, dtype_bytes: int = 4) -> float:
    """04.5의 근거: eager 어텐션에서 시퀀스를 두 배로 할 때 층 하나의 저장 바이트 배수(식)."""
    return _layer_bytes(config, batch, 2 * seq_len, dtype_bytes, "eager") / _layer_bytes(config, batch, seq_len, dtype_bytes, "eager")


@exercise("04.5", title="예측해 보기: eager 어텐션에서 시퀀스를 두 배로", level="🐢",
          wrong_answers=["a", "b", "d"])
def grade_eager_prediction(answer):
    grade_choice(answer, PREDICTION_OPTIONS, truth="c", hints={
        "a": "시퀀스가 길어지면 저장할 것이 줄어드는 부분은 없습니다.",
        "b": "sdpa라면 맞습니다(저장량이 B·T에 정비례). eager는 softmax 확률(T × T)을 저장합니다.",
        "d": "T × T인 것은 어텐션 점수뿐입니다. 나머지(MLP, norm, q·k·v)는 T에 정비례합니다."})
