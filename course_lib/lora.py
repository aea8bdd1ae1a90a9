"""저랭크 적응(LoRA)과 가중치 분해 저랭크 적응(DoRA)을 처음부터 구현하고, 파라미터 수를 공식으로 센다.

세 부분으로 나뉜다.

1. 순전파 함수: `lora_forward`, `dora_forward`. 텐서만 받는 순수 함수라 노트북에서 한 줄씩 따라가며
   peft 결과와 비교할 수 있다.
2. 작은 모듈: `LoRALinear`, `DoRALinear`. 위 함수로 만든 `nn.Linear` 래퍼이고, peft 층에서
   A·B(와 크기 벡터)를 그대로 복사해 오는 `from_peft`가 있다.
3. 파라미터 산수: transformers 설정(config)만 보고 기본 모델과 LoRA/DoRA 파라미터 수, 옵티마이저
   상태 메모리를 계산한다. 모델은 만들지 않는다.

모양 규칙은 `nn.Linear`와 같다: weight [out, in], lora_A [r, in], lora_B [out, r], magnitude [out].
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.errors import config_error

__all__ = [
    "low_rank_output",
    "lora_forward",
    "dora_weight_norm",
    "dora_forward",
    "lora_scaling",
    "LoRALinear",
    "DoRALinear",
    "ATTENTION_MODULES",
    "MLP_MODULES",
    "LINEAR_MODULES",
    "SUPPORTED_MODEL_TYPES",
    "decoder_linear_shapes",
    "count_model_parameters",
    "lora_parameter_table",
    "count_lora_parameters",
    "TrainableSummary",
    "trainable_summary",
    "adamw_state_bytes",
]


def _check_rank(r) -> None:
    if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r <= 0:
        raise config_error("r", f"랭크는 1 이상의 정수여야 합니다. 받은 값: {r!r}", "must be a positive integer")


# ---------------------------------------------------------------------------
# 1. 순전파 함수
# ---------------------------------------------------------------------------

def low_rank_output(x: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """저랭크 경로의 출력 scaling · B A x.

    x를 먼저 r차원으로 줄였다가(A) 다시 out차원으로 늘린다(B). [out, in] 크기의 BA 행렬은
    만들지 않으므로 계산량이 r(in + out)에 비례한다.
    """
    return F.linear(F.linear(x, lora_A), lora_B) * scaling


def lora_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    scaling: float,
) -> torch.Tensor:
    """LoRA 순전파: 얼려 둔(frozen) 선형층의 출력 + 저랭크 출력.

    W x + b + scaling · B A x 와 같다. W와 b는 학습하지 않고 A와 B만 학습한다.
    """
    frozen = F.linear(x, weight, bias)
    return frozen + low_rank_output(x, lora_A, lora_B, scaling)


def dora_weight_norm(
    weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float
) -> torch.Tensor:
    """DoRA의 분모: 합친 가중치 W + scaling · B A 의 출력 행(row)별 L2 노름, 모양 [out].

    [out, in] 가중치에서 행 하나가 출력 특성 하나이므로 dim=1(입력 방향)로 노름을 잰다.
    논문은 [in, out] 표기로 '열(column)별 노름'이라 부르는데, 가리키는 대상은 같다.
    """
    merged = weight + scaling * (lora_B @ lora_A)
    return torch.linalg.norm(merged, dim=1)


def _dora_norm(weight, lora_A, lora_B, scaling, detach_norm: bool) -> torch.Tensor:
    """DoRA의 분모. 떼어 낼 때는 그래프를 아예 만들지 않는다(no_grad).

    노름을 계산한 뒤 `.detach()`만 하면 값과 기울기는 같지만, 계산하는 동안 autograd가 [out, in] 크기의
    합친 가중치를 저장해 둔다. peft도 노름을 구하기 전에 B A를 떼어 낸다.
    """
    if detach_norm:
        with torch.no_grad():
            return dora_weight_norm(weight, lora_A, lora_B, scaling)
    return dora_weight_norm(weight, lora_A, lora_B, scaling)


def dora_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    magnitude: torch.Tensor,
    scaling: float,
    detach_norm: bool = True,
) -> torch.Tensor:
    """DoRA 순전파: 크기(magnitude) × 방향(direction) + 편향(bias).

    방향은 W + scaling · B A 를 행별 노름으로 나눈 것이고, 크기 m은 출력 특성마다 하나씩인 학습
    벡터다. 행렬을 합치지 않고 같은 값을 계산한다:
        m / ‖W + sBA‖ ⊙ (W x + s B A x) + b
    편향은 크기 조절을 받지 않는다(peft와 같음). 논문 4.3절처럼 노름은 기본적으로 계산 그래프에서
    떼어 내(detach) 상수로 취급한다. `detach_norm=False`는 비교용이다.
    """
    weight_norm = _dora_norm(weight, lora_A, lora_B, scaling, detach_norm)
    direction_output = F.linear(x, weight) + low_rank_output(x, lora_A, lora_B, scaling)
    output = (magnitude / weight_norm) * direction_output
    return output if bias is None else output + bias


def lora_scaling(alpha: float, r: int, use_rslora: bool = False) -> float:
    """저랭크 출력에 곱하는 배율: α/r, 랭크 안정화 LoRA(rsLoRA)면 α/√r."""
    _check_rank(r)
    return alpha / math.sqrt(r) if use_rslora else alpha / r


# ---------------------------------------------------------------------------
# 2. 모듈
# ---------------------------------------------------------------------------

class LoRALinear(nn.Module):
    """`nn.Linear` 하나를 얼리고 학습 가능한 A, B를 덧붙인 층.

    초기화는 peft(`init_lora_weights=True`)와 같다: A는 nn.Linear처럼 kaiming-uniform(a=√5),
    B는 0. 그래서 학습 전에는 출력이 원래 층과 정확히 같다.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, use_rslora: bool = False):
        super().__init__()
        _check_layer_args(base, r, alpha, dropout)
        self.base = base.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.scaling = lora_scaling(alpha, r, use_rslora)
        # peft처럼 드롭아웃은 저랭크 경로의 입력에만 건다.
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        like = dict(dtype=base.weight.dtype, device=base.weight.device)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **like))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **like))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frozen = F.linear(x, self.base.weight, self.base.bias)
        return frozen + low_rank_output(self.dropout(x), self.lora_A, self.lora_B, self.scaling)

    @classmethod
    def from_peft(cls, peft_layer: nn.Module, adapter_name: str = "default") -> "LoRALinear":
        """peft의 `lora.Linear` 층과 같은 값을 갖는 층을 만든다(기본 층은 공유, A·B는 복사)."""
        dropout = peft_layer.lora_dropout[adapter_name]
        layer = cls(
            peft_layer.get_base_layer(),
            r=peft_layer.r[adapter_name],
            alpha=peft_layer.lora_alpha[adapter_name],
            dropout=dropout.p if isinstance(dropout, nn.Dropout) else 0.0,
            use_rslora=peft_layer.use_rslora.get(adapter_name, False),
        )
        if not math.isclose(layer.scaling, peft_layer.scaling[adapter_name]):
            raise ValueError(f"scaling: peft 층의 배율과 다릅니다 ({layer.scaling} != {peft_layer.scaling[adapter_name]})")
        with torch.no_grad():
            layer.lora_A.copy_(peft_layer.lora_A[adapter_name].weight)
            layer.lora_B.copy_(peft_layer.lora_B[adapter_name].weight)
        return layer

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}"


