"""노트북 03(DoRA: 크기와 방향)의 연습문제 채점."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib import lora
from course_lib.tooling.exercises import Wrong, exercise


def _as_int(answer) -> int:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer != int(answer):
        raise Wrong(f"정수 하나로 답하세요. 받은 값: {answer!r}")
    return int(answer)


def _qv_counts():
    from course_lib.models.llm import qwen3_8b_config

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


@exercise("03.2", title="가중치를 크기와 방향으로 나누기", level="🐕",
          wrong_answers=[lambda W: (W.norm(dim=0), W / W.norm(dim=0, keepdim=True)),
                         lambda W: (W.norm(), W / W.norm()),
                         lambda W: (W.norm(dim=1), W)])
def grade_decompose(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: magnitude_and_direction(W) → (m, V)")
    generator = torch.Generator().manual_seed(303)
    for n_out, n_in in ((6, 9), (20, 5)):
        W = torch.randn(n_out, n_in, generator=generator) * torch.rand(n_out, 1, generator=generator) * 3
        result = fn(W)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Wrong("(m, V) 두 개를 돌려주세요.")
        m, V = result
        if not torch.is_tensor(m) or m.shape != (n_out,):
            raise Wrong(f"m의 모양은 출력 특성마다 하나인 [{n_out}]이어야 합니다. 받은 모양: {getattr(m, 'shape', None)}. "
                        "[out, in] 가중치에서 행(dim=1)별 노름을 재세요.")
        if not torch.is_tensor(V) or V.shape != W.shape:
            raise Wrong(f"V의 모양은 W와 같은 {tuple(W.shape)}여야 합니다.")
        if not torch.allclose(V.norm(dim=1), torch.ones(n_out), atol=1e-5):
            raise Wrong("V의 각 행은 길이(노름)가 1이어야 합니다.")
        if not torch.allclose(m[:, None] * V, W, atol=1e-5):
            raise Wrong("m[:, None] * V가 W로 돌아오지 않습니다.")


@exercise("03.3", title="DoRA 순전파를 직접 쓰기", level="🦁",
          wrong_answers=[lambda x, W, A, B, m, s: lora.lora_forward(x, W, None, A, B, s),
                         lambda x, W, A, B, m, s: F.linear(x, m[:, None] * (W + s * B @ A)
                                                           / (W + s * B @ A).norm(dim=0, keepdim=True)),
                         lambda x, W, A, B, m, s: F.linear(x, m[:, None] * (W + B @ A)
                                                           / (W + B @ A).norm(dim=1, keepdim=True))])
def grade_dora_forward(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: my_dora_forward(x, W, A, B, m, scaling)")
    generator = torch.Generator().manual_seed(3033)
    for n_in, n_out, r, scaling in ((10, 10, 2, 2.0), (12, 7, 3, 0.5)):
        x = torch.randn(4, n_in, generator=generator)
        W = torch.randn(n_out, n_in, generator=generator)
        A = torch.randn(r, n_in, generator=generator)
        B = torch.randn(n_out, r, generator=generator)
        m = torch.rand(n_out, generator=generator) + 0.5
        want = lora.dora_forward(x, W, None, A, B, m, scaling)
        got = fn(x, W, A, B, m, scaling)
        if not torch.is_tensor(got) or got.shape != want.shape:
            raise Wrong(f"출력 모양이 {tuple(want.shape)}여야 합니다.")
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise Wrong("값이 다릅니다. W' = m ⊙ (W + s·BA) / ‖W + s·BA‖ 이고, 노름은 출력 특성(행, dim=1)마다 잽니다. "
                        "배율 s를 BA에 곱했는지도 확인하세요.")


@exercise("03.4", title="방향 변화량 ΔD 재기", level="🐕",
          wrong_answers=[lambda W0, W1: (1 - F.cosine_similarity(W0, W1, dim=0)).mean(),
                         lambda W0, W1: 1 - F.cosine_similarity(W0.flatten(), W1.flatten(), dim=0),
                         lambda W0, W1: (W1.norm(dim=1) - W0.norm(dim=1)).abs().mean()])
def grade_direction_change(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: direction_change(W0, W1) → 실수 하나")
    generator = torch.Generator().manual_seed(34)
    for n_out, n_in in ((8, 5), (3, 16)):
        W0 = torch.randn(n_out, n_in, generator=generator)
        W1 = W0 + 0.3 * torch.randn(n_out, n_in, generator=generator)
        want = (1 - F.cosine_similarity(W1, W0, dim=1)).mean().item()
        got = fn(W0, W1)
        got = float(got.item() if torch.is_tensor(got) else got)
        if not abs(got - want) <= 1e-5:  # NaN도 틀림
            raise Wrong("ΔD = 행(출력 특성)마다 1 − cos(W1의 행, W0의 행)을 구해 평균한 값입니다. 크기 변화는 빼고 방향만 봅니다.")
