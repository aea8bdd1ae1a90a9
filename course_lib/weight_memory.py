"""모델 전체의 가중치 메모리(weight memory): fp32 / bf16 / NF4 / NF4 + 이중 양자화로 저장하면 몇 바이트인가.

설정(config)만으로 센다(`course_lib.lora`의 파라미터 산수를 쓴다). 4비트로 가는 것은 디코더 층의 Linear 가중치뿐이고,
임베딩·lm_head·norm은 16비트로 남는다(bitsandbytes로 읽을 때와 같다: `build_meta_model`로 확인).
NF4 자체(코드북, 블록, 이중 양자화)는 `course_lib.quant`에 있다.
"""
from __future__ import annotations

import math

import torch
from transformers import AutoModelForCausalLM

from course_lib.lora import count_model_parameters, decoder_linear_shapes
from course_lib.quant import ABSMAX_BLOCKSIZE, NF4_BLOCKSIZE

_GB = 1e9
_GIB = 2**30

SCHEMES = ("fp32", "bf16", "nf4", "nf4+dq")


def nf4_weight_bytes(numel: int, double_quant: bool, blocksize: int = NF4_BLOCKSIZE) -> int:
    """가중치 텐서 하나를 NF4로 저장할 때의 바이트: 코드 + absmax(+ 이중 양자화 상태)."""
    blocks = math.ceil(numel / blocksize)
    code_bytes = math.ceil(numel / 2)
    if not double_quant:
        return code_bytes + 4 * blocks
    second_level = math.ceil(blocks / ABSMAX_BLOCKSIZE)
    return code_bytes + blocks + 4 * second_level + 4  # uint8 absmax + float32 2단계 absmax + 평균


def build_meta_model(config):
    """config로 모델 구조만 만든다(meta 장치: 가중치 메모리를 잡지 않아 8B도 1초 안팎).
    설정으로 센 값(`quantized_weight_numels`)을 실제 모듈과 맞춰 보는 데 쓴다."""
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def quantizable_weights(model) -> dict[str, int]:
    """bitsandbytes 4비트 로딩이 양자화하는 가중치의 {이름: 원소 수}.

    transformers는 nn.Linear를 Linear4bit로 바꾸되 출력 임베딩(lm_head)은 건너뛴다.
    임베딩(nn.Embedding), 정규화(norm) 가중치, 편향(bias)은 Linear 가중치가 아니라 16비트로 남는다.
    """
    output_embedding = model.get_output_embeddings()
    return {
        f"{name}.weight": module.weight.numel()
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not output_embedding
    }


def quantized_weight_numels(config) -> list[int]:
    """설정만으로 센, 4비트로 양자화되는 가중치 텐서들의 원소 수(층마다 q,k,v,o,gate,up,down).

    `course_lib.lora.decoder_linear_shapes`의 모양을 그대로 쓴다(파라미터 산수는 한곳에서).
    meta 장치 모델의 `quantizable_weights`와 같아야 한다(테스트가 확인).
    """
    per_layer = [n_in * n_out for n_in, n_out, _ in decoder_linear_shapes(config).values()]
    return per_layer * config.num_hidden_layers


def weight_memory_breakdown(config, scheme: str) -> dict[str, int]:
    """가중치 메모리(바이트)를 '양자화되는 Linear 가중치'와 '나머지'로 나눠 센다.

    나머지(임베딩, lm_head, norm, 편향)는 fp32면 4바이트, 그 밖에는 bf16 2바이트로 남는다.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme은 {SCHEMES} 중 하나여야 합니다 (scheme={scheme!r}).")
    numels = quantized_weight_numels(config)
    params = count_model_parameters(config)
    linear_params = sum(numels)
    other_params = params - linear_params
    if scheme in ("fp32", "bf16"):
        width = 4 if scheme == "fp32" else 2
        linear_bytes, other_bytes = width * linear_params, width * other_params
    else:
        linear_bytes = sum(nf4_weight_bytes(n, scheme == "nf4+dq") for n in numels)
        other_bytes = 2 * other_params
    return {"linear": linear_bytes, "other": other_bytes, "params": params,
            "linear_params": linear_params, "other_params": other_params}


def quantized_model_bytes(config, scheme: str) -> int:
    """HF 인과 언어 모델(causal LM) config의 가중치 바이트: fp32 / bf16 / nf4 / nf4+dq.

    nf4 계열은 디코더 블록의 Linear만 4비트로, 임베딩·lm_head·norm은 bf16(2바이트)으로 센다.
    """
    breakdown = weight_memory_breakdown(config, scheme)
    return breakdown["linear"] + breakdown["other"]


def to_gb(num_bytes: int) -> float:
    """바이트 → GB(10⁹ 바이트). 모델 카드와 논문이 쓰는 단위(그 수와 견줄 때만 쓴다)."""
    return num_bytes / _GB


def to_gib(num_bytes: int) -> float:
    """바이트 → GiB(2³⁰ 바이트). 강의가 메모리를 적는 단위."""
    return num_bytes / _GIB
