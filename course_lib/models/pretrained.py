"""`data/`에 실린 사전학습 부품을 불러온다. 불러오기 전에 매니페스트의 SHA-256과 맞춰 본다."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerFast, Qwen3ForCausalLM

from course_lib import assets, data_dir, text
from course_lib.models import vision


def load_tokenizer(root: Path | None = None) -> PreTrainedTokenizerFast:
    return text.load_tokenizer(assets.require_asset(assets.TOKENIZER_FILE, root))


def load_siglip(root: Path | None = None) -> torch.nn.Module:
    """SigLIP 한 벌(이미지 타워 + 텍스트 타워 + t, b). 얼린 채 평가 모드로 돌려준다."""
    config = json.loads(assets.require_asset(assets.SIGLIP_CONFIG_FILE, root).read_text(encoding="utf-8"))
    model = vision.build_siglip(config)
    state = load_file(assets.require_asset(assets.SIGLIP_WEIGHTS_FILE, root))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise assets.AssetError(f"{assets.SIGLIP_WEIGHTS_FILE}의 가중치가 SigLIP 설정과 맞지 않습니다(architecture "
                                f"mismatch). `{assets.REBUILD_COMMAND}`로 다시 만드세요. 원인: {err}") from err
    return model.eval().requires_grad_(False)


def load_llm(root: Path | None = None, **from_pretrained_kwargs) -> Qwen3ForCausalLM:
    """작은 Qwen3. `quantization_config` 같은 인자는 `from_pretrained`에 그대로 넘긴다."""
    assets.require_asset(assets.LLM_WEIGHTS_FILE, root)
    folder = assets.require_asset(assets.LLM_CONFIG_FILE, root).parent
    return Qwen3ForCausalLM.from_pretrained(folder, **from_pretrained_kwargs)


@dataclass
class Parts:
    """미니 월드의 부품: 토크나이저, SigLIP 한 벌(시각 인코더의 바탕이자 채점기), 작은 Qwen3."""
    tokenizer: PreTrainedTokenizerFast
    siglip: torch.nn.Module
    llm: Qwen3ForCausalLM

    def vision_encoder(self, feature_layer: int = -2) -> vision.VisionEncoder:
        """VLM의 얼어 있는 시각 인코더: SigLIP 이미지 타워의 끝에서 두 번째 층 패치 토큰."""
        return vision.VisionEncoder(self.siglip.visual, feature_layer=feature_layer)


def load_parts(root: Path | None = None, **llm_kwargs) -> Parts:
    root = Path(root or data_dir())
    return Parts(load_tokenizer(root), load_siglip(root), load_llm(root, **llm_kwargs))
