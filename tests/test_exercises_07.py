"""노트북 07 연습문제: 풀이는 받아들이고, 등록된 틀린 답(그리고 몇 가지 더)은 거절한다."""
from __future__ import annotations

import pytest

from course_lib import lora, preset_memory
from course_lib.models.real import qwen3_small_config
from course_lib.tooling.exercises import REGISTRY, ex07, load_all, verdict

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
    "07.1": lora.count_lora_parameters(qwen3_small_config("1.7B"), 8, ("q_proj", "v_proj")),
    "07.2": to_coco,
    "07.3": largest_micro_batch,
    "07.4": grad_accum_for,
    "07.5": ex07.checkpoint_option(ex07.checkpointing_off_ratio()),
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


def test_checkpointing_prediction_matches_the_estimate():
    ratio = ex07.checkpointing_off_ratio()
    off = preset_memory.estimate("full", gradient_checkpointing=False)
    assert off.pieces["llm_activations"] > preset_memory.estimate("full").pieces["llm_activations"]
    for option in ex07.CHECKPOINT_OPTIONS:
        assert verdict("07.5", option)[0] == (option == ex07.checkpoint_option(ratio))
