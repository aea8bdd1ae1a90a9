"""사전학습(pretraining): 미니 월드의 토크나이저, SigLIP 시각 인코더, Qwen3 LLM을 만들어 `data/`에 저장한다.

`python -m course_lib pretrain`이 이 모듈의 `pretrain()`을 부른다. 만들어진 파일의 해시, 명령, 시드,
라이브러리 버전, 걸린 시간, 측정값(검색 정확도, 퍼플렉서티)이 `data/MANIFEST.json`에 남는다. 명령은 매니페스트와
모두 맞는(온전한) 자산 폴더를 `--force` 없이는 덮어쓰지 않는다(없거나 손상된 폴더는 다시 만든다).

- 토크나이저: train 분할 캡션으로 학습한 바이트 수준 BPE.
- SigLIP: 그림과 캡션 짝으로 `open_clip.loss.SigLipLoss`를 줄인다(대조 학습, contrastive learning).
- LLM: 캡션 글자만으로 다음 토큰 예측을 학습한다. 그림은 한 번도 보지 않는다. 절반의 예는
  "지시문 + 캡션", 나머지 절반은 "같은 장면의 다른 캡션(문맥) + 지시문 + 캡션"이다. 뒤쪽 형식이
  LLM에게 앞 문맥을 읽어 옮겨 쓰는 힘을 준다. 실제 LLM이 수조 토큰의 글에서 저절로 배우는 힘이다.
  문맥 읽기 정확도는 매니페스트에 남고 노트북 00이 다시 잰다.
"""
from __future__ import annotations

import platform
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import open_clip
import tokenizers
import torch
import transformers
from safetensors.torch import save_file
from tqdm.auto import tqdm

from course_lib import assets, data_dir, quiet, text, world
from course_lib.models import llm as llm_lib
from course_lib.evaluate import context_reading_accuracy, retrieval_accuracy, text_perplexity, tokenize_for_siglip
from course_lib.models import vision
from course_lib.models.vlm import encode_captions
from course_lib.errors import ConfigError, check_output_folder, check_types, config_error
from course_lib.schedule import warmup_cosine



@dataclass(frozen=True)
class PretrainConfig:
    seed: int = 0
    n_train_scenes: int = 20000
    siglip_steps: int = 500
    siglip_batch_size: int = 256
    siglip_lr: float = 1e-3
    llm_steps: int = 800
    llm_batch_size: int = 64
    llm_lr: float = 2e-3
    llm_context_fraction: float = 0.5
    warmup_steps: int = 50
    n_eval_scenes: int = 500

    def __post_init__(self):
        check_types(self)  # 종류 먼저(글자나 true/false가 수 자리에 오면 칸 이름으로 거부)
        for name in ("n_train_scenes", "siglip_steps", "siglip_batch_size", "llm_steps", "llm_batch_size",
                     "n_eval_scenes"):
            if getattr(self, name) <= 0:
                raise config_error(name, f"0보다 커야 합니다. 받은 값 {getattr(self, name)}", "must be > 0")
        for name in ("siglip_lr", "llm_lr"):
            if getattr(self, name) <= 0:
                raise config_error(name, f"0보다 큰 유한한 수여야 합니다. 받은 값 {getattr(self, name)}", "must be > 0")
        if self.seed < 0 or self.warmup_steps < 0:
            key = "seed" if self.seed < 0 else "warmup_steps"
            raise config_error(key, f"0 이상이어야 합니다. 받은 값 {getattr(self, key)}", "must be >= 0")
        if not 0.0 <= self.llm_context_fraction <= 1.0:
            raise config_error("llm_context_fraction", f"0과 1 사이여야 합니다. 받은 값 {self.llm_context_fraction}",
                               "must be in [0, 1]")


def _train_loop(model, steps, lr, warmup, make_loss, desc, progress):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup, steps))
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc=desc, disable=not progress):
        loss = make_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    model.eval()
    return losses


