"""노트북 07 연습문제: 풀이는 받아들이고, 등록된 틀린 답(그리고 몇 가지 더)은 거절한다."""
from __future__ import annotations


from course_lib import lora, preset_memory
from course_lib.models.real import qwen3_small_config
from course_lib.tooling.exercises import REGISTRY, load_all, verdict

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()


def to_coco(pairs):
    ids = {}
    for name, _ in pairs:
        ids.setdefault(name, len(ids))
    return {"images": [{"id": i, "file_name": name} for name, i in ids.items()],
            "annotations": [{"id": k, "image_id": ids[name], "caption": caption}
                            for k, (name, caption) in enumerate(pairs)]}


def largest_micro_batch(preset, gpu_bytes):
    fitting = [b for b in range(1, 65) if preset_memory.estimate(preset, micro_batch=b).total <= gpu_bytes]
    return max(fitting, default=0)


def grad_accum_for(global_batch, per_device, n_gpus):
    accum, rest = divmod(global_batch, per_device * n_gpus)
    return accum if rest == 0 else 0


SOLUTIONS = {
    # 07.1, 손으로: Qwen3-1.7B는 hidden 2048, 쿼리 헤드 16 × head_dim 128 = 2048, KV 헤드 8 × 128 = 1024, 28층.
    # q_proj 2048 → 2048: r·(d_in + d_out) = 8·(2048 + 2048) = 32,768; v_proj 2048 → 1024: 8·(2048 + 1024) = 24,576.
    # 층마다 57,344 × 28층 = 1,605,632.
    "07.1": 1_605_632,
    "07.2": to_coco,
    "07.3": largest_micro_batch,
    "07.4": grad_accum_for,
    "07.5": "c",  # (c) 2배 이상: 손으로 한 계산은 test_checkpointing_prediction_by_hand
}


def test_every_exercise_of_07_has_a_solution_here():
    assert sorted(k for k in REGISTRY if k.startswith("07.")) == sorted(SOLUTIONS)


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


def test_more_plausible_mistakes_are_rejected():
    def coco_without_annotation_ids(pairs):
        data = to_coco(pairs)
        for ann in data["annotations"]:
            del ann["id"]
        return data

    def coco_with_captions_reversed(pairs):
        return to_coco(pairs[::-1])

    assert not verdict("07.2", coco_without_annotation_ids)[0]
    assert not verdict("07.2", coco_with_captions_reversed)[0]
    assert not verdict("07.4", lambda g, p, n: max(1, g // (p * n)))[0]


def test_colab_config_is_the_one_the_hand_count_assumed():
    config = qwen3_small_config("1.7B")
    assert (config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim,
            config.num_hidden_layers) == (2048, 16, 8, 128, 28)
    assert lora.count_lora_parameters(config, 8, ("q_proj", "v_proj")) == SOLUTIONS["07.1"]


# 07.5를 채점기(preset_memory의 비율)와 다른 길로: 체크포인팅을 끄면 36층이 모두 활성값을 들고 있다.
# full의 2단계: 마이크로 배치 4 × (그림 토큰 256 + 글 토큰 73) = 1,316토큰, bf16(2바이트), sdpa.
# Qwen3-8B 층 하나가 토큰 하나마다 저장하는 바이트(노트북 04의 목록; H 4096, I 12288, 헤드 32 · KV 8 · d 128):
#   input_layernorm   4H(float32 입력) + 4(1/rms) + 2H(정규화 값) + 2H(출력)       = 32,772
#   q_norm            4·32·128 + 4·32 + 2·32·128                                  = 24,704
#   k_norm            4·8·128 + 4·8 + 2·8·128                                     =  6,176
#   attention         2·4096(q) + 2·1024(k) + 2·1024(v) + 2·4096(출력) + 4·32(lse) = 20,608
#   post_attention_layernorm (input_layernorm과 같음)                             = 32,772
#   mlp               4 텐서 × 2·12288                                             = 98,304
#                                                                          합계 215,336
# peft LoRA(드롭아웃 > 0, 7모듈)가 층마다 토큰 하나에 더 저장하는 것: 드롭아웃 출력(2바이트)·마스크(1바이트)가 d_in씩,
# d_in 합 = 4096 × 6 + 12288 = 36,864 → 3 × 36,864 = 110,592, lora_B의 입력 2·r = 32바이트 × 7 = 224 → 110,816.
FULL_TOKENS = 4 * (256 + 73)
LAYER_BYTES_PER_TOKEN = 32_772 + 24_704 + 6_176 + 20_608 + 32_772 + 98_304
LORA_BYTES_PER_TOKEN = 3 * (4096 * 6 + 12288) + 7 * 2 * 16


def test_checkpointing_prediction_by_hand():
    """체크포인팅을 끄면 늘어나는 것만 손으로 세어도(36층 × 1,316토큰 × 326,152바이트 ≈ 14.4 GiB) 켰을 때의 합계
    (9.66 GiB, 노트북 07의 표)보다 크다: 합계가 두 배를 넘는다 → (c)."""
    on = preset_memory.estimate("full")
    assert (on.assumptions["micro_batch"], on.assumptions["seq_len"]) == (4, 256 + 73)   # 손 계산의 전제
    off_activations = 36 * FULL_TOKENS * (LAYER_BYTES_PER_TOKEN + LORA_BYTES_PER_TOKEN)
    checkpointed_activations = on.pieces["llm_activations"] + on.pieces["lora_activations"]
    assert off_activations - checkpointed_activations >= on.total   # 끈 합계 ≥ 2 × 켠 합계
    assert SOLUTIONS["07.5"] == "c"


def test_hand_counts_agree_with_the_library():
    """위의 손 계산이 memory·preset_memory의 식과 같다(식이 바뀌면 여기서 드러난다)."""
    from course_lib.models.llm import qwen3_8b_config
    from course_lib import memory

    big = qwen3_8b_config()
    assert sum(memory.qwen3_layer_activation_bytes(big, 1, 1, 2).values()) == LAYER_BYTES_PER_TOKEN
    full = preset_memory.presets.get_preset("full")
    assert full.lora.dropout > 0 and len(full.lora.target_modules) == 7 and full.lora.r == 16
    assert preset_memory.lora_activation_bytes(big, 1, 16, full.lora.target_modules, full.lora.dropout, 2, 1) \
        == LORA_BYTES_PER_TOKEN
