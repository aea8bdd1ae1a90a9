"""노트북 02(LoRA와 파라미터 계산)의 연습문제 채점.

코드 문제는 노트북에 없던 변형을 묻고, 학습자가 보지 못한 입력으로 채점한다. 기준값은 가능한 한 진짜 라이브러리(peft)가
계산한다(02.2는 peft의 `lora.Embedding` 층, 02.4는 특잇값 분해로 구한 최적 오차, 02.5는 채점할 때 실제로 한 걸음 학습해 본 결과).
"""
from __future__ import annotations

import torch
from peft import LoraConfig, inject_adapter_in_model
from torch import nn
from transformers import LlamaConfig

from course_lib import lora
from course_lib.models.llm import qwen3_8b_config
from course_lib.tooling.exercises import Wrong, as_int, choices, exercise, grade_choice


def _llama3_8b() -> LlamaConfig:
    # Llama-3-8B의 공개 config.json 값(노트북 02와 같은 값, 허브에서 받지 않는다)
    return LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False)


def _callable(fn, signature: str) -> None:
    if not callable(fn):
        raise Wrong(f"함수를 넘기세요: {signature}")


@exercise("02.1", title="Qwen3-8B의 k_proj 하나에 붙은 LoRA 파라미터(r=8)", level="🐢",
          wrong_answers=[8 * (4096 + 4096), 4096 * 1024, 8 * 4096])
def grade_k_proj(answer):
    n_in, n_out, _ = lora.decoder_linear_shapes(qwen3_8b_config())["k_proj"]
    expected = 8 * (n_in + n_out)
    got = as_int(answer)
    if got == 8 * (n_in + n_in):
        raise Wrong("k_proj를 4096 → 4096으로 셌습니다. GQA에서는 KV 헤드 8개 × head_dim 128 = 1024가 출력입니다.")
    if got == n_in * n_out:
        raise Wrong("그것은 얼려 둔 원래 가중치 W의 크기입니다. LoRA는 A[r, d_in]와 B[d_out, r]만 학습합니다.")
    if got != expected:
        raise Wrong("A는 r·d_in개, B는 d_out·r개입니다. 둘을 더하세요.")


class _OneEmbedding(nn.Module):
    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.emb = embedding


def _peft_embedding(weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float) -> nn.Module:
    """주어진 E, A, B를 가진 peft의 LoRA 임베딩 층(`peft.tuners.lora.Embedding`)."""
    r = A.shape[0]
    base = nn.Embedding(*weight.shape)
    model = inject_adapter_in_model(LoraConfig(r=r, lora_alpha=scaling * r, target_modules=["emb"]), _OneEmbedding(base))
    layer = model.emb
    with torch.no_grad():
        layer.get_base_layer().weight.copy_(weight)
        layer.lora_embedding_A["default"].copy_(A)
        layer.lora_embedding_B["default"].copy_(B)
    if abs(layer.scaling["default"] - scaling) > 1e-12:
        raise RuntimeError("peft의 배율이 예상과 다르다")  # 채점기 자체의 결함
    return layer


@exercise("02.2", title="임베딩 층에 붙은 LoRA의 순전파", level="🐕",
          wrong_answers=[lambda ids, E, A, B, s: E[ids] + A.T[ids] @ B.T,
                         lambda ids, E, A, B, s: E[ids],
                         lambda ids, E, A, B, s: E[ids] + s * nn.functional.embedding(ids, B @ A)])
def grade_lora_embedding(fn):
    _callable(fn, "my_lora_embedding(ids, E, A, B, scaling) → [..., dim]")
    generator = torch.Generator().manual_seed(20260220)
    # (어휘 수, 임베딩 폭, r, 배율). 어휘 수 = 폭인 경우를 먼저 두어, A·B의 방향을 바꿔도 모양 오류 없이 값이 틀리게 한다.
    for vocab, dim, r, scaling in ((12, 12, 3, 0.5), (30, 8, 2, 2.0), (50, 20, 4, 4.0)):
        E = torch.randn(vocab, dim, generator=generator)
        A = torch.randn(r, vocab, generator=generator)
        B = torch.randn(dim, r, generator=generator)
        ids = torch.randint(0, vocab, (3, 7), generator=generator)
        with torch.no_grad():
            want = _peft_embedding(E, A, B, scaling)(ids)
        got = fn(ids, E, A, B, scaling)
        if not torch.is_tensor(got) or got.shape != want.shape:
            raise Wrong(f"출력 모양이 {tuple(want.shape)}여야 합니다(토큰마다 길이 {dim}인 벡터). "
                        f"받은 것: {getattr(got, 'shape', type(got))}")
        if torch.allclose(got, E[ids], atol=1e-6):
            raise Wrong("원래 임베딩 E[ids]만 돌려주었습니다. 저랭크 경로 scaling · (A의 열 ids) · Bᵀ를 더하세요.")
        if not torch.allclose(got, want, rtol=1e-5, atol=1e-5):
            raise Wrong("peft의 LoRA 임베딩과 값이 다릅니다. A는 [r, 어휘 수]라서 토큰 번호마다 A의 **열** 하나(r차원)를 "
                        "고르게 됩니다. 그 벡터에 Bᵀ를 곱하고 배율을 곱하세요.")


@exercise("02.3", title="Llama-3-8B에 r=8 LoRA를 q_proj, v_proj에만 붙일 때의 학습 파라미터 수", level="🐕",
          wrong_answers=[32 * 8 * (4096 + 4096) * 2, 8 * ((4096 + 4096) + (4096 + 1024)), 41_943_040])
