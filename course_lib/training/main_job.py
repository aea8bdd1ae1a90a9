"""본 작업(main job): `python -m course_lib train`.

프리셋으로 1단계 → 2단계를 돌리고, 가장 높은 SigLIP 점수의 체크포인트로 test 분할을 평가해
`DIR/`에 체크포인트, `metrics.jsonl`, `summary.json`, 그림(PNG)을 남기고 한국어 보고를 출력한다.

`--data PATH`(LLaVA 사전학습 JSON 또는 COCO captions)를 주면 실제 캡션 데이터로 학습한다(`run_real_data`).
`colab`/`full` 프리셋은 이때 허브에서 Qwen3·CLIP·SigLIP을 받는다(GPU 필요). 여러 GPU는
`accelerate launch --config_file configs/accelerate/ddp.yaml -m course_lib train ...`.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from accelerate import PartialState

from course_lib import plots, presets, real_data, world
from course_lib.evaluate import caption_accuracy, evaluate_vlm
from course_lib.models import real
from course_lib.errors import ConfigError
from course_lib.models.pretrained import load_parts
import course_lib.training.checkpoint as ckpt
from course_lib.training.config import TrainConfig
from course_lib.training.data import SceneCaptionData
from course_lib.training.trainer import Trainer


def add_arguments(parser) -> None:
    parser.add_argument("--preset", default="mini", choices=sorted(presets.PRESETS), help="설정 묶음(기본 mini)")
    parser.add_argument("--config", default=None, help="TrainConfig JSON 파일(프리셋 대신)")
    parser.add_argument("--out", default="runs/mini", help="결과 폴더(기본 runs/mini)")
    parser.add_argument("--resume", action="store_true", help="--out의 마지막 체크포인트에서 이어 한다")
    parser.add_argument("--max-steps", type=int, default=None, help="이 옵티마이저 걸음 수에서 멈춘다(시험용)")
    parser.add_argument("--seed", type=int, default=None, help="프리셋의 시드를 바꾼다")
    parser.add_argument("--data-dir", default=None, help="사전학습 자산 폴더(기본 data/)")
    parser.add_argument("--no-progress", action="store_true", help="진행 막대를 끈다")
    parser.add_argument("--data", default=None,
                        help="실제 캡션 데이터: LLaVA 사전학습 JSON 또는 COCO captions JSON(colab/full에 필요)")
    parser.add_argument("--image-folder", default=None, help="--data의 그림 폴더(기본: JSON 옆 images/ 또는 JSON 폴더)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="설정 한 칸을 바꾼다. 예: --set n_train=20000 --set stages.1.batch_size=8")


def load_config(args) -> TrainConfig:
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise ConfigError(f"config: 설정 파일 {path}이 없습니다 (config: file not found)")
        config = TrainConfig.from_json(path.read_text(encoding="utf-8"))
    else:
        config = presets.get_preset(args.preset)
    if args.seed is not None:
        config = replace(config, seed=args.seed)
    return apply_overrides(config, getattr(args, "set", None) or [])


def apply_overrides(config: TrainConfig, items) -> TrainConfig:
    """`KEY=VALUE`(점으로 내려감, 단계는 번호) 목록을 적용한다. 값은 JSON으로 읽고, 안 되면 문자열.
    바꾼 설정은 TrainConfig가 다시 검사한다(잘못된 값은 그 필드 이름으로 거부)."""
    data = json.loads(config.to_json())
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"set: {item!r}는 KEY=VALUE 꼴이 아닙니다 (set: expected KEY=VALUE)")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *path, last = key.split(".")
        node = data
        try:
            for part in path:
                node = node[int(part)] if isinstance(node, list) else node[part]
            if isinstance(node, list):
                node[int(last)] = value
            elif last in node:
                node[last] = value
            else:
                raise KeyError(last)
        except (KeyError, IndexError, ValueError, TypeError):
            raise ConfigError(f"set: 설정에 {key!r} 칸이 없습니다 (set: unknown key)") from None
    return TrainConfig.from_json(json.dumps(data))


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


def run(args) -> int:
    config = load_config(args)
    out_dir = Path(args.out)
    if out_dir.exists() and not args.resume and ckpt.latest_checkpoint(out_dir) is not None:
        print(f"{out_dir}에 이미 체크포인트가 있습니다. 이어 하려면 --resume, 새로 하려면 다른 --out을 주세요.")
        return 2
    if args.data or config.preset in presets.REAL_MODELS:
        return run_real_data(args, config, out_dir)
    torch.manual_seed(config.seed)
    start = time.time()
    parts = load_parts(args.data_dir)
    trainer = Trainer(config, parts, out_dir=out_dir, progress=not args.no_progress, max_steps=args.max_steps)
    trainer.run(resume=args.resume)
    train_seconds = time.time() - start
    model = trainer.model
    if not trainer.accelerator.is_main_process:
        return 0
    ckpt.write_checkpoint(out_dir / "final", model, None, {}, config)
    if args.max_steps is not None and trainer.global_step >= args.max_steps:
        print(f"--max-steps {args.max_steps}에서 멈췄습니다. 이어 하려면 같은 명령에 --resume을 붙이세요.")
        return 0
    final = final_evaluation(trainer, out_dir)
    test, blind = final["test"], final["blind"]
    summary = {
        "preset": config.preset, "seed": config.seed, "global_steps": trainer.global_step,
        "wall_time_s": round(time.time() - start, 1), "train_time_s": round(train_seconds, 1),
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
        f"걸린 시간 {summary['wall_time_s']}초, 옵티마이저 걸음 {summary['global_steps']}",
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
    작은 세계의 부품으로 같은 데이터 경로를 돈다(CPU 시험용)."""
    if config.preset in presets.REAL_MODELS:
        spec = presets.REAL_MODELS[config.preset]
        state = PartialState()
        parts = real.load_real_parts(spec, config.mixed_precision, state.local_process_index)
        size = spec.vision_config()["vision_cfg"]["image_size"]
        return parts, size, parts.scorer, spec.max_caption_tokens
    parts = load_parts(args.data_dir)
    return parts, world.IMAGE_SIZE, real_data.MiniSiglipScorer(parts.siglip, parts.tokenizer), None


def run_real_data(args, config: TrainConfig, out_dir: Path) -> int:
    """--data로 준 LLaVA/COCO 형식 데이터로 두 단계 학습. 평가는 SigLIP 점수와 검증 손실(장면 정답이 없다)."""
    if not args.data:
        print(f"{config.preset} 프리셋은 실제 데이터가 필요합니다: --data 경로/blip_laion_cc_sbu_558k.json "
              f"(LLaVA 사전학습) 또는 --data 경로/captions_train2017.json (COCO captions)")
        return 2
    start = time.time()
    records, kind = real_data.load_records(args.data, args.image_folder)  # 모델을 받기 전에 데이터부터 검사
    torch.manual_seed(config.seed)
    parts, size, scorer, max_tokens = real_data_parts(args, config)
    train_data, val_data = real_data.make_splits(args.data, config.n_train, config.n_val, size, seed=config.seed,
                                                 image_folder=args.image_folder, tokenizer=parts.tokenizer,
                                                 max_caption_tokens=max_tokens)
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
