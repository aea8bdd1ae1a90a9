"""노트북 02(LoRA와 파라미터 계산)의 연습문제 채점."""
from __future__ import annotations

import torch

from course_lib import lora
from course_lib.tooling.exercises import Wrong, exercise


def _llama3_8b():
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False)


def _as_int(answer) -> int:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer != int(answer):
        raise Wrong(f"정수 하나로 답하세요. 받은 값: {answer!r}")
    return int(answer)


@exercise("02.1", title="Qwen3-8B의 k_proj 하나에 붙은 LoRA 파라미터(r=8)", level="🐢",
          wrong_answers=[8 * (4096 + 4096), 4096 * 1024, 8 * 4096])
def grade_k_proj(answer):
    from course_lib.models.llm import qwen3_8b_config

    n_in, n_out, _ = lora.decoder_linear_shapes(qwen3_8b_config())["k_proj"]
    expected = 8 * (n_in + n_out)
    got = _as_int(answer)
    if got == 8 * (n_in + n_in):
        raise Wrong("k_proj를 4096 → 4096으로 셌습니다. GQA에서는 KV 헤드 8개 × head_dim 128 = 1024가 출력입니다.")
    if got == n_in * n_out:
        raise Wrong("그것은 얼려 둔 원래 가중치 W의 크기입니다. LoRA는 A[r, d_in]와 B[d_out, r]만 학습합니다.")
    if got != expected:
        raise Wrong("A는 r·d_in개, B는 d_out·r개입니다. 둘을 더하세요.")


@exercise("02.2", title="LoRA 순전파를 직접 쓰기", level="🐕",
          wrong_answers=[lambda x, W, A, B, alpha, r: x @ W.T + (x @ A.T) @ B.T,
                         lambda x, W, A, B, alpha, r: x @ W.T + alpha * r * (x @ A.T) @ B.T,
                         lambda x, W, A, B, alpha, r: (alpha / r) * (x @ A.T) @ B.T])
def grade_lora_forward(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: my_lora_forward(x, W, A, B, alpha, r)")
    generator = torch.Generator().manual_seed(20260202)
    for n_in, n_out, r, alpha in ((7, 5, 2, 3.0), (24, 40, 4, 16.0), (33, 9, 8, 8.0)):
        x = torch.randn(3, 6, n_in, generator=generator)
        W = torch.randn(n_out, n_in, generator=generator)
        A = torch.randn(r, n_in, generator=generator)
        B = torch.randn(n_out, r, generator=generator)
        want = lora.lora_forward(x, W, None, A, B, lora.lora_scaling(alpha, r))
        got = fn(x, W, A, B, alpha, r)
        if not torch.is_tensor(got) or got.shape != want.shape:
            raise Wrong(f"출력 모양이 {tuple(want.shape)}여야 합니다. 받은 것: {getattr(got, 'shape', type(got))}")
        if not torch.allclose(got, want, rtol=1e-5, atol=1e-5):
            raise Wrong("값이 다릅니다. h = W x + (α/r)·B A x 에서 배율 α/r을 저랭크 경로에만 곱했는지 확인하세요.")


@exercise("02.3", title="Llama-3-8B에 r=8 LoRA를 q_proj, v_proj에만 붙일 때의 학습 파라미터 수", level="🐕",
          wrong_answers=[32 * 8 * (4096 + 4096) * 2, 8 * ((4096 + 4096) + (4096 + 1024)), 41_943_040])
def grade_llama_qv(answer):
    expected = lora.count_lora_parameters(_llama3_8b(), 8, ["q_proj", "v_proj"])
    got = _as_int(answer)
    if got == 32 * 8 * (4096 + 4096) * 2:
        raise Wrong("v_proj를 4096 → 4096으로 셌습니다. Llama-3-8B도 GQA(KV 헤드 8개)라 v_proj는 4096 → 1024입니다.")
    if got * 32 == expected:
        raise Wrong("층 하나만 셌습니다. Llama-3-8B의 디코더 층 수를 곱하세요.")
    if got != expected:
        raise Wrong("모듈마다 r·(d_in + d_out)을 구해 더한 뒤 층 수를 곱하세요.")


@exercise("02.4", title="LoRA를 원래 가중치에 합치기(merge)", level="🦁",
          wrong_answers=[lambda W, A, B, scaling: W + B @ A,
                         lambda W, A, B, scaling: W + scaling * A.T @ B.T,
                         lambda W, A, B, scaling: scaling * B @ A])
def grade_merge(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: merge_lora(W, A, B, scaling) → 합친 가중치 [out, in]")
    generator = torch.Generator().manual_seed(7)
    for n_in, n_out, r, scaling in ((11, 6, 3, 2.0), (16, 48, 4, 0.25)):
        W = torch.randn(n_out, n_in, generator=generator)
        A = torch.randn(r, n_in, generator=generator)
        B = torch.randn(n_out, r, generator=generator)
        x = torch.randn(5, n_in, generator=generator)
        merged = fn(W, A, B, scaling)
        if not torch.is_tensor(merged) or merged.shape != W.shape:
            raise Wrong(f"합친 가중치의 모양은 W와 같은 {tuple(W.shape)}여야 합니다.")
        want = lora.lora_forward(x, W, None, A, B, scaling)
        if not torch.allclose(x @ merged.T, want, rtol=1e-4, atol=1e-4):
            raise Wrong("합친 층의 출력이 LoRA 층과 다릅니다. W' = W + scaling · B A 인지 확인하세요(배율을 잊지 마세요).")
