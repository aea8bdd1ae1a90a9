"""노트북 03(DoRA: 크기와 방향)의 연습문제 채점.

코드 문제는 노트북에 없던 변형을 묻고, 학습자가 보지 못한 입력으로 채점한다.
- 03.2: 가중치를 [in, out]으로 저장하는 층(GPT-2의 `Conv1D`, 논문의 표기)에서 DoRA 합치기. 기준은 peft
  (`use_dora=True, fan_in_fan_out=True`)의 `merge`. 노트북은 [out, in](`nn.Linear`)만 보인다.
- 03.3: 노름까지 미분하되 [out, in] 크기의 텐서를 역전파용으로 저장하지 않는 행 노름. 노트북은 노름을 떼어 내거나
  (저장 없음, 기울기 근사) 그대로 미분하는(가중치 크기만큼 저장) 두 길만 보인다. 기준은 autograd와 저장 바이트.
- 03.4: 노름을 떼지 않을 때 방향이 받는 기울기. 기준은 autograd.
- 03.5(예측해 보기)는 채점할 때 실제로 한 걸음 학습해 본다.
"""
from __future__ import annotations

import torch
from peft import LoraConfig, inject_adapter_in_model
from torch import nn
from transformers.pytorch_utils import Conv1D

from course_lib import lora
from course_lib.memory import saved_activation_bytes
from course_lib.models.llm import qwen3_8b_config
from course_lib.tooling.exercises import Wrong, as_int, choices, exercise, grade_choice


def _callable(fn, signature: str) -> None:
    if not callable(fn):
        raise Wrong(f"함수를 넘기세요: {signature}")


def _qv_counts():
    config = qwen3_8b_config()
    targets = ["q_proj", "v_proj"]
    return (lora.count_lora_parameters(config, 8, targets, use_dora=True),
            lora.count_lora_parameters(config, 8, targets), config.num_hidden_layers)


@exercise("03.1", title="Qwen3-8B의 q_proj, v_proj에 r=8 DoRA를 붙일 때의 학습 파라미터 수", level="🐢",
          wrong_answers=[36 * 8 * ((4096 + 4096) + (4096 + 1024)),
                         36 * 8 * ((4096 + 4096) + (4096 + 1024)) + 36 * 2,
                         36 * (8 * ((4096 + 4096) + (4096 + 4096)) + 4096 + 4096)])
def grade_dora_count(answer):
    dora_count, lora_count, n_layers = _qv_counts()
    got = as_int(answer)
    if got == lora_count:
        raise Wrong("LoRA(A, B)만 셌습니다. DoRA는 모듈마다 크기 벡터 m(출력 특성 수만큼)을 더 학습합니다.")
    if got == lora_count + 2 * n_layers:
        raise Wrong("m을 모듈마다 스칼라 하나로 셌습니다. m은 출력 특성마다 하나인 벡터입니다(모양 [d_out]).")
    if got != dora_count:
        raise Wrong("모듈마다 r·(d_in + d_out) + d_out을 더하고 층 수를 곱하세요. v_proj의 d_out은 GQA로 1024입니다.")


class _OneLayer(nn.Module):
    def __init__(self, base: nn.Module):
        super().__init__()
        self.proj = base


def _peft_dora_merged_in_out(W_io, A, B, m, scaling) -> torch.Tensor:
    """가중치를 [in, out]으로 저장하는 `Conv1D` 층에 peft DoRA(`fan_in_fan_out=True`)를 붙여 `merge`한 가중치([in, out])."""
    r, (n_in, n_out) = A.shape[0], W_io.shape
    base = Conv1D(n_out, n_in)
    with torch.no_grad():
        base.weight.copy_(W_io)
        base.bias.zero_()
    config = LoraConfig(r=r, lora_alpha=scaling * r, target_modules=["proj"], use_dora=True, fan_in_fan_out=True)
    layer = inject_adapter_in_model(config, _OneLayer(base)).proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(A)      # peft는 A[r, in], B[out, r]을 nn.Linear의 꼴로 둔다
        layer.lora_B["default"].weight.copy_(B)
        layer.lora_magnitude_vector["default"].weight.copy_(m)
    layer.merge()
    return layer.get_base_layer().weight.detach().clone()


