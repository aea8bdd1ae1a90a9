"""노트북 02, 03 연습문제 채점: 등록된 틀린 답은 모두 거절하고, 풀이(노트북의 정답 칸과 같은 것)는 받아들인다."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.tooling.exercises import REGISTRY, ex02, ex03, load_all, verdict

import exercise_contract  # tests/exercise_contract.py: 모든 노트북의 연습문제에 같은 약속

load_all()


def lora_from_delta(delta, r, scaling):
    U, S, Vh = torch.linalg.svd(delta, full_matrices=False)
    return Vh[:r], U[:, :r] * S[:r] / scaling


def direction_gradient(V, m, grad_W):
    norm = V.norm(dim=1, keepdim=True)
    unit = V / norm
    return (m[:, None] / norm) * (grad_W - (grad_W * unit).sum(dim=1, keepdim=True) * unit)


def merge_dora_in_out(W_io, A, B, m, s):
    # [in, out]으로 저장된 가중치: 출력 특성 j는 열 j. BA([out, in])를 뒤집어 더하고 열마다 크기를 m_j로
    direction = W_io + s * (B @ A).T
    return direction / torch.linalg.vector_norm(direction, dim=0) * m


def dora_row_norms(W, A, B, s):
    # 기준(W Aᵀ와 A Aᵀ로 전개)과 다른 길: Aᵀ = Q R(Q [in, r]의 열이 정규직교)이면 (BA)ᵢ = Bᵢ Rᵀ Qᵀ는 Q의 열 공간 안에 있다.
    # Wᵢ를 그 공간 안(Wᵢ Q)과 밖으로 나누면 ‖Wᵢ + s(BA)ᵢ‖² = (‖Wᵢ‖² − ‖Wᵢ Q‖²) + ‖Wᵢ Q + s Bᵢ Rᵀ‖². 모두 [out, r] 크기.
    Q, R = torch.linalg.qr(A.T)
    inside = W @ Q
    outside_sq = W.square().sum(dim=1) - inside.square().sum(dim=1)
    return (outside_sq + (inside + s * B @ R.T).square().sum(dim=1)).sqrt()


SOLUTIONS = {
    "02.1": 8 * (4096 + 1024),
    "02.2": lambda ids, E, A, B, s: E[ids] + s * (F.embedding(ids, A.T) @ B.T),
    "02.3": 32 * 8 * ((4096 + 4096) + (4096 + 1024)),
    "02.4": lora_from_delta,
    "02.5": "a",
    "03.1": 36 * (8 * ((4096 + 4096) + (4096 + 1024)) + 4096 + 1024),
    "03.2": merge_dora_in_out,
    "03.3": dora_row_norms,
    "03.4": direction_gradient,
    "03.5": "a",
}


def test_every_exercise_of_02_and_03_has_a_solution_here():
    ids = sorted(k for k in REGISTRY if k.split(".")[0] in ("02", "03"))
    assert ids == sorted(SOLUTIONS)
    assert 3 <= sum(k.startswith("02.") for k in ids) <= 5 and 3 <= sum(k.startswith("03.") for k in ids) <= 5


test_solution_is_accepted, test_registered_wrong_answers_are_rejected = exercise_contract.tests(SOLUTIONS)


def test_in_out_merge_truth_is_the_unmerged_peft_layer():
    """03.2의 기준(peft가 Conv1D에서 합친 가중치)이 합치기 전 DoRA 층과 같은 출력을 낸다: 식을 옮겨 적은 기준이 아니다."""
    from transformers.pytorch_utils import Conv1D
    from peft import LoraConfig, inject_adapter_in_model

    generator = torch.Generator().manual_seed(7)
    W, A, B, m = ex03._random_dora(generator, 6, 10, 2)
    W_io = W.T.contiguous()
    merged = ex03._peft_dora_merged_in_out(W_io, A, B, m, 1.5)
    layer = inject_adapter_in_model(LoraConfig(r=2, lora_alpha=3.0, target_modules=["proj"], use_dora=True,
                                               fan_in_fan_out=True), ex03._OneLayer(Conv1D(6, 10))).proj
    with torch.no_grad():
        layer.get_base_layer().weight.copy_(W_io)
        layer.get_base_layer().bias.zero_()
        layer.lora_A["default"].weight.copy_(A)
        layer.lora_B["default"].weight.copy_(B)
        layer.lora_magnitude_vector["default"].weight.copy_(m)
        x = torch.randn(5, 10, generator=generator)
        torch.testing.assert_close(x @ merged, layer(x), rtol=1e-5, atol=1e-5)
    assert merged.shape == (10, 6) and torch.allclose(merged.norm(dim=0), m)


def test_row_norm_grader_measures_what_the_direct_norm_saves():
    """03.3의 저장 바이트 기준이 갈라 내는 것: 노름을 그대로 재면 [out, in] float32 하나 이상, 풀이는 그 절반보다 훨씬 작다."""
    from course_lib.memory import saved_activation_bytes

    W = torch.randn(96, 80)
    A, B = torch.randn(3, 80, requires_grad=True), torch.randn(96, 3, requires_grad=True)
    direct = saved_activation_bytes(lambda: (W + B @ A).norm(dim=1), exclude=[W])
    ours = saved_activation_bytes(lambda: dora_row_norms(W, A, B, 1.0), exclude=[W])
    assert direct >= 96 * 80 * 4 and ours < 96 * 80 * 4 // 4


def test_prediction_answers_come_from_running_the_setting():
    """예측해 보기의 정답은 채점기가 실제로 한 걸음 학습해 정한다: A = 0이면 A만, m을 얼리면 행 노름은 그대로."""
    assert ex02.changed_after_first_step("A") == "a"
    assert ex02.changed_after_first_step("B") == "b"     # peft의 기본(B = 0)에서는 B만 바뀐다
    assert ex03.row_norms_after_one_step() == "a"


def test_non_answers_are_rejected():
    assert not verdict("02.1", "49152")[0]          # 문자열
    assert not verdict("02.2", 3)[0]                # 함수가 아님
    assert not verdict("02.4", lambda d, r, s: d)[0]  # 두 개를 돌려주지 않음
    assert not verdict("02.5", "A만")[0]             # 보기 글자가 아님
    assert not verdict("03.4", lambda V, m, g: torch.full_like(V, float("nan")))[0]
