"""두 단계 학습(two-stage training). 모듈 하나에 일 하나:

- `config`: 단계·LoRA·실행 설정과 검사(`StageConfig`, `LoraSettings`, `TrainConfig`)
- `data`: 미니 월드의 (그림, 캡션) 데이터와 epoch마다 섞는 순서
- `freezing`: LoRA 붙이기, 단계마다 무엇을 학습할지(`requires_grad`), 학습 파라미터 수 = 산수
- `optim`: 그룹별 학습률의 AdamW와 예열 + 코사인 스케줄
- `checkpoint`: safetensors 체크포인트의 원자적 쓰기·읽기와 재개
- `trainer`: 학습 루프(`Trainer`) — 위에서 아래로 읽는다
- `main_job`: 명령 `python -m course_lib train`(본 작업)

자주 쓰는 이름은 여기서 바로 가져올 수 있다: `from course_lib import training; training.Trainer(...)`.
"""
from course_lib.errors import ConfigError
from course_lib.models.vlm import caption_loss_sum
from course_lib.training.checkpoint import (latest_checkpoint, load_trainable_state, read_checkpoint,
                                            trainable_state, write_checkpoint)
from course_lib.training.config import LoraSettings, StageConfig, TrainConfig
from course_lib.training.data import SceneCaptionData, epoch_order, length_grouped_order
from course_lib.training.freezing import add_lora, expected_counts, is_lora_parameter, set_trainable, trainable_counts
from course_lib.training.optim import TrainableCountError, build_optimizer, build_scheduler, lr_factor
from course_lib.training.trainer import History, Trainer

__all__ = ["ConfigError", "History", "LoraSettings", "SceneCaptionData", "StageConfig", "TrainConfig",
           "TrainableCountError", "Trainer", "add_lora", "build_optimizer", "build_scheduler", "caption_loss_sum",
           "epoch_order", "expected_counts", "is_lora_parameter", "latest_checkpoint", "length_grouped_order",
           "load_trainable_state", "lr_factor", "read_checkpoint", "set_trainable", "trainable_counts", "trainable_state",
           "write_checkpoint"]
