"""노트북 03(DoRA: 크기와 방향)의 연습문제 채점.

코드 문제는 노트북에 없던 변형을 묻고, 학습자가 보지 못한 입력으로 채점한다. 03.2는 peft(`use_dora=True`)의
`merge_and_unload`가, 03.3·03.4는 autograd가 기준값을 낸다. 03.5(예측해 보기)는 채점할 때 실제로 한 걸음 학습해 본다.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from peft import LoraConfig, inject_adapter_in_model
from torch import nn

from course_lib import lora
from course_lib.models.llm import qwen3_8b_config
from course_lib.tooling.exercises import Wrong, exercise


def _as_int(answer) -> int:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer != int(answer):
        raise Wrong(f"정수 하나로 답하세요. 받은 값: {answer!r}")
    return int(answer)


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
    got = _as_int(answer)
    if got == lora_count:
        raise Wrong("LoRA(A, B)만 셌습니다. DoRA는 모듈마다 크기 벡터 m(출력 특성 수만큼)을 더 학습합니다.")
    if got == lora_count + 2 * n_layers:
        raise Wrong("m을 모듈마다 스칼라 하나로 셌습니다. m은 출력 특성마다 하나인 벡터입니다(모양 [d_out]).")
    if got != dora_count:
        raise Wrong("모듈마다 r·(d_in + d_out) + d_out을 더하고 층 수를 곱하세요. v_proj의 d_out은 GQA로 1024입니다.")


class _OneLinear(nn.Module):
    def __init__(self, base: nn.Linear):
        super().__init__()
        self.proj = base


def _peft_dora_merged(W, A, B, m, scaling) -> torch.Tensor:
    """주어진 W, A, B, m을 가진 peft DoRA 층을 `merge_and_unload`로 합친 가중치."""
    r = A.shape[0]
    base = nn.Linear(W.shape[1], W.shape[0], bias=False)
    with torch.no_grad():
        base.weight.copy_(W)
    model = inject_adapter_in_model(LoraConfig(r=r, lora_alpha=scaling * r, target_modules=["proj"], use_dora=True),
                                    _OneLinear(base))
    layer = model.proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(A)
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


@exercise("03.2", title="DoRA 층을 가중치 하나로 합치기(merge)", level="🐕",
          wrong_answers=[lambda W, A, B, m, s: W + s * B @ A,
                         lambda W, A, B, m, s: m[:, None] * (W + s * B @ A) / (W + s * B @ A).norm(dim=0, keepdim=True),
                         lambda W, A, B, m, s: m[:, None] * (W + s * B @ A)])
def grade_dora_merge(fn):
    _callable(fn, "merge_dora(W, A, B, m, scaling) → 합친 가중치 [out, in]")
    generator = torch.Generator().manual_seed(3032)
    for n_out, n_in, r, scaling in ((9, 9, 2, 2.0), (6, 14, 3, 0.5), (20, 8, 4, 1.5)):
        W, A, B, m = _random_dora(generator, n_out, n_in, r)
        want = _peft_dora_merged(W, A, B, m, scaling)
        got = fn(W.clone(), A.clone(), B.clone(), m.clone(), scaling)
        if not torch.is_tensor(got) or got.shape != W.shape:
            raise Wrong(f"합친 가중치의 모양은 W와 같은 {tuple(W.shape)}여야 합니다.")
        if not torch.allclose(got.norm(dim=1), m, rtol=1e-4):
            raise Wrong("합친 가중치의 행마다 노름이 m과 같아야 합니다(W'의 행 = m_i × 길이 1인 방향). "
                        "방향 W + s·BA를 **행(dim=1)**마다 노름으로 나누었는지 확인하세요.")
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise Wrong("peft가 합친 가중치와 다릅니다. W' = m ⊙ (W + s·BA) / ‖W + s·BA‖(행별)입니다.")


def _reference_attached(x, W, A, B, m, scaling):
    return lora.dora_forward(x, W, None, A, B, m, scaling, detach_norm=False)


def _output_and_grads(fn, x, W, A, B, m, scaling, grad_out):
    A, B, m = (t.detach().clone().requires_grad_(True) for t in (A, B, m))
    out = fn(x, W, A, B, m, scaling)
    if not torch.is_tensor(out) or out.shape != grad_out.shape:
        raise Wrong(f"출력 모양이 {tuple(grad_out.shape)}여야 합니다. 받은 것: {getattr(out, 'shape', type(out))}")
    if not out.requires_grad:
        raise Wrong("출력이 계산 그래프에 붙어 있지 않습니다(A, B, m으로 기울기가 흘러야 합니다).")
    out.backward(grad_out)
    grads = [None if t.grad is None else t.grad.detach() for t in (A, B, m)]
    return out.detach(), grads


@exercise("03.3", title="노름을 떼어 내지 않은 DoRA 순전파(기울기까지 채점)", level="🦁",
          wrong_answers=[lambda x, W, A, B, m, s: lora.dora_forward(x, W, None, A, B, m, s),
                         lambda x, W, A, B, m, s: F.linear(x, m[:, None] * (W + s * B @ A)
                                                           / (W + s * B @ A).norm(dim=0, keepdim=True)),
                         lambda x, W, A, B, m, s: F.linear(x, m[:, None] * (W + s * B @ A)
                                                           / (W + B @ A).norm(dim=1, keepdim=True))])
def grade_dora_attached(fn):
    _callable(fn, "my_dora_attached(x, W, A, B, m, scaling)")
    generator = torch.Generator().manual_seed(3033)
    for n_in, n_out, r, scaling in ((10, 10, 2, 2.0), (12, 7, 3, 0.5)):
        W, A, B, m = _random_dora(generator, n_out, n_in, r)
        x = torch.randn(4, n_in, generator=generator)
        grad_out = torch.randn(4, n_out, generator=generator)
        want_out, want_grads = _output_and_grads(_reference_attached, x, W, A, B, m, scaling, grad_out)
        _, detached_grads = _output_and_grads(lambda *a: lora.dora_forward(*a[:2], None, *a[2:]),
                                              x, W, A, B, m, scaling, grad_out)
        got_out, got_grads = _output_and_grads(fn, x, W, A, B, m, scaling, grad_out)
        if not torch.allclose(got_out, want_out, rtol=1e-4, atol=1e-5):
            raise Wrong("순전파 값이 다릅니다. W' = m ⊙ (W + s·BA) / ‖W + s·BA‖이고 노름은 행(dim=1)마다, 배율 s를 "
                        "곱한 BA로 잽니다.")
        if any(g is None for g in got_grads):
            raise Wrong("A, B, m 가운데 기울기를 받지 못한 것이 있습니다. 모두 출력 계산에 써야 합니다.")
        if all(torch.allclose(g, d, rtol=1e-4, atol=1e-6) for g, d in zip(got_grads[:2], detached_grads[:2])):
            raise Wrong("값은 맞지만 A, B의 기울기가 노름을 떼어 낸 쪽(peft, 논문 4.3절)과 같습니다. 이 문제는 노름을 "
                        "torch.no_grad()나 .detach() 없이 계산해 기울기가 노름을 거쳐서도 흐르게 하는 것입니다.")
        for name, g, w in zip("ABm", got_grads, want_grads):
            if not torch.allclose(g, w, rtol=1e-4, atol=1e-5):
                raise Wrong(f"∂/∂{name}가 기준과 다릅니다. 노름을 뗀 채 계산한 곳이 일부 남아 있지 않은지 보세요.")


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


PREDICTION_OPTIONS_03_5 = {"a": "행마다 그대로(m과 같다)", "b": "모든 행이 커진다", "c": "행마다 다르게 바뀐다"}


@exercise("03.5", title="예측해 보기: m을 얼리면 A, B를 학습해도 합친 가중치의 행 노름은?", level="🐢",
          wrong_answers=["b", "c", "x"])
def grade_frozen_magnitude(answer):
    if not isinstance(answer, str) or answer.strip().lower() not in PREDICTION_OPTIONS_03_5:
        raise Wrong(f"보기의 글자 하나로 답하세요: {', '.join(PREDICTION_OPTIONS_03_5)}. 받은 값: {answer!r}")
    if answer.strip().lower() != row_norms_after_one_step():   # 채점할 때 실제로 한 걸음 학습해 본다
        raise Wrong("다시 생각해 보세요. W' = m ⊙ V'/‖V'‖에서 V'/‖V'‖의 각 행은 A, B가 어떻게 바뀌든 길이가 얼마인가요?")
