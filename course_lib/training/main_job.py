"""본 작업(main job): `python -m course_lib train`.

프리셋으로 1단계 → 2단계를 돌리고, 가장 높은 SigLIP 점수의 체크포인트로 test 분할을 평가해
`DIR/`에 체크포인트, `metrics.jsonl`, `summary.json`, 그림(PNG)을 남기고 한국어 보고를 출력한다.

`--data PATH`(LLaVA 사전학습 JSON 또는 COCO captions)를 주면 실제 캡션 데이터로 학습한다(`run_real_data`).
`colab`/`full` 프리셋은 이때 허브에서 Qwen3·CLIP·SigLIP을 받는다(GPU 필요). 여러 GPU는
`accelerate launch --config_file configs/accelerate/ddp.yaml -m course_lib train ...`.
"""
from __future__ import annotations

import difflib
import json
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from accelerate import PartialState

from course_lib import plots, presets, quiet, real_data, world
from course_lib.evaluate import caption_accuracy, evaluate_vlm
from course_lib.models import real
from course_lib.errors import (AssetError, ConfigError, DataFormatError, check_output_folder, config_error,
                               config_leaves, one_line)
from course_lib.models.pretrained import load_parts
import course_lib.training.checkpoint as ckpt
from course_lib.training.config import TrainConfig
from course_lib.training.data import SceneCaptionData
from course_lib.training.trainer import Trainer


def load_config(args) -> TrainConfig:
    """--config 파일 또는 --preset(기본 mini), 그다음 --seed와 --set. 틀린 입력은 칸 이름으로 `ConfigError`."""
    config_path, preset = getattr(args, "config", None), getattr(args, "preset", None)
    if config_path:
        if preset:
            raise config_error("preset", "--config와 --preset은 함께 쓸 수 없습니다. 둘 가운데 하나만 주세요",
                               "use either --config or --preset")
        text = read_config_text(Path(config_path))
        try:
            config = TrainConfig.from_json(text)
        except ConfigError as err:  # 어느 파일의 어느 칸인지 함께 알린다
            raise config_error(err.key or "config", f"{err.korean or err} [파일 {config_path}]",
                               err.english or "invalid config file") from None
    else:
        config = presets.get_preset(preset or "mini")
    if getattr(args, "seed", None) is not None:
        config = replace(config, seed=args.seed)
    return apply_overrides(config, getattr(args, "set", None) or [])


def read_config_text(path: Path) -> str:
    example = 'python -c "from course_lib import presets; print(presets.mini().to_json())" > my.json'
    if path.is_dir():
        raise config_error("config", f"{path}은(는) 폴더입니다. TrainConfig JSON 파일의 경로를 주세요", "is a folder")
    if not path.is_file():
        raise config_error("config", f"설정 파일 {path}이(가) 없습니다. 예를 하나 만들려면: {example}", "file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise config_error("config", f"{path}은(는) UTF-8 글 파일이 아닙니다(JSON이어야 합니다)",
                           "not a UTF-8 text file") from None
    except OSError as err:
        raise config_error("config", f"{path}을(를) 읽을 수 없습니다: {err.strerror}", "cannot read file") from None
    if not text.strip():
        raise config_error("config", f"{path}이(가) 비어 있습니다. 예를 하나 만들려면: {example}", "empty file")
    return text


def _unknown_key(key: str, data: dict) -> Exception:
    paths = list(config_leaves(data))
    last = key.rsplit(".", 1)[-1]
    close = ([p for p in paths if p.rsplit(".", 1)[-1] == last]
             or [p for p in paths if p.rsplit(".", 1)[-1].startswith(last)]
             or difflib.get_close_matches(key, paths, n=3, cutoff=0.6))
    if close:
        hint = f"비슷한 칸: {', '.join(close[:4])}"
    else:
        hint = f"맨 위 칸: {', '.join(sorted(data))} (단계는 stages.번호.칸, LoRA는 lora.칸)"
    return config_error(key, f"설정에 없는 칸입니다. {hint}", "unknown key")


