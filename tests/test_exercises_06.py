"""노트북 06 연습문제 채점: 노트북의 풀이는 받아들이고, 등록된 틀린 답(문제마다 둘 이상)은 모두 거절한다."""
from __future__ import annotations


from course_lib import lora
from course_lib.tooling.exercises import REGISTRY, ex06, load_all, verdict

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()



def optimizer_counts(llm_config, vision_width, r, target_modules):
    h = llm_config.hidden_size
    projector = (vision_width * h + h) + (h * h + h)
    return projector, projector + lora.count_lora_parameters(llm_config, r, target_modules)


def param_groups(vlm, lr_projector, lr_attention, lr_mlp):
    vlm.requires_grad_(False)
    lora_params = [(n, p) for n, p in vlm.llm.named_parameters() if "lora_" in n]
    is_attention = lambda name: any(f".{m}." in name for m in ("q_proj", "k_proj", "v_proj", "o_proj"))
    candidates = [(list(vlm.projector.parameters()), lr_projector),
                  ([p for n, p in lora_params if is_attention(n)], lr_attention),
                  ([p for n, p in lora_params if not is_attention(n)], lr_mlp)]
    groups = []
    for params, lr in candidates:
        if lr > 0:
            for p in params:
                p.requires_grad_(True)
            groups.append({"params": params, "lr": lr})
    return groups


def early_stop(evals, patience):
    best, waited = None, 0
    for count, record in enumerate(evals, start=1):
        if best is None or record["siglip_score"] > best["siglip_score"]:
            best, waited = record, 0
        else:
            waited += 1
            if waited == patience:
                return best, count
    return best, len(evals)


# 노트북 06의 풀이 칸과 같은 답
SOLUTIONS = {"06.1": optimizer_counts, "06.2": param_groups, "06.3": early_stop, "06.4": "b"}


def test_every_exercise_of_06_has_a_solution_here():
    assert sorted(k for k in REGISTRY if k.startswith("06.")) == sorted(SOLUTIONS)


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


def test_count_cases_include_the_original_scale_that_the_notebook_never_shows():
    cases = ex06._count_cases()
    assert any(config.hidden_size == 4096 and width == 1024 for config, width, _, _ in cases)  # Qwen3-8B + ViT-L/14
    # 원문 규모에서 2단계 = 프로젝터 + LoRA 43,646,976(r=16, 7모듈: DESIGN.md의 사실)
    big = next(c for c in cases if c[0].hidden_size == 4096)
    stage1, stage2 = optimizer_counts(*big)
    assert stage2 - stage1 == 43_646_976


def test_early_stop_cases_separate_patience_and_ties():
    """채점 입력이 정말로 갈라 내는지: 틀린 답마다 적어도 한 입력에서 기준과 다르다."""
    for wrong in REGISTRY["06.3"].wrong_answers:
        assert any(wrong(evals, p) != ex06.reference_early_stop(evals, p) for evals, p in ex06._early_stop_cases())


def test_non_answers_are_rejected():
    assert not verdict("06.1", (1, 2))[0]                       # 함수가 아님
    assert not verdict("06.1", lambda *a: [1, 2])[0]            # 튜플이 아님
    assert not verdict("06.2", lambda vlm, *lrs: [])[0]         # 그룹 없음
    assert not verdict("06.3", lambda evals, p: evals[-1])[0]   # 두 개를 돌려주지 않음
    assert not verdict("06.4", 2)[0] and not verdict("06.4", "E")[0]
    assert verdict("06.4", " B ")[0]                            # 글자 하나면 대소문자·공백은 묻지 않는다
