"""두 단계 학습기(two-stage trainer): 위에서 아래로 읽는 학습 루프.

1단계(stage 1): 프로젝터만 학습한다. 시각 인코더와 LLM 전체(LoRA 포함)는 얼어 있지만, 기울기는 얼어 있는
LLM을 거쳐 프로젝터까지 흐른다. 2단계(stage 2): 프로젝터와 LoRA를 함께 학습한다. 무엇을 학습할지는 단계 설정의
학습률이 정한다(`training.config`, `training.freezing`, `training.optim`).

읽는 차례: `Trainer.run`(두 단계를 차례로) → `run_stage`(한 단계: 옵티마이저, 스케줄, epoch마다 걸음) →
`_train_step`(옵티마이저 한 걸음) → `evaluate`(epoch 끝). 노트북 06의 `two_stage_by_hand`가 같은 일을 33줄로 하고,
이 학습기와 비트까지 같은 가중치에 이른다.

루프는 `accelerate.Accelerator`를 쓴다(장치 배치, 기울기 누적, 혼합 정밀도, 여러 프로세스). 체크포인트는
`training.checkpoint`가 원자적으로 쓴다. 걸음마다 기록을 더하고 싶으면(노트북 01의 LoRA 이동량) `callbacks`에
`on_step_end(trainer, record)`를 가진 객체를 준다: 기록이 history와 metrics.jsonl에 들어가기 전에 불린다.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from course_lib.errors import DataFormatError, config_error
from course_lib.evaluate import evaluate_vlm
from course_lib.models.vlm import IGNORE_INDEX, TextBatch, build_vlm, caption_loss_sum, encode_captions
from course_lib.precision import resolve_mixed_precision
import course_lib.training.checkpoint as ckpt
from course_lib.training.config import StageConfig, TrainConfig
from course_lib.training.data import SceneCaptionData, epoch_order, length_grouped_order
from course_lib.training.freezing import add_lora, is_lora_parameter, set_trainable
from course_lib.training.optim import build_optimizer, build_scheduler

WALL_CLOCK_KEYS = ("seconds",)  # 걸음 기록 가운데 실행마다 다른 값: 체크포인트의 학습기 상태에는 넣지 않는다


@dataclass
class History:
    """학습 기록: 걸음별 손실과 epoch별 평가."""
    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)

    def without_wall_clock(self) -> dict:
        """체크포인트에 담는 기록: 걸음 시간(실행마다 다르다)은 빼고, metrics.jsonl에만 남긴다."""
        steps = [{k: v for k, v in s.items() if k not in WALL_CLOCK_KEYS} for s in self.steps]
        return {"steps": steps, "evals": self.evals}


@dataclass
class MicroBatch:
    """forward/backward 한 번의 입력: 이 프로세스 몫의 캡션 텐서와, 그림(`pixels`) 또는 미리 계산한 인코더 출력(`features`)."""
    text: TextBatch
    pixels: torch.Tensor | None
    features: torch.Tensor | None


@dataclass
class Batch:
    """옵티마이저 한 걸음의 데이터: 누적 횟수만큼의 마이크로 배치와, 모든 프로세스·누적을 합친 수들."""
    micro: list[MicroBatch]
    caption_tokens: int  # 손실을 나눌 수: 라벨이 붙은 캡션 토큰(모든 누적, 모든 프로세스)
    tokens: int  # 채움을 뺀 자리 수(그림 토큰 포함) — 기록용
    positions: int  # 채움을 포함해 계산한 자리 수 — 기록용


class StepCallback(Protocol):
    def on_step_end(self, trainer: "Trainer", record: dict) -> None: ...


class Trainer:
    """두 단계를 차례로 돌리는 학습기. `run()`이 끝나면 `history`와 `best`가 채워진다.

    `model`은 학습하는 VLM 하나다(accelerate가 여러 프로세스용으로 감싼 것은 `run_stage` 안에서만 쓴다).
    `train_data`/`val_data`를 주지 않으면 설정의 미니 월드 분할을 만든다. `evaluator`는 장면 정답이 없는 실제
    데이터의 채점기(`real_data.RealEvaluator`)다. `log`는 epoch 보고 같은 줄을 받는다(기본: 진행 막대를 깨지 않는
    `tqdm.write`).
    """

    def __init__(self, config: TrainConfig, parts, out_dir: Path | None = None, progress: bool = True,
                 max_steps: int | None = None, log: Callable[[str], None] = tqdm.write, train_data=None,
                 val_data=None, evaluator=None, callbacks: Sequence[StepCallback] = ()):
        self.config = config
        self.parts = parts
        self.out_dir = Path(out_dir) if out_dir else None
        self.progress = progress
        self.max_steps = max_steps
        self.log = log
        self.callbacks = list(callbacks)
        self.evaluator = evaluator
        self.accelerator = Accelerator(mixed_precision=resolve_mixed_precision(config.mixed_precision),
                                       cpu=_cpu_processes_launched())
        # torch·Python·NumPy 난수를 모두 시드로 정한다: 재개한 학습이 끊기지 않은 학습과 같은 난수 상태로 끝나게.
        set_seed(config.seed)
        llm = add_lora(parts.llm, config.lora, config.gradient_checkpointing)
        self.model = build_vlm(parts.vision_encoder(config.vision_feature_layer), llm, seed=config.seed,
                               merge=config.projector_merge)
        self.train_data = train_data if train_data is not None else SceneCaptionData("train", config.n_train, config.seed)
        self.val_data = val_data if val_data is not None else SceneCaptionData("val", config.n_val, config.seed)
        for name, data in (("train", self.train_data), ("val", self.val_data)):
            if len(data) == 0:
                raise DataFormatError(f"data: {name} 데이터가 비어 있습니다(0쌍). 데이터 파일과 n_{name}을 확인하세요 "
                                      f"(data: empty {name} data set)")
        self.history = History()
        self.global_step = 0
        self.best: dict | None = None
        self.setup_seconds = 0.0  # 그림 그리기 + 인코더 출력 캐시(첫 걸음의 시간에 넣지 않는다)
        self._features: torch.Tensor | None = None  # 학습 그림 전체의 인코더 출력(캐시를 쓸 때)

    # -- 전체 실행
    def run(self, resume: bool = False) -> "Trainer":
        """두 단계를 차례로 돌린다. `resume=True`면 `out_dir`의 마지막 체크포인트에서 이어 간다(가중치, 옵티마이저,
        스케줄, 난수 상태, 기록; 데이터 순서는 상태 없이 다시 계산). `max_steps`에 닿으면 그 자리에서 멈춘다."""
        self._clean_crashed_writes()
        self._prepare_data()
        start_stage, resume_state = 0, None
        if resume and self.out_dir and (last := ckpt.latest_checkpoint(self.out_dir)) is not None:
            start_stage, resume_state = self._load_resume(last)
        elif self.out_dir and self.accelerator.is_main_process:
            (self.out_dir / "metrics.jsonl").unlink(missing_ok=True)
        for stage_index in range(start_stage, len(self.config.stages)):
            self.run_stage(stage_index, resume_state)
            resume_state = None
            if self._reached_max_steps():
                break
        return self

    # -- 한 단계
    def run_stage(self, stage_index: int, resume: dict | None = None) -> None:
        """한 단계: 학습할 파라미터를 켜고(`set_trainable`), 그룹별 AdamW와 예열 + 코사인 스케줄을 만들어 epoch마다
        걸음을 밟는다. epoch 끝마다 평가하고 최고 SigLIP 점수의 가중치를 `checkpoints/best`에 쓴다.
        `resume`은 `_load_resume`이 읽은 옵티마이저·스케줄 상태와 이어 갈 자리(epoch, epoch 안의 걸음)."""
        stage = self.config.stages[stage_index]
        acc = self.accelerator
        set_trainable(self.model, stage)
        optimizer = build_optimizer(self.model, stage, self.config.lora)
        per_epoch = self.steps_per_epoch(stage)
        scheduler = build_scheduler(optimizer, stage, per_epoch * stage.epochs)
        train_model, optimizer = acc.prepare(self.model, optimizer)  # 여러 프로세스면 DDP로 감싼 것
        start_epoch, start_step = 0, 0
        if resume is not None:
            ckpt.restore_optimizer(_inner(optimizer), resume["optimizer_tensors"], resume["optimizer_meta"])
            scheduler.load_state_dict(resume["scheduler"])
            start_epoch, start_step = resume["epoch"], resume["step_in_epoch"]
        lora_params = [p for n, p in self.model.llm.named_parameters() if p.requires_grad and is_lora_parameter(n)]
        bar = tqdm(total=per_epoch * stage.epochs, initial=start_epoch * per_epoch + start_step, desc=stage.name,
                   mininterval=1.0, disable=not self.progress or not acc.is_main_process)
        for epoch in range(start_epoch, stage.epochs):
            order = self._epoch_order(stage_index, stage, epoch)
            for step in range(start_step if epoch == start_epoch else 0, per_epoch):
                if self._reached_max_steps():
                    bar.close()
                    return
                if not train_model.training:  # 평가 뒤에만 되돌린다(train()은 모듈 수천 개를 걷는다)
                    train_model.train()
                step_start = time.perf_counter()
                batch = self._batch(order, step, stage, epoch)
                # LoRA를 늦게 켜는 단계(노트북 01의 통제 비교): 처음 몇 걸음은 LoRA의 기울기를 버린다.
                lora_waits = epoch * per_epoch + step < stage.lora_delay_steps
                loss, lrs = self._train_step(train_model, optimizer, batch, stage, lora_params if lora_waits else ())
                scheduler.step()
                self.global_step += 1
                bar.update(1)
                record = {"stage": stage.name, "epoch": epoch, "step": step + 1, "global_step": self.global_step,
                          "loss": loss, "lr": lrs, "seconds": time.perf_counter() - step_start,
                          "tokens": batch.tokens, "positions": batch.positions}
                self._log_step(record)
                if self.config.checkpoint_every and self.global_step % self.config.checkpoint_every == 0:
                    self._save_step_checkpoint(optimizer, scheduler, stage_index, epoch, step + 1)
            self._end_of_epoch(stage_index, stage, epoch, optimizer, scheduler)
        bar.close()

    def steps_per_epoch(self, stage: StageConfig) -> int:
        """한 epoch의 옵티마이저 걸음 수: 학습 데이터 ÷ (배치 × 누적), `stage.steps_per_epoch`가 있으면 그만큼까지."""
        available = len(self.train_data) // (stage.batch_size * stage.grad_accum)
        if available == 0:
            raise config_error("batch_size", f"데이터 {len(self.train_data)}개로는 한 걸음(batch {stage.batch_size} × "
                               f"누적 {stage.grad_accum})도 못 갑니다", "batch larger than the data set")
        return min(available, stage.steps_per_epoch) if stage.steps_per_epoch else available

    def _train_step(self, train_model, optimizer, batch: Batch, stage: StageConfig,
                    waiting: Sequence[torch.nn.Parameter] = ()) -> tuple[float, list[float]]:
        """옵티마이저 한 걸음(기울기 누적 포함). `waiting`(늦게 켜는 LoRA)의 기울기는 버린다: 갱신되지 않고, AdamW의
        모멘트도 비어 있고, 기울기 자르기에도 들지 않는다. 돌려주는 것: 캡션 토큰 평균 손실(모든 누적·프로세스)과
        그룹마다 이 걸음에 쓴 학습률(기울기를 버린 그룹은 0)."""
        acc = self.accelerator
        loss_sum_total = 0.0
        for k, micro in enumerate(batch.micro):
            last = k == len(batch.micro) - 1  # 누적의 마지막에만 프로세스끼리 기울기를 맞춘다
            with acc.no_sync(train_model) if not last else contextlib.nullcontext(), acc.autocast():
                loss_sum, _ = caption_loss_sum(train_model, micro.pixels, micro.text, vision_features=micro.features)
                # DDP는 프로세스들의 기울기를 평균하므로 프로세스 수를 곱해 전체 토큰 평균의 기울기를 만든다.
                acc.backward(loss_sum * acc.num_processes / batch.caption_tokens)
            loss_sum_total += loss_sum.detach()
        for param in waiting:
            param.grad = None
        lrs = [0.0 if waiting and group["name"] == "lora" else group["lr"] for group in optimizer.param_groups]
        if stage.max_grad_norm:
            acc.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], stage.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum_total = acc.reduce(loss_sum_total.reshape(1).to(acc.device), reduction="sum")
        return float(loss_sum_total) / batch.caption_tokens, lrs

    def _batch(self, order: list[int], step: int, stage: StageConfig, epoch: int) -> Batch:
        """이 걸음의 예제(섞은 순서 `order`의 step번째 조각)를 누적 횟수만큼의 마이크로 배치로, 이 프로세스 몫만."""
        acc = self.accelerator
        micro_size = stage.batch_size // acc.num_processes
        if micro_size * acc.num_processes != stage.batch_size:
            raise config_error("batch_size", f"배치 {stage.batch_size}가 프로세스 수 {acc.num_processes}로 나누어떨어지지 "
                               f"않습니다", "batch size must be divisible by the number of processes")
        mine = slice(acc.process_index * micro_size, (acc.process_index + 1) * micro_size)
        start = step * stage.batch_size * stage.grad_accum
        chunks = [order[start + k * stage.batch_size: start + (k + 1) * stage.batch_size] for k in range(stage.grad_accum)]
        texts = [encode_captions(self.parts.tokenizer, self.train_data.captions(c, epoch)) for c in chunks]
        micro = []
        for chunk, text in zip(chunks, texts):
            rows = chunk[mine]
            local = TextBatch(*(t[mine].to(acc.device) for t in (text.input_ids, text.attention_mask, text.labels)))
            if self._features is not None:
                micro.append(MicroBatch(local, None, self._features[rows]))
            else:
                micro.append(MicroBatch(local, self.train_data.images[rows].to(acc.device), None))
        image_tokens = self.model.num_image_tokens
        return Batch(micro, caption_tokens=sum(int((t.labels[:, 1:] != IGNORE_INDEX).sum()) for t in texts),
                     tokens=sum(int(t.attention_mask.sum()) + t.input_ids.shape[0] * image_tokens for t in texts),
                     positions=sum(t.input_ids.numel() + t.input_ids.shape[0] * image_tokens for t in texts))

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

    # -- 평가
    def evaluate(self, data=None) -> dict:
        """`data`(기본: 검증 분할)에서 캡션을 만들어 잰다: SigLIP 점수와 속성별 정확도(미니 월드), 또는 `evaluator`가
        주는 값(실제 데이터: SigLIP 점수와 검증 손실). 캡션 앞 8개도 돌려준다."""
        data = self.val_data if data is None else data
        if self.evaluator is not None:  # 장면 정답이 없는 실제 데이터(real_data.RealEvaluator)
            return self.evaluator(self.model, self.parts.tokenizer, data)
        result = evaluate_vlm(self.model, self.parts.siglip, self.parts.tokenizer, data.scenes, data.images)
        return {"siglip_score": result.siglip_score, **{f"acc_{k}": v for k, v in result.accuracy.items()},
                "captions": result.captions[:8]}

    def _end_of_epoch(self, stage_index, stage, epoch, optimizer, scheduler):
        record = {"stage": stage.name, "epoch": epoch + 1, "global_step": self.global_step}
        if self.config.eval_every_epoch:
            record.update(self.evaluate())
            is_best = self.best is None or record["siglip_score"] > self.best["siglip_score"]
            if is_best:
                self.best = {k: v for k, v in record.items() if k != "captions"}
                if self.out_dir and self.accelerator.is_main_process:
                    ckpt.write_checkpoint(self.out_dir / "checkpoints" / "best", self.model, None, {}, self.config)
            record["is_best"] = is_best
            score = (f"정확 일치 {record['acc_exact']:.3f}" if "acc_exact" in record
                     else f"검증 손실 {record.get('val_loss', float('nan')):.4f}")
            self.log(f"[{stage.name}] epoch {epoch + 1}/{stage.epochs}: SigLIP 점수 {record['siglip_score']:.4f}, "
                     f"{score}" + ("  ← 최고" if is_best else ""))
        self.history.evals.append(record)
        self._write_metrics({"type": "eval", **record})
        self._save_step_checkpoint(optimizer, scheduler, stage_index, epoch + 1, 0)

    # -- 준비
    def _prepare_data(self) -> None:
        """첫 걸음 전에: 미니 월드의 그림을 그리고(처음 쓸 때 그린다), 캐시를 쓰면 얼어 있는 인코더의 출력을 학습 그림마다
        한 번 계산해 둔다. 걸린 시간은 `setup_seconds`(걸음 시간에는 넣지 않는다).

        인코더는 두 단계 모두 얼어 있고(eval 모드, 기울기 없음) 그림도 늘 같으므로, 걸음마다 다시 계산한 값과 같다
        (tests/test_train.py가 캐시를 쓴 학습과 쓰지 않은 학습의 최종 가중치를 비교한다). 그림을 파일에서 그때그때
        읽는 데이터(real_data)면 캐시 없이 간다(설정은 그대로라 재개에도 같다).
        """
        start = time.perf_counter()
        images = self.train_data.images
        if self.config.cache_vision_features and self._features is None:
            if not isinstance(images, torch.Tensor):
                self.log("시각 인코더 출력 캐시: 끔(그림을 파일에서 읽는 데이터라 걸음마다 인코더를 돌립니다)")
            else:
                with torch.no_grad():
                    self._features = torch.cat([self.model.vision(images[k:k + 256].to(self.accelerator.device))
                                                for k in range(0, len(images), 256)])
        self.setup_seconds = time.perf_counter() - start

    def _reached_max_steps(self) -> bool:
        return self.max_steps is not None and self.global_step >= self.max_steps

    # -- 체크포인트와 기록
    def _log_step(self, record: dict) -> None:
        for callback in self.callbacks:
            callback.on_step_end(self, record)
        self.history.steps.append(record)
        self._write_metrics(record)

    def _save_step_checkpoint(self, optimizer, scheduler, stage_index, epoch, step_in_epoch):
        if not self.out_dir:
            return
        # 난수 상태는 프로세스(rank)마다 다르다: 모든 프로세스가 함께 모은 뒤 주 프로세스만 쓴다.
        rng_states = ckpt.gather_rng_states(self.accelerator)
        if not self.accelerator.is_main_process:
            return
        state = {"stage_index": stage_index, "epoch": epoch, "step_in_epoch": step_in_epoch,
                 "global_step": self.global_step, "scheduler": scheduler.state_dict(), "best": self.best,
                 "history": self.history.without_wall_clock(), "world_size": self.accelerator.num_processes,
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

    def _clean_crashed_writes(self) -> None:
        """이 폴더의 앞선 실행이 체크포인트를 쓰다 죽으며 남긴 임시 폴더(`*.tmp-PID`, `*.old-PID`)를 지운다."""
        root = self.out_dir / "checkpoints" if self.out_dir else None
        if root is None or not root.is_dir() or not self.accelerator.is_main_process:
            return
        leftovers = sorted(p for p in root.iterdir() if ".tmp-" in p.name or ".old-" in p.name)
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
        if leftovers:
            self.log(f"앞선 실행이 체크포인트를 쓰다 멈추며 남긴 임시 폴더 {len(leftovers)}개를 지웠습니다: "
                     + ", ".join(p.name for p in leftovers))

    def _load_resume(self, last: Path) -> tuple[int, dict | None]:
        # 먼저 모두 검사한다(설정 지문, 파일 손상, 데이터 순서, 구조). 통과한 뒤에야 상태를 바꾸고 기록을 고쳐 쓴다.
        weights, tensors, meta, state = ckpt.open_for_resume(last, self.config)
        ckpt.check_data_record(state.get("data"), self.train_data, self.config.seed)
        ckpt.load_trainable_state(self.model, weights)
        ckpt.restore_rng(self.accelerator, tensors, json.loads(meta.get("rng", "{}")), self.log)
        self.global_step = state["global_step"]
        self.best = state["best"]
        self.history = History(**state["history"])
        self._truncate_metrics()
        stage_index, epoch = state["stage_index"], state["epoch"]
        if epoch >= self.config.stages[stage_index].epochs:  # 단계의 마지막 epoch 끝에서 저장됨 → 다음 단계부터
            return stage_index + 1, None
        opt_tensors = {k[len("opt."):]: v for k, v in tensors.items() if k.startswith("opt.")}
        return stage_index, {"optimizer_tensors": opt_tensors, "optimizer_meta": json.loads(meta["optimizer"]),
                             "scheduler": state["scheduler"], "epoch": epoch,
                             "step_in_epoch": state["step_in_epoch"]}

    def _truncate_metrics(self) -> None:
        """재개할 때: metrics.jsonl에서 체크포인트 뒤의 줄(다시 계산할 걸음)을 지운다. 앞의 줄은 걸음 시간과 함께 그대로
        둔다. 파일이 없으면 체크포인트의 기록(걸음 시간 없이)으로 다시 쓴다."""
        if not self.out_dir or not self.accelerator.is_main_process:
            return
        path = self.out_dir / "metrics.jsonl"
        if path.is_file():
            n = self.global_step
            evaluated = any(e["global_step"] == n for e in self.history.evals)  # 체크포인트가 epoch 끝(평가 뒤)인가
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            rows = [r for r in rows if r["global_step"] < n
                    or (r["global_step"] == n and (r.get("type") != "eval" or evaluated))]
        else:
            rows = self.history.steps + [{"type": "eval", **e} for e in self.history.evals]
            rows.sort(key=lambda r: (r["global_step"], r.get("type") == "eval"))
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(ckpt.jsonable(r), ensure_ascii=False) + "\n" for r in rows)


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