def train_siglip(tokenizer, scenes, images, cfg: PretrainConfig, progress: bool = True):
    model = vision.build_siglip(vision.siglip_config(len(tokenizer), tokenizer.pad_token_id,
                                                     tokenizer.eos_token_id))
    loss_fn = open_clip.loss.SigLipLoss()
    rng = random.Random(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)

    def make_loss():
        idx = torch.randint(0, len(scenes), (cfg.siglip_batch_size,), generator=generator).tolist()
        captions = [world.write_caption(scenes[i], rng) for i in idx]
        out = model(vision.normalize_pixels(images[idx]), tokenize_for_siglip(tokenizer, captions))
        return loss_fn(out["image_features"], out["text_features"], out["logit_scale"], out["logit_bias"])

    losses = _train_loop(model, cfg.siglip_steps, cfg.siglip_lr, cfg.warmup_steps, make_loss,
                         "SigLIP 사전학습", progress)
    return model, losses


def train_llm(tokenizer, scenes, cfg: PretrainConfig, progress: bool = True):
    # 초기값은 SigLIP 학습과 따로 시드를 둔다: LLM만 다시 만들어도 같은 가중치가 나오게.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 1)
        model = llm_lib.build_llm(llm_lib.mini_qwen3_config(len(tokenizer), tokenizer.pad_token_id,
                                                            tokenizer.eos_token_id))
    rng = random.Random(cfg.seed + 1)

    def make_loss():
        picked = [scenes[rng.randrange(len(scenes))] for _ in range(cfg.llm_batch_size)]
        contexts = [world.write_caption(s, rng) if rng.random() < cfg.llm_context_fraction else None
                    for s in picked]
        captions = [world.write_caption(s, rng) for s in picked]
        batch = encode_captions(tokenizer, captions, contexts=contexts)
        return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss

    losses = _train_loop(model, cfg.llm_steps, cfg.llm_lr, cfg.warmup_steps, make_loss, "LLM 사전학습", progress)
    return model, losses


def library_versions() -> dict[str, str]:

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "open_clip_torch": open_clip.__version__,
            "tokenizers": tokenizers.__version__}


