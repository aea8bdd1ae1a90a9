"""노트북 06(두 단계 학습 전체 실행)의 연습문제 채점.

06.1 두 단계의 옵티마이저 파라미터 수를 아무 설정에서나(Qwen3-8B 포함) 세는 함수, 06.2 LoRA를 어텐션과 MLP로 나눈
세 그룹의 옵티마이저, 06.3 조기 종료(early stopping), 06.4 예측해 보기(기울기 누적 대 큰 배치).
채점은 노트북에 나오지 않은 입력(다른 랭크·대상 모듈·모델 크기, 다른 학습률, 다른 epoch 기록)으로 한다.
"""
from __future__ import annotations

import torch

from course_lib import lora
from course_lib.models.llm import qwen3_8b_config
from course_lib.tooling.exercises import Wrong, choices, exercise, grade_choice

ATTENTION_MODULES, MLP_MODULES = lora.ATTENTION_MODULES, lora.MLP_MODULES  # 모듈 이름의 묶음은 lora 한 곳에


# --- 06.1 두 단계의 옵티마이저 파라미터 수 ---------------------------------------------------------------

def _mini_llm_config():
    # 자산(data/)을 읽으므로 채점할 때만 부른다
    from transformers import AutoConfig
    from course_lib import assets

    return AutoConfig.from_pretrained(assets.require_asset(assets.LLM_CONFIG_FILE).parent)


def _projector_count(vision_width: int, llm_width: int) -> int:
    """LLaVA-1.5 프로젝터: Linear(시각 폭 → LLM 폭) → GELU → Linear(LLM 폭 → LLM 폭), 편향 포함."""
    return (vision_width * llm_width + llm_width) + (llm_width * llm_width + llm_width)


def _count_cases():
    """(LLM 설정, 시각 폭, r, 대상 모듈): 노트북에 없는 조합. 마지막은 원문 규모(Qwen3-8B + ViT-L/14의 폭 1024)."""
    mini = _mini_llm_config()
    return [(mini, 128, 8, ("q_proj", "v_proj")),
            (mini, 96, 4, ("down_proj",)),
            (qwen3_8b_config(), 1024, 16, lora.LINEAR_MODULES)]


def _expected_counts(config, vision_width, r, targets) -> tuple[int, int]:
    projector = _projector_count(vision_width, config.hidden_size)
    return projector, projector + lora.count_lora_parameters(config, r, targets)


def _original_bug_counts(config, vision_width, r, targets):
    projector = _projector_count(vision_width, config.hidden_size)
    return projector, projector  # 원문의 버그: 2단계에도 프로젝터만


def _lora_in_stage1(config, vision_width, r, targets):
    both = _expected_counts(config, vision_width, r, targets)[1]
    return both, both  # 1단계에서도 LoRA를 센다


def _no_bias(config, vision_width, r, targets):
    h = config.hidden_size
    projector = vision_width * h + h * h  # 편향을 빠뜨림
    return projector, projector + lora.count_lora_parameters(config, r, targets)


def _square_kv(config, vision_width, r, targets):
    projector = _projector_count(vision_width, config.hidden_size)
    h = config.hidden_size
    per_layer = sum(r * 2 * h for _ in targets)  # 모든 층을 h → h로 셈(GQA와 MLP 폭을 무시)
    return projector, projector + per_layer * config.num_hidden_layers


@exercise("06.1", title="두 단계의 옵티마이저 파라미터 수를 어떤 설정에서나 세기", level="🐢",
          wrong_answers=[_original_bug_counts, _lora_in_stage1, _no_bias, _square_kv])
