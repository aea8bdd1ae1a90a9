"""활성값(activation) 메모리를 재고 계산한다: 역전파(backward)를 위해 autograd가 붙잡아 두는 텐서.

학습 중 메모리는 가중치·기울기(gradient)·옵티마이저 상태·활성값으로 나뉜다. 앞의 셋은 모델 크기로 정해지지만
활성값은 배치와 시퀀스 길이에 비례해 늘어나고, 그레이디언트 체크포인팅(gradient checkpointing)이
줄이는 것도 이것이다.

재는 방법: `torch.autograd.graph.saved_tensors_hooks`로 순전파(forward) 동안 autograd가 저장하는
텐서를 하나도 빠짐없이 가로챈다. 장치와 무관하게(CPU에서도) 바이트 단위로 정확하다.

무엇을 세는가(`SavedActivations`의 규칙):

- 같은 저장소(storage)를 가리키는 텐서(뷰, 여러 연산이 함께 저장한 같은 텐서)는 한 번만 센다.
  크기는 저장소 전체의 바이트(`untyped_storage().nbytes()`)다. 뷰가 저장소 일부만 보더라도
  살아 있는 메모리는 저장소 전체이기 때문이다.
- 모델 가중치(`nn.Parameter`, 학습하든 얼려 두었든)와 그 뷰(`weight.t()` 등)는 세지 않는다.
  autograd는 이들을 참조로만 들고 있을 뿐 새 메모리를 쓰지 않는다(가중치 메모리로 따로 센다).
  파라미터가 아닌 텐서를 더 빼고 싶으면 `exclude`에 넘긴다.
- 체크포인팅(use_reentrant=False)을 켜면, 체크포인트 구간 안에서 저장되는 텐서는 torch의 체크포인트
  훅이 가져가고(역전파 때 다시 계산) 이 측정에는 구간의 **입력**만 잡힌다. 그것이 실제로 남는 메모리다.
  단, `functools.partial`로 키워드 인자에 묶여 들어간 텐서(회전 위치 임베딩 cos/sin 등)는 autograd가
  저장한 것이 아니라 측정에 나오지 않는다(모든 층이 공유하는 작은 텐서다).
- 역전파 중 다시 계산하는 동안 잠깐 생기는 메모리(층 하나 분량)는 순전파 측정에 나오지 않는다.
  `qwen3_layer_activation_bytes`(해석적)와 `qwen3_activation_bytes(...)["recompute_peak"]`가 그 크기를 준다.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch


def _is_weight(t: torch.Tensor) -> bool:
    """모델 파라미터(`nn.Parameter`, 학습하든 얼려 두었든)이거나 그 뷰(`weight.t()` 등)인가."""
    base = t._base if t._base is not None else t
    return isinstance(base, torch.nn.Parameter)


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    storage = t.untyped_storage()
    return (str(t.device), storage.data_ptr())


@dataclass
class SavedTensorRecord:
    """저장된 텐서 하나의 기록(처음 본 저장소일 때만 bytes > 0)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    bytes: int
    tag: str = ""


