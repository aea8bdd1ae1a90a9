"""course_lib.lora 테스트: 처음부터 만든 LoRA/DoRA = peft, 설정 공식 = 실제 모델(meta 장치).

모델은 `torch.device("meta")` 아래에서 만들어 메모리를 쓰지 않는다. 설정은 공개된 config.json 값을
손으로 옮겼다(허브에서 내려받지 않는다). 정확한 값 검사는 모델과 peft가 직접 센 수와 비교하므로
옮겨 적은 값이 원본과 조금 달라도 검사의 의미는 변하지 않는다.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from peft import LoraConfig, get_peft_model, inject_adapter_in_model
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

from course_lib.errors import ConfigError
from course_lib.lora import (
    ATTENTION_MODULES, LINEAR_MODULES, DoRALinear, LoRALinear, adamw_state_bytes, count_lora_parameters,
    count_model_parameters, decoder_linear_shapes, dora_forward, dora_weight_norm, lora_forward,
    lora_parameter_table, lora_scaling, trainable_summary,
)

# peft가 transformers의 옛 이름을 불러서 나는 경고다. 이 테스트와 무관하다.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

QWEN3_8B = Qwen3Config(vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                       num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False)
LLAMA3_8B = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                        num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False,
                        rope_theta=500000.0)

CONFIGS = {
    "Qwen3-8B": QWEN3_8B,
    "Llama-3-8B": LLAMA3_8B,
    # 임베딩을 묶은(tied) Qwen3
    "Qwen3-0.6B": Qwen3Config(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                              num_attention_heads=16, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True),
    "Qwen3-1.7B": Qwen3Config(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                              num_attention_heads=16, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True),
    "Qwen3-4B": Qwen3Config(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                            num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True),
    # q/k/v 편향이 있는 Qwen2
    "Qwen2.5-0.5B": Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True),
    "Qwen2.5-7B": Qwen2Config(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                              num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False),
    "Mistral-7B-v0.1": MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                                     num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                     tie_word_embeddings=False),
    # head_dim(128)이 hidden/heads(160)와 다른 경우
    "Mistral-Nemo-12B": MistralConfig(vocab_size=131072, hidden_size=5120, intermediate_size=14336,
                                      num_hidden_layers=40, num_attention_heads=32, num_key_value_heads=8,
                                      head_dim=128, tie_word_embeddings=False),
    "Llama-3.2-1B": LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                                num_attention_heads=32, num_key_value_heads=8, head_dim=64, tie_word_embeddings=True),
    # 편향 플래그를 켠 작은 설정(실제 모델은 아니다)
    "llama-with-biases": LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                                     num_attention_heads=4, num_key_value_heads=2, attention_bias=True,
                                     mlp_bias=True, tie_word_embeddings=False),
    "qwen3-with-attention-bias": Qwen3Config(vocab_size=1000, hidden_size=64, intermediate_size=96,
                                             num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                                             head_dim=24, attention_bias=True, tie_word_embeddings=True),
}

# (r, target_modules, use_dora) 조합.
ADAPTER_CASES = [
    (16, list(LINEAR_MODULES), False),
    (16, list(ATTENTION_MODULES), True),
    (8, ["q_proj", "v_proj"], False),
    (4, ["k_proj", "down_proj"], True),
    (2, "all-linear", False),
]


def meta_model(config):
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


# ---------------------------------------------------------------------------
# 파라미터 산수 = 모델/peft가 직접 센 수
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", CONFIGS)
def test_count_model_parameters_matches_transformers(name):
    config = CONFIGS[name]
    assert count_model_parameters(config) == meta_model(config).num_parameters()


HEADLINE = ("Qwen3-8B", "Llama-3-8B")


@pytest.mark.parametrize("name", CONFIGS)
def test_count_lora_parameters_matches_peft(name):
    config = CONFIGS[name]
    # 8B 모델에서는 모든 조합을, 나머지는 LoRA 하나·DoRA 하나만 돌려 시간을 아낀다(peft 한 번에 약 1초).
    cases = ADAPTER_CASES if name in HEADLINE else [ADAPTER_CASES[0], ADAPTER_CASES[3]]
    for r, targets, use_dora in cases:
        # meta 장치에서도 peft의 기본 초기화(kaiming, B=0, DoRA 크기 = ‖W‖)가 그대로 돈다.
        # 값은 없고 모양만 있는 텐서라 DoRA 노름도 meta 텐서로 계산되어 개수 세기에는 문제없다.
        peft_model = get_peft_model(meta_model(config),
                                    LoraConfig(r=r, lora_alpha=2 * r, target_modules=targets, use_dora=use_dora))
        trainable, total = peft_model.get_nb_trainable_parameters()
        case = (name, r, targets, use_dora)
        assert count_lora_parameters(config, r, targets, use_dora) == trainable, case
        assert trainable_summary(config, r, targets, use_dora) == (trainable, total), case


def test_qwen3_8b_facts():
    """노트북 02와 README가 싣는 Qwen3-8B의 수. 기대값은 공개 config.json의 수(어휘 151,936, 폭 4,096, MLP 12,288,
    36층, 쿼리 헤드 32 · KV 헤드 8 × head_dim 128, 묶지 않은 임베딩)로 손으로 센 것이다(아래 주석)."""
    # 기본 모델: 임베딩과 lm_head 151,936 × 4,096 = 622,329,856씩 두 벌 = 1,244,659,712
    #   층 하나: q·o 4,096 × 4,096 = 16,777,216씩, k·v 4,096 × (8 × 128 = 1,024) = 4,194,304씩(GQA)
    #          + gate·up·down 4,096 × 12,288 = 50,331,648씩 + norm 4,096 × 2 + q_norm·k_norm 128 × 2 = 192,946,432
    #   36층 6,946,071,552 + 마지막 norm 4,096 → 1,244,659,712 + 6,946,071,552 + 4,096 = 8,190,735,360
    assert count_model_parameters(QWEN3_8B) == 8_190_735_360
    # LoRA r=16은 Linear 하나에 16 × (입력 + 출력): q·o 16 × 8,192 = 131,072씩, k·v 16 × 5,120 = 81,920씩,
    #   gate·up·down 16 × 16,384 = 262,144씩 → 층 하나 1,212,416, 36층 43,646,976
    assert count_lora_parameters(QWEN3_8B, 16, LINEAR_MODULES) == 43_646_976
    per_layer = sum(row["per_layer"] for row in lora_parameter_table(QWEN3_8B, 16, LINEAR_MODULES))
    assert per_layer == 1_212_416
    # peft는 LoRA도 "all"에 센다: 8,190,735,360 + 43,646,976 = 8,234,382,336; 43,646,976 ÷ 8,234,382,336 = 0.5301%
    summary = trainable_summary(QWEN3_8B, 16, LINEAR_MODULES)
    assert str(summary) == "trainable params: 43,646,976 || all params: 8,234,382,336 || trainable%: 0.5301"
    # DoRA r=16, q·k·v·o: LoRA 131,072 × 2 + 81,920 × 2 = 425,984 + 크기 벡터(출력 수) 4,096 × 2 + 1,024 × 2 = 10,240
    #   → 층 하나 436,224, 36층 15,704,064
    assert count_lora_parameters(QWEN3_8B, 16, ATTENTION_MODULES, use_dora=True) == 15_704_064
    # GQA: k_proj, v_proj는 4096 → 1024
    shapes = decoder_linear_shapes(QWEN3_8B)
    assert shapes["k_proj"][:2] == shapes["v_proj"][:2] == (4096, 1024)
    assert shapes["q_proj"][:2] == (4096, 4096)


def test_llama3_8b_facts():
    """원문의 '41,943,040 || 8,030,261,248'은 Llama-3-8B의 LoRA 수와 기본 모델 수를 나란히 둔 것이다.
    기대값은 Llama-3-8B의 공개 설정(어휘 128,256, 폭 4,096, MLP 14,336, 32층, KV 헤드 8 × 128)으로 손으로 센 것이다."""
    # LoRA r=16: q·o 16 × 8,192 = 131,072씩, k·v 16 × 5,120 = 81,920씩, gate·up·down 16 × 18,432 = 294,912씩
    #   → 층 하나 1,310,720, 32층 41,943,040
    assert count_lora_parameters(LLAMA3_8B, 16, LINEAR_MODULES) == 41_943_040
    # 기본: 임베딩·lm_head 128,256 × 4,096 = 525,336,576씩 + 층 하나(어텐션 41,943,040 + MLP 3 × 4,096 × 14,336
    #   = 176,160,768 + norm 8,192 = 218,112,000) × 32 + 마지막 norm 4,096 = 8,030,261,248
    assert count_model_parameters(LLAMA3_8B) == 8_030_261_248
    assert trainable_summary(LLAMA3_8B, 16, LINEAR_MODULES).total == 8_072_204_288  # 8,030,261,248 + 41,943,040


def test_parameter_table_rows():
    rows = lora_parameter_table(QWEN3_8B, 16, ["k_proj", "down_proj"], use_dora=True)
    assert rows == [
        dict(module="k_proj", in_features=4096, out_features=1024, lora_A=16 * 4096, lora_B=1024 * 16,
             magnitude=1024, per_layer=16 * 4096 + 1024 * 16 + 1024),
        dict(module="down_proj", in_features=12288, out_features=4096, lora_A=16 * 12288, lora_B=4096 * 16,
             magnitude=4096, per_layer=16 * 12288 + 4096 * 16 + 4096),
    ]


def test_adamw_state_bytes():
    assert adamw_state_bytes(43_646_976) == 2 * 4 * 43_646_976  # AdamW는 파라미터마다 두 모멘트(m, v), fp32 4바이트씩
    assert adamw_state_bytes(10, torch.bfloat16) == 40
    with pytest.raises(ValueError, match="n_params"):
        adamw_state_bytes(-1)


@pytest.mark.parametrize("bad_r", [0, -4, 1.5, True])
def test_bad_rank_is_rejected(bad_r):
    with pytest.raises(ValueError, match=r"^r: .*랭크"):
        count_lora_parameters(QWEN3_8B, bad_r, ATTENTION_MODULES)
    with pytest.raises(ValueError, match=r"^r: "):
        LoRALinear(nn.Linear(4, 4), bad_r, alpha=8)


@pytest.mark.parametrize("bad_targets", [["qproj"], ["q_proj", "lm_head"], "attention"])
def test_bad_target_modules_are_rejected(bad_targets):
    with pytest.raises(ValueError, match=r"^target_modules: 알 수 없는 모듈.*unknown target module"):
        count_lora_parameters(QWEN3_8B, 16, bad_targets)
    with pytest.raises(ValueError, match=r"^target_modules: "):
        lora_parameter_table(QWEN3_8B, 16, [])


def test_unknown_architecture_is_rejected():
    from transformers import GPT2Config
    with pytest.raises(ValueError, match="model_type.*gpt2"):
        count_model_parameters(GPT2Config())


def test_bad_layer_arguments_are_rejected():
    with pytest.raises(ConfigError, match="^base: "):  # 강의의 설정 오류 한 종류(명령줄이 한 줄로 알린다)
        LoRALinear(nn.Conv1d(4, 4, 1), 2, alpha=4)
    with pytest.raises(ValueError, match="^alpha: "):
        LoRALinear(nn.Linear(4, 4), 2, alpha=0)
    with pytest.raises(ValueError, match="^dropout: "):
        DoRALinear(nn.Linear(4, 4), 2, alpha=4, dropout=1.0)


# ---------------------------------------------------------------------------
# 순전파·역전파 = peft
# ---------------------------------------------------------------------------

class OneLinear(nn.Module):
    def __init__(self, base: nn.Linear):
        super().__init__()
        self.proj = base


def peft_layer(n_in, n_out, r, alpha, use_dora, dropout=0.0, seed=0):
    """peft로 감싼 nn.Linear 하나. peft는 B=0으로 초기화하므로 B(와 크기 m)를 무작위 값으로 바꾼다."""
    torch.manual_seed(seed)
    model = inject_adapter_in_model(
        LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=["proj"], use_dora=use_dora),
        OneLinear(nn.Linear(n_in, n_out, bias=True)))
    layer = model.proj
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
        if use_dora:
            layer.lora_magnitude_vector["default"].weight.uniform_(0.5, 2.0)
    return layer


def leaf(tensor):
    return tensor.detach().clone().requires_grad_(True)


def run_peft(layer, x, grad_out, use_dora):
    """peft 층의 출력과 (x, A, B, m)에 대한 기울기."""
    x = leaf(x)
    out = layer(x)
    out.backward(grad_out)
    params = [layer.lora_A["default"].weight, layer.lora_B["default"].weight]
    if use_dora:
        params.append(layer.lora_magnitude_vector["default"].weight)
    return out.detach(), [x.grad] + [p.grad for p in params]


def run_function(fn, layer, x, grad_out, use_dora, **kwargs):
    """같은 값을 처음부터 만든 함수에 넣었을 때의 출력과 기울기."""
    base = layer.get_base_layer()
    x, A, B = leaf(x), leaf(layer.lora_A["default"].weight), leaf(layer.lora_B["default"].weight)
    leaves = [x, A, B]
    args = [x, base.weight, base.bias, A, B]
    if use_dora:
        magnitude = leaf(layer.lora_magnitude_vector["default"].weight)
        leaves.append(magnitude)
        args.append(magnitude)
    out = fn(*args, layer.scaling["default"], **kwargs)
    out.backward(grad_out)
    return out.detach(), [t.grad for t in leaves]


def max_diff(a, b):
    return (a - b).abs().max().item()


def assert_same(got, want, exact):
    """LoRA는 peft와 같은 연산을 같은 순서로 하므로 비트 단위로 같다.

    DoRA는 같은 식을 다른 순서로 계산한다(peft는 W x + b를 먼저 구하고 (m/‖·‖ − 1)배를 더하며,
    BA는 단위 행렬을 통과시켜 만든다). 그래서 fp32 반올림 몇 번(ε ≈ 1.2e-7)만큼 달라질 수 있다:
    기준값의 최대 크기에 대한 상대 오차 1e-6 이하를 요구한다(실측 최대 약 2.7e-7).
    """
    if exact:
        assert torch.equal(got, want), max_diff(got, want)
    else:
        assert max_diff(got, want) <= 1e-6 * want.abs().max().item()


SHAPES = [(13, 7, 4, 8.0), (32, 48, 8, 16.0), (64, 24, 16, 32.0)]  # (in, out, r, alpha)


@pytest.mark.parametrize("use_dora", [False, True], ids=["lora", "dora"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_functions_match_peft(shape, use_dora):
    n_in, n_out, r, alpha = shape
    layer = peft_layer(n_in, n_out, r, alpha, use_dora)
    x, grad_out = torch.randn(3, 5, n_in), torch.randn(3, 5, n_out)
    fn = dora_forward if use_dora else lora_forward
    expected_out, expected_grads = run_peft(layer, x, grad_out, use_dora)
    out, grads = run_function(fn, layer, x, grad_out, use_dora)
    assert len(grads) == len(expected_grads) == (4 if use_dora else 3)
    for got, want in zip([out] + grads, [expected_out] + expected_grads):
        assert_same(got, want, exact=not use_dora)


@pytest.mark.parametrize("use_dora", [False, True], ids=["lora", "dora"])
def test_modules_from_peft_match_peft(use_dora):
    layer = peft_layer(20, 12, 4, 8.0, use_dora)
    mine = (DoRALinear if use_dora else LoRALinear).from_peft(layer)
    x, grad_out = torch.randn(6, 20), torch.randn(6, 12)
    expected_out, expected_grads = run_peft(layer, x, grad_out, use_dora)
    x = leaf(x)
    out = mine(x)
    out.backward(grad_out)
    params = [mine.lora_A, mine.lora_B] + ([mine.magnitude] if use_dora else [])
    for got, want in zip([out, x.grad] + [p.grad for p in params], [expected_out] + expected_grads):
        assert_same(got, want, exact=not use_dora)


@pytest.mark.parametrize("use_dora", [False, True], ids=["lora", "dora"])
def test_modules_with_dropout_match_peft(use_dora):
    """학습 모드 드롭아웃: 같은 시드면 같은 마스크가 나오므로 peft와 같은 값이어야 한다."""
    layer = peft_layer(20, 12, 4, 8.0, use_dora, dropout=0.3)
    mine = (DoRALinear if use_dora else LoRALinear).from_peft(layer)
    x = torch.randn(6, 20)
    torch.manual_seed(1)
    expected = layer(x)
    torch.manual_seed(1)
    got = mine(x)
    assert_same(got, expected, exact=not use_dora)
    assert_same(mine.eval()(x), layer.eval()(x), exact=not use_dora)


def test_dora_norm_is_per_output_row():
    """노름을 잘못된 방향(dim=0, 입력 특성별)으로 재면 peft와 달라진다.

    정사각 가중치라야 잘못된 버전도 모양 오류 없이 돌아가 '값'이 다르다는 것을 보일 수 있다.
    """
    layer = peft_layer(16, 16, 4, 8.0, use_dora=True)
    x, grad_out = torch.randn(4, 16), torch.randn(4, 16)
    expected_out, _ = run_peft(layer, x, grad_out, use_dora=True)

    def dora_wrong_dim(x, weight, bias, lora_A, lora_B, magnitude, scaling):
        norm = torch.linalg.norm(weight + scaling * lora_B @ lora_A, dim=0).detach()
        return (magnitude / norm) * (x @ (weight + scaling * lora_B @ lora_A).T) + bias

    wrong, _ = run_function(dora_wrong_dim, layer, x, grad_out, use_dora=True)
    right, _ = run_function(dora_forward, layer, x, grad_out, use_dora=True)
    assert max_diff(wrong, expected_out) > 1e-2
    assert_same(right, expected_out, exact=False)
    W = layer.get_base_layer().weight
    A, B = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    norm = dora_weight_norm(W, A, B, 2.0)
    assert torch.allclose(norm, (W + 2.0 * B @ A).pow(2).sum(dim=1).sqrt())


def test_dora_detach_changes_only_lora_gradients():
    """노름을 떼어 내지 않으면 출력과 m의 기울기는 같고, A·B의 기울기만 달라진다(논문 4.3절)."""
    layer = peft_layer(24, 10, 4, 8.0, use_dora=True)
    x, grad_out = torch.randn(5, 24), torch.randn(5, 10)
    out_d, (gx_d, gA_d, gB_d, gm_d) = run_function(dora_forward, layer, x, grad_out, True)
    out_n, (gx_n, gA_n, gB_n, gm_n) = run_function(dora_forward, layer, x, grad_out, True, detach_norm=False)
    assert torch.equal(out_d, out_n)
    assert torch.allclose(gm_d, gm_n) and torch.allclose(gx_d, gx_n)
    assert max_diff(gA_d, gA_n) > 1e-3 and max_diff(gB_d, gB_n) > 1e-3


# ---------------------------------------------------------------------------
# 모듈의 초기화
# ---------------------------------------------------------------------------

def test_lora_linear_starts_unchanged():
    torch.manual_seed(0)
    base = nn.Linear(32, 16)
    layer = LoRALinear(base, r=8, alpha=16)
    x = torch.randn(4, 32)
    assert torch.equal(layer(x), base(x))
    assert torch.count_nonzero(layer.lora_B) == 0
    bound = 1 / math.sqrt(32)  # kaiming-uniform(a=√5)의 경계 = nn.Linear와 같은 1/√in
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.std() > bound / 4
    assert layer.scaling == 2.0
    trainable = [name for name, p in layer.named_parameters() if p.requires_grad]
    assert trainable == ["lora_A", "lora_B"]


def test_dora_linear_starts_unchanged():
    torch.manual_seed(0)
    base = nn.Linear(32, 16)
    layer = DoRALinear(base, r=8, alpha=16)
    x = torch.randn(4, 32)
    assert torch.equal(layer.magnitude, torch.linalg.norm(base.weight, dim=1))
    assert max_diff(layer(x), base(x)) <= 1e-6
    assert layer.magnitude.shape == (16,) and layer.magnitude.requires_grad


def test_rslora_scaling():
    assert lora_scaling(32, 16) == 2.0
    assert lora_scaling(32, 16, use_rslora=True) == 8.0
    layer = LoRALinear(nn.Linear(8, 8), r=16, alpha=32, use_rslora=True)
    assert layer.scaling == 32 / math.sqrt(16)
    peft = inject_adapter_in_model(LoraConfig(r=16, lora_alpha=32, use_rslora=True, target_modules=["proj"]),
                                   OneLinear(nn.Linear(8, 8)))
    assert LoRALinear.from_peft(peft.proj).scaling == peft.proj.scaling["default"] == 8.0


def test_detached_dora_norm_saves_no_weight_sized_tensor():
    """노름을 떼어 내면(기본값) 역전파용으로 [out, in] 크기의 텐서를 저장하지 않는다. 떼지 않으면 저장한다."""
    from course_lib.memory import SavedActivations

    torch.manual_seed(0)
    base = nn.Linear(64, 48, bias=False)
    x = torch.randn(5, 64)
    weight_sized = {}
    for detach in (True, False):
        layer = DoRALinear(base, r=4, alpha=8, detach_norm=detach)
        with SavedActivations() as saved:
            layer(x)
        weight_sized[detach] = [r for r in saved.records if r.bytes and r.shape == (48, 64)]
    assert weight_sized[True] == [] and len(weight_sized[False]) >= 1