def grade_stage_counts(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: optimizer_counts(llm_config, vision_width, r, target_modules) -> (1단계, 2단계)")
    for config, vision_width, r, targets in _count_cases():
        got = fn(config, vision_width, r, tuple(targets))
        if (not isinstance(got, tuple) or len(got) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in got)):
            raise Wrong(f"정수 두 개의 튜플 (1단계, 2단계)를 돌려주세요. 받은 값: {got!r}")
        want = _expected_counts(config, vision_width, r, targets)
        if got == want:
            continue
        where = f"(은닉 {config.hidden_size}, 층 {config.num_hidden_layers}, 시각 폭 {vision_width}, r={r}, {list(targets)})"
        if got[1] == got[0] == want[0]:
            raise Wrong(f"{where} 2단계도 프로젝터만 셌습니다. 바로 원문의 버그입니다: 2단계에서는 LoRA도 학습합니다.")
        if got[0] == want[1]:
            raise Wrong(f"{where} 1단계에서 LoRA까지 셌습니다. 1단계의 LoRA 학습률은 0, 즉 얼어 있습니다.")
        if got[0] != want[0]:
            raise Wrong(f"{where} 1단계(프로젝터)가 틀렸습니다. Linear 두 개의 가중치와 편향을 모두 세세요.")
        raise Wrong(f"{where} 2단계가 틀렸습니다. 프로젝터 + LoRA(course_lib.lora.count_lora_parameters: k_proj·v_proj는 "
                    f"GQA라 출력이 작고, MLP는 폭이 다릅니다)입니다.")


# --- 06.2 LoRA를 어텐션과 MLP로 나눈 세 그룹 ---------------------------------------------------------------

def _original_frozen_vlm():
    """원문처럼 LLM 전체(LoRA 포함)와 프로젝터가 얼어 있는 VLM. LoRA는 원문처럼 선형층 7종 모두에 붙인다
    (mini 프리셋이 어텐션에만 붙이더라도 MLP 그룹이 비지 않게)."""
    # 학습 부품(peft, 자산)은 무거워 채점할 때만 불러온다
    from course_lib import training
    from course_lib.models import pretrained
    from course_lib.models.vlm import build_vlm

    torch.manual_seed(0)
    parts = pretrained.load_parts()
    settings = training.LoraSettings(r=16, alpha=32, dropout=0.0, target_modules=lora.LINEAR_MODULES)
    vlm = build_vlm(parts.vision_encoder(), training.add_lora(parts.llm, settings))
    vlm.llm.requires_grad_(False)
    vlm.projector.requires_grad_(False)
    return vlm


def _module_of(name: str) -> str | None:
    return next((m for m in ATTENTION_MODULES + MLP_MODULES if f".{m}." in name), None)


def _two_groups(vlm, lr_projector, lr_attention, lr_mlp):
    for name, p in vlm.llm.named_parameters():
        p.requires_grad_("lora_" in name)
    vlm.projector.requires_grad_(True)
    return [{"params": list(vlm.projector.parameters()), "lr": lr_projector},
            {"params": [p for n, p in vlm.llm.named_parameters() if "lora_" in n], "lr": lr_attention}]


def _keeps_zero_groups(vlm, lr_projector, lr_attention, lr_mlp):
    for name, p in vlm.llm.named_parameters():
        p.requires_grad_("lora_" in name)
    vlm.projector.requires_grad_(True)
    lora_params = [(n, p) for n, p in vlm.llm.named_parameters() if "lora_" in n]
    return [{"params": list(vlm.projector.parameters()), "lr": lr_projector},
            {"params": [p for n, p in lora_params if _module_of(n) in ATTENTION_MODULES], "lr": lr_attention},
            {"params": [p for n, p in lora_params if _module_of(n) in MLP_MODULES], "lr": lr_mlp}]


def _original_style_groups(vlm, lr_projector, lr_attention, lr_mlp):
    params = [p for p in vlm.parameters() if p.requires_grad]  # 원문처럼 "아직 켜져 있는 것"만
    return [{"params": params, "lr": lr_projector}]


@exercise("06.2", title="LoRA를 어텐션과 MLP로 나눈 세 그룹의 옵티마이저", level="🐕",
          wrong_answers=[_two_groups, _keeps_zero_groups, _original_style_groups])
