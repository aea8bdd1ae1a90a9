"""실제 규모의 부품: Qwen3(허브) + open_clip ViT(`openai`) + 프로젝터. `colab`·`full` 프리셋이 쓴다.

두 가지 길이 있다.
- `build_meta_parts(spec)`: 구조만 meta 장치에 만든다(다운로드 없음, 메모리 없음). 테스트와 노트북 07이
  파라미터 수를 `course_lib.lora`의 산수와 맞춰 보는 데 쓴다.
- `load_real_parts(spec, ...)`: 사용자가 `python -m course_lib train --preset colab|full --data ...`를
  실행할 때만 허브에서 가중치를 받는다. LLM은 bitsandbytes NF4(이중 양자화)로 읽는다.

미니 월드의 `vision.VisionEncoder`는 48×48 그림과 자기 정규화 상수(0.5, 0.25)를 가정하므로,
실제 인코더에는 `RealVisionEncoder`를 쓴다: open_clip 모델의 `preprocess_cfg`(CLIP의 평균·표준편차)로
정규화하고 그 모델의 그림 크기(224)를 확인한다. ViT-L/14는 224×224에서 16×16=256개 패치 토큰을 낸다.
층을 골라 패치 토큰을 내는 부분은 둘이 같다(`vision.PatchEncoder`).

채점기(scorer): "SigLIP 점수"는 SigLIP 모델이 있어야 정의된다(sigmoid(t·cos + b)). CLIP ViT-L/14
`openai`는 SigLIP이 아니라 b가 없다. 그래서 실제 프리셋은 open_clip의 SigLIP 모델(`ViT-B-16-SigLIP`,
`webli`)을 따로 받아 채점한다. 같은 정의, 다른(공개) 채점 모델이다.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import open_clip
import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, Qwen3Config, Qwen3ForCausalLM

from course_lib.errors import config_error
from course_lib.models.llm import qwen3_8b_config
from course_lib.models.vision import PatchEncoder
from course_lib.precision import compute_dtype


# ---------------------------------------------------------------- 설정(허브에서 받지 않고 손으로 적음)

def qwen3_small_config(size: str):
    """Qwen3-0.6B / Qwen3-1.7B의 공개 config.json과 같은 값. 둘 다 임베딩을 묶는다(tie_word_embeddings)."""
    hidden, inter = {"0.6B": (1024, 3072), "1.7B": (2048, 6144)}[size]
    return Qwen3Config(
        vocab_size=151936, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, attention_bias=False,
        bos_token_id=151643, eos_token_id=151645,
    )


@dataclass(frozen=True)
class ModelSpec:
    """실제 프리셋의 모델 묶음. 이름은 허브/open_clip 이름 그대로다."""
    llm_repo: str                 # 예: "Qwen/Qwen3-8B"
    llm_size: str                 # "8B" | "1.7B" | "0.6B" (설정을 손으로 만들 때)
    vision_model: str             # open_clip 이름, 예: "ViT-L-14"
    vision_pretrained: str        # 예: "openai"
    scorer_model: str = "ViT-B-16-SigLIP"
    scorer_pretrained: str = "webli"
    quantization: str | None = "nf4+dq"  # None이면 16비트로 읽는다
    max_caption_tokens: int = 64  # 캡션을 이 토큰 수로 자른다(메모리 추정의 전제)
    feature_layer: int = -2       # LLaVA처럼 끝에서 두 번째 층

    def llm_config(self):
        if self.llm_size == "8B":
            return qwen3_8b_config()
        return qwen3_small_config(self.llm_size)

    def vision_config(self) -> dict:
        config = open_clip.get_model_config(self.vision_model)
        if config is None:
            raise config_error("vision_model", f"open_clip에 {self.vision_model!r} 모델이 없습니다", "unknown")
        return config


def vit_parameter_count(config: dict, with_head: bool = True) -> int:
    """open_clip `VisionTransformer`(CLIP 방식)의 파라미터 수를 설정만으로 센다.

    패치 합성곱(편향 없음) + 클래스 토큰 + 위치 임베딩 + ln_pre + 층마다(ln 2개, qkv, out, MLP 4배) +
    ln_post + 투영(proj, 폭 → embed_dim). VLM은 투영 앞의 패치 토큰을 쓰지만 투영도 모델에 들어 있다.
    """
    vision = config["vision_cfg"]
    width, layers, patch, size = vision["width"], vision["layers"], vision["patch_size"], vision["image_size"]
    mlp = int(width * vision.get("mlp_ratio", 4.0))
    grid = size // patch
    block = 2 * 2 * width + (3 * width * width + 3 * width) + (width * width + width) + (width * mlp + mlp) + (mlp * width + width)
    total = 3 * patch * patch * width + width + (grid * grid + 1) * width + 2 * width + layers * block + 2 * width
    return total + (width * config["embed_dim"] if with_head else 0)


def vit_patch_tokens(config: dict) -> int:
    vision = config["vision_cfg"]
    return (vision["image_size"] // vision["patch_size"]) ** 2


def projector_parameter_count(vision_width: int, llm_hidden: int) -> int:
    """LLaVA-1.5 `mlp2x_gelu`: Linear(시각 폭 → LLM 폭) + Linear(LLM 폭 → LLM 폭), 편향 포함."""
    return vision_width * llm_hidden + llm_hidden + llm_hidden * llm_hidden + llm_hidden


# ---------------------------------------------------------------- 실제 인코더와 채점기

class RealVisionEncoder(PatchEncoder):
    """실제 open_clip ViT의 인코더: 그 모델의 `preprocess_cfg`(CLIP의 평균·표준편차)로 정규화하고, 모델의 dtype으로
    넣어 fp32로 낸다(프로젝터는 fp32)."""

    def __init__(self, visual: nn.Module, feature_layer: int = -2):
        super().__init__(visual, feature_layer)
        cfg = visual.preprocess_cfg
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)

    def normalize(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.dtype == torch.uint8:
            pixel_values = pixel_values.float() / 255.0
        if tuple(pixel_values.shape[-2:]) != self.image_size:
            raise ValueError(f"그림 크기(image size)는 {self.image_size[0]}×{self.image_size[1]}이어야 합니다: "
                             f"받은 크기 {tuple(pixel_values.shape[-2:])}. real_data가 이 크기로 맞춰 줍니다.")
        mean, std = self.mean.to(pixel_values.device), self.std.to(pixel_values.device)
        return (pixel_values.float() - mean) / std

    def prepare(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.normalize(pixel_values).to(next(self.visual.parameters()).dtype)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return super().forward(pixel_values).float()


class OpenClipScorer(nn.Module):
    """open_clip SigLIP 모델로 (그림, 캡션) 쌍마다 sigmoid(t·cos + b)를 매긴다. b가 없으면(CLIP) 거부한다."""

    def __init__(self, model: nn.Module, tokenizer: Callable):
        super().__init__()
        if getattr(model, "logit_bias", None) is None:
            raise config_error("scorer_model", "SigLIP 점수에는 logit_bias(b)가 있는 SigLIP 모델이 필요합니다",
                               "not a SigLIP model")
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        cfg = model.visual.preprocess_cfg
        self.image_size = tuple(cfg["size"]) if isinstance(cfg["size"], (tuple, list)) else (cfg["size"],) * 2
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)

    @torch.no_grad()
    def forward(self, pixel_values: torch.Tensor, captions) -> torch.Tensor:
        x = pixel_values.float() / 255.0 if pixel_values.dtype == torch.uint8 else pixel_values.float()
        if tuple(x.shape[-2:]) != self.image_size:
            x = torch.nn.functional.interpolate(x, size=self.image_size, mode="bicubic", align_corners=False)
        x = ((x - self.mean) / self.std).to(next(self.model.parameters()).dtype)
        image = torch.nn.functional.normalize(self.model.encode_image(x).float(), dim=-1)
        tokens = self.tokenizer(list(captions)).to(x.device)
        text = torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)
        cos = (image * text).sum(-1)
        return torch.sigmoid(self.model.logit_scale.exp().float() * cos + self.model.logit_bias.float())


# ---------------------------------------------------------------- 부품 묶음

@dataclass
class RealParts:
    """`training.Trainer`가 받는 부품 묶음. `siglip` 자리에는 시각 타워(visual)가 들어가고,
    `vision_encoder()`가 그것을 `RealVisionEncoder`로 감싼다(미니 월드의 `pretrained.Parts.vision_encoder` 대신)."""
    tokenizer: object
    siglip: nn.Module
    llm: nn.Module
    scorer: nn.Module | None = None
    feature_layer: int = -2

    def vision_encoder(self, feature_layer: int | None = None) -> "RealVisionEncoder":
        """얼어 있는 시각 인코더. `feature_layer`를 주지 않으면 이 모델의 기본 층(끝에서 두 번째)."""
        return RealVisionEncoder(self.siglip, feature_layer=self.feature_layer if feature_layer is None else feature_layer)


def build_meta_parts(spec: ModelSpec) -> RealParts:
    """다운로드 없이 구조만: meta 장치의 Qwen3 + open_clip 시각 타워. 가중치 값은 없다."""
    with torch.device("meta"):
        llm = Qwen3ForCausalLM(spec.llm_config())
    clip = open_clip.create_model(spec.vision_model, pretrained=None, device="meta")
    return RealParts(tokenizer=None, siglip=clip.visual, llm=llm, scorer=None, feature_layer=spec.feature_layer)


def bnb_config(spec: ModelSpec, dtype: torch.dtype):
    """원문의 QLoRA 설정: NF4, 이중 양자화, 계산은 bf16(없으면 fp16)."""
    if spec.quantization is None:
        return None
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=spec.quantization == "nf4+dq",
                              bnb_4bit_compute_dtype=dtype)


def load_real_parts(spec: ModelSpec, mixed_precision: str = "auto", device_index: int | None = None) -> RealParts:
    """허브에서 받아 부품을 만든다(여기서만 다운로드가 일어난다). 여러 GPU면 프로세스마다 자기 GPU에 싣는다."""
    if not torch.cuda.is_available():
        raise RuntimeError("실제 프리셋(colab/full)은 CUDA GPU가 필요합니다. CPU에서는 `--preset mini`를 쓰세요 "
                           "(real presets need a CUDA GPU)")
    dtype = compute_dtype(mixed_precision)
    device_index = torch.cuda.current_device() if device_index is None else device_index
    device = torch.device("cuda", device_index)
    tokenizer = AutoTokenizer.from_pretrained(spec.llm_repo)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    llm = AutoModelForCausalLM.from_pretrained(spec.llm_repo, quantization_config=bnb_config(spec, dtype),
                                               dtype=dtype, device_map={"": device_index})
    clip = open_clip.create_model(spec.vision_model, pretrained=spec.vision_pretrained)
    visual = clip.visual.to(device=device, dtype=dtype).eval().requires_grad_(False)
    del clip
    scorer_model = open_clip.create_model(spec.scorer_model, pretrained=spec.scorer_pretrained)
    scorer = OpenClipScorer(scorer_model.to(device=device, dtype=dtype), open_clip.get_tokenizer(spec.scorer_model))
    return RealParts(tokenizer, visual, llm, scorer.to(device), spec.feature_layer)
