"""노트북 06(두 단계 학습 전체 실행)의 연습문제 채점."""
from __future__ import annotations

from course_lib.tooling.exercises import Wrong, exercise


def _mini_counts() -> tuple[int, int]:
    """mini 프리셋의 (LoRA 파라미터 수, 프로젝터 파라미터 수). 모델을 만들지 않고 산수로 센다."""
    from transformers import AutoConfig

    from course_lib import assets, lora, presets
    

    config = AutoConfig.from_pretrained(assets.require_asset(assets.LLM_CONFIG_FILE).parent)
    mini = presets.mini()
    n_lora = lora.count_lora_parameters(config, mini.lora.r, mini.lora.target_modules)
    vision_width, llm_width = 128, config.hidden_size
    n_projector = (vision_width * llm_width + llm_width) + (llm_width * llm_width + llm_width)
    return n_lora, n_projector


def _as_int(answer) -> int:
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise Wrong(f"정수 하나로 답하세요. 받은 값: {answer!r}")
    return answer


@exercise("06.1", title="mini 프리셋 2단계에서 옵티마이저가 받는 파라미터 수", level="🐢",
          wrong_answers=[lambda: _mini_counts()[1], lambda: _mini_counts()[0], lambda: sum(_mini_counts()) + 1])
def grade_stage2_count(answer):
    if callable(answer):  # 테스트의 틀린 답 예시는 값을 늦게 계산하는 함수로 적어 둔다
        answer = answer()
    got = _as_int(answer)
    n_lora, n_projector = _mini_counts()
    if got == n_projector:
        raise Wrong("프로젝터만 셌습니다. 바로 원문의 버그입니다: 2단계에서는 LoRA도 학습합니다.")
    if got == n_lora:
        raise Wrong("LoRA만 셌습니다. 2단계에서는 프로젝터도 계속 학습합니다.")
    if got != n_lora + n_projector:
        raise Wrong("LoRA 파라미터(course_lib.lora.count_lora_parameters)와 프로젝터(Linear 두 개의 가중치 + 편향)를 더하세요.")


def _fresh_seed_frozen_vlm():
    """원문처럼 LLM 전체(LoRA 포함)를 얼린 VLM."""
    import torch

    from course_lib import presets, training
    from course_lib.models import pretrained
    from course_lib.models.vlm import build_vlm

    torch.manual_seed(0)
    parts = pretrained.load_parts()
    mini = presets.mini()
    vlm = build_vlm(parts.vision_encoder(), training.add_lora(parts.llm, mini.lora))
    vlm.llm.requires_grad_(False)
    vlm.projector.requires_grad_(False)
    return vlm


def _seed_style(vlm):
    return [p for p in vlm.parameters() if p.requires_grad]


def _everything(vlm):
    for p in vlm.parameters():
        p.requires_grad_(True)
    return list(vlm.parameters())


@exercise("06.2", title="2단계 얼리기 버그 고치기", level="🐕", wrong_answers=[_seed_style, _everything])
def grade_stage2_params(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: stage2_parameters(vlm) -> 파라미터 목록")
    vlm = _fresh_seed_frozen_vlm()
    params = fn(vlm)
    chosen = {id(p) for p in params}
    lora_ids = {id(p) for n, p in vlm.llm.named_parameters() if "lora_" in n}
    projector_ids = {id(p) for p in vlm.projector.parameters()}
    if not lora_ids <= chosen:
        raise Wrong("LoRA 파라미터가 빠졌습니다. 1단계에서 얼린 LoRA를 다시 켜야(requires_grad=True) 합니다.")
    if not projector_ids <= chosen:
        raise Wrong("프로젝터가 빠졌습니다. 2단계에서도 프로젝터는 학습합니다.")
    if chosen != lora_ids | projector_ids:
        raise Wrong("너무 많이 골랐습니다. 시각 인코더와 LLM의 원래 가중치는 얼어 있어야 합니다(이름에 'lora_'가 든 것만).")
    wrong_flags = [n for n, p in vlm.named_parameters() if p.requires_grad != (id(p) in chosen)]
    if wrong_flags:
        raise Wrong(f"고른 파라미터와 requires_grad가 맞지 않습니다(예: {wrong_flags[0]}). 옵티마이저와 자동미분이 같은 집합을 봐야 합니다.")


def _by_accuracy(evals):
    return max(evals, key=lambda e: e["acc_exact"])


def _last(evals):
    return evals[-1]


@exercise("06.3", title="원문의 기준으로 저장할 epoch 고르기", level="🐢", wrong_answers=[_by_accuracy, _last])
def grade_best_epoch(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: pick_best(evals) -> 고른 기록")
    cases = [
        [{"epoch": 1, "siglip_score": 0.20, "acc_exact": 0.90}, {"epoch": 2, "siglip_score": 0.31, "acc_exact": 0.85},
         {"epoch": 3, "siglip_score": 0.29, "acc_exact": 0.97}],
        [{"epoch": 1, "siglip_score": 0.70, "acc_exact": 0.10}, {"epoch": 2, "siglip_score": 0.40, "acc_exact": 0.50}],
    ]
    for evals in cases:
        want = max(evals, key=lambda e: e["siglip_score"])
        if fn([dict(e) for e in evals]) != want:
            raise Wrong("원문은 SigLIP 점수가 가장 높은 epoch를 저장합니다(정확도나 마지막 epoch가 아니라).")