def apply_overrides(config: TrainConfig, items) -> TrainConfig:
    """`KEY=VALUE`(점으로 내려감, 단계는 0부터 센 번호) 목록을 적용한다. 값은 JSON으로 읽고, 안 되면 글자열.
    없는 칸·없는 단계는 이름으로 거부하고, 바꾼 설정은 TrainConfig가 다시 검사한다(종류와 범위, 칸 이름으로)."""
    data = json.loads(config.to_json())
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise config_error("set", f"{item!r}은(는) KEY=VALUE 꼴이 아닙니다. 예: --set n_train=2000",
                               "expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parts = key.split(".")
        node = data
        for depth, part in enumerate(parts):
            here = ".".join(parts[:depth + 1])
            if isinstance(node, list):
                if not (part.isdigit() and int(part) < len(node)):
                    what = "단계" if parts[depth - 1] == "stages" else "항목"
                    raise config_error(here, f"{what} 번호는 0부터 {len(node) - 1}까지입니다({what} {len(node)}개). "
                                       f"받은 번호 {part!r}", f"no such {'stage' if what == '단계' else 'item'}")
                part = int(part)
            elif not isinstance(node, dict):
                raise config_error(here, f"{'.'.join(parts[:depth])}은(는) 값 하나라 그 안의 칸이 없습니다",
                                   "unknown key")
            elif part not in node:
                raise _unknown_key(here, data)
            if depth == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
    return TrainConfig.from_dict(data)


def final_evaluation(trainer: Trainer, out_dir: Path) -> dict:
    """최고 SigLIP 점수 체크포인트를 불러 test 분할에서 캡션 정확도, SigLIP 점수, 눈 가린 기준선을 잰다."""
    model = trainer.model
    best_dir = out_dir / "checkpoints" / "best"
    if best_dir.exists():
        weights, *_ = ckpt.read_checkpoint(best_dir)
        ckpt.load_trainable_state(model, weights)
    test = SceneCaptionData("test", trainer.config.n_test, seed=trainer.config.seed)
    parts = trainer.parts
    seen = evaluate_vlm(model, parts.siglip, parts.tokenizer, test.scenes, test.images)
    blind = evaluate_vlm(model, parts.siglip, parts.tokenizer, test.scenes, test.images, blind="zeros")
    return {"test": seen, "blind": blind, "data": test}


def write_plots(trainer: Trainer, final: dict, out_dir: Path) -> list[Path]:
    paths = []
    fig, ax = plots.new_figure()
    plots.plot_stage_losses(trainer.history.steps, ax)
    ax.set_title("단계별 학습 손실")
    paths.append(out_dir / "loss.png")
    fig.savefig(paths[-1], dpi=120)
    fig, ax = plots.new_figure(width=6)
    plots.plot_epoch_metrics([e for e in trainer.history.evals if "siglip_score" in e], ax)
    ax.set_title("epoch별 검증 점수")
    paths.append(out_dir / "epochs.png")
    fig.savefig(paths[-1], dpi=120)
    data, captions = final["data"], final["test"].captions
    n = 12
    correct = [caption_accuracy(s, c)["exact"] == 1.0 for s, c in zip(data.scenes[:n], captions[:n])]
    fig = plots.plot_caption_grid(data.images[:n], captions[:n], correct)
    paths.append(out_dir / "test_captions.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close("all")
    return paths


def check_out_dir(out_dir: Path, resume: bool) -> None:
    """--out이 쓸 수 있는 폴더인지, 이미 있는 결과를 덮지 않는지 본다(아무것도 쓰지 않는다)."""
    check_output_folder(out_dir)
    has_results = ckpt.latest_checkpoint(out_dir) is not None or (out_dir / "final").exists() \
        or (out_dir / "summary.json").exists()
    if has_results and not resume:
        raise config_error("out", f"{out_dir}에 이미 학습 결과(체크포인트·final·summary.json)가 있습니다. 재개하려면 "
                           f"--resume, 새로 하려면 다른 --out을 주세요", "run folder is not empty")


def check_resume(out_dir: Path, config: TrainConfig, max_steps: int | None) -> None:
    """--resume: 재개할 체크포인트가 있고, 같은 설정에서 나왔고, 온전한지 — 자산을 읽기 전에, 아무것도 쓰기 전에."""
    last = ckpt.latest_checkpoint(out_dir)
    if last is None:
        raise config_error("resume", f"{out_dir}에 재개할 체크포인트(checkpoints/step-*)가 없습니다. --resume 없이 "
                           f"새로 시작하세요", "nothing to resume")
    _, _, _, state = ckpt.open_for_resume(last, config)
    if max_steps is not None and max_steps <= state["global_step"]:
        raise config_error("max-steps", f"체크포인트가 이미 걸음 {state['global_step']}에 있습니다. 그보다 큰 값을 "
                           f"주거나 --max-steps를 빼세요", "must exceed the checkpoint's step")
    last_stage = len(config.stages) - 1
    finished = state["stage_index"] == last_stage and state["epoch"] >= config.stages[last_stage].epochs
    if finished and (out_dir / "summary.json").exists():
        raise config_error("resume", f"{out_dir}의 학습은 이미 끝났습니다(걸음 {state['global_step']}). 결과는 "
                           f"{out_dir / 'summary.json'}에 있습니다", "run already finished")


def validate(args, config: TrainConfig) -> Path:
    """--out에 무엇이든 쓰기 전의 검사(설정은 load_config가 이미 했다). 자산과 데이터는 run이 이어서 검사한다."""
    max_steps = getattr(args, "max_steps", None)
    if max_steps is not None and max_steps < 1:
        raise config_error("max-steps", f"1 이상이어야 합니다. 받은 값 {max_steps}", "must be >= 1")
    if getattr(args, "image_folder", None) and not getattr(args, "data", None):
        raise config_error("image-folder", "--data와 함께 써야 합니다", "needs --data")
    out_dir = Path(args.out)
    resume = bool(getattr(args, "resume", False))
    check_out_dir(out_dir, resume)
    if resume:
        check_resume(out_dir, config, max_steps)
    return out_dir


def checked_parts(data_dir):
    """미니 월드의 부품. 자산의 SHA-256을 맞춰 보고(아직 --out에 아무것도 쓰지 않았다), 틀리면 어느 파일이 왜
    틀렸는지와 고치는 명령을 `assets:` 한 줄로 알린다."""
    try:
        return load_parts(data_dir)
    except AssetError as err:
        raise AssetError(f"assets: {one_line(err)} (assets: missing or corrupted asset)") from None


def run(args) -> int:
    quiet.install()
    config = load_config(args)
    out_dir = validate(args, config)
    if getattr(args, "data", None) or config.preset in presets.REAL_MODELS:
        return run_real_data(args, config, out_dir)
    torch.manual_seed(config.seed)
    start = time.time()
    parts = checked_parts(args.data_dir)
    trainer = Trainer(config, parts, out_dir=out_dir, progress=not args.no_progress, max_steps=args.max_steps)
    trainer.run(resume=args.resume)
    train_seconds = time.time() - start
    model = trainer.model
    if not trainer.accelerator.is_main_process:
        return 0
    ckpt.write_checkpoint(out_dir / "final", model, None, {}, config)
    if args.max_steps is not None and trainer.global_step >= args.max_steps:
        print(f"--max-steps {args.max_steps}에서 멈췄습니다. 재개하려면 같은 명령에 --resume을 붙이세요.")
        return 0
    final = final_evaluation(trainer, out_dir)
    test, blind = final["test"], final["blind"]
    summary = {
        "preset": config.preset, "seed": config.seed, "global_steps": trainer.global_step,
        "wall_time_s": round(time.time() - start, 1), "train_time_s": round(train_seconds, 1),
        "setup_time_s": round(trainer.setup_seconds, 1),
        "best_epoch_by_siglip": trainer.best,
        "best_epoch_by_accuracy": max((e for e in trainer.history.evals if "acc_exact" in e),
                                      key=lambda e: e["acc_exact"], default=None),
        "test": {"siglip_score": test.siglip_score, **test.accuracy},
        "blind_baseline": {"siglip_score": blind.siglip_score, **blind.accuracy},
        "test_examples": test.captions[:8],
    }
    summary["best_epoch_by_accuracy"] = ckpt.jsonable({k: v for k, v in (summary["best_epoch_by_accuracy"] or {}).items()
                                                         if k != "captions"})
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    plots = write_plots(trainer, final, out_dir)
    print(report(summary, out_dir, plots))
    return 0


def report(summary: dict, out_dir: Path, plots: list[Path]) -> str:
    test, blind = summary["test"], summary["blind_baseline"]
    best = summary["best_epoch_by_siglip"] or {}
    by_acc = summary["best_epoch_by_accuracy"] or {}
    same = (best.get("stage"), best.get("epoch")) == (by_acc.get("stage"), by_acc.get("epoch"))
    lines = [
        f"== 두 단계 학습 결과 ({summary['preset']}, seed {summary['seed']}) ==",
        f"걸린 시간 {summary['wall_time_s']}초(그림 그리기·인코더 출력 캐시 {summary['setup_time_s']}초 포함), "
        f"옵티마이저 걸음 {summary['global_steps']}",
        f"최고 SigLIP 점수 체크포인트: {best.get('stage')} epoch {best.get('epoch')}"
        + (" (정확도 기준 최고 epoch와 같음)" if same else
           f" — 정확도 기준 최고는 {by_acc.get('stage')} epoch {by_acc.get('epoch')}"),
        f"test 정확 일치(exact match) {test['exact']:.3f} | 색 {test['color']:.3f} 모양 {test['shape']:.3f} "
        f"크기 {test['size']:.3f} 위치 {test['position']:.3f} 개수 {test['count']:.3f}",
        f"test SigLIP 점수 {test['siglip_score']:.4f}",
        f"눈 가린 기준선(회색 그림): 정확 일치 {blind['exact']:.3f}, SigLIP 점수 {blind['siglip_score']:.4f}",
        f"예: {summary['test_examples'][0]}",
        f"결과 폴더: {out_dir} (summary.json, metrics.jsonl, " + ", ".join(p.name for p in plots) + ")",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- 실제 데이터(--data)

def real_data_parts(args, config: TrainConfig):
    """(부품, 그림 크기, 채점기, 캡션 토큰 상한). colab/full은 허브에서 받고(GPU 필요), 그 밖의 프리셋은
    미니 월드의 부품으로 같은 데이터 경로를 돈다(CPU 시험용)."""
    if config.preset in presets.REAL_MODELS:
        spec = presets.REAL_MODELS[config.preset]
        state = PartialState()
        parts = real.load_real_parts(spec, config.mixed_precision, state.local_process_index)
        size = spec.vision_config()["vision_cfg"]["image_size"]
        return parts, size, parts.scorer, spec.max_caption_tokens
    parts = checked_parts(args.data_dir)
    return parts, world.IMAGE_SIZE, real_data.MiniSiglipScorer(parts.siglip, parts.tokenizer), None


def run_real_data(args, config: TrainConfig, out_dir: Path) -> int:
    """--data로 준 LLaVA/COCO 형식 데이터로 두 단계 학습. 평가는 SigLIP 점수와 검증 손실(장면 정답이 없다)."""
    if not getattr(args, "data", None):
        raise config_error("data", f"{config.preset} 프리셋은 실제 데이터가 필요합니다: --data 경로/blip_laion_cc_sbu_558k.json "
                           f"(LLaVA 사전학습) 또는 --data 경로/captions_train2017.json (COCO captions)",
                           "real presets need --data")
    start = time.time()
    records, kind = real_data.load_records(args.data, args.image_folder)  # 모델을 받기 전에 데이터부터 검사
    if len(records) <= config.n_val:  # make_splits와 같은 규칙을 모델을 받기 전에
        raise DataFormatError(f"n_val: 데이터가 {len(records)}쌍뿐이라 검증 {config.n_val}개를 떼면 학습할 것이 "
                                        f"없습니다. --set n_val=... 로 줄이세요 (n_val: data set too small)")
    if config.preset in presets.REAL_MODELS and not torch.cuda.is_available():
        raise config_error("preset", f"{config.preset} 프리셋은 CUDA GPU가 필요합니다. CPU에서는 --preset mini를 쓰세요",
                           "real presets need a CUDA GPU")
    torch.manual_seed(config.seed)
    parts, size, scorer, max_tokens = real_data_parts(args, config)
    train_data, val_data = real_data.make_splits(args.data, config.n_train, config.n_val, size, seed=config.seed,
                                                 image_folder=args.image_folder, tokenizer=parts.tokenizer,
                                                 max_caption_tokens=max_tokens)
    for k, stage in enumerate(config.stages):  # 학습 분할이 n_train보다 작을 수 있다(데이터가 적을 때)
        if stage.batch_size * stage.grad_accum > len(train_data):
            raise DataFormatError(f"stages.{k}.batch_size: 학습 데이터가 {len(train_data)}쌍뿐이라 한 걸음(배치 "
                                  f"{stage.batch_size} × 누적 {stage.grad_accum})도 못 갑니다 "
                                  f"(stages.{k}.batch_size: batch larger than the training data)")
    trainer = Trainer(config, parts, out_dir=out_dir, progress=not args.no_progress, max_steps=args.max_steps,
                            train_data=train_data, val_data=val_data, evaluator=real_data.RealEvaluator(scorer))
    trainer.run(resume=args.resume)
    if not trainer.accelerator.is_main_process:
        return 0
    model = trainer.model
    ckpt.write_checkpoint(out_dir / "final", model, None, {}, config)
    summary = {"preset": config.preset, "seed": config.seed, "data": str(args.data), "format": kind,
               "pairs": len(records), "n_train": len(train_data), "n_val": len(val_data),
               "global_steps": trainer.global_step, "wall_time_s": round(time.time() - start, 1),
               "best_epoch_by_siglip": trainer.best,
               "evals": [{k: v for k, v in e.items() if k != "captions"} for e in trainer.history.evals]}
    (out_dir / "summary.json").write_text(json.dumps(ckpt.jsonable(summary), ensure_ascii=False, indent=2) + "\n",
                                          encoding="utf-8")
    best = trainer.best or {}
    print(f"== 두 단계 학습 결과 ({config.preset}, {kind} 데이터 {len(records)}쌍: 학습 {len(train_data)}, "
          f"검증 {len(val_data)}) ==")
    print(f"옵티마이저 걸음 {trainer.global_step}, 걸린 시간 {summary['wall_time_s']}초")
    unused = len(records) - len(train_data) - len(val_data)
    if unused > 0:
        print(f"참고: 데이터 {unused}쌍은 쓰지 않았습니다(n_train={config.n_train}). 모두 쓰려면 "
              f"--set n_train={len(records) - len(val_data)}")
    if best:
        print(f"최고 SigLIP 점수 {best['siglip_score']:.4f} ({best['stage']} epoch {best['epoch']}), "
              f"검증 손실 {best['val_loss']:.4f}")
    print(f"결과 폴더: {out_dir} (summary.json, metrics.jsonl, final/, checkpoints/best)")
    return 0