@dataclass
class SavedActivations:
    """순전파 동안 autograd가 저장하는 텐서를 모아 바이트를 센다(컨텍스트 관리자).

    ```python
    with SavedActivations() as saved:
        loss = model(**batch).loss
    print(saved.total_bytes)
    ```
    `tag`를 바꿔 가며(예: 디코더 층 번호) 어느 구간이 얼마를 저장했는지 나눠 볼 수 있다.
    """

    exclude: Iterable[torch.Tensor] = ()
    records: list[SavedTensorRecord] = field(default_factory=list)
    tag: str = ""

    def __post_init__(self):
        self._seen: set = {_storage_key(t) for t in self.exclude}
        self._hooks = None
        # 측정하는 동안 저장된 텐서를 붙잡아 둔다. 그래프에서 떨어져 나간 텐서가 해제되고 같은 주소를
        # 새 텐서가 다시 쓰면, 주소로 중복을 가리는 규칙이 새 텐서를 빠뜨리기 때문이다.
        self._alive: list[torch.Tensor] = []

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if _is_weight(t):
            self._seen.add(key)
        new = key not in self._seen
        self._seen.add(key)
        nbytes = t.untyped_storage().nbytes() if new else 0
        if new:
            self._alive.append(t)
        self.records.append(SavedTensorRecord(tuple(t.shape), t.dtype, nbytes, self.tag))
        return t

    def __enter__(self) -> "SavedActivations":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
        self._alive.clear()

    @property
    def total_bytes(self) -> int:
        return sum(r.bytes for r in self.records)

    def bytes_by_tag(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for r in self.records:
            totals[r.tag] = totals.get(r.tag, 0) + r.bytes
        return totals


def saved_activation_bytes(fn: Callable, *args, exclude: Iterable[torch.Tensor] = (), **kwargs) -> int:
    """`fn(*args, **kwargs)`를 한 번 실행하며 autograd가 저장한 활성값 바이트를 센다(규칙은 모듈 설명)."""
    with SavedActivations(exclude=exclude) as saved:
        fn(*args, **kwargs)
    return saved.total_bytes


# ---------------------------------------------------------------------------
# 층별 측정: transformers 디코더 모델
# ---------------------------------------------------------------------------
def decoder_layers(model) -> torch.nn.ModuleList:
    """Qwen3/Llama 계열 인과 언어 모델의 디코더 층 목록(`model.model.layers`)."""
    base = getattr(model, "model", model)
    if not hasattr(base, "layers"):
        raise ValueError("디코더 층(`model.model.layers`)을 찾지 못했습니다. Qwen3/Llama 계열 모델을 넣어 주세요.")
    return base.layers


def _run_tagged(model, inputs: dict, saved: SavedActivations, handles: list) -> dict[str, int]:
    """`model(**inputs)`를 한 번 돌리며 `saved`로 재고, 꼬리표를 바꾸던 훅(`handles`)을 떼어 낸 뒤 꼬리표별 바이트를 낸다."""
    try:
        with saved:
            model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    return saved.bytes_by_tag()


def saved_bytes_per_layer(model, **inputs) -> dict[str, int]:
    """`model(**inputs)` 한 번에 autograd가 저장한 바이트를 구간별로 나눈다.

    키: "before_layers"(임베딩), "layer.0" … "layer.{L-1}", "after_layers"(마지막 norm, lm_head, 손실).
    층 경계는 각 디코더 층의 forward 훅으로 정한다. 여러 층이 함께 쓰는 텐서(회전 위치 임베딩 cos/sin)는
    처음 저장한 층(보통 layer.0)에 한 번만 들어간다.
    """
    saved = SavedActivations(tag="before_layers")
    handles = []
    for i, layer in enumerate(decoder_layers(model)):
        handles.append(layer.register_forward_pre_hook(lambda *_, i=i: setattr(saved, "tag", f"layer.{i}")))
        handles.append(layer.register_forward_hook(lambda *_: setattr(saved, "tag", "after_layers")))
    totals = _run_tagged(model, inputs, saved, handles)
    names = ["before_layers", *[f"layer.{i}" for i in range(len(decoder_layers(model)))], "after_layers"]
    return {name: totals.get(name, 0) for name in names}


# 층 안의 구간 경계: (하위 모듈 이름, "pre" = 그 모듈이 시작할 때 / "post" = 끝날 때, 그때부터의 구성 요소).
# `qwen3_layer_activation_bytes`의 키와 같은 묶음이 되도록 골랐다. 예: input_layernorm의 출력은 q_proj가
# 저장하므로 q_norm이 시작하기 전까지를 input_layernorm으로, gate_proj가 저장하는 post_attention_layernorm의
# 출력은 SiLU(act_fn)가 시작하기 전까지를 post_attention_layernorm으로 센다.
QWEN3_COMPONENT_BOUNDARIES = (
    ("input_layernorm", "pre", "input_layernorm"),
    ("self_attn.q_norm", "pre", "q_norm"),
    ("self_attn.q_norm", "post", "attention"),
    ("self_attn.k_norm", "pre", "k_norm"),
    ("self_attn.k_norm", "post", "attention"),
    ("post_attention_layernorm", "pre", "post_attention_layernorm"),
    ("mlp.act_fn", "pre", "mlp"),
)
QWEN3_COMPONENTS = ("input_layernorm", "q_norm", "k_norm", "attention", "post_attention_layernorm", "mlp")


def saved_bytes_per_component(model, layer_index: int = 1, **inputs) -> dict[str, int]:
    """`model(**inputs)` 한 번에 디코더 층 `layer_index` 하나가 저장한 바이트를 구성 요소별로 잰다.

    키는 `qwen3_layer_activation_bytes`와 같다(경계는 `QWEN3_COMPONENT_BOUNDARIES`). 기본은 layer.1:
    layer.0에는 모든 층이 공유하는 회전 위치 임베딩 cos·sin이 한 번 더 들어간다.
    """
    saved = SavedActivations(tag="other")
    layer = decoder_layers(model)[layer_index]
    modules = dict(layer.named_modules())
    handles = []
    for module_name, when, component in QWEN3_COMPONENT_BOUNDARIES:
        def set_tag(*_, component=component):
            saved.tag = component
        module = modules[module_name]
        handles.append(module.register_forward_pre_hook(set_tag) if when == "pre" else module.register_forward_hook(set_tag))
    handles.append(layer.register_forward_hook(lambda *_: setattr(saved, "tag", "other")))
    totals = _run_tagged(model, inputs, saved, handles)
    return {component: totals.get(component, 0) for component in QWEN3_COMPONENTS}


# ---------------------------------------------------------------------------
# 해석적(analytic) 추정: Qwen3 디코더가 저장하는 것
# ---------------------------------------------------------------------------
_FP32 = 4
_INT64 = 8


def _rmsnorm_saved(rows: int, width: int, dtype_bytes: int) -> int:
    """Qwen3RMSNorm이 저장하는 것: float32로 올린 입력(pow용), rsqrt 결과(행마다 하나),
    정규화된 값을 원래 dtype으로 내린 것(가중치 곱용). float32 모델에서는 앞의 것이 입력 자체다."""
    return _FP32 * rows * width + _FP32 * rows + dtype_bytes * rows * width


def _attention_saved(config, batch: int, seq_len: int, dtype_bytes: int, attn_implementation: str) -> int:
    """어텐션 핵심부가 저장하는 것(회전 위치 임베딩 뒤의 q, k와 v부터 o_proj 입력까지).

    - sdpa(CPU): q, k, v(GQA 그대로, 반복하지 않음), 출력, logsumexp(float32, 헤드·토큰마다 하나).
      출력은 이미 (B, T, 헤드, head_dim) 배치라 o_proj 입력이 같은 메모리다.
    - eager: q, 헤드 수만큼 반복한 k와 v(repeat_kv), softmax 출력(float32, T×T),
      그것을 dtype으로 내린 사본(float32 모델이면 같은 텐서), o_proj에 넣으려 연속화한 출력.

    CUDA에서 한 번 확인한 것(H200, torch 2.11, transformers 5.17): eager와 체크포인팅은 바이트까지 같고,
    bf16 sdpa(flash)는 층마다 난수 상태 int64 두 개(16바이트)를 더 저장한다. float32 sdpa는 GQA에서
    수학(math) 경로로 떨어져 eager와 같은 양을 저장하므로 그때는 "eager"로 계산한다.
    """
    heads, kv_heads, head_dim = config.num_attention_heads, config.num_key_value_heads, config.head_dim
    q = batch * seq_len * heads * head_dim
    kv = batch * seq_len * kv_heads * head_dim
    if attn_implementation == "sdpa":
        return dtype_bytes * (q + 2 * kv + q) + _FP32 * batch * heads * seq_len
    if attn_implementation == "eager":
        scores = batch * heads * seq_len * seq_len
        downcast = dtype_bytes * scores if dtype_bytes != _FP32 else 0
        return dtype_bytes * (q + 2 * q + q) + _FP32 * scores + downcast
    raise ValueError(f"attn_implementation은 'sdpa' 또는 'eager'여야 합니다 ({attn_implementation!r}).")


def qwen3_layer_activation_bytes(config, batch: int, seq_len: int, dtype_bytes: int,
                                 attn_implementation: str = "sdpa") -> dict[str, int]:
    """Qwen3 디코더 층 하나가 역전파용으로 저장하는 바이트(구성 요소별). 모델 가중치는 세지 않는다.

    transformers `Qwen3DecoderLayer`를 읽고 측정으로 확인한 목록이다.
    - input_layernorm / post_attention_layernorm: RMSNorm 저장분 + 출력(다음 Linear의 입력).
    - q_norm / k_norm: 헤드별 RMSNorm 저장분. 그 출력은 저장되지 않는다(회전 위치 임베딩은
      cos·sin과 곱할 뿐이라 cos·sin만 저장하고, cos·sin은 모든 층이 공유한다).
    - attention: `_attention_saved`.
    - mlp: gate 출력(SiLU 입력), SiLU 출력, up 출력, 둘의 곱(down_proj 입력) — 네 개 모두 B·T·I.
    """
    rows = batch * seq_len
    hidden, head_dim = config.hidden_size, config.head_dim
    norm_with_output = _rmsnorm_saved(rows, hidden, dtype_bytes) + dtype_bytes * rows * hidden
    return {
        "input_layernorm": norm_with_output,
        "q_norm": _rmsnorm_saved(rows * config.num_attention_heads, head_dim, dtype_bytes),
        "k_norm": _rmsnorm_saved(rows * config.num_key_value_heads, head_dim, dtype_bytes),
        "attention": _attention_saved(config, batch, seq_len, dtype_bytes, attn_implementation),
        "post_attention_layernorm": norm_with_output,
        "mlp": 4 * dtype_bytes * rows * config.intermediate_size,
    }


def _labels_storage_bytes(batch: int, seq_len: int) -> int:
    """손실이 저장하는 정답 id의 저장소 크기. transformers는 labels 끝에 -100을 하나 붙이고
    `[..., 1:].contiguous()`로 한 칸 민다. 배치가 1이면 이 조각이 이미 연속이라 복사하지 않아
    T+1칸짜리 저장소를 그대로 붙잡는다."""
    return _INT64 * (seq_len + 1 if batch == 1 else batch * seq_len)


def qwen3_activation_bytes(config, batch: int, seq_len: int, dtype_bytes: int,
                           gradient_checkpointing: bool = False, attn_implementation: str = "sdpa") -> dict[str, int]:
    """Qwen3ForCausalLM 전체(labels를 주어 손실까지)의 저장 바이트를 해석적으로 계산한다.

    `saved_bytes_per_layer`가 재는 것과 같은 규칙(가중치 제외, 저장소 중복 제거)을 따른다.
    position_ids와 attention_mask를 주지 않은(패딩 없는) 입력을 가정한다.

    - 체크포인팅 없음: 층마다 `qwen3_layer_activation_bytes` + 공유 cos·sin 한 벌.
    - 체크포인팅(use_reentrant=False): 층마다 입력 은닉 상태(B·T·H) 하나만 남는다. 역전파 때 층 하나를
      다시 계산하는 동안 그 층의 활성값이 잠깐 더 생긴다("recompute_peak", 순전파 측정에는 없음).
    공통: 임베딩이 저장하는 토큰 id(int64), 마지막 norm과 그 출력, 손실(float32 log-softmax 출력,
    정답 id(`_labels_storage_bytes`), 가중치 합 스칼라).
    """
    rows = batch * seq_len
    layers = config.num_hidden_layers
    one_layer = sum(qwen3_layer_activation_bytes(config, batch, seq_len, dtype_bytes, attn_implementation).values())
    if gradient_checkpointing:
        layer_bytes, rotary = layers * dtype_bytes * rows * config.hidden_size, 0
    else:
        layer_bytes, rotary = layers * one_layer, 2 * dtype_bytes * seq_len * config.head_dim
    final_norm = _rmsnorm_saved(rows, config.hidden_size, dtype_bytes) + dtype_bytes * rows * config.hidden_size
    loss = _FP32 * rows * config.vocab_size + _labels_storage_bytes(batch, seq_len) + _FP32
    parts = {"embedding": _INT64 * rows, "rotary": rotary, "layers": layer_bytes,
             "final_norm": final_norm, "loss": loss}
    parts["total"] = sum(parts.values())
    parts["recompute_peak"] = one_layer if gradient_checkpointing else 0
    return parts


# ---------------------------------------------------------------------------
# 시간
# ---------------------------------------------------------------------------
def median_time(fn: Callable, repeats: int = 5, warmup: int = 1) -> float:
    """`fn()`의 실행 시간(초)의 중앙값. 처음 warmup번은 버린다(캐시·지연 초기화의 영향을 빼려고)."""
    def run_once() -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for _ in range(warmup):
        run_once()
    return statistics.median(run_once() for _ in range(repeats))
