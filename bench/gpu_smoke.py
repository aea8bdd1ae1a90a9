"""GPU 스모크 테스트(smoke test): 실제 구조를 무작위 가중치로(다운로드 없이) 만들고 2단계 몇 걸음을 돈다.

    bash bench/gpu_smoke.sh [--preset full] [--steps 6]

1. 프리셋의 Qwen3 설정으로 meta 장치에 구조를 만들고, 디코더의 Linear를 하나씩 GPU에서 무작위로 채워
   bitsandbytes `Linear4bit`(NF4, 이중 양자화)로 바꾼다(16비트 전체를 한꺼번에 올리지 않는다).
   임베딩·norm·lm_head는 계산 dtype(bf16, 없으면 fp16)으로 채운다.
2. open_clip 시각 타워(ViT-L-14)와 SigLIP 채점기를 `pretrained=None`(무작위)으로 GPU에 만든다.
3. `course_lib.training.Trainer`(강의와 같은 학습기)로 2단계(프로젝터 + LoRA, 체크포인팅)를 원문 배치로 돈다.
   캡션은 무작위 바이트 문자열이고, 토크나이저는 바이트 → id 대응(다운로드 없음)이다.
4. 최대 할당 메모리(max_memory_allocated)를 `course_lib.preset_memory`의 추정(CUDA 문맥 가정 제외)과 비교하고
   걸음/초를 출력한다. 측정값은 코드에 적지 않는다(기계마다 다르다).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path


class ByteTokenizer:
    """UTF-8 바이트를 그대로 토큰 id로 쓰는 토크나이저(다운로드 없는 시험용). 길이는 캡션 바이트 수와 같다."""

    def __init__(self, eos_token_id: int, pad_token_id: int):
        self.eos_token_id, self.pad_token_id = eos_token_id, pad_token_id

    def __call__(self, text, add_special_tokens=False):
        return type("Encoding", (), {"input_ids": list(text.encode("utf-8"))})()

    def batch_decode(self, ids, skip_special_tokens=True):
        return [bytes(int(i) % 256 for i in row if int(i) < 256).decode("utf-8", "replace") for row in ids]


class RandomCaptionData:
    """학습기가 받는 데이터 모양: 무작위 그림(uint8)과 고정 길이 무작위 캡션."""

    scenes = None

    def __init__(self, n: int, image_size: int, caption_bytes: int, seed: int = 0):
        import random

        import torch

        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 3, image_size, image_size), dtype=torch.uint8, generator=generator)
        rng = random.Random(seed)
        alphabet = "abcdefghijklmnopqrstuvwxyz "
        self._captions = ["".join(rng.choice(alphabet) for _ in range(caption_bytes)) for _ in range(n)]

    def __len__(self):
        return len(self._captions)

    def captions(self, indices, epoch):
        return [self._captions[i] for i in indices]


def random_nf4_llm(config, dtype, device):
    """무작위 가중치의 Qwen3를 NF4(이중 양자화) Linear4bit로 만든다. Linear 하나씩 채우고 바로 양자화한다."""
    import bitsandbytes as bnb
    import torch
    from transformers import Qwen3ForCausalLM
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RotaryEmbedding

    with torch.device("meta"):
        model = Qwen3ForCausalLM(config)
    lm_head = model.get_output_embeddings()
    generator = torch.Generator(device=device).manual_seed(0)
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if not isinstance(child, torch.nn.Linear) or child is lm_head:
                continue
            weight = torch.empty(child.out_features, child.in_features, dtype=dtype, device=device)
            weight.normal_(0.0, 0.02, generator=generator)
            layer = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=False, compute_dtype=dtype,
                                      compress_statistics=True, quant_type="nf4", device="meta")
            layer.weight = bnb.nn.Params4bit(weight, requires_grad=False, compress_statistics=True,
                                             quant_type="nf4", blocksize=64).to(device)
            setattr(parent, child_name, layer)
            del weight
    if config.tie_word_embeddings:
        model.lm_head.weight = None  # 묶인 lm_head는 채우지 않고 아래에서 임베딩을 가리키게 한다
    for module in model.modules():  # 남은 meta 파라미터(임베딩, norm, lm_head)를 계산 dtype으로 채운다
        for name, param in list(module.named_parameters(recurse=False)):
            if param.is_meta:
                value = torch.empty(param.shape, dtype=dtype, device=device)
                value.fill_(1.0) if "norm" in type(module).__name__.lower() else value.normal_(0.0, 0.02, generator=generator)
                setattr(module, name, torch.nn.Parameter(value, requires_grad=False))
    if config.tie_word_embeddings:  # Qwen3-0.6B/1.7B: lm_head는 임베딩 행렬을 같이 쓴다(따로 채우면 한 벌 더 생김)
        model.lm_head.weight = model.model.embed_tokens.weight
    with torch.device(device):  # meta에서 만든 inv_freq 버퍼를 다시 계산한다
        model.model.rotary_emb = Qwen3RotaryEmbedding(config)
    model.is_loaded_in_4bit = True
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="full", choices=("colab", "full"))
    parser.add_argument("--steps", type=int, default=6, help="잴 2단계 옵티마이저 걸음 수(첫 걸음은 예열로 뺀다)")
    parser.add_argument("--json", default=None, help="결과를 이 JSON 파일에도 쓴다")
    parser.add_argument("--tiny-cpu", action="store_true",
                        help="GPU 없이 같은 코드 경로를 아주 작은 구조로 점검(bitsandbytes CPU NF4; 측정값은 의미 없음)")
    args = parser.parse_args()

    import torch

    if args.tiny_cpu:
        return tiny_cpu_check(args)
    if not torch.cuda.is_available():
        print("CUDA GPU가 없습니다: 이 스모크 테스트은 GPU 기계에서만 돕니다 (no CUDA device). "
              "코드 경로만 보려면 --tiny-cpu")
        return 2
    import logging

    import open_clip

    from course_lib import preset_memory, presets, training
    from course_lib.models import real

    logging.getLogger().setLevel(logging.ERROR)
    spec, config = presets.REAL_MODELS[args.preset], presets.get_preset(args.preset)
    stage2 = config.stages[-1]
    config = replace(config, stages=(replace(stage2, epochs=1, warmup_steps=1),), eval_every_epoch=False,
                     checkpoint_every=0)
    dtype = real.compute_dtype("auto")
    device = torch.device("cuda", 0)
    start = time.perf_counter()
    llm_config = spec.llm_config()
    llm = random_nf4_llm(llm_config, dtype, device)
    # models.real.load_real_parts와 같은 방식: 만든 뒤 시각 타워와 채점기를 통째로 계산 dtype으로 바꾼다
    clip = open_clip.create_model(spec.vision_model, pretrained=None, device=device)
    visual = clip.visual.to(dtype).eval().requires_grad_(False)
    del clip
    scorer = open_clip.create_model(spec.scorer_model, pretrained=None, device=device).to(dtype)
    tokenizer = ByteTokenizer(llm_config.eos_token_id, llm_config.bos_token_id)
    parts = real.RealParts(tokenizer, visual, llm, scorer, spec.feature_layer)
    build_seconds = time.perf_counter() - start

    est = preset_memory.estimate(args.preset)
    prompt_bytes = len(tokenizer(__import__("course_lib.text", fromlist=["PROMPT"]).PROMPT).input_ids)
    caption_bytes = est.assumptions["text_tokens"] - prompt_bytes - 1  # 추정과 같은 글 토큰 수
    image_size = spec.vision_config()["vision_cfg"]["image_size"]
    per_step = stage2.batch_size * stage2.grad_accum
    data = RandomCaptionData(per_step * (args.steps + 1), image_size, caption_bytes)
    trainer = training.Trainer(config, parts, progress=False, train_data=data, val_data=data, log=lambda _: None,
                            max_steps=1)
    trainer.run()  # 예열 한 걸음(커널 선택, 할당기)
    # accelerate가 붙잡고 있는 예열 옵티마이저(AdamW 상태)를 놓아야 잰 최대값에 두 벌이 겹치지 않는다
    trainer.accelerator._optimizers.clear()
    __import__("gc").collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    weights_bytes = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    _continue(trainer, args.steps)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated()
    reserved = torch.cuda.max_memory_reserved()
    counts = training.trainable_counts(trainer.accelerator.unwrap_model(trainer.vlm))
    expected = training.expected_counts(trainer.accelerator.unwrap_model(trainer.vlm), stage2, config.lora)
    losses = [s["loss"] for s in trainer.history.steps]
    estimate_no_context = est.total - preset_memory.CUDA_CONTEXT_BYTES
    result = {
        "gpu": torch.cuda.get_device_name(0), "preset": args.preset, "compute_dtype": str(dtype),
        "micro_batch": stage2.batch_size, "grad_accum": stage2.grad_accum, "seq_len": est.assumptions["seq_len"],
        "build_s": round(build_seconds, 1), "steps_timed": args.steps, "steps_per_s": round(args.steps / seconds, 3),
        "peak_allocated_gib": round(peak / 2**30, 2), "peak_reserved_gib": round(reserved / 2**30, 2),
        "allocated_before_steps_gib": round(weights_bytes / 2**30, 2),
        "estimate_pieces_gib": {k: round(v / 2**30, 3) for k, v in est.pieces.items()},
        "estimate_gib_without_context": round(estimate_no_context / 2**30, 2),
        "estimate_gib_total": round(est.total / 2**30, 2),
        "peak_over_estimate": round(peak / estimate_no_context, 3),
        "trainable": counts, "trainable_expected": expected, "losses": [round(x, 4) for x in losses],
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"최대 할당 {result['peak_allocated_gib']} GiB / 추정(CUDA 문맥 제외) {result['estimate_gib_without_context']} "
          f"GiB = {result['peak_over_estimate']}배, {result['steps_per_s']} 걸음/초 ({result['gpu']})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, ensure_ascii=False, indent=1)
    ok = counts == expected and all(x == x for x in losses)
    return 0 if ok else 1


def _continue(trainer, steps: int) -> None:
    """예열 뒤 같은 단계를 처음부터 steps 걸음 다시 돈다(옵티마이저를 새로 만든다). 시간은 밖에서 잰다."""
    trainer.history.steps.clear()
    trainer.global_step = 0
    trainer.max_steps = steps
    trainer.run_stage(0)


def tiny_cpu_check(args) -> int:
    """GPU 없는 기계에서 이 스크립트의 코드 경로(무작위 NF4 Linear4bit, 실제 ViT 감싸기, 학습기 2단계)를 점검한다."""
    import logging
    import tempfile

    import open_clip
    import torch
    from transformers import Qwen3Config

    from course_lib import presets, training
    from course_lib.models import real

    logging.getLogger().setLevel(logging.ERROR)
    llm_config = Qwen3Config(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False,
                             eos_token_id=1, bos_token_id=0)
    vision_config = {"embed_dim": 32, "vision_cfg": {"image_size": 64, "layers": 3, "width": 32, "patch_size": 16, "head_width": 16},
                     "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}}
    folder = Path(tempfile.mkdtemp())
    (folder / "smoke-tiny-vit.json").write_text(json.dumps(vision_config))
    open_clip.add_model_config(folder / "smoke-tiny-vit.json")
    llm = random_nf4_llm(llm_config, torch.bfloat16, torch.device("cpu"))
    visual = open_clip.create_model("smoke-tiny-vit", pretrained=None).visual.eval().requires_grad_(False)
    parts = real.RealParts(ByteTokenizer(1, 0), visual, llm, None, -2)
    stage2 = presets.get_preset(args.preset).stages[-1]
    config = replace(presets.get_preset(args.preset), stages=(replace(stage2, epochs=1, warmup_steps=1),),
                     eval_every_epoch=False, checkpoint_every=0, mixed_precision="no", gradient_checkpointing=True)
    data = RandomCaptionData(stage2.batch_size * stage2.grad_accum * 2, 64, 20)
    trainer = training.Trainer(config, parts, progress=False, train_data=data, val_data=data, log=lambda _: None).run()
    vlm = trainer.accelerator.unwrap_model(trainer.vlm)
    kinds = {type(m).__name__ for m in vlm.llm.modules()}
    counts, expected = training.trainable_counts(vlm), training.expected_counts(vlm, stage2, config.lora)
    losses = [round(s["loss"], 4) for s in trainer.history.steps]
    print(json.dumps({"linear4bit": "Linear4bit" in kinds, "lora_on_4bit": any("Linear4bit" in k for k in kinds),
                      "patches": vlm.vision.num_patches, "trainable": counts, "expected": expected,
                      "losses": losses}, ensure_ascii=False))
    return 0 if counts == expected and len(losses) == 2 and all(x == x for x in losses) else 1


if __name__ == "__main__":
    sys.exit(main())
