"""GPU 스모크 테스트(smoke test): 실제 구조를 무작위 가중치로(다운로드 없이) 만들고 2단계 몇 걸음을 돈다.

    bash bench/gpu_smoke.sh [--preset full] [--steps 6] [--json out.json]
    bash bench/gpu_smoke.sh --tiny-cpu        # GPU 없이 같은 코드 경로를 아주 작은 구조로(테스트가 돌린다)

1. 프리셋의 Qwen3 설정으로 meta 장치에 구조를 만들고, 디코더의 Linear를 하나씩 무작위로 채워
   bitsandbytes `Linear4bit`(NF4, 이중 양자화)로 바꾼다(16비트 전체를 한꺼번에 올리지 않는다).
   임베딩·norm·lm_head는 계산 dtype(bf16, 없으면 fp16)으로 채운다.
2. open_clip 시각 타워(ViT-L-14)와 SigLIP 채점기를 `pretrained=None`(무작위)으로 만든다.
3. `course_lib.training.Trainer`(강의와 같은 학습기)로 2단계(프로젝터 + LoRA, 체크포인팅)를 원문 배치로 돈다.
   캡션은 무작위 바이트 문자열이고, 토크나이저는 바이트 → id 대응(다운로드 없음)이다.
4. 최대 할당 메모리(max_memory_allocated)를 `course_lib.preset_memory`의 추정(CUDA 문맥 가정 제외)과 비교하고
   걸음/초를 출력한다. 측정값은 코드에 적지 않는다(기계마다 다르다). 결과 JSON에는 라이브러리 버전과 git 커밋을 남긴다.

`--tiny-cpu`는 1–3을 아주 작은 Qwen3·ViT로 CPU에서 돈다(같은 함수 `random_nf4_llm`·`build_parts`·`smoke_config`,
bitsandbytes의 CPU NF4, peft LoRA, 그레이디언트 체크포인팅, step 체크포인트 쓰기와 재개 검사).
tests/test_gpu_smoke.py가 이 모드를 문서의 명령 그대로 돌리므로, GPU 경로가 고장 나면 CPU에서 먼저 드러난다.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class ByteTokenizer:
    """UTF-8 바이트를 그대로 토큰 id로 쓰는 토크나이저(다운로드 없는 시험용). HF 토크나이저처럼 글 하나나 글 목록을
    받는다(`encode_captions`는 배치를 한 번에 토큰화한다). 길이는 캡션 바이트 수와 같다."""

    def __init__(self, eos_token_id: int, pad_token_id: int):
        self.eos_token_id, self.pad_token_id = eos_token_id, pad_token_id

    def __call__(self, text, add_special_tokens=False):
        ids = [list(t.encode("utf-8")) for t in text] if isinstance(text, (list, tuple)) else list(text.encode("utf-8"))
        return type("Encoding", (), {"input_ids": ids})()

    def pad(self, encoded, padding=True, return_tensors="pt"):
        """오른쪽 채움(HF `tokenizer.pad`와 같은 모양): 채움 자리는 pad id, attention_mask 0."""
        import torch

        rows = encoded["input_ids"]
        width = max(len(r) for r in rows)
        return {"input_ids": torch.tensor([r + [self.pad_token_id] * (width - len(r)) for r in rows]),
                "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])}

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


def build_parts(llm_config, vision_model: str, scorer_model: str | None, feature_layer: int, dtype, device):
    """무작위 NF4 LLM + open_clip 시각 타워(+ 채점기)를 `models.real.RealParts`로 묶는다.
    `models.real.load_real_parts`와 같은 방식: 만든 뒤 시각 타워와 채점기를 통째로 계산 dtype으로 바꾼다."""
    import open_clip

    from course_lib import quiet
    from course_lib.models import real

    quiet.install_log_filters()  # "No pretrained weights loaded": 무작위 가중치가 이 시험의 뜻이다
    llm = random_nf4_llm(llm_config, dtype, device)
    clip = open_clip.create_model(vision_model, pretrained=None, device=device)
    visual = clip.visual.to(dtype).eval().requires_grad_(False)
    del clip
    scorer = None
    if scorer_model is not None:
        scorer = open_clip.create_model(scorer_model, pretrained=None, device=device).to(dtype)
    tokenizer = ByteTokenizer(llm_config.eos_token_id, llm_config.bos_token_id)
    return real.RealParts(tokenizer, visual, llm, scorer, feature_layer)


def smoke_config(preset: str, **changes):
    """프리셋의 2단계만 1 epoch(예열 1걸음), 평가 없음. GPU와 CPU 모드가 같은 설정에서 출발한다."""
    from course_lib import presets

    config = presets.get_preset(preset)
    stage2 = config.stages[-1]
    base = dict(stages=(replace(stage2, epochs=1, warmup_steps=1),), eval_every_epoch=False, checkpoint_every=0)
    return replace(config, **{**base, **changes})


def provenance() -> dict:
    """결과 JSON에 남길 것: 잰 코드(git 커밋)와 라이브러리 버전. 기록이 어느 코드로 재어졌는지 나중에 알 수 있게."""
    import importlib.metadata

    versions = {}
    for dist in ("torch", "transformers", "peft", "bitsandbytes", "open_clip_torch", "accelerate"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "course_lib", "bench"], cwd=REPO,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"versions": versions, "git_commit": commit, "uncommitted_changes": dirty,
            "recorded": time.strftime("%Y-%m-%d", time.gmtime())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="full", choices=("colab", "full"))
    parser.add_argument("--steps", type=int, default=6, help="잴 2단계 옵티마이저 걸음 수(첫 걸음은 예열로 뺀다)")
    parser.add_argument("--json", default=None, help="결과를 이 JSON 파일에도 쓴다")
    parser.add_argument("--tiny-cpu", action="store_true",
                        help="GPU 없이 같은 코드 경로를 아주 작은 구조로 점검(bitsandbytes CPU NF4; 측정값은 의미 없음)")
    args = parser.parse_args()
    from course_lib import quiet

    quiet.install()  # 강의와 같은 좁은 경고 거르개(peft 안의 옛 이름 경고)
    if args.steps < 1:
        print(f"steps: 1 이상이어야 합니다. 받은 값 {args.steps} (steps: must be >= 1)", file=sys.stderr)
        return 2

    import torch

    if args.tiny_cpu:
        return tiny_cpu_check(args)
    if not torch.cuda.is_available():
        print("CUDA GPU가 없습니다: 이 스모크 테스트는 GPU 기계에서만 돕니다 (no CUDA device). "
              "코드 경로만 보려면 --tiny-cpu", file=sys.stderr)
        return 2
    import logging

    from course_lib import preset_memory, presets, text, training
    from course_lib.precision import compute_dtype

    logging.getLogger().setLevel(logging.ERROR)
    spec = presets.REAL_MODELS[args.preset]
    config = smoke_config(args.preset)
    stage2 = config.stages[0]
    dtype = compute_dtype("auto")
    device = torch.device("cuda", 0)
    start = time.perf_counter()
    llm_config = spec.llm_config()
    parts = build_parts(llm_config, spec.vision_model, spec.scorer_model, spec.feature_layer, dtype, device)
    build_seconds = time.perf_counter() - start

    est = preset_memory.estimate(args.preset)
    prompt_bytes = len(parts.tokenizer(text.PROMPT).input_ids)
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
    counts = training.trainable_counts(trainer.model)
    expected = training.expected_counts(trainer.model, stage2, config.lora)
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
        **provenance(),
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


TINY_VIT = {"embed_dim": 32, "vision_cfg": {"image_size": 64, "layers": 3, "width": 32, "patch_size": 16, "head_width": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}}


def tiny_cpu_check(args) -> int:
    """GPU 없는 기계에서 이 스크립트의 코드 경로(무작위 NF4 Linear4bit, 실제 ViT 감싸기, 학습기 2단계,
    그레이디언트 체크포인팅, step 체크포인트)를 점검한다. 검사 결과를 JSON 한 줄로 출력하고, 모두 맞으면 0."""
    import logging

    import bitsandbytes as bnb
    import open_clip
    import torch
    from transformers import Qwen3Config

    from course_lib import compat, training
    import course_lib.training.checkpoint as ckpt

    logging.getLogger().setLevel(logging.ERROR)
    llm_config = Qwen3Config(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False,
                             eos_token_id=1, bos_token_id=0)
    steps = min(args.steps, 2)
    with tempfile.TemporaryDirectory(prefix="gpu_smoke_tiny_") as folder:
        folder = Path(folder)
        (folder / "smoke-tiny-vit.json").write_text(json.dumps(TINY_VIT))
        open_clip.add_model_config(folder / "smoke-tiny-vit.json")
        parts = build_parts(llm_config, "smoke-tiny-vit", None, -2, torch.bfloat16, torch.device("cpu"))
        config = smoke_config(args.preset, checkpoint_every=1, mixed_precision="no", gradient_checkpointing=True)
        stage2 = config.stages[0]
        data = RandomCaptionData(stage2.batch_size * stage2.grad_accum * steps, 64, 20)
        trainer = training.Trainer(config, parts, out_dir=folder / "run", progress=False, train_data=data,
                                   val_data=data, log=lambda _: None).run()
        vlm = trainer.model
        last = training.latest_checkpoint(folder / "run")
        ckpt.open_for_resume(last, config)  # 체크포인트가 온전하고(체크섬, 난수 상태) 같은 설정에서 나왔다
        lora_bases = [m.base_layer for m in vlm.llm.modules() if hasattr(m, "lora_A") and hasattr(m, "base_layer")]
        counts, expected = training.trainable_counts(vlm), training.expected_counts(vlm, stage2, config.lora)
        losses = [round(s["loss"], 4) for s in trainer.history.steps]
        result = {"linear4bit": sum(isinstance(m, bnb.nn.Linear4bit) for m in vlm.llm.modules()),
                  "lora_layers": len(lora_bases),
                  "lora_on_4bit": bool(lora_bases) and all(isinstance(b, bnb.nn.Linear4bit) for b in lora_bases),
                  "activation_checkpointing": compat.is_activation_checkpointing(vlm.llm.get_base_model()),
                  "patches": vlm.vision.num_patches, "checkpoint": last.name if last else None,
                  "trainable": counts, "expected": expected, "losses": losses}
    print(json.dumps(result, ensure_ascii=False))
    ok = (result["lora_on_4bit"] and result["activation_checkpointing"] and counts == expected
          and len(losses) == steps and all(x == x for x in losses) and last is not None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