def pretrain(out_dir: Path | None = None, cfg: PretrainConfig = PretrainConfig(), progress: bool = True,
             command: str | None = None) -> dict:
    """세 부품을 학습해 `out_dir`(기본 data/)에 쓰고 매니페스트의 내용을 돌려준다.

    새 파일은 임시 폴더에 다 만든 뒤에야 옮긴다. 중간에 실패해도 이미 있던 자산은 그대로 남는다.
    """
    out_dir = Path(out_dir or data_dir())
    start = time.time()
    torch.manual_seed(cfg.seed)
    tokenizer = text.train_tokenizer(text.caption_corpus(seed=cfg.seed))
    scenes = world.make_scenes("train", cfg.n_train_scenes, seed=cfg.seed)
    images = world.render_batch(scenes)
    siglip, siglip_losses = train_siglip(tokenizer, scenes, images, cfg, progress)
    llm, llm_losses = train_llm(tokenizer, scenes, cfg, progress)

    eval_scenes = world.make_scenes("test", cfg.n_eval_scenes, seed=cfg.seed)
    eval_captions = [world.write_caption(s, random.Random(i)) for i, s in enumerate(eval_scenes)]
    retrieval = retrieval_accuracy(siglip, tokenizer, world.render_batch(eval_scenes), eval_captions)
    perplexity = text_perplexity(llm, tokenizer, eval_captions)
    reading = {"with_context": context_reading_accuracy(llm, tokenizer, eval_scenes, seed=cfg.seed)["exact"],
               "without_context": context_reading_accuracy(llm, tokenizer, eval_scenes, seed=cfg.seed,
                                                           with_context=False)["exact"]}

    staging = Path(tempfile.mkdtemp(prefix="pretrain_", dir=out_dir.parent if out_dir.parent.exists() else None))
    try:
        text.save_tokenizer(tokenizer, staging / assets.TOKENIZER_FILE)
        vision.register_siglip_config(vision.siglip_config(len(tokenizer), tokenizer.pad_token_id,
                                                           tokenizer.eos_token_id), staging / "siglip")
        save_file({k: v.contiguous() for k, v in siglip.state_dict().items()}, staging / assets.SIGLIP_WEIGHTS_FILE)
        llm.save_pretrained(staging / "llm", safe_serialization=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        for rel in assets.ASSET_FILES:
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging / rel), out_dir / rel)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    meta = {
        "command": command or "python -m course_lib pretrain",
        "seed": cfg.seed,
        "config": asdict(cfg),
        "versions": library_versions(),
        "wall_time_s": round(time.time() - start, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "metrics": {
            "siglip_final_loss": round(sum(siglip_losses[-20:]) / len(siglip_losses[-20:]), 4),
            "siglip_test_retrieval_top1": {k: round(v, 4) for k, v in retrieval.items()},
            "llm_final_loss": round(sum(llm_losses[-20:]) / len(llm_losses[-20:]), 4),
            "llm_test_perplexity": round(perplexity, 4),
            "llm_context_reading_exact": {k: round(v, 4) for k, v in reading.items()},
            "n_eval_scenes": cfg.n_eval_scenes,
        },
    }
    assets.write_manifest(list(assets.ASSET_FILES), data_dir=out_dir, **meta)
    return assets.read_manifest(out_dir)


# 명령줄 인자(`python -m course_lib pretrain`의 --seed 등)와 PretrainConfig 칸의 짝. 인자의 기본값은 None이고,
# 주지 않은 칸은 PretrainConfig의 기본값을 쓴다(기본값은 여기 한 곳에만 있다). 인자 정의는 `course_lib.__main__`.
CLI_FIELDS = ("seed", "siglip_steps", "llm_steps", "n_train_scenes")


def config_from_args(args) -> PretrainConfig:
    """명령줄 값으로 PretrainConfig를 만든다. 틀린 값은 학습자가 친 인자 이름(`siglip-steps`)으로 알린다."""
    try:
        return PretrainConfig(**{k: getattr(args, k) for k in CLI_FIELDS if getattr(args, k, None) is not None})
    except ConfigError as err:
        if err.key in CLI_FIELDS:
            raise config_error(err.key.replace("_", "-"), err.korean, err.english) from None
        raise


def refuse_intact_assets(out_dir: Path) -> None:
    """온전한 자산 폴더는 --force 없이 덮어쓰지 않는다. 커밋된 노트북 출력은 모두 data/의 가중치에 기댄다.
    없거나 손상된 자산은 묻지 않고 다시 만든다: 손상된 data/에 보이는 고침(`assets.REBUILD_COMMAND`)이 그대로 통한다."""
    if assets.assets_intact(out_dir):
        raise config_error("force", f"{out_dir}의 자산이 매니페스트와 모두 맞습니다(온전함). 다시 만들면 커밋된 노트북 "
                           f"출력이 기대는 가중치가 바뀝니다. 그래도 덮어쓰려면 --force를 붙이고, 비교용이면 --out으로 "
                           f"다른 폴더를 주세요. 아무것도 바꾸지 않았습니다", "assets intact; pass --force to overwrite")


def run(args) -> int:
    cfg = config_from_args(args)
    out_dir = Path(args.out) if getattr(args, "out", None) else data_dir()
    check_output_folder(out_dir)  # 학습을 시작하기 전에(몇 분 뒤가 아니라)
    if not getattr(args, "force", False):
        refuse_intact_assets(out_dir)
    quiet.install()
    words = getattr(args, "command_line", None)
    command = "python -m course_lib " + " ".join(words) if words and len(words) > 1 else None
    manifest = pretrain(out_dir, cfg, progress=not getattr(args, "no_progress", False), command=command)
    m = manifest["metrics"]
    print(f"저장 완료: {out_dir}  ({manifest['wall_time_s']}초)")
    print(f"SigLIP 테스트 검색 top-1: 그림→캡션 {m['siglip_test_retrieval_top1']['image_to_text']:.3f}")
    print(f"LLM 테스트 캡션 퍼플렉서티: {m['llm_test_perplexity']:.3f}")
    reading = m["llm_context_reading_exact"]
    print(f"LLM 문맥 읽기 정확 일치: 문맥 있음 {reading['with_context']:.3f}, 문맥 없음 {reading['without_context']:.3f}")
    return 0