def grade_llama_qv(answer):
    expected = lora.count_lora_parameters(_llama3_8b(), 8, ["q_proj", "v_proj"])
    got = as_int(answer)
    if got == 32 * 8 * (4096 + 4096) * 2:
        raise Wrong("v_proj를 4096 → 4096으로 셌습니다. Llama-3-8B도 GQA(KV 헤드 8개)라 v_proj는 4096 → 1024입니다.")
    if got * 32 == expected:
        raise Wrong("층 하나만 셌습니다. Llama-3-8B의 디코더 층 수를 곱하세요.")
    if got != expected:
        raise Wrong("모듈마다 r·(d_in + d_out)을 구해 더한 뒤 층 수를 곱하세요.")


def _svd_wrong_order(delta, r, scaling):
    # 틀린 답 예시: 가장 **작은** 특잇값 r개를 고른다(torch.linalg.svd는 큰 것부터 돌려준다)
    U, S, Vh = torch.linalg.svd(delta, full_matrices=False)
    return Vh[-r:], U[:, -r:] * S[-r:] / scaling


def _svd_no_scaling(delta, r, scaling):
    # 틀린 답 예시: 배율을 잊었다(scaling · B A가 ΔW의 scaling배가 된다)
    U, S, Vh = torch.linalg.svd(delta, full_matrices=False)
    return Vh[:r], U[:, :r] * S[:r]


def _first_rows(delta, r, scaling):
    # 틀린 답 예시: ΔW의 앞 r개 행만 옮긴다(랭크는 r이지만 가장 가까운 랭크 r 행렬이 아니다)
    B = torch.zeros(delta.shape[0], r)
    B[:r] = torch.eye(r)
    return delta[:r] / scaling, B


@exercise("02.4", title="전체 미세조정의 변화량 ΔW에 가장 가까운 랭크 r LoRA 찾기", level="🦁",
          wrong_answers=[_svd_wrong_order, _svd_no_scaling, _first_rows])
def grade_lora_from_delta(fn):
    _callable(fn, "lora_from_delta(delta, r, scaling) → (A [r, in], B [out, r])")
    generator = torch.Generator().manual_seed(24)
    for n_out, n_in, r, scaling in ((12, 9, 3, 2.0), (20, 30, 5, 0.5), (16, 16, 1, 1.0)):
        delta = torch.randn(n_out, n_in, generator=generator) @ torch.diag(torch.linspace(2.0, 0.1, n_in))
        result = fn(delta.clone(), r, scaling)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Wrong("(A, B) 두 개를 돌려주세요.")
        A, B = result
        if not torch.is_tensor(A) or A.shape != (r, n_in) or not torch.is_tensor(B) or B.shape != (n_out, r):
            raise Wrong(f"A는 [{r}, {n_in}], B는 [{n_out}, {r}]여야 합니다. 받은 모양: "
                        f"{getattr(A, 'shape', None)}, {getattr(B, 'shape', None)}")
        singular = torch.linalg.svdvals(delta)
        best = singular[r:].square().sum().sqrt().item()      # 랭크 r로 만들 수 있는 가장 작은 오차(에카르트-영)
        error = (delta - scaling * B @ A).norm().item()
        if error > best * (1 + 1e-4) + 1e-5:
            raise Wrong(f"scaling · B A와 ΔW의 차이 ‖·‖ = {error:.4f}가 랭크 {r}의 최솟값 {best:.4f}보다 큽니다. "
                        "특잇값 분해 ΔW = U S Vᵀ에서 **큰** 특잇값 r개를 쓰고, 배율 scaling으로 나누는 것을 잊지 마세요.")


def changed_after_first_step(zero: str) -> str:
    """LoRA 층 하나를 `zero`("A" 또는 "B")만 0으로 두고 SGD 한 걸음. 바뀐 행렬 → 보기 글자."""
    generator = torch.Generator().manual_seed(5)
    layer = lora.LoRALinear(nn.Linear(6, 4, bias=False), r=2, alpha=4)
    with torch.no_grad():
        layer.lora_A.copy_(torch.randn(2, 6, generator=generator))
        layer.lora_B.copy_(torch.randn(4, 2, generator=generator))
        getattr(layer, f"lora_{zero}").zero_()
    before = {name: p.detach().clone() for name, p in layer.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD([p for p in layer.parameters() if p.requires_grad], lr=0.1)
    layer(torch.randn(5, 6, generator=generator)).square().sum().backward()
    optimizer.step()
    changed = {name for name, p in layer.named_parameters() if p.requires_grad and not torch.equal(p, before[name])}
    return {frozenset({"lora_A"}): "a", frozenset({"lora_B"}): "b",
            frozenset({"lora_A", "lora_B"}): "c", frozenset(): "d"}[frozenset(changed)]


PREDICTION_OPTIONS_02_5 = choices("A만 바뀐다", "B만 바뀐다", "A와 B 모두 바뀐다", "둘 다 바뀌지 않는다")


@exercise("02.5", title="예측해 보기: A = 0, B = 무작위로 시작하면 첫 걸음에서 무엇이 바뀌나", level="🐢",
          wrong_answers=["b", "c", "d", "e"])
def grade_swapped_init(answer):
    grade_choice(answer, PREDICTION_OPTIONS_02_5, truth=lambda: changed_after_first_step("A"),  # 실제로 한 걸음 학습해 본다
                 hint="∂L/∂B = scaling · (출력 기울기)ᵀ(A x)이고 ∂L/∂A = scaling · Bᵀ(출력 기울기) xᵀ입니다. "
                      "A = 0이면 어느 쪽이 0이 되나요?")