def _random_dora(generator, n_out, n_in, r):
    W = torch.randn(n_out, n_in, generator=generator)
    A = torch.randn(r, n_in, generator=generator) * 0.3
    B = torch.randn(n_out, r, generator=generator) * 0.3
    m = torch.rand(n_out, generator=generator) * 2 + 0.2
    return W, A, B, m


def _merge_rows_of_stored(W_io, A, B, m, s):
    # 틀린 답 예시: [in, out]으로 저장된 가중치의 행(= 입력 특성)마다 노름을 잰다
    merged = W_io + s * (B @ A).T
    return merged / merged.norm(dim=1, keepdim=True) * m.mean()


def _merge_linear_layout(W_io, A, B, m, s):
    # 틀린 답 예시: 노트북의 [out, in] 공식을 그대로 쓰고 [out, in]으로 돌려준다
    merged = W_io.T + s * B @ A
    return m[:, None] * merged / merged.norm(dim=1, keepdim=True)


def _merge_forgets_transpose(W_io, A, B, m, s):
    # 틀린 답 예시: BA를 뒤집지 않고 더한다(정사각 가중치에서만 모양이 맞는다)
    merged = W_io + s * B @ A
    return m[None, :] * merged / merged.norm(dim=0, keepdim=True)


@exercise("03.2", title="[in, out]으로 저장된 층(Conv1D, 논문의 표기)에서 DoRA 합치기", level="🐕",
          wrong_answers=[_merge_rows_of_stored, _merge_linear_layout, _merge_forgets_transpose])
def grade_dora_merge_in_out(fn):
    _callable(fn, "merge_dora_in_out(W_io, A, B, m, scaling) → 합친 가중치 [in, out]")
    generator = torch.Generator().manual_seed(3032)
    # 정사각 모양을 먼저 두어, 축을 잘못 골라도 모양 오류 없이 값이 틀리게 한다
    for n_out, n_in, r, scaling in ((9, 9, 2, 2.0), (6, 14, 3, 0.5), (20, 8, 4, 1.5)):
        W, A, B, m = _random_dora(generator, n_out, n_in, r)
        W_io = W.T.contiguous()
        want = _peft_dora_merged_in_out(W_io, A, B, m, scaling)
        got = fn(W_io.clone(), A.clone(), B.clone(), m.clone(), scaling)
        if not torch.is_tensor(got) or got.shape != W_io.shape:
            raise Wrong(f"합친 가중치는 들어온 W_io와 같은 [in, out] = {tuple(W_io.shape)} 모양으로 돌려주세요"
                        f"(받은 모양 {tuple(getattr(got, 'shape', ()))}).")
        if not torch.allclose(got.norm(dim=0), m, rtol=1e-4):
            raise Wrong("합친 가중치의 출력 특성마다(= [in, out]에서는 **열**, dim=0) 노름이 m과 같아야 합니다. "
                        "A[r, in], B[out, r]로 만든 BA는 [out, in]이라 [in, out] 가중치에 더하려면 뒤집어야(.T) 합니다.")
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise Wrong("peft(fan_in_fan_out=True)가 합친 가중치와 다릅니다. V = W_io + s·(BA)ᵀ, 열마다 m_j · V[:, j] / ‖V[:, j]‖.")


def dora_row_norms_gram(W, A, B, scaling):
    """03.3의 기준: ‖W + sBA‖²(행별) = ‖W‖² + 2s·(B ⊙ W Aᵀ)의 행 합 + s²·(B (A Aᵀ) ⊙ B)의 행 합. [out, r] 크기만 저장한다."""
    base_sq = W.square().sum(dim=1)                      # W는 얼어 있다: 미분할 것이 없다
    cross = (B * (W @ A.T)).sum(dim=1)                   # W Aᵀ: [out, r]
    low_rank = ((B @ (A @ A.T)) * B).sum(dim=1)          # A Aᵀ: [r, r]
    return (base_sq + 2 * scaling * cross + scaling**2 * low_rank).sqrt()


