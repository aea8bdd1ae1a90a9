"""노트북 01(한 번에 학습 vs 2단계 학습)의 연습문제 채점."""
from __future__ import annotations

import random

from course_lib.tooling.exercises import Wrong, exercise

# LLaVA 1단계 사전학습 데이터(LCS-558K)의 그림-캡션 쌍 수. 01.1은 원문 설정(배치 4, 누적 2, 2 epoch)으로 계산한다.
_LCS_PAIRS = 558_128


@exercise("01.1", title="원문 설정의 1단계 옵티마이저 걸음 수(LCS-558K)", level="🐢",
          wrong_answers=[_LCS_PAIRS // 4 * 2, _LCS_PAIRS // 8, _LCS_PAIRS * 2, _LCS_PAIRS // 8 * 3])
def check_stage1_steps(answer):
    expected = _LCS_PAIRS // (4 * 2) * 2
    if not isinstance(answer, int) or isinstance(answer, bool):
        raise Wrong("옵티마이저 걸음 수를 정수 하나로 답하세요.")
    if answer == _LCS_PAIRS // 4 * 2:
        raise Wrong("기울기 누적(grad_accum=2)을 빠뜨렸습니다. 옵티마이저 한 걸음은 배치 4 × 누적 2 = 8쌍입니다.")
    if answer == _LCS_PAIRS // 8:
        raise Wrong("한 epoch만 셌습니다. 원문의 1단계는 2 epoch입니다.")
    if answer != expected:
        raise Wrong("걸음 수 = (쌍 수 // (배치 × 누적)) × epoch 수입니다.")


def _reference_update_norm(lora_a, lora_b, alpha, r, use_rslora=False):
    import torch

    scaling = alpha / (r ** 0.5) if use_rslora else alpha / r
    return float(torch.linalg.matrix_norm(scaling * lora_b @ lora_a))


@exercise("01.2", title="LoRA가 실제로 바꾼 가중치의 크기 ‖ΔW‖", level="🐕",
          wrong_answers=[lambda a, b, alpha, r, use_rslora=False: float((b @ a).norm()),
                         lambda a, b, alpha, r, use_rslora=False: float((alpha / r * b @ a).norm()),
                         lambda a, b, alpha, r, use_rslora=False: float((alpha / r) * b.norm())])
def check_update_norm(fn):
    import torch

    if not callable(fn):
        raise Wrong("함수 lora_update_norm(lora_A, lora_B, alpha, r, use_rslora=False)를 넘기세요.")
    generator = torch.Generator().manual_seed(101)
    cases = [(torch.randn(4, 10, generator=generator), torch.zeros(6, 4), 8, 4, False)]
    for rank, rslora in ((2, False), (8, True), (16, False), (4, True)):
        a = torch.randn(rank, 12, generator=generator)
        b = torch.randn(7, rank, generator=generator) * 0.1
        cases.append((a, b, 2 * rank, rank, rslora))
    for a, b, alpha, r, rslora in cases:
        got, expected = fn(a, b, alpha, r, use_rslora=rslora), _reference_update_norm(a, b, alpha, r, rslora)
        if not isinstance(got, (int, float)) or abs(got - expected) > 1e-4 * max(1.0, expected):
            hint = ("B가 0이면 ΔW도 정확히 0입니다." if float(b.abs().sum()) == 0 else
                    "ΔW = scaling · B @ A, scaling = α/r(rsLoRA면 α/√r). 그 행렬의 프로베니우스 노름을 재세요.")
            raise Wrong(f"r={r}, α={alpha}, rsLoRA={rslora}에서 {got!r}, 기대값 {expected:.6f}. {hint}")


def _reference_verdict(two_stage, single_stage, margin):
    gaps = [a - b for a, b in zip(two_stage, single_stage)]
    if all(g >= margin for g in gaps):
        return "2단계"
    if all(-g >= margin for g in gaps):
        return "한 번에"
    return "결론 없음"


def _mean_verdict(two_stage, single_stage, margin):
    gap = sum(two_stage) / len(two_stage) - sum(single_stage) / len(single_stage)
    return "2단계" if gap >= margin else "한 번에" if -gap >= margin else "결론 없음"


@exercise("01.3", title="시드마다 짝지어 비교하기: 어느 쪽이 이겼다고 말할 수 있나", level="🦁",
          wrong_answers=[_mean_verdict,
                         lambda a, b, margin: _reference_verdict(a, b, 0.0),
                         lambda a, b, margin: "2단계" if sum(a) > sum(b) else "한 번에"])
def check_paired_verdict(fn):
    if not callable(fn):
        raise Wrong("함수 paired_verdict(two_stage, single_stage, margin)를 넘기세요.")
    rng = random.Random(303)
    cases = [([0.60, 0.58, 0.30], [0.40, 0.41, 0.35], 0.05),   # 평균은 2단계가 크지만 시드 하나에서 뒤집힘
             ([0.50, 0.52, 0.55], [0.49, 0.50, 0.53], 0.05),   # 늘 이기지만 차이가 여유(margin)보다 작음
             ([0.20, 0.25, 0.22], [0.40, 0.45, 0.41], 0.1),
             ([0.70, 0.66, 0.69], [0.50, 0.52, 0.55], 0.1)]
    for _ in range(20):
        n = rng.randint(2, 6)
        a = [round(rng.random(), 3) for _ in range(n)]
        cases.append((a, [round(x + rng.uniform(-0.3, 0.3), 3) for x in a], rng.choice([0.0, 0.02, 0.1])))
    for a, b, margin in cases:
        got, expected = fn(list(a), list(b), margin), _reference_verdict(a, b, margin)
        if got != expected:
            hint = ("평균이 아니라 시드마다 짝지은 차이를 보세요. 한 시드라도 뒤집히면 '결론 없음'입니다."
                    if _mean_verdict(a, b, margin) == got else
                    "모든 시드에서 차이가 margin 이상이어야 그쪽이 이겼다고 말합니다.")
            raise Wrong(f"2단계={a}, 한 번에={b}, margin={margin}에서 {got!r}, 기대값 {expected!r}. {hint}")
