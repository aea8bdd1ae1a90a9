"""`data/`에 실린 사전학습 부품을 불러온다. 불러오기 전에 매니페스트의 SHA-256과 맞춰 본다."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerFast, Qwen3ForCausalLM

from course_lib import assets, data_dir, text
from course_lib.models import vision
from course_lib.models.projector import Projector
from course_lib.models.vlm import MiniVLM
from course_lib.pretrain import (LLM_CONFIG_FILE, LLM_WEIGHTS_FILE, SIGLIP_CONFIG_FILE, SIGLIP_WEIGHTS_FILE,
                                 TOKENIZER_FILE)


def load_tokenizer(root: Path | None = None) -> PreTrainedTokenizerFast:
    return text.load_tokenizer(assets.require_asset(TOKENIZER_FILE, root))


def load_siglip(root: Path | None = None) -> torch.nn.Module:
    """SigLIP 한 벌(이미지 타워 + 텍스트 타워 + t, b). 얼린 채 평가 모드로 돌려준다."""
    import json

    config = json.loads(assets.require_asset(SIGLIP_CONFIG_FILE, root).read_text(encoding="utf-8"))
    model = vision.build_siglip(config)
    state = load_file(assets.require_asset(SIGLIP_WEIGHTS_FILE, root))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise assets.AssetError(f"{SIGLIP_WEIGHTS_FILE}의 가중치가 SigLIP 설정과 맞지 않습니다(architecture "
                                f"mismatch). `{assets.REBUILD_COMMAND}`로 다시 만드세요. 원인: {err}") from err
    return model.eval().requires_grad_(False)


def load_llm(root: Path | None = None, **from_pretrained_kwargs) -> Qwen3ForCausalLM:
    """작은 Qwen3. `quantization_config` 같은 인자는 `from_pretrained`에 그대로 넘긴다."""
    assets.require_asset(LLM_WEIGHTS_FILE, root)
    folder = assets.require_asset(LLM_CONFIG_FILE, root).parent
    return Qwen3ForCausalLM.from_pretrained(folder, **from_pretrained_kwargs)


@dataclass
class Parts:
    tokenizer: PreTrainedTokenizerFast
    siglip: torch.nn.Module
    llm: Qwen3ForCausalLM


def load_parts(root: Path | None = None, **llm_kwargs) -> Parts:
    root = Path(root or data_dir())
    return Parts(load_tokenizer(root), load_siglip(root), load_llm(root, **llm_kwargs))


def build_vlm(siglip: torch.nn.Module, llm: torch.nn.Module, seed: int = 0, feature_layer: int = -2) -> MiniVLM:
    """얼어 있는 시각 인코더 + 무작위 초기화 프로젝터(seed로 고정) + LLM."""
    encoder = vision.VisionEncoder(siglip.visual, feature_layer=feature_layer)
    llm_hidden = llm.get_input_embeddings().embedding_dim
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        projector = Projector(encoder.hidden_size, llm_hidden)
    return MiniVLM(encoder, projector, llm)