def grade_three_groups(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: param_groups(vlm, lr_projector, lr_attention, lr_mlp) -> 그룹 목록")
    vlm = _original_frozen_vlm()
    ids = {"projector": {id(p) for p in vlm.projector.parameters()}, "attention": set(), "mlp": set()}
    for name, p in vlm.llm.named_parameters():
        if "lora_" in name:
            ids["attention" if _module_of(name) in ATTENTION_MODULES else "mlp"].add(id(p))
    assert all(ids.values()), "채점기의 VLM에 빈 그룹이 있다"  # 채점기 자체의 결함(빈 그룹이면 가르는 힘이 없다)
    # 같은 VLM에서 차례로: 얼어 있던 것을 풀고(1번), 켜 두었던 것을 다시 얼려야(2번) 한다
    for lrs in ((1.5e-3, 3e-4, 7e-4), (0.0, 2e-4, 0.0)):
        groups = fn(vlm, *lrs)
        if not isinstance(groups, list) or not all(isinstance(g, dict) and {"params", "lr"} <= g.keys() for g in groups):
            raise Wrong("{'params': [...], 'lr': 값} 사전들의 목록을 돌려주세요(torch.optim.AdamW가 받는 꼴).")
        want = {key: lr for key, lr in zip(("projector", "attention", "mlp"), lrs) if lr > 0}
        if any(g["lr"] <= 0 for g in groups):
            raise Wrong(f"학습률 {lrs}: 학습률이 0인 그룹이 있습니다. 그런 그룹은 만들지 말고 그 파라미터를 얼리세요(학습률 0 = 얼림).")
        got = {frozenset(id(p) for p in g["params"]): g["lr"] for g in groups}
        expected = {frozenset(ids[key]): lr for key, lr in want.items()}
        if got != expected:
            if len(groups) < len(want):
                raise Wrong(f"학습률 {lrs}: 그룹이 {len(groups)}개입니다. 학습률이 0이 아닌 것마다 하나씩, {len(want)}개여야 합니다"
                            f"(어텐션 q/k/v/o_proj의 LoRA와 MLP gate/up/down_proj의 LoRA를 나누세요).")
            raise Wrong(f"학습률 {lrs}: 그룹의 파라미터나 학습률이 맞지 않습니다(프로젝터 / 어텐션 LoRA / MLP LoRA, 이름에 'lora_'가 든 것만).")
        chosen = set().union(*got) if got else set()
        flags = [n for n, p in vlm.named_parameters() if p.requires_grad != (id(p) in chosen)]
        if flags:
            raise Wrong(f"학습률 {lrs}: 옵티마이저에 넣은 파라미터와 requires_grad가 맞지 않습니다(예: {flags[0]}). "
                        f"넣은 것만 켜고 나머지는 얼려야 자동미분이 같은 집합을 봅니다.")
        torch.optim.AdamW(groups)  # 옵티마이저가 실제로 받는 꼴인지


# --- 06.3 조기 종료 ---------------------------------------------------------------------------------------

def reference_early_stop(evals, patience, key: str = "siglip_score", ties_improve: bool = False):
    """정답: `key`가 최고를 넘지 못한 epoch이 `patience`번 이어지면 멈춘다. 같은 점수는 "넘지 못함"이다.
    `key`·`ties_improve`를 바꾼 것은 채점이 거절해야 하는 틀린 답의 예다(아래)."""
    best, waited = None, 0
    for count, record in enumerate(evals, start=1):
        improved = best is None or record[key] > best[key] or (ties_improve and record[key] == best[key])
        if improved:
            best, waited = record, 0
        else:
            waited += 1
            if waited >= patience:
                return best, count
    return best, len(evals)


def _ignores_stopping(evals, patience):
    return max(evals, key=lambda e: e["siglip_score"]), len(evals)


def _no_patience(evals, patience):
    return reference_early_stop(evals, 1)


def _by_accuracy(evals, patience):
    return reference_early_stop(evals, patience, key="acc_exact")


def _ties_improve(evals, patience):
    return reference_early_stop(evals, patience, ties_improve=True)


def _early_stop_cases():
    def run(scores, accs):
        return [{"epoch": i + 1, "siglip_score": s, "acc_exact": a} for i, (s, a) in enumerate(zip(scores, accs))]
    return [
        (run([0.20, 0.31, 0.29, 0.30, 0.35, 0.36], [0.5, 0.6, 0.9, 0.7, 0.8, 0.85]), 2),  # 2 epoch 참다가 멈춤: 4번째
        (run([0.20, 0.31, 0.29, 0.30, 0.35, 0.36], [0.5, 0.6, 0.9, 0.7, 0.8, 0.85]), 3),  # 3 epoch면 다시 오르는 것을 본다
        (run([0.40, 0.40, 0.38, 0.41], [0.1, 0.2, 0.3, 0.4]), 2),  # 같은 점수는 "넘지 못함"
        (run([0.1, 0.2, 0.3], [0.3, 0.2, 0.1]), 1),  # 끝까지 오름: 멈추지 않음
    ]


@exercise("06.3", title="조기 종료(early stopping): 언제 멈추고 무엇을 남기나", level="🐕",
          wrong_answers=[_ignores_stopping, _no_patience, _by_accuracy, _ties_improve])
def grade_early_stop(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: early_stop(evals, patience) -> (남길 기록, 돌린 epoch 수)")
    for evals, patience in _early_stop_cases():
        want = reference_early_stop(evals, patience)
        got = fn([dict(e) for e in evals], patience)
        if not isinstance(got, tuple) or len(got) != 2:
            raise Wrong(f"(남길 기록, 돌린 epoch 수) 두 개를 돌려주세요. 받은 값: {got!r:.80}")
        scores = [e["siglip_score"] for e in evals]
        if got[1] != want[1]:
            raise Wrong(f"SigLIP 점수 {scores}, patience {patience}: {got[1]} epoch 뒤에 멈췄습니다. 최고를 넘지 못한 epoch가 "
                        f"patience번 이어진 바로 그 epoch에서 멈춰야 합니다(같은 점수도 넘지 못한 것, 끝까지 가면 전체 epoch 수).")
        if got[0] != want[0]:
            raise Wrong(f"SigLIP 점수 {scores}, patience {patience}: 남길 기록이 틀렸습니다. 멈출 때까지 본 epoch 가운데 "
                        f"SigLIP 점수가 가장 높은 것(처음 나온 것)입니다 — 정확도가 아니라 원문의 기준으로.")


# --- 06.4 예측해 보기: 기울기 누적 대 큰 배치 ----------------------------------------------------------------

ACCUMULATION_OPTIONS = choices(
    "비트 단위로 같다",
    "아주 조금 다르다(수학적으로는 같은 기울기지만 부동소수 덧셈 순서가 달라 끝자리가 다르다)",
    "눈에 띄게 다르다(누적은 배치 32와 다른 학습이다: 가중치 차이의 크기(노름)가 학습이 움직인 양의 크기의 1% 이상)",
)


@exercise("06.4", title="예측해 보기: 배치 16 × 누적 2 대 배치 32", level="🐢",
          wrong_answers=["a", "c", "A", "d"])
def grade_accumulation_prediction(answer):
    grade_choice(answer, ACCUMULATION_OPTIONS, truth="b", hints={
        "a": "같은 예 32개의 기울기지만, 한 번에 더하는 것과 16개씩 두 번 더하는 것은 덧셈 순서가 다릅니다. "
             "부동소수 덧셈은 결합법칙이 성립하지 않습니다.",
        "c": "학습기는 누적 전체의 캡션 토큰 수로 나눕니다(위의 직접 쓴 루프의 n_tokens). 그래서 누적 2번의 기울기는 "
             "배치 32의 기울기와 수학적으로 같습니다."})
