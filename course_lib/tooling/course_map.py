"""강의 지도: 노트북 목록과 각 노트북이 가르치는 것. README 표와 노트북 00이 여기서 만들어진다.

CPU 시간은 적어 넣지 않는다. 커밋된 노트북에 nbconvert가 셀마다 남긴 실행 시각
(`metadata.execution`)에서 계산하고, 아직 없는 노트북은 예산("목표 ≤ 3분")만 보여 준다.
예산은 노트북마다 `Lesson.budget_minutes`에 있다: 하나에 3분, 실험 노트북 01은 5분, 본 작업을 돌리는 06은 4분.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from course_lib import REPO_ROOT

NOTEBOOK_BUDGET_MIN = 3  # 노트북 하나는 2코어 CPU에서 3분 이내(따로 정하지 않은 노트북의 예산)


@dataclass(frozen=True)
class Lesson:
    file: str  # notebooks/ 안의 파일 이름
    title: str
    learn: str  # 무엇을 배우나
    real_scale: str  # 실제 규모(8B 모델)로 할 때 필요한 하드웨어
    budget_minutes: float = NOTEBOOK_BUDGET_MIN  # 2코어 CPU에서 이 노트북의 실행 시간 예산(분)


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "00_setup_and_mini_world.ipynb",
        "준비와 미니 월드",
        "강의 지도, 환경 점검(doctor), 미니 월드와 세 모델 둘러보기",
        "없음(CPU)",
    ),
    Lesson(
        "01_single_stage_failure.ipynb",
        "한 번에 학습은 정말 어긋나나",
        "한 번에 학습(single-stage)과 2단계 학습을 통제 비교(LoRA만 늦게 켜기)와 실제 비교(강의의 레시피)로, "
        "학습된 모델에서 시드 3개와 미리 정한 판정 규칙으로 재기",
        "GPU 1장(`colab` 프리셋)",
        budget_minutes=5,  # 실험 노트북(학습 9번)이라 5분
    ),
    Lesson(
        "02_lora_parameter_arithmetic.ipynb",
        "저랭크 적응(LoRA)과 파라미터 계산",
        "LoRA를 직접 구현해 peft와 같음을 확인, 8B 모델의 학습 파라미터 수를 정확히 계산, α/r",
        "없음(meta 장치에서 계산)",
    ),
    Lesson(
        "03_dora_decomposition.ipynb",
        "DoRA: 크기와 방향",
        "가중치를 크기(magnitude)와 방향(direction)으로 나누기, 직접 구현 = peft `use_dora`",
        "없음(meta 장치에서 계산)",
    ),
    Lesson(
        "04_gradient_checkpointing_memory.ipynb",
        "그레이디언트 체크포인팅과 메모리",
        "저장되는 활성값(activation) 메모리를 바이트 단위로 재고, 시간 비용과 use_cache 함정 확인",
        "CPU로 충분(autograd가 저장하는 활성값의 바이트 수는 장치와 무관; GPU 할당자의 여분은 따로), 8B 실측에는 CUDA GPU",
    ),
    Lesson(
        "05_nf4_quantization.ipynb",
        "NF4 양자화와 QLoRA",
        "NF4 코드북, 블록 단위·이중 양자화(double quantization)를 직접 구현 = bitsandbytes, CPU에서 QLoRA",
        "8B QLoRA에는 CUDA GPU 1장(필요 메모리는 노트북 00에서 계산)",
    ),
    Lesson(
        "06_two_stage_training.ipynb",
        "2단계 학습 전체 과정",
        "두 단계 루프를 직접 쓰고 학습기와 비트 단위로 맞춰 보기, README의 본 작업을 그대로 실행, 최고 모델 저장과 재개(resume)",
        "`full` 프리셋(Qwen3-8B NF4 + CLIP ViT-L/14): CUDA GPU 1장 이상",
        budget_minutes=4,  # 본 작업(python -m course_lib train --preset mini)을 줄이지 않고 돌린다
    ),
    Lesson(
        "07_real_scale.ipynb",
        "미니 월드에서 Qwen3-8B로",
        "실제 프리셋(colab·full)의 구조와 필요 메모리 계산, LLaVA/COCO 데이터, Colab GPU, 여러 GPU(accelerate)",
        "`colab`: T4/L4 GPU 1장, `full`: 메모리 계산은 `doctor --preset full`",
    ),
)


def notebook_path(lesson: Lesson, root: Path = REPO_ROOT) -> Path:
    return root / "notebooks" / lesson.file


def measured_minutes(notebook: Path) -> float | None:
    """노트북에 기록된 셀 실행 시각으로 잰 실행 시간(분). 기록이 없으면 None.

    nbclient가 셀마다 남기는 `iopub.execute_input`(시작)과 `shell.execute_reply`(끝)를 쓴다.
    커널 시작 시간은 들어가지 않는다.
    """
    if not notebook.is_file():
        return None
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    starts, ends = [], []
    for cell in cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            starts.append(datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00")))
            ends.append(datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00")))
    if not starts:
        return None
    return (max(ends) - min(starts)).total_seconds() / 60


def budget_label(lesson: Lesson) -> str:
    return f"목표 ≤ {lesson.budget_minutes:g}분"


def cpu_time_label(lesson: Lesson, root: Path = REPO_ROOT) -> str:
    """표에 쓸 CPU 시간: 잰 값이 있으면 "1.2분(잰 값)", 없으면 그 노트북의 예산 "목표 ≤ 3분"."""
    minutes = measured_minutes(notebook_path(lesson, root))
    if minutes is None:
        return budget_label(lesson)
    return f"{minutes:.1f}분(잰 값)"


def over_budget(root: Path = REPO_ROOT, lessons: tuple[Lesson, ...] = LESSONS) -> dict[str, tuple[float, float]]:
    """잰 시간이 자기 예산을 넘은 노트북: 파일 이름 → (잰 분, 예산 분). 잰 값이 없는 노트북은 뺀다(노트북 00)."""
    out = {}
    for lesson in lessons:
        minutes = measured_minutes(notebook_path(lesson, root))
        if minutes is not None and minutes > lesson.budget_minutes:
            out[lesson.file] = (minutes, lesson.budget_minutes)
    return out