class DoRALinear(LoRALinear):
    """LoRA에 출력 특성별 크기 벡터 m을 더한 층. m은 W의 행별 노름으로 초기화한다(B=0이라 ‖W‖)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0,
                 use_rslora: bool = False, detach_norm: bool = True):
        super().__init__(base, r, alpha, dropout, use_rslora)
        self.detach_norm = detach_norm
        with torch.no_grad():
            norm = dora_weight_norm(base.weight, self.lora_A, self.lora_B, self.scaling)
        self.magnitude = nn.Parameter(norm.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.base.weight, self.base.bias
        if isinstance(self.dropout, nn.Identity) or not self.training:
            return dora_forward(x, weight, bias, self.lora_A, self.lora_B, self.magnitude,
                                self.scaling, self.detach_norm)
        # 드롭아웃이 있으면 peft와 같이 계산한다: 원래 층 출력은 x로, DoRA 보정 항은 드롭아웃한 x로.
        x_dropped = self.dropout(x)
        norm = _dora_norm(weight, self.lora_A, self.lora_B, self.scaling, self.detach_norm)
        scale = self.magnitude / norm
        correction = (scale - 1) * F.linear(x_dropped, weight)
        return F.linear(x, weight, bias) + correction + scale * low_rank_output(
            x_dropped, self.lora_A, self.lora_B, self.scaling)

    @classmethod
    def from_peft(cls, peft_layer: nn.Module, adapter_name: str = "default") -> "DoRALinear":
        """peft의 `use_dora=True` 층에서 A·B와 크기 벡터를 복사한다."""
        layer = super().from_peft(peft_layer, adapter_name)
        with torch.no_grad():
            layer.magnitude.copy_(peft_layer.lora_magnitude_vector[adapter_name].weight)
        return layer


def _check_layer_args(base, r, alpha, dropout) -> None:
    if not isinstance(base, nn.Linear):
        raise config_error("base", f"nn.Linear 층이어야 합니다. 받은 형식: {type(base).__name__}",
                           "must be an nn.Linear")
    _check_rank(r)
    if not alpha > 0:
        raise config_error("alpha", f"α는 0보다 커야 합니다. 받은 값: {alpha!r}", "must be positive")
    if not 0 <= dropout < 1:
        raise config_error("dropout", f"드롭아웃 확률은 0 이상 1 미만이어야 합니다. 받은 값: {dropout!r}",
                           "must be in [0, 1)")


# ---------------------------------------------------------------------------
# 3. 파라미터 산수 (설정만 보고 센다)
# ---------------------------------------------------------------------------

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
LINEAR_MODULES = ATTENTION_MODULES + MLP_MODULES
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")


def _text_config(config):
    """VLM처럼 설정이 겹쳐 있으면 언어 모델 부분을 꺼낸다. 지원하는 구조인지도 확인한다."""
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise config_error(
            "model_type", f"'{model_type}' 구조의 파라미터 공식은 없습니다. 지원: {', '.join(SUPPORTED_MODEL_TYPES)}",
            "unsupported architecture")
    return config


def _head_dim(config) -> int:
    """헤드 하나의 차원. 설정에 적혀 있으면 그 값(Qwen3, Mistral-Nemo), 없으면 hidden / heads."""
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _linear_biases(config) -> dict[str, bool]:
    """모듈별 편향 유무. 구조마다 규칙이 다르다."""
    if config.model_type == "qwen2":  # q/k/v에만 편향이 있고, 설정으로 끌 수 없다
        attention = dict(q_proj=True, k_proj=True, v_proj=True, o_proj=False)
    else:  # llama, qwen3는 attention_bias 하나로 q/k/v/o를 함께 정한다. mistral은 편향이 없다.
        flag = config.model_type != "mistral" and bool(getattr(config, "attention_bias", False))
        attention = dict.fromkeys(ATTENTION_MODULES, flag)
    mlp_flag = config.model_type == "llama" and bool(getattr(config, "mlp_bias", False))
    return attention | dict.fromkeys(MLP_MODULES, mlp_flag)


def decoder_linear_shapes(config) -> dict[str, tuple[int, int, bool]]:
    """디코더 층 하나의 선형층: 이름 → (in_features, out_features, 편향 유무).

    그룹 쿼리 어텐션(GQA)에서는 k_proj, v_proj의 출력이 num_key_value_heads × head_dim으로
    q_proj보다 작다(Qwen3-8B: 4096 → 1024).
    """
    config = _text_config(config)
    hidden, inter, head_dim = config.hidden_size, config.intermediate_size, _head_dim(config)
    q_out = config.num_attention_heads * head_dim
    kv_out = (getattr(config, "num_key_value_heads", None) or config.num_attention_heads) * head_dim
    sizes = dict(q_proj=(hidden, q_out), k_proj=(hidden, kv_out), v_proj=(hidden, kv_out), o_proj=(q_out, hidden),
                 gate_proj=(hidden, inter), up_proj=(hidden, inter), down_proj=(inter, hidden))
    bias = _linear_biases(config)
    return {name: (n_in, n_out, bias[name]) for name, (n_in, n_out) in sizes.items()}


def count_model_parameters(config) -> int:
    """기본 모델의 파라미터 수(`model.num_parameters()`와 같은 값)를 설정만으로 센다.

    층마다: 선형층 7개(+편향) + RMSNorm 2개(+Qwen3의 q_norm/k_norm). 그 밖에 임베딩, 마지막 norm,
    lm_head. 임베딩을 묶으면(tie_word_embeddings) lm_head는 임베딩 행렬을 같이 쓰므로 세지 않는다.
    VLM 설정을 주면 언어 모델(text_config) 부분만 센다.
    """
    config = _text_config(config)
    hidden = config.hidden_size
    linear = sum(n_in * n_out + (n_out if bias else 0) for n_in, n_out, bias in decoder_linear_shapes(config).values())
    norms = 2 * hidden + (2 * _head_dim(config) if config.model_type == "qwen3" else 0)
    embedding = config.vocab_size * hidden
    lm_head = 0 if config.tie_word_embeddings else config.vocab_size * hidden
    return embedding + config.num_hidden_layers * (linear + norms) + hidden + lm_head


def _resolve_targets(target_modules) -> tuple[str, ...]:
    """target_modules를 모듈 이름 튜플로 바꾼다. peft처럼 'all-linear'(lm_head 제외 모든 선형층)도 받는다."""
    if target_modules == "all-linear":
        return LINEAR_MODULES
    names = (target_modules,) if isinstance(target_modules, str) else tuple(target_modules)
    allowed = f"가능한 이름: {', '.join(LINEAR_MODULES)} 또는 'all-linear'"
    if not names:
        raise config_error("target_modules", f"모듈 이름이 하나도 없습니다. {allowed}", "empty target module list")
    unknown = [name for name in names if name not in LINEAR_MODULES]
    if unknown:
        raise config_error("target_modules", f"알 수 없는 모듈 이름: {', '.join(map(repr, unknown))}. {allowed}",
                           "unknown target module")
    return tuple(dict.fromkeys(names))  # 중복 제거, 순서 유지


def lora_parameter_table(config, r: int, target_modules: Iterable[str] | str,
                         use_dora: bool = False) -> list[dict]:
    """노트북 표에 쓰는 모듈별 내역(디코더 층 하나 기준).

    행마다 module, in_features, out_features, lora_A(r·in), lora_B(out·r), magnitude(DoRA면 out),
    per_layer(그 합)가 들어 있다.
    """
    _check_rank(r)
    shapes = decoder_linear_shapes(config)
    rows = []
    for name in _resolve_targets(target_modules):
        n_in, n_out, _ = shapes[name]
        row = dict(module=name, in_features=n_in, out_features=n_out,
                   lora_A=r * n_in, lora_B=n_out * r, magnitude=n_out if use_dora else 0)
        row["per_layer"] = row["lora_A"] + row["lora_B"] + row["magnitude"]
        rows.append(row)
    return rows


def count_lora_parameters(config, r: int, target_modules: Iterable[str] | str, use_dora: bool = False) -> int:
    """학습할 LoRA(또는 DoRA) 파라미터 수 = 층 수 × 층 하나의 합. peft의 trainable params와 같다."""
    per_layer = sum(row["per_layer"] for row in lora_parameter_table(config, r, target_modules, use_dora))
    return _text_config(config).num_hidden_layers * per_layer


class TrainableSummary(NamedTuple):
    """peft `print_trainable_parameters()`가 보여 주는 세 값. peft는 LoRA 파라미터도 all에 넣는다."""

    trainable: int
    total: int

    @property
    def percent(self) -> float:
        return 100 * self.trainable / self.total

    def __str__(self) -> str:  # peft와 같은 형식
        return f"trainable params: {self.trainable:,d} || all params: {self.total:,d} || trainable%: {self.percent:.4f}"


def trainable_summary(config, r: int, target_modules: Iterable[str] | str, use_dora: bool = False) -> TrainableSummary:
    """peft가 출력할 (trainable, all)을 설정만으로 계산한다: all = 기본 모델 + LoRA."""
    trainable = count_lora_parameters(config, r, target_modules, use_dora)
    return TrainableSummary(trainable, count_model_parameters(config) + trainable)


def adamw_state_bytes(n_params: int, dtype: torch.dtype = torch.float32) -> int:
    """AdamW 옵티마이저 상태 메모리(바이트): 파라미터마다 1차·2차 모멘트(moment) 두 개."""
    if isinstance(n_params, bool) or not isinstance(n_params, int) or n_params < 0:
        raise config_error("n_params", f"0 이상의 정수여야 합니다. 받은 값: {n_params!r}", "must be a non-negative integer")
    return 2 * n_params * dtype.itemsize
