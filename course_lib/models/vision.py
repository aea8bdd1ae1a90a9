"""시각 인코더(vision encoder): SigLIP 손실로 사전학습한 아주 작은 open_clip ViT.

open_clip의 설정 파일(JSON)을 `open_clip.add_model_config`로 등록하고 `pretrained=None`으로 만든다.
이미지 타워(image tower)의 패치 토큰(patch token)이 VLM의 얼어 있는(frozen) 인코더가 되고,
이미지 타워·텍스트 타워·t·b 한 벌이 "SigLIP 점수"를 매기는 채점기(scorer)가 된다.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path, PurePosixPath

import open_clip
import torch
from torch import nn

from course_lib import assets, quiet, world

SIGLIP_NAME = PurePosixPath(assets.SIGLIP_CONFIG_FILE).stem  # "mini-siglip-vit-p12"
CONTEXT_LENGTH = 40
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


def siglip_config(vocab_size: int, pad_id: int, eos_id: int) -> dict:
    """ViT 4층 × 폭 128, 패치 12 → 48×48 그림이 4×4=16개 패치 토큰이 된다(2×2 칸마다 패치 4개)."""
    return {
        "embed_dim": 128,
        "init_logit_scale": math.log(10.0),  # SigLIP 논문의 초기값 t = 10, b = -10
        "init_logit_bias": -10.0,
        "custom_text": True,
        "vision_cfg": {"image_size": world.IMAGE_SIZE, "patch_size": 12, "layers": 4, "width": 128,
                       "head_width": 32, "mlp_ratio": 4.0},
        "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": vocab_size, "width": 128, "heads": 4,
                     "layers": 3, "pad_id": pad_id, "eos_id": eos_id, "pool_type": "eos",
                     "no_causal_mask": True, "proj_bias": True},
    }


def register_siglip_config(config: dict, directory: Path | None = None) -> str:
    """설정을 JSON 파일로 쓰고 open_clip에 등록한 뒤, `create_model`에 넘길 이름을 돌려준다.

    `directory`가 없으면 임시 폴더에 쓰고 등록이 끝나면 지운다. `open_clip.add_model_config`는 파일을 곧바로 읽어
    설정을 메모리의 표에 넣고, 나중에 다시 훑을 때 없어진 경로는 건너뛴다. 그래서 부를 때마다 /tmp에 폴더가
    쌓이지 않는다(tests/test_compat.py가 두 번 불러 확인한다).
    """
    if directory is not None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return _write_and_register(config, directory)
    with tempfile.TemporaryDirectory(prefix="open_clip_cfg_") as folder:
        return _write_and_register(config, Path(folder))


def _write_and_register(config: dict, directory: Path) -> str:
    path = directory / f"{SIGLIP_NAME}.json"
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    open_clip.add_model_config(path)
    return SIGLIP_NAME


def build_siglip(config: dict) -> nn.Module:
    """설정대로 빈 모델을 만든다. 가중치는 부르는 쪽(`models.pretrained.load_siglip`)이 곧바로 채운다.

    open_clip은 `pretrained=None`일 때 "무작위로 초기화했다"는 경고를 남기는데, 이 강의에서는 늘 뒤이어
    가중치를 불러오므로 학습자를 헷갈리게 할 뿐이라 그 경고만 거른다(`course_lib.quiet`).
    """
    quiet.install_log_filters()
    return open_clip.create_model(register_siglip_config(config), pretrained=None, output_dict=True)


def normalize_pixels(pixel_values: torch.Tensor) -> torch.Tensor:
    """uint8(0~255) 또는 0~1 float 그림을 인코더 입력 범위로 바꾼다."""
    if pixel_values.dtype == torch.uint8:
        pixel_values = pixel_values.float() / 255.0
    if pixel_values.shape[-2:] != (world.IMAGE_SIZE, world.IMAGE_SIZE):
        raise ValueError(f"그림 크기(image size)는 {world.IMAGE_SIZE}×{world.IMAGE_SIZE}이어야 합니다: "
                         f"받은 크기 {tuple(pixel_values.shape[-2:])}")
    return (pixel_values - PIXEL_MEAN) / PIXEL_STD


class PatchEncoder(nn.Module):
    """open_clip ViT(`visual`)의 한 층 패치 토큰을 내는 얼어 있는 인코더의 뼈대. 미니 월드의 `VisionEncoder`와
    실제 규모의 `real.RealVisionEncoder`가 이것을 물려받고, 입력을 인코더 범위로 바꾸는 `prepare`만 다르다.

    `feature_layer`는 LLaVA처럼 기본이 끝에서 두 번째 층(-2)이다. 마지막 층은 대조 학습(contrastive)의
    전역 임베딩에 맞춰져 있어 패치별 정보가 덜 남는다. 클래스 토큰은 내지 않는다.
    """

    def __init__(self, visual: nn.Module, feature_layer: int = -2):
        super().__init__()
        self.visual = visual
        self.feature_layer = feature_layer
        self.num_layers = len(visual.transformer.resblocks)
        self.hidden_size = visual.transformer.width
        self.image_size = tuple(visual.image_size)
        self.num_patches = (self.image_size[0] // visual.patch_size[0]) * (self.image_size[1] // visual.patch_size[1])

    def prepare(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """그림 → 인코더 입력(정규화). 물려받는 클래스가 정한다."""
        raise NotImplementedError

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        index = self.feature_layer % self.num_layers
        out = self.visual.forward_intermediates(self.prepare(pixel_values), indices=[index],
                                                stop_early=True, intermediates_only=True, output_fmt="NLC")
        return out["image_intermediates"][0]  # [B, 패치 수, 폭]


class VisionEncoder(PatchEncoder):
    """미니 월드의 인코더: 48×48 그림을 이 강의의 정규화 상수(`normalize_pixels`)로 바꿔 넣는다."""

    def prepare(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return normalize_pixels(pixel_values)
