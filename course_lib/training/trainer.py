"""두 단계 학습기(two-stage trainer): 위에서 아래로 읽는 학습 루프.

1단계(stage 1): 프로젝터만 학습한다. 시각 인코더와 LLM 전체(LoRA 포함)는 얼어 있지만, 기울기는 얼어 있는
LLM을 거쳐 프로젝터까지 흐른다. 2단계(stage 2): 프로젝터와 LoRA를 함께 학습한다. 무엇을 학습할지는 단계 설정의
학습률이 정한다(`training.config`, `training.freezing`, `training.optim`).

루프는 `accelerate.Accelerator`를 쓴다(장치 배치, 기울기 누적, 혼합 정밀도, 여러 프로세스). 체크포인트는
`training.checkpoint`가 원자적으로 쓴다. 걸음마다 기록을 더하고 싶으면(노트북 01의 LoRA 이동량) `callbacks`에
`on_step_end(trainer, record)`를 가진 객체를 준다: 기록이 history와 metrics.jsonl에 들어가기 전에 불린다.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from course_lib.errors import CheckpointError, config_error
from course_lib.evaluate import evaluate_vlm
from course_lib.models.vlm import IGNORE_INDEX, build_vlm, caption_loss_sum, encode_captions
from course_lib.precision import resolve_mixed_precision
import course_lib.training.checkpoint as ckpt
from course_lib.training.config import StageConfig, TrainConfig
from course_lib.training.data import SceneCaptionData, epoch_order, length_grouped_order
from course_lib.training.freezing import add_lora, is_lora_parameter
from course_lib.training.optim import build_optimizer, build_scheduler


@dataclass
class History:
    """학습 기록: 걸음별 손실과 epoch별 평가."""
    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)


class StepCallback(Protocol):
    def on_step_end(self, trainer: "Trainer", record: dict) -> None: ...


class Trainer:
    """두 단계를 차례로 돌리는 학습기. `run()`이 끝나면 `history`와 `best`가 채워진다."""

    def __init__(self, config: TrainConfig, parts, out_dir: Path | None = None, progress: bool = True,
                 max_steps: int | None = None, log: Callable[[str], None] = print, train_data=None,
                 val_data=None, evaluator=None, callbacks: Sequence[StepCallback] = ()):
        self.config = config
        self.parts = parts
        self.out_dir = Path(out_dir) if out_dir else None
        self.progress = progress
        self.max_steps = max_steps
        self.log = log
        self.callbacks = list(callbacks)
        self.accelerator = Accelerator(mixed_precision=resolve_mixed_precision(config.mixed_precision),
                                       cpu=_cpu_processes_launched())
        torch.manual_seed(config.seed)
        llm = add_lora(parts.llm, config.lora, config.gradient_checkpointing)
        self.vlm = build_vlm(parts.vision_encoder(config.vision_feature_layer), llm, seed=config.seed,
                             merge=config.projector_merge)
        self.train_data = train_data or SceneCaptionData("train", config.n_train, seed=config.seed)
        self.val_data = val_data or SceneCaptionData("val", config.n_val, seed=config.seed)
        self.evaluator = evaluator
        self.history = History()
        self.global_step = 0
        self.best: dict | None = None
        self._last_tokens = self._last_positions = 0  # 걸음마다 센 토큰 수(채움 뺌)와 계산한 자리 수(채움 포함)
        self._feature_cache: torch.Tensor | bool | None = None  # 인코더 출력 캐시(None: 아직, False: 쓰지 않음)

    @property
    def model(self):
        """accelerate가 감싸기 전의 VLM(체크포인트, 평가, 노트북이 쓰는 것)."""
        return self.accelerator.unwrap_model(self.vlm)

    # -- 평가
    def evaluate(self, data=None) -> dict:
        data = data or self.val_data
        if self.evaluator is not None:  # 장면 정답이 없는 실제 데이터(real_data.RealEvaluator)
            return self.evaluator(self.model, self.parts.tokenizer, data)
        result = evaluate_vlm(self.model, self.parts.siglip, self.parts.tokenizer, data.scenes, data.images)
        return {"siglip_score": result.siglip_score, **{f"acc_{k}": v for k, v in result.accuracy.items()},
                "captions": result.captions[:8]}

    # -- 한 단계
    def steps_per_epoch(self, stage: StageConfig) -> int:
        available = len(self.train_data) // (stage.batch_size * stage.grad_accum)
        return min(available, stage.steps_per_epoch) if stage.steps_per_epoch else available

    def run_stage(self, stage_index: int, resume: dict | None = None) -> None:
        cfg = self.config
        stage = cfg.stages[stage_index]
        acc = self.accelerator
        optimizer = build_optimizer(self.model, stage, cfg.lora)
        per_epoch = self.steps_per_epoch(stage)
        if per_epoch == 0:
            raise config_error("batch_size", f"데이터 {len(self.train_data)}개로는 한 걸음(batch {stage.batch_size} × "
                               f"누적 {stage.grad_accum})도 못 갑니다", "batch larger than the data set")
        total = per_epoch * stage.epochs
        scheduler = build_scheduler(optimizer, stage, total)
        model, optimizer = acc.prepare(self.model, optimizer)
        start_epoch, start_step = 0, 0
        if resume is not None:
            ckpt.restore_optimizer(_inner(optimizer), resume["optimizer_tensors"], resume["optimizer_meta"])
            scheduler.load_state_dict(resume["scheduler"])
            start_epoch, start_step = resume["epoch"], resume["step_in_epoch"]
        world_size, rank = acc.num_processes, acc.process_index
        micro = stage.batch_size // world_size
        if micro * world_size != stage.batch_size:
            raise config_error("batch_size", f"배치 {stage.batch_size}가 프로세스 수 {world_size}로 나누어떨어지지 "
                               f"않습니다", "batch size must be divisible by the number of processes")
        lora_params = [p for n, p in self.model.llm.named_parameters() if p.requires_grad and is_lora_parameter(n)]
        bar = tqdm(total=total, initial=start_epoch * per_epoch + start_step, desc=f"{stage.name}", mininterval=1.0,
                   disable=not self.progress or not acc.is_main_process)
        for epoch in range(start_epoch, stage.epochs):
            order = self._epoch_order(stage_index, stage, epoch)
            first = start_step if epoch == start_epoch else 0
            for step in range(first, per_epoch):
                if self.max_steps is not None and self.global_step >= self.max_steps:
                    bar.close()
                    return
                if not model.training:  # 평가 뒤에만 되돌린다(train()은 모듈 수천 개를 걷는다: 걸음마다 부르면 몇 ms)
                    model.train()
                step_start = time.perf_counter()
                # LoRA를 늦게 켜는 단계: 처음 몇 걸음은 LoRA의 기울기를 버린다(갱신·모멘트·기울기 자르기에서 빠짐).
                frozen = lora_params if epoch * per_epoch + step < stage.lora_delay_steps else ()
                loss_value = self._optimizer_step(model, optimizer, stage, order, step, epoch, micro, rank, frozen)
                scheduler.step()
                self.global_step += 1
                bar.update(1)
                record = {"stage": stage.name, "epoch": epoch, "step": step + 1, "global_step": self.global_step,
                          "loss": loss_value, "lr": [g["lr"] for g in optimizer.param_groups],
                          "seconds": time.perf_counter() - step_start, "tokens": self._last_tokens,
                          "positions": self._last_positions}
                for callback in self.callbacks:
                    callback.on_step_end(self, record)
                self.history.steps.append(record)
                self._write_metrics(record)
                if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                    self._save_step_checkpoint(optimizer, scheduler, stage_index, epoch, step + 1)
            self._end_of_epoch(stage_index, stage, epoch, optimizer, scheduler)
        bar.close()

    def _epoch_order(self, stage_index: int, stage: StageConfig, epoch: int) -> list[int]:
        """이 epoch에 학습 예제를 보는 순서. 길이로 묶기를 켜면 그 epoch의 캡션 길이(토큰 수)로 묶는다."""
        cfg = self.config
        order = epoch_order(len(self.train_data), cfg.seed, stage_index, epoch)
        if cfg.length_group_batches <= 1:
            return order
        captions = self.train_data.captions(range(len(self.train_data)), epoch)
        lengths = [len(ids) for ids in self.parts.tokenizer(list(captions), add_special_tokens=False).input_ids]
        return length_grouped_order(order, lengths, stage.batch_size, cfg.length_group_batches,
                                    cfg.seed, stage_index, epoch)

    def _optimizer_step(self, model, optimizer, stage, order, step, epoch, micro, rank, frozen=()) -> float:
        """기울기 누적을 포함한 옵티마이저 한 걸음. 손실은 전체(누적 × 프로세스) 캡션 토큰 평균이다."""
        acc = self.accelerator
        base = step * stage.batch_size * stage.grad_accum
        chunks = [order[base + k * stage.batch_size: base + (k + 1) * stage.batch_size] for k in range(stage.grad_accum)]
        texts = [encode_captions(self.parts.tokenizer, self.train_data.captions(c, epoch)) for c in chunks]
        total_tokens = sum(int((t.labels[:, 1:] != IGNORE_INDEX).sum()) for t in texts)
        loss_total = 0.0
        for k, (chunk, text) in enumerate(zip(chunks, texts)):
            rows = slice(rank * micro, (rank + 1) * micro)
            local = dataclasses.replace(text, **{f.name: getattr(text, f.name)[rows].to(acc.device)
                                                 for f in dataclasses.fields(text)})
            features = self._vision_features()
            if features is None:
                pixels, batch_features = self.train_data.images[chunk[rows]].to(acc.device), None
            else:
                pixels, batch_features = None, features[chunk[rows]]
            sync = k == stage.grad_accum - 1
            with acc.no_sync(model) if not sync else contextlib.nullcontext(), acc.autocast():
                loss_sum, _ = caption_loss_sum(model, pixels, local, vision_features=batch_features)
                # DDP는 프로세스들의 기울기를 평균하므로 프로세스 수를 곱해 전체 토큰 평균의 기울기를 만든다.
                loss = loss_sum * acc.num_processes / total_tokens
                acc.backward(loss)
            loss_total += loss_sum.detach()
        for param in frozen:
            param.grad = None
        if stage.max_grad_norm:
            acc.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], stage.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        patches = self.model.num_image_tokens
        self._last_tokens = sum(int(t.attention_mask.sum()) + t.input_ids.shape[0] * patches for t in texts)
        self._last_positions = sum(t.input_ids.numel() + t.input_ids.shape[0] * patches for t in texts)  # 채움 포함
        loss_total = acc.reduce(loss_total.reshape(1).to(acc.device), reduction="sum")
        return float(loss_total) / total_tokens

    @torch.no_grad()
    def _vision_features(self) -> torch.Tensor | None:
        """학습 그림 전체의 인코더 출력(처음 부를 때 한 번 계산). 캐시를 쓰지 않으면 None.

        인코더는 두 단계 모두 얼어 있고(eval 모드, 기울기 없음) 그림도 늘 같으므로, 걸음마다 다시 계산한 값과 같다
        (tests/test_train.py가 캐시를 쓴 학습과 쓰지 않은 학습의 최종 가중치를 비교한다).
        그림을 파일에서 그때그때 읽는 데이터(real_data)면 캐시 없이 간다(설정은 그대로라 재개에도 같다).
        """
        if not self.config.cache_vision_features:
            return None
        cache = self._feature_cache
        if cache is None:
            images = self.train_data.images
            if not isinstance(images, torch.Tensor):
                self.log("시각 인코더 출력 캐시: 끔(그림을 파일에서 읽는 데이터라 걸음마다 인코더를 돌립니다)")
                cache = False
            else:
                vision = self.model.vision
                cache = torch.cat([vision(images[k:k + 256].to(self.accelerator.device))
                                   for k in range(0, len(images), 256)])
            self._feature_cache = cache
        return None if cache is False else cache

    def _end_of_epoch(self, stage_index, stage, epoch, optimizer, scheduler):
        cfg = self.config
        record = {"stage": stage.name, "epoch": epoch + 1, "global_step": self.global_step}
        if cfg.eval_every_epoch:
            record.update(self.evaluate())
            is_best = self.best is None or record["siglip_score"] > self.best["siglip_score"]
            if is_best:
                self.best = {k: v for k, v in record.items() if k != "captions"}
                if self.out_dir and self.accelerator.is_main_process:
                    ckpt.write_checkpoint(self.out_dir / "checkpoints" / "best", self.model, None, {}, cfg)
            record["is_best"] = is_best
            self.log(f"[{stage.name}] epoch {epoch + 1}/{stage.epochs}: SigLIP 점수 {record['siglip_score']:.4f}, "
                     + (f"정확 일치 {record['acc_exact']:.3f}" if "acc_exact" in record
                        else f"검증 손실 {record.get('val_loss', float('nan')):.4f}")
                     + ("  ← 최고" if is_best else ""))
        self.history.evals.append(record)
        self._write_metrics({"type": "eval", **record})
        self._save_step_checkpoint(optimizer, scheduler, stage_index, epoch + 1, 0)

    # -- 체크포인트와 기록
    def _save_step_checkpoint(self, optimizer, scheduler, stage_index, epoch, step_in_epoch):
        if not self.out_dir:
            return
        # 난수 상태는 프로세스(rank)마다 다르다: 모든 프로세스가 함께 모은 뒤 주 프로세스만 쓴다.
        rng_states = ckpt.gather_rng_states(self.accelerator)
        if not self.accelerator.is_main_process:
            return
        state = {"stage_index": stage_index, "epoch": epoch, "step_in_epoch": step_in_epoch,
                 "global_step": self.global_step, "scheduler": scheduler.state_dict(), "best": self.best,
                 "history": asdict(self.history), "world_size": self.accelerator.num_processes,
                 "data": ckpt.data_record(self.train_data, self.config.seed, stage_index, epoch)}
        rng = ckpt.rng_to_file(rng_states, getattr(self.accelerator, "scaler", None))
        directory = self.out_dir / "checkpoints" / f"step-{self.global_step:07d}"
        ckpt.write_checkpoint(directory, self.model, _inner(optimizer), ckpt.jsonable(state), self.config, rng=rng)
        for old in sorted(directory.parent.glob("step-*")):
            if old != directory and "." not in old.name:
                shutil.rmtree(old, ignore_errors=True)  # 마지막 완전한 체크포인트 하나만 남긴다

    def _write_metrics(self, record: dict) -> None:
        if self.out_dir and self.accelerator.is_main_process:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(ckpt.jsonable(record), ensure_ascii=False) + "\n")

    def _rewrite_metrics(self) -> None:
        """재개할 때: 체크포인트 뒤에 기록된 줄(다시 계산할 걸음)을 지우고 체크포인트까지의 기록만 남긴다."""
        if not self.out_dir or not self.accelerator.is_main_process:
            return
        rows = self.history.steps + [{"type": "eval", **e} for e in self.history.evals]
        rows.sort(key=lambda r: (r["global_step"], r.get("type") == "eval"))
        with open(self.out_dir / "metrics.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(ckpt.jsonable(r), ensure_ascii=False) + "\n" for r in rows)

    # -- 전체 실행
    def run(self, resume: bool = False) -> "Trainer":
        _ = self.train_data.images  # 미니 월드는 그림을 처음 쓸 때 그린다: 첫 걸음의 시간에 넣지 않으려고 여기서
        start_stage, resume_state = 0, None
        if resume and self.out_dir and (last := ckpt.latest_checkpoint(self.out_dir)) is not None:
            start_stage, resume_state = self._load_resume(last)
        elif self.out_dir and self.accelerator.is_main_process:
            (self.out_dir / "metrics.jsonl").unlink(missing_ok=True)
        for stage_index in range(start_stage, len(self.config.stages)):
            self.run_stage(stage_index, resume_state)
            resume_state = None
            if self.max_steps is not None and self.global_step >= self.max_steps:
                break
        return self

    def _load_resume(self, last: Path) -> tuple[int, dict | None]:
        # 먼저 모두 검사한다(설정 지문, 파일 손상, 데이터 순서, 구조). 통과한 뒤에야 상태를 바꾸고 기록을 고쳐 쓴다.
        weights, tensors, meta, state = ckpt.open_for_resume(last, self.config)
        ckpt.check_data_record(state.get("data"), self.train_data, self.config.seed)
        ckpt.load_trainable_state(self.model, weights)
        ckpt.restore_rng(self.accelerator, tensors, json.loads(meta.get("rng", "{}")), self.log)
        self.global_step = state["global_step"]
        self.best = state["best"]
        self.history = History(**state["history"])
        self._rewrite_metrics()
        stage_index, epoch = state["stage_index"], state["epoch"]
        stage = self.config.stages[stage_index]
        if epoch >= stage.epochs:  # 단계의 마지막 epoch 끝에서 저장됨 → 다음 단계부터
            return stage_index + 1, None
        opt_tensors = {k[len("opt."):]: v for k, v in tensors.items() if k.startswith("opt.")}
        return stage_index, {"optimizer_tensors": opt_tensors, "optimizer_meta": json.loads(meta["optimizer"]),
                             "scheduler": state["scheduler"], "epoch": epoch,
                             "step_in_epoch": state["step_in_epoch"]}


def _cpu_processes_launched() -> bool:
    """GPU 없는 기계에서 `torch.distributed.run`으로 여러 프로세스를 띄웠는가.

    accelerate(1.x)는 이때 `cpu=True`를 받지 않으면 분산 환경 변수(LOCAL_RANK, WORLD_SIZE)가 있어도 프로세스마다
    혼자 학습한다고 여긴다(`DistributedType.NO`): 프로세스들이 같은 폴더에 따로 쓰고, 기울기도 평균하지 않는다.
    CUDA가 있거나 한 프로세스로 띄웠으면 accelerate가 고르는 대로 둔다.
    """
    return int(os.environ.get("LOCAL_RANK", -1)) != -1 and not torch.cuda.is_available()


def _inner(optimizer):
    """accelerate가 감싼 옵티마이저의 안쪽(torch의 AdamW)."""
    return optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer
