"""실제 프리셋(colab, full): meta 장치에서 구조를 만들고(다운로드 없음) 학습 파라미터 수와 메모리 추정의
조각을 `course_lib.lora`/`course_lib.quant`의 산수와 맞춘다. doctor --preset의 한국어 판정."""
import pytest
import torch

from course_lib import lora, memory, preset_memory, presets, training, weight_memory
from course_lib.tooling import doctor
from course_lib.models import real
from course_lib.models.vlm import build_vlm

REAL = ("colab", "full")


@pytest.fixture(scope="module", params=REAL)
def meta_vlm(request):
    """meta 장치의 VLM(LoRA를 붙인 Qwen3 + 실제 ViT 인코더 + 프로젝터)과 그 프리셋."""
    name = request.param
    spec, config = presets.REAL_MODELS[name], presets.get_preset(name)
    parts = real.build_meta_parts(spec)
    llm = training.add_lora(parts.llm, config.lora, config.gradient_checkpointing)
    vlm = build_vlm(parts.vision_encoder(), llm, seed=config.seed)
    return name, spec, config, vlm


def test_full_preset_is_the_seed_recipe():
    config, spec = presets.get_preset("full"), presets.REAL_MODELS["full"]
    assert (spec.llm_repo, spec.vision_model, spec.vision_pretrained, spec.quantization) == \
        ("Qwen/Qwen3-8B", "ViT-L-14", "openai", "nf4+dq")
    assert (config.lora.r, config.lora.alpha, config.lora.target_modules) == (16, 32, lora.LINEAR_MODULES)
    assert config.gradient_checkpointing and config.mixed_precision == "auto"
    assert [(s.epochs, s.lr_projector, s.lr_lora, s.batch_size, s.grad_accum) for s in config.stages] == \
        [(2, 1e-3, 0.0, 4, 2), (3, 5e-5, 5e-5, 4, 2)]


def test_colab_keeps_the_recipe_and_the_global_batch():
    colab, full = presets.get_preset("colab"), presets.get_preset("full")
    assert colab.lora == full.lora and colab.gradient_checkpointing
    for a, b in zip(colab.stages, full.stages):
        assert (a.epochs, a.lr_projector, a.lr_lora) == (b.epochs, b.lr_projector, b.lr_lora)
        assert a.batch_size * a.grad_accum == b.batch_size * b.grad_accum


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="preset"):
        presets.get_preset("huge")
    with pytest.raises(ValueError, match="preset"):
        preset_memory.estimate("huge")


def test_meta_architecture_matches_the_arithmetic(meta_vlm):
    name, spec, config, vlm = meta_vlm
    llm_config, vision_config = spec.llm_config(), spec.vision_config()
    base = vlm.llm.get_base_model()
    assert next(base.parameters()).is_meta  # 가중치 메모리를 잡지 않았다
    n_base = sum(p.numel() for n, p in base.named_parameters() if not training.is_lora_parameter(n))
    assert n_base == lora.count_model_parameters(llm_config)
    assert sum(p.numel() for p in vlm.vision.parameters()) == real.vit_parameter_count(vision_config)
    assert vlm.vision.num_patches == real.vit_patch_tokens(vision_config)
    assert sum(p.numel() for p in vlm.projector.parameters()) == \
        real.projector_parameter_count(vision_config["vision_cfg"]["width"], llm_config.hidden_size)
    # NF4로 바뀌는 Linear 가중치(lm_head 제외)가 quant의 산수와 같다
    plain = weight_memory.build_meta_model(llm_config)
    assert sorted(weight_memory.quantizable_weights(plain).values()) == sorted(weight_memory.quantized_weight_numels(llm_config))
    for stage in config.stages:
        counts = training.set_trainable(vlm, stage)
        assert counts == training.expected_counts(vlm, stage, config.lora)
    assert counts["lora"] == lora.count_lora_parameters(llm_config, config.lora.r, config.lora.target_modules)
    if name == "full":
        # 손으로 센 값(Qwen3-8B 설정: hidden 4096, intermediate 12288, 36층, KV 머리 8 × 128 = 1024, vocab 151936).
        # LoRA r=16은 모듈마다 16 × (입력 + 출력): q·o 16 × 8192 = 131,072씩, k·v 16 × 5120 = 81,920씩,
        # gate·up·down 16 × 16384 = 262,144씩 → 층마다 2 × 131,072 + 2 × 81,920 + 3 × 262,144 = 1,212,416,
        # × 36층 = 43,646,976.
        assert counts["lora"] == 43_646_976
        # 층마다 Linear: q·o 4096² = 16,777,216씩, k·v 4096 × 1024 = 4,194,304씩, gate·up·down 4096 × 12288 =
        # 50,331,648씩 → 192,937,984, 정규화 2 × 4096 + q/k_norm 2 × 128 = 8,448 더해 192,946,432. × 36 = 6,946,071,552,
        # 임베딩과 lm_head(묶지 않음) 2 × 151936 × 4096 = 1,244,659,712, 마지막 정규화 4096 → 8,190,735,360.
        assert n_base == 8_190_735_360
    print(f"\n{name}: 학습 파라미터 {counts}")
    print(preset_memory.estimate(name).table())


def test_real_encoder_gives_patch_tokens_on_meta(meta_vlm):
    name, spec, config, vlm = meta_vlm
    size = spec.vision_config()["vision_cfg"]["image_size"]
    pixels = torch.zeros(2, 3, size, size, dtype=torch.uint8, device="meta")
    tokens = vlm.vision(pixels)
    assert tuple(tokens.shape) == (2, vlm.vision.num_patches, vlm.vision.hidden_size)
    assert vlm.projector(tokens).shape[-1] == spec.llm_config().hidden_size
    with pytest.raises(ValueError, match="image size"):
        vlm.vision(torch.zeros(1, 3, 48, 48, dtype=torch.uint8, device="meta"))


@pytest.mark.parametrize("name", REAL)
def test_memory_estimate_sums_its_pieces_and_only_activations_follow_the_micro_batch(name):
    spec, config = presets.REAL_MODELS[name], presets.get_preset(name)
    est = preset_memory.estimate(name)
    p = est.pieces
    assert est.assumptions["image_tokens"] == real.vit_patch_tokens(spec.vision_config())
    assert est.total == sum(p.values())
    if name == "full":
        # NF4+DQ ≈ 6.07 GB(노트북 00·07이 계산한다). 손으로: 층의 Linear 36 × 192,937,984 = 6,945,767,424개가 4비트(3,472,883,712 B)
        # + 64개마다 absmax 1바이트(108,527,616 B) + 64 × 256개마다 4바이트(1,695,744 B); 임베딩·lm_head
        # 1,244,659,712개와 정규화 308,224개는 16비트(2,489,319,424 + 616,448 B). 합 6,073,042,944 B ≈ 6.07 GB.
        assert round(weight_memory.to_gb(p["llm_weights"]), 2) == 6.07
    # 마이크로 배치를 반으로(두 GPU DDP) 하면 배치에 비례하는 조각(활성값, 로짓)만 줄고 나머지는 그대로다
    half = preset_memory.estimate(name, micro_batch=config.stages[-1].batch_size // 2).pieces
    smaller = {key for key in p if half[key] < p[key]}
    assert smaller == {"llm_activations", "lora_activations", "logits_loss"}
    assert all(half[key] == p[key] for key in p if key not in smaller)


def test_pieces_have_ascii_keys_and_one_label_each():
    """조각의 키는 ASCII, 한국어 이름은 PIECE_LABELS 한 곳에. 표는 그 이름을 쓰고, 없는 키는 0이 아니라 KeyError."""
    for name in presets.PRESETS:
        est = preset_memory.estimate(name)
        assert all(key.isascii() and key.isidentifier() for key in est.pieces)
        assert set(est.pieces) <= set(preset_memory.PIECE_LABELS)
        table = est.table()
        assert all(preset_memory.PIECE_LABELS[key] in table for key in est.pieces)
        assert preset_memory.TOTAL_LABEL in table
        with pytest.raises(KeyError, match="memory piece"):
            est.pieces["llm_weight"]  # 오타: 조용히 0이 되지 않는다
    labels = list(preset_memory.PIECE_LABELS.values())
    assert len(set(labels)) == len(labels)
    with pytest.raises(ValueError, match="unlabelled"):
        preset_memory.MemoryEstimate("full", "cuda", {"new_piece": 1})


def test_unknown_piece_key_raises_instead_of_reading_zero():
    """표시 이름("CUDA 문맥(가정)")이나 오타로 읽으면 0이 아니라 KeyError. 이름표에 있는 키가 이 추정에만 없으면
    `.get`의 기본값(mini에는 GPU 문맥이 없다)."""
    full, mini = preset_memory.estimate("full"), preset_memory.estimate("mini")
    assert full.pieces["cuda_context"] == preset_memory.CUDA_CONTEXT_BYTES == 2**29  # 0.5 GiB
    for wrong in ("CUDA 문맥(가정)", "cuda_contxt"):
        with pytest.raises(KeyError, match="unknown memory piece"):
            full.pieces.get(wrong, 0)
        with pytest.raises(KeyError, match="unknown memory piece"):
            full.pieces[wrong]
    assert "cuda_context" not in mini.pieces and mini.pieces.get("cuda_context", 0) == 0


def test_doctor_reports_the_assumed_cuda_context():
    """doctor --preset의 안내 문장은 가정한 CUDA 문맥(2**29 바이트 = 0.5 GiB)을 키로 읽는다(0.0 GiB가 아니다)."""
    report, _ = doctor.preset_report("full", gpu_bytes=80e9)
    assert "CUDA 문맥 0.5 GiB는 가정값" in report


def test_trainable_state_is_the_measured_adamw_bytes_per_parameter():
    """프로젝터·LoRA 조각 = 학습 파라미터 수 × (AdamW 한 걸음 뒤 실제로 잡힌 fp32 가중치 + 기울기 + 두 모멘트의 바이트)."""
    layer = torch.nn.Linear(8, 4)
    optimizer = torch.optim.AdamW(layer.parameters())
    layer(torch.ones(2, 8)).sum().backward()
    optimizer.step()
    tensors = [p for p in layer.parameters()] + [p.grad for p in layer.parameters()]
    tensors += [t for state in optimizer.state.values() for t in state.values() if t.dim() > 0]
    measured = sum(t.numel() * t.element_size() for t in tensors) / sum(p.numel() for p in layer.parameters())
    for name in REAL:
        spec, config = presets.REAL_MODELS[name], presets.get_preset(name)
        cfg, width = spec.llm_config(), spec.vision_config()["vision_cfg"]["width"]
        pieces = preset_memory.estimate(name).pieces
        assert pieces["lora_state"] == measured * lora.count_lora_parameters(cfg, config.lora.r, config.lora.target_modules)
        assert pieces["projector_state"] == measured * real.projector_parameter_count(width, cfg.hidden_size)


def test_lora_rank_override_changes_only_the_lora_pieces():
    base, big = preset_memory.estimate("full"), preset_memory.estimate("full", lora_r=128)
    cfg, config = presets.REAL_MODELS["full"].llm_config(), presets.get_preset("full")
    changed = {k for k in base.pieces if base.pieces[k] != big.pieces[k]}
    assert changed == {"lora_state", "lora_activations"}
    assert big.pieces["lora_state"] == 16 * lora.count_lora_parameters(cfg, 128, config.lora.target_modules)
    assert big.assumptions["lora_r"] == 128 and base.assumptions["lora_r"] == config.lora.r
    with pytest.raises(ValueError, match="lora_r"):
        preset_memory.estimate("full", lora_r=0)


def test_checkpointing_override_changes_only_the_activations():
    on, off = preset_memory.estimate("full"), preset_memory.estimate("full", gradient_checkpointing=False)
    cfg = presets.REAL_MODELS["full"].llm_config()
    changed = {k for k in on.pieces if on.pieces[k] != off.pieces[k]}
    assert changed == {"llm_activations", "lora_activations"}
    seq, batch = on.assumptions["seq_len"], on.assumptions["micro_batch"]
    acts = memory.qwen3_activation_bytes(cfg, batch, seq, 2, gradient_checkpointing=False)
    assert off.pieces["llm_activations"] == acts["total"] - acts["loss"] + acts["recompute_peak"]
    assert off.pieces["lora_activations"] == cfg.num_hidden_layers * on.pieces["lora_activations"]
    assert off.assumptions["gradient_checkpointing"] is False


def test_full_preset_estimate_fits_a_t4_but_not_a_tiny_gpu():
    est = preset_memory.estimate("full")
    assert 16e9 > est.total > weight_memory.quantized_model_bytes(presets.REAL_MODELS["full"].llm_config(), "nf4+dq")
    assert preset_memory.verdict(est, 80e9).startswith("이 GPU에서 실행 가능")
    assert preset_memory.verdict(est, 4 * 2**30).startswith("메모리 부족")


def test_doctor_preset_prints_a_computed_estimate_and_a_korean_verdict(capsys):
    code = doctor.preset_main("full", gpu_gib=80)
    out = capsys.readouterr().out
    total = preset_memory.estimate("full").total / 2**30
    assert code == 0 and "합계(total)" in out and f"{total:8.2f} GiB" in out
    assert "판정: 이 GPU에서 실행 가능" in out
    assert doctor.preset_main("full", gpu_gib=2) == 1
    assert "메모리 부족" in capsys.readouterr().out


def test_scorer_refuses_a_clip_model_without_bias():
    clip = __import__("open_clip").create_model("ViT-B-32", pretrained=None, device="meta")
    with pytest.raises(ValueError, match="SigLIP"):
        real.OpenClipScorer(clip, tokenizer=None)


def test_real_presets_need_a_gpu_to_load():
    if torch.cuda.is_available():
        pytest.skip("GPU가 있는 기계: 이 시험은 CPU 전용")
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        real.load_real_parts(presets.REAL_MODELS["colab"])


@pytest.mark.parametrize("name, kind", [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"), ("deepspeed_zero2", "DEEPSPEED")])
def test_accelerate_config_files_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(presets.__file__).replace("course_lib/presets.py", f"configs/accelerate/{name}.yaml"))
    assert config.distributed_type.name == kind and config.num_processes >= 2


def test_doctor_cli_takes_a_preset(capsys):
    from course_lib.__main__ import main

    assert main(["doctor", "--preset", "colab", "--gpu-gib", "40"]) == 0
    out = capsys.readouterr().out
    assert "프리셋 colab" in out and "Qwen/Qwen3-1.7B" in out and "판정: 이 GPU에서 실행 가능" in out