def _row_norms_direct(W, A, B, scaling):
    # 틀린 답 예시: 값과 기울기는 맞지만 [out, in] 크기의 W + sBA를 역전파용으로 저장한다(노트북의 떼지 않은 노름)
    return (W + scaling * B @ A).norm(dim=1)


def _row_norms_detached(W, A, B, scaling):
    # 틀린 답 예시: 노름을 떼어 냈다(저장은 없지만 기울기가 흐르지 않는다)
    with torch.no_grad():
        return (W + scaling * B @ A).norm(dim=1)


def _row_norms_no_cross_term(W, A, B, scaling):
    # 틀린 답 예시: ‖a + b‖² = ‖a‖² + ‖b‖²로 셈(교차항 2s·Wᵢ·(BA)ᵢ을 빠뜨림)
    return (W.square().sum(dim=1) + scaling**2 * ((B @ (A @ A.T)) * B).sum(dim=1)).sqrt()


@exercise("03.3", title="노름까지 미분하되 [out, in] 텐서를 저장하지 않는 DoRA 행 노름", level="🦁",
          wrong_answers=[_row_norms_direct, _row_norms_detached, _row_norms_no_cross_term])
def grade_dora_row_norms(fn):
    _callable(fn, "dora_row_norms(W, A, B, scaling) → ‖W + s·BA‖(행별) [out]")
    generator = torch.Generator().manual_seed(3033)
    for n_out, n_in, r, scaling in ((96, 80, 3, 2.0), (64, 160, 4, 0.5), (128, 48, 2, 1.0)):
        W, A, B, _ = _random_dora(generator, n_out, n_in, r)
        A, B = A.requires_grad_(True), B.requires_grad_(True)
        want = (W + scaling * B @ A).norm(dim=1)
        grad_out = torch.randn(n_out, generator=generator)
        want_grads = torch.autograd.grad(want, (A, B), grad_out)
        got = fn(W, A, B, scaling)
        if not torch.is_tensor(got) or got.shape != want.shape:
            raise Wrong(f"행마다 노름 하나, 모양 [{n_out}]인 텐서를 돌려주세요(받은 것 {tuple(getattr(got, 'shape', ()))}).")
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise Wrong("노름의 값이 ‖W + s·BA‖(행별)와 다릅니다. ‖a + b‖² = ‖a‖² + 2a·b + ‖b‖²에서 "
                        "a = Wᵢ, b = s·(BA)ᵢ로 놓고 행마다 계산하세요.")
        if not got.requires_grad:
            raise Wrong("노름이 계산 그래프에서 떨어져 있습니다(떼어 낸 노름). 이 문제는 A, B로 기울기가 흐르게 하는 것입니다.")
        got_grads = torch.autograd.grad(got, (A, B), grad_out, allow_unused=True)
        for name, g, w in zip("AB", got_grads, want_grads):
            if g is None or not torch.allclose(g, w, rtol=1e-4, atol=1e-5):
                raise Wrong(f"∂/∂{name}가 노름을 그대로 미분한 기울기와 다릅니다.")
        saved = saved_activation_bytes(fn, W, A, B, scaling, exclude=[W])   # W는 이미 메모리에 있는 가중치
        if saved >= n_out * n_in * 4 // 2:
            raise Wrong(f"[{n_out}, {n_in}]에서 역전파용으로 {saved:,}바이트를 저장했습니다. [out, in] 크기(float32 "
                        f"{n_out * n_in * 4:,}바이트)의 텐서를 만들어 노름을 재면 autograd가 그것을 붙잡아 둡니다. "
                        f"BA를 만들지 말고 W Aᵀ([out, r])와 A Aᵀ([r, r])로 계산하세요.")


def _detached_formula(V, m, grad_W):
    # 틀린 답 예시: 노름을 떼어 냈을 때의 식(m/‖V'‖)·∂L/∂W'
    return (m / V.norm(dim=1))[:, None] * grad_W


def _projection_only(V, m, grad_W):
    # 틀린 답 예시: 사영은 했지만 m/‖V'‖ 배를 잊었다
    unit = V / V.norm(dim=1, keepdim=True)
    return grad_W - (grad_W * unit).sum(dim=1, keepdim=True) * unit


