"""노트북 04 연습문제: 풀이는 받아들이고 등록된 틀린 답은 모두 거절한다. 정답표(04.3, 04.5)는 실제로 돌려 확인한다."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.checkpoint import checkpoint
from transformers import Qwen3Config, Qwen3ForCausalLM

from course_lib import compat, memory
from course_lib.models.llm import qwen3_8b_config
from course_lib.tooling.exercises import REGISTRY, ex04, load_all

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()


def _gqa_solution():
    # 학습자가 노트북의 식으로 푸는 길: 설정을 복사해 KV 헤드만 바꾸고 두 값의 차이
    base = qwen3_8b_config()
    wide = copy.deepcopy(base)
    wide.num_key_value_heads = 32
    total = lambda config: sum(memory.qwen3_layer_activation_bytes(config, 1, 1024, 2).values())  # noqa: E731
    return total(wide) - total(base)


def _checkpoint_mlp_only(model):
    for layer in model.model.layers:
        run_mlp = layer.mlp.forward
        layer.mlp.forward = lambda x, run_mlp=run_mlp: checkpoint(run_mlp, x, use_reentrant=False)


SOLUTIONS = {
    "04.1": _gqa_solution(),
    "04.2": lambda n, m, h, L: m * h + (L if m == n else (n - m) * L),
    "04.3": dict(ex04.REENTRANT_CASES),
    "04.4": _checkpoint_mlp_only,
    "04.5": "c",  # (c) 2배보다 크고 4배보다 작다: 아래 test_eager_prediction_matches_measurement가 재어 확인
}


def test_every_exercise_of_04_has_a_solution_here():
    assert sorted(k for k in REGISTRY if k.startswith("04.")) == sorted(SOLUTIONS)


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


# --- 04.3의 정답표가 참인지: 작은 Qwen3(와 미니 월드 VLM)로 실제로 돌린다 -------------------------------------

def _tiny(layers=3):
    config = Qwen3Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=False,
                         use_cache=False)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).train().requires_grad_(False)
    for layer in model.model.layers:
        layer.self_attn.q_proj.weight.requires_grad_(True)  # 5.2절: 얼어 있는 임베딩, 층 안 q_proj만 학습
    return model


def _outcome(model, run):
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        run().backward()
    except RuntimeError as err:
        assert "does not require grad" in str(err)
        return "error"
    return "silent" if any(p.grad is None for p in trainable) else "ok"


def _lm_case(change):
    model = _tiny()
    change(model)
    compat.enable_activation_checkpointing(model, use_reentrant=True)
    model.disable_input_require_grads()  # "훅 없음"
    for layer in model.model.layers:
        layer.gradient_checkpointing = getattr(layer, "keep_checkpointing", True)
    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(0))
    return _outcome(model, lambda: model(input_ids=ids, labels=ids).loss)


def _mark_plain(index):
    def change(model):
        model.model.layers[index].keep_checkpointing = False
    return change


def _only_first_q_proj(model):
    for layer in model.model.layers[1:]:
        layer.self_attn.q_proj.weight.requires_grad_(False)


def _vlm_case_with_hook():
    from course_lib.models.pretrained import load_parts  # 미니 월드 부품(이 테스트에서만)
    from course_lib.models.vlm import build_vlm, encode_captions
    from course_lib import world

    parts = load_parts()
    llm = parts.llm.train().requires_grad_(False)
    for layer in llm.model.layers:
        layer.self_attn.q_proj.weight.requires_grad_(True)
    compat.enable_activation_checkpointing(llm, use_reentrant=True)  # transformers가 단 훅을 그대로 둔다
    llm.config.use_cache = False
    vlm = build_vlm(parts.vision_encoder(), llm).train()
    vlm.projector.requires_grad_(False)
    scenes = world.make_scenes("train", 2, seed=0)
    text = encode_captions(parts.tokenizer, [world.write_caption(s) for s in scenes])
    pixels = world.render_batch(scenes)
    return _outcome(vlm, lambda: vlm(pixels, text.input_ids, text.attention_mask, labels=text.labels).loss)


def test_reentrant_answer_key_is_what_actually_happens():
    embed = lambda model: model.get_input_embeddings().weight.requires_grad_(True)  # noqa: E731
    observed = {
        "재진입, 훅 없음, 임베딩(embed_tokens)도 함께 학습": _lm_case(embed),
        "재진입, 훅 없음, 첫 층(layer.0)만 체크포인트하지 않음": _lm_case(_mark_plain(0)),
        "재진입, 훅 없음, 마지막 층만 체크포인트하지 않음": _lm_case(_mark_plain(-1)),
        "재진입, 훅 없음, 학습하는 것은 layer.0의 q_proj 하나뿐": _lm_case(_only_first_q_proj),
        "재진입, transformers가 단 입력 기울기 훅을 그대로 둠, 프로젝터까지 얼린 VLM": _vlm_case_with_hook(),
    }
    assert observed == ex04.REENTRANT_CASES
    # 대조: 아무것도 바꾸지 않은 5.2절의 경우는 오류(노트북이 보여 준 것)
    assert _lm_case(lambda model: None) == "error"


# --- 04.2와 04.5의 근거 ---------------------------------------------------------------------------------------

def _simulated_front_peak(n, m, h, L):
    """시간표를 한 칸씩 따라가며 잰 최대값: 앞쪽 m층은 입력 h만, 나머지는 L을 저장한다."""
    held = [h] * m + [L] * (n - m)
    peak = sum(held)
    for j in reversed(range(n)):
        if j >= m:
            held[j] = 0  # 체크포인트하지 않은 층의 역전파가 끝나면 L을 놓는다
        else:
            peak = max(peak, sum(held) + L)  # 다시 계산하는 동안 L이 더해진다
            held[j] = 0
    return peak


@pytest.mark.parametrize("n, m", [(1, 0), (1, 1), (4, 2), (36, 0), (36, 35), (36, 36), (7, 3)])
def test_front_checkpoint_formula_follows_the_timeline(n, m):
    h, L = 3, 50
    assert ex04.front_checkpoint_peak(n, m, h, L) == _simulated_front_peak(n, m, h, L)


def test_eager_prediction_matches_measurement():
    config = Qwen3Config(vocab_size=64, hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False,
                         use_cache=False, attn_implementation="eager")
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).train()

    def layer1(seq_len):
        ids = torch.randint(0, 64, (4, seq_len), generator=torch.Generator().manual_seed(seq_len))
        return memory.saved_bytes_per_layer(model, input_ids=ids, labels=ids)["layer.1"]

    measured = layer1(64) / layer1(32)
    assert measured == pytest.approx(ex04.eager_doubling_ratio(config, 4, 32))
    assert 2 < measured < 4  # 보기 (c)
