"""언어 모델(LLM): 아주 작은 `Qwen3ForCausalLM`.

Qwen3-8B와 같은 클래스, 같은 모듈 이름(q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)을
쓰므로 원문의 LoRA 대상 모듈(target modules) 이름이 그대로 통한다(이름 묶음은 `course_lib.lora.LINEAR_MODULES`
한곳에 있다). 크기만 작다.
"""
from __future__ import annotations

from transformers import Qwen3Config, Qwen3ForCausalLM


def mini_qwen3_config(vocab_size: int, pad_id: int, eos_id: int) -> Qwen3Config:
    """미니 월드의 Qwen3: 4층, 폭 128. 실제 Qwen3-8B처럼 GQA(KV 헤드 2개 < 쿼리 헤드 4개)와
    묶지 않은 임베딩(untied embeddings)을 쓴다."""
    return Qwen3Config(
        vocab_size=vocab_size, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=128,
        rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False, attention_dropout=0.0,
        pad_token_id=pad_id, eos_token_id=eos_id, bos_token_id=None, use_cache=True,
    )


def qwen3_8b_config() -> Qwen3Config:
    """Qwen3-8B의 공개 설정(config.json)과 같은 값. 허브에서 받지 않고 손으로 적는다(메타 장치 테스트용)."""
    return Qwen3Config(
        vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False, attention_bias=False,
        bos_token_id=151643, eos_token_id=151645,
    )


def build_llm(config: Qwen3Config) -> Qwen3ForCausalLM:
    return Qwen3ForCausalLM(config)