def _column_projection(V, m, grad_W):
    # 틀린 답 예시: 열(dim=0) 방향으로 사영했다
    unit = V / V.norm(dim=0, keepdim=True)
    return (m / V.norm(dim=1))[:, None] * (grad_W - (grad_W * unit).sum(dim=0, keepdim=True) * unit)


@exercise("03.4", title="노름을 떼어 내지 않을 때 방향 V'가 받는 기울기(논문의 식)", level="🦁",
          wrong_answers=[_detached_formula, _projection_only, _column_projection])
def grade_direction_gradient(fn):
    _callable(fn, "direction_gradient(V, m, grad_W) → ∂L/∂V' [out, in]")
    generator = torch.Generator().manual_seed(3034)
    for n_out, n_in in ((7, 7), (5, 11), (16, 6)):
        V = torch.randn(n_out, n_in, generator=generator)
        m = torch.rand(n_out, generator=generator) + 0.5
        grad_W = torch.randn(n_out, n_in, generator=generator)
        leaf = V.clone().requires_grad_(True)
        merged = m[:, None] * leaf / leaf.norm(dim=1, keepdim=True)   # W' = m · V'/‖V'‖, 노름까지 미분한다
        (merged * grad_W).sum().backward()                           # 그러면 ∂L/∂W' = grad_W
        got = fn(V.clone(), m.clone(), grad_W.clone())
        if not torch.is_tensor(got) or got.shape != V.shape:
            raise Wrong(f"V'와 같은 모양 {tuple(V.shape)}의 텐서를 돌려주세요.")
        if not torch.allclose(got, leaf.grad, rtol=1e-4, atol=1e-5):
            raise Wrong("autograd가 구한 ∂L/∂V'와 다릅니다. 행마다 (m_i/‖V'_i‖) · (g_i − (g_i·v̂_i) v̂_i), "
                        "v̂_i = V'_i/‖V'_i‖ 입니다(g_i는 ∂L/∂W'의 i번째 행).")


def row_norms_after_one_step() -> str:
    """m을 얼린 DoRA 층에서 Adam 한 걸음. 합친 가중치의 행 노름이 어떻게 되었는지 → 보기 글자."""
    generator = torch.Generator().manual_seed(35)
    base = nn.Linear(8, 6, bias=False)
    with torch.no_grad():
        base.weight.copy_(torch.randn(6, 8, generator=generator))
    layer = lora.DoRALinear(base, r=2, alpha=4)
    with torch.no_grad():
        layer.lora_B.copy_(torch.randn(6, 2, generator=generator) * 0.1)
    layer.magnitude.requires_grad_(False)

    def merged_row_norms():
        with torch.no_grad():
            merged = base.weight + layer.scaling * layer.lora_B @ layer.lora_A
            return (layer.magnitude[:, None] * merged / merged.norm(dim=1, keepdim=True)).norm(dim=1)

    before = merged_row_norms()
    optimizer = torch.optim.Adam([layer.lora_A, layer.lora_B], lr=0.1)
    layer(torch.randn(5, 8, generator=generator)).square().sum().backward()
    optimizer.step()
    after = merged_row_norms()
    if torch.allclose(after, before, rtol=1e-5):
        return "a"
    return "b" if bool((after > before).all()) else "c"


PREDICTION_OPTIONS_03_5 = choices("행마다 그대로(m과 같다)", "모든 행이 커진다", "행마다 다르게 바뀐다")


@exercise("03.5", title="예측해 보기: m을 얼리면 A, B를 학습해도 합친 가중치의 행 노름은?", level="🐢",
          wrong_answers=["b", "c", "x"])
def grade_frozen_magnitude(answer):
    grade_choice(answer, PREDICTION_OPTIONS_03_5, truth=row_norms_after_one_step,   # 채점할 때 실제로 한 걸음 학습해 본다
                 hint="W' = m ⊙ V'/‖V'‖에서 V'/‖V'‖의 각 행은 A, B가 어떻게 바뀌든 길이가 얼마인가요?")
