"""프리셋마다 필요한 GPU(또는 CPU) 메모리를 계산한다: `python -m course_lib doctor --preset NAME`.

조각(piece)별로 센다. 모든 조각은 다른 모듈의 산수를 그대로 쓴다.
- LLM 가중치: `weight_memory.quantized_model_bytes(config, "nf4+dq")`(NF4 + 이중 양자화; 임베딩·lm_head·norm은 16비트).
- 시각 인코더·채점기 가중치: 파라미터 수 × 계산 dtype 바이트(얼어 있으므로 기울기·옵티마이저 상태 없음).
- 프로젝터, LoRA: fp32 가중치 4바이트 + 기울기 4바이트 + `lora.adamw_state_bytes`(8바이트).
  LoRA 수는 `lora.count_lora_parameters`.
- 활성값: `memory.qwen3_activation_bytes`(체크포인팅이면 층마다 입력 하나 + 다시 계산하는 층 하나),
  LoRA 층이 더 저장하는 드롭아웃 출력·마스크와 lora_B 입력(`lora_activation_bytes`),
  손실 부분만 이 학습기의 방식으로 바꾼다: 전체 위치의 로짓(계산 dtype) + 캡션 부분 fp32 사본과 log-softmax.
- 역양자화 임시 버퍼: 4비트 Linear는 곱하기 직전에 가중치 하나를 계산 dtype으로 푼다(가장 큰 것 하나).
- CUDA 문맥(context): 계산이 아니라 **가정**(0.5 GiB). 드라이버·cuBLAS 작업 공간이 쓰는 몫이다.

조각의 이름(`pieces`의 키)은 ASCII(`"llm_weights"` …)이고, 사람에게 보일 한국어 이름은 `PIECE_LABELS` 한 곳에 있다.
표시 이름을 바꿔도 계산을 읽는 코드는 그대로다. 없는 키를 읽으면 0이 아니라 KeyError가 난다.

단계 2(프로젝터 + LoRA 학습)가 더 크므로 그 값을 보고한다. 여러 GPU(DDP)에서는 GPU마다 마이크로 배치
(batch / GPU 수)로 계산하면 된다(`micro_batch` 인자). 할당기 조각화(fragmentation)는 넣지 않았다.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import open_clip
import torch
from transformers import Qwen3Config

from course_lib import assets, memory, presets, quiet, weight_memory
from course_lib import lora as lora_math
from course_lib.display import display_width, pad
from course_lib.models import vision
from course_lib.models.real import projector_parameter_count, vit_parameter_count, vit_patch_tokens

GiB = 2**30
CUDA_CONTEXT_BYTES = GiB // 2  # 가정(assumption): 계산하지 않은 유일한 조각
PROMPT_TOKEN_BUDGET = 8  # 지시문 "그림 설명:" + 여유. Qwen 토크나이저에서 이보다 짧다(가정).

# 비교할 GPU의 메모리(바이트). T4는 Colab에서 보이는 값(15,360 MiB), 나머지는 명목 용량(nominal, 10⁹ 바이트):
# torch가 보고하는 값은 이보다 조금 작다.
REFERENCE_GPUS = (("T4 (Colab 무료)", 15_360 * 2**20),  # Colab에서 보이는 메모리(노트북 00과 같은 값)
                  ("L4", 24e9), ("A100 40GB", 40e9), ("A100/H100 80GB", 80e9))


# 조각의 키(ASCII) → 표에 보이는 한국어 이름. 표시 이름은 여기서만 바꾼다(계산을 읽는 코드는 키를 쓴다).
PIECE_LABELS = {
    "vision_weights": "시각 인코더 가중치(얼림)",
    "scorer_weights": "채점기(SigLIP) 가중치",
    "vision_scorer_weights": "시각 인코더+채점기 가중치",
    "llm_weights": "LLM 가중치",
    "projector_state": "프로젝터(가중치+기울기+AdamW)",
    "lora_state": "LoRA(가중치+기울기+AdamW)",
    "llm_activations": "LLM 활성값",
    "lora_activations": "LoRA 활성값",
    "logits_loss": "로짓과 손실",
    "dequant_buffer": "역양자화 임시 버퍼",
    "cuda_context": "CUDA 문맥(가정)",
}
TOTAL_LABEL = "합계(total)"


class Pieces(dict):
    """조각 키 → 바이트. 읽는 쪽의 오타나 옛 이름(표시 이름 "CUDA 문맥(가정)" 같은)은 조용히 0이 되지 않고 KeyError다.

    `pieces[key]`: 이 추정에 없는 키는 KeyError. `pieces.get(key, 기본값)`: `PIECE_LABELS`에 있는 키가 이 추정에만
    없을 때(예: mini에는 `cuda_context`가 없다) 기본값, `PIECE_LABELS`에 없는 키는 KeyError."""

    def __missing__(self, key):
        raise KeyError(f"메모리 조각 {key!r}이 없습니다. 있는 키: {sorted(self)} (unknown memory piece)")

    def get(self, key, default=None):
        if key not in PIECE_LABELS:
            raise KeyError(f"메모리 조각의 키 {key!r}은(는) 없는 이름입니다. 키는 PIECE_LABELS의 ASCII 이름입니다: "
                           f"{sorted(PIECE_LABELS)} (unknown memory piece)")
        return super().get(key, default)


@dataclass
class MemoryEstimate:
    preset: str
    device: str  # "cuda" | "cpu"
    pieces: dict[str, int]
    assumptions: dict = field(default_factory=dict)

    def __post_init__(self):
        unknown = set(self.pieces) - set(PIECE_LABELS)
        if unknown:
            raise ValueError(f"이름표(PIECE_LABELS)가 없는 메모리 조각: {sorted(unknown)} (unlabelled memory piece)")
        self.pieces = Pieces(self.pieces)

    @property
    def total(self) -> int:
        return sum(self.pieces.values())

    def labelled(self) -> dict[str, int]:
        """표시용: 한국어 이름 → 바이트(순서는 계산 순서 그대로)."""
        return {PIECE_LABELS[key]: value for key, value in self.pieces.items()}

    def table(self) -> str:
        rows = [*self.labelled().items(), (TOTAL_LABEL, self.total)]
        width = max(display_width(k) for k, _ in rows) + 2
        return "\n".join(f"{pad(k, width)}{v / GiB:8.2f} GiB" for k, v in rows)


def verdict(estimate: MemoryEstimate, available_bytes: float, name: str = "이 GPU") -> str:
    """한국어 판정: 가능 / 메모리 부족."""
    need, have = estimate.total / GiB, available_bytes / GiB
    if estimate.total <= available_bytes:
        return f"{name}에서 실행 가능: 추정 {need:.1f} GiB ≤ {have:.1f} GiB"
    smaller = ", 더 작은 프리셋(colab)을 쓰세요" if estimate.preset == "full" else ""
    return (f"메모리 부족: 추정 {need:.1f} GiB > {name} {have:.1f} GiB — 마이크로 배치를 줄이고 grad_accum을 "
            f"늘리세요(같은 전역 배치){smaller}")


def _dtype_bytes(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def lora_activation_bytes(llm_config, rows: int, r: int, target_modules, dropout: float, compute_bytes: int,
                          layers_alive: int) -> int:
    """peft LoRA 층이 역전파용으로 더 저장하는 바이트(autocast 아래, peft `lora/bnb.py`를 읽고 센 것).

    대상 모듈마다: 드롭아웃이 있으면 드롭아웃 출력(계산 dtype)과 마스크(bool 1바이트) — 둘 다 rows × d_in —,
    그리고 lora_B의 입력(rows × r). 드롭아웃이 0이면 peft는 항등 함수를 쓰므로 lora_A의 입력은 층 입력 그 자체다
    (이미 `LLM 활성값`에 들어 있다). 체크포인팅이면 다시 계산하는 층 하나만 살아 있다(layers_alive=1).
    """
    shapes = lora_math.decoder_linear_shapes(llm_config)
    per_layer = 0
    for name in target_modules:
        d_in = shapes[name][0]
        per_layer += (compute_bytes + 1) * rows * d_in if dropout > 0 else 0
        per_layer += compute_bytes * rows * r
    return layers_alive * per_layer


def llm_training_bytes(llm_config, *, batch: int, image_tokens: int, text_tokens: int, compute_bytes: int,
                       scheme: str | None, lora_r: int, target_modules, use_dora: bool,
                       gradient_checkpointing: bool, vision_width: int, lora_dropout: float = 0.0) -> dict[str, int]:
    """LLM 쪽(가중치, 프로젝터, LoRA, 활성값, 로짓)의 조각. 시각 쪽은 `estimate_parts`가 더한다."""
    seq_len = image_tokens + text_tokens
    vocab = llm_config.vocab_size
    params = lora_math.count_model_parameters(llm_config)
    weights = weight_memory.quantized_model_bytes(llm_config, scheme) if scheme else compute_bytes * params
    n_lora = lora_math.count_lora_parameters(llm_config, lora_r, target_modules, use_dora)
    n_projector = projector_parameter_count(vision_width, llm_config.hidden_size)
    acts = memory.qwen3_activation_bytes(llm_config, batch, seq_len, compute_bytes, gradient_checkpointing)
    # 이 학습기의 손실: 전체 위치의 로짓(계산 dtype) + 캡션 위치의 fp32 사본 + fp32 log-softmax
    logits = compute_bytes * batch * seq_len * vocab + 2 * 4 * batch * text_tokens * vocab
    pieces = {
        "llm_weights": weights,
        "projector_state": 8 * n_projector + lora_math.adamw_state_bytes(n_projector),
        "lora_state": 8 * n_lora + lora_math.adamw_state_bytes(n_lora),
        "llm_activations": acts["total"] - acts["loss"] + acts["recompute_peak"],
        "lora_activations": lora_activation_bytes(
            llm_config, batch * seq_len, lora_r, target_modules, lora_dropout, compute_bytes,
            1 if gradient_checkpointing else llm_config.num_hidden_layers),
        "logits_loss": logits,
    }
    if scheme:
        biggest = max(weight_memory.quantized_weight_numels(llm_config))
        pieces["dequant_buffer"] = compute_bytes * biggest
    return pieces


def text_token_budget(spec) -> int:
    """실제 프리셋의 글 토큰 상한: 지시문 몫(가정) + 캡션 최대 토큰 + 끝 토큰 하나."""
    return PROMPT_TOKEN_BUDGET + spec.max_caption_tokens + 1


def estimate_real(name: str, micro_batch: int | None = None, dtype: torch.dtype = torch.bfloat16,
                  lora_r: int | None = None, gradient_checkpointing: bool | None = None) -> MemoryEstimate:
    """`colab`/`full` 프리셋의 GPU 메모리(2단계 기준). dtype은 계산 dtype(bf16 또는 fp16: 둘 다 2바이트).

    lora_r, gradient_checkpointing을 주면 프리셋의 값 대신 그 값으로 센다("r을 바꾸면?", "체크포인팅을 끄면?").
    """
    spec = presets.REAL_MODELS[name]
    config = presets.get_preset(name)
    stage = config.stages[-1]
    batch = micro_batch or stage.batch_size
    r = config.lora.r if lora_r is None else lora_r
    checkpointing = config.gradient_checkpointing if gradient_checkpointing is None else gradient_checkpointing
    if r <= 0:
        raise ValueError(f"lora_r: 양의 정수여야 합니다, 받은 값 {r} (lora_r must be positive)")
    compute_bytes = _dtype_bytes(dtype)
    vision = spec.vision_config()
    image_tokens = vit_patch_tokens(vision)
    text_tokens = text_token_budget(spec)
    pieces = {
        "vision_weights": compute_bytes * vit_parameter_count(vision),
        "scorer_weights": compute_bytes * scorer_parameter_count(spec.scorer_model),
    }
    pieces.update(llm_training_bytes(
        spec.llm_config(), batch=batch, image_tokens=image_tokens, text_tokens=text_tokens,
        compute_bytes=compute_bytes, scheme=spec.quantization, lora_r=r,
        target_modules=config.lora.target_modules, use_dora=config.lora.use_dora,
        gradient_checkpointing=checkpointing, vision_width=vision["vision_cfg"]["width"],
        lora_dropout=config.lora.dropout))
    pieces["cuda_context"] = CUDA_CONTEXT_BYTES
    return MemoryEstimate(name, "cuda", pieces, {
        "micro_batch": batch, "image_tokens": image_tokens, "text_tokens": text_tokens,
        "seq_len": image_tokens + text_tokens, "compute_dtype": str(dtype).replace("torch.", ""),
        "llm": spec.llm_repo, "quantization": spec.quantization, "vision": f"{spec.vision_model} ({spec.vision_pretrained})",
        "scorer": f"{spec.scorer_model} ({spec.scorer_pretrained})", "lora_r": r,
        "gradient_checkpointing": checkpointing})


_SCORER_CACHE: dict[str, int] = {}


def scorer_parameter_count(name: str) -> int:
    """채점기(open_clip SigLIP, timm 시각 타워)의 파라미터 수: meta 장치에 구조만 만들어 센다(다운로드 없음)."""
    if name not in _SCORER_CACHE:
        quiet.install_log_filters()  # "No pretrained weights loaded": 구조만 만드는 것이 의도다
        model = open_clip.create_model(name, pretrained=None, device="meta")
        _SCORER_CACHE[name] = sum(p.numel() for p in model.parameters())
    return _SCORER_CACHE[name]


def estimate_mini(data_dir=None, preset: str = "mini") -> MemoryEstimate:
    """mini 프리셋(과 그 이전 레시피 mini-v1·v2; CPU, fp32, 양자화 없음)의 메모리: data/의 설정 파일에서 구조를 읽어 센다.

    2×2 토큰 합치기(`projector_merge=2`)면 LLM이 받는 그림 토큰은 패치 수의 4분의 1, 프로젝터의 입력 폭은 4배다."""
    config = presets.get_preset(preset)
    stage = config.stages[-1]
    llm_config = Qwen3Config.from_json_file(assets.require_asset(assets.LLM_CONFIG_FILE, data_dir))
    siglip = json.loads(assets.require_asset(assets.SIGLIP_CONFIG_FILE, data_dir).read_text(encoding="utf-8"))
    text_tokens = 48  # 미니 월드의 캡션은 이보다 짧다(가정)
    pieces = {"vision_scorer_weights": 4 * _siglip_parameter_count(siglip)}
    pieces.update(llm_training_bytes(
        llm_config, batch=stage.batch_size, image_tokens=vit_patch_tokens(siglip) // config.projector_merge ** 2,
        text_tokens=text_tokens,
        compute_bytes=4, scheme=None, lora_r=config.lora.r, target_modules=config.lora.target_modules,
        use_dora=config.lora.use_dora, gradient_checkpointing=config.gradient_checkpointing,
        vision_width=siglip["vision_cfg"]["width"] * config.projector_merge ** 2, lora_dropout=config.lora.dropout))
    return MemoryEstimate("mini", "cpu", pieces, {"micro_batch": stage.batch_size, "compute_dtype": "float32"})


def _siglip_parameter_count(config: dict) -> int:
    quiet.install_log_filters()  # "No pretrained weights loaded": 구조만 만드는 것이 의도다
    model = open_clip.create_model(vision.register_siglip_config(config), pretrained=None, device="meta")
    return sum(p.numel() for p in model.parameters())


def estimate(name: str, **kwargs) -> MemoryEstimate:
    if name not in presets.PRESETS:
        raise ValueError(f"preset: 알 수 없는 프리셋 {name!r}. 가능한 이름: {sorted(presets.PRESETS)} (preset: unknown name)")
    if name in presets.REAL_MODELS:
        return estimate_real(name, **kwargs)
    return estimate_mini(preset=name, **kwargs)
