"""알려진 무해한 경고를 거르는 곳은 여기 하나다. 노트북(Colab 준비 셀), 본 작업, 실험 작업 프로세스가 `install()`을 부른다.

거르는 것은 아래 표의 메시지뿐이고, 줄마다 왜 무해한지 적는다. 다른 경고는 그대로 보인다.
"""
from __future__ import annotations

import logging
import warnings

# (로거 이름, 메시지에 든 글자, 왜 무해한가). 로거 이름 ""은 루트 로거(open_clip은 루트 로거에 쓴다).
HARMLESS_LOGS = (
    ("bitsandbytes.backends.cpu.ops", "kernels-community",
     "CPU에서 허브의 선택적 커널(`kernels`)을 찾지 못했을 뿐, NF4는 기본 구현으로 돈다. `kernels`는 허브에서 코드를 "
     "받으므로 설치하지 않는다(README 문제 해결)."),
    ("", "No pretrained weights loaded",
     "open_clip이 `pretrained=None`으로 만든 모델에 남긴다. 이 강의는 곧바로 `data/`의 가중치를 싣거나(미니 월드), "
     "구조만 meta 장치에 만들어 센다(실제 규모)."),
    ("transformers.tokenization_utils_base", "using the `__call__` method is faster",
     "transformers 4.x의 빠른 토크나이저가 `pad()`를 부르면 한 번 남기는 속도 조언이다. 캡션 인코딩"
     "(`models.vlm.encode_captions`)은 토큰화와 라벨 만들기를 나눠야 해서 `pad()`를 쓰고, 값은 `__call__`과 같다."),
)

# (경고 종류, 메시지 정규식, 경고를 낸 모듈의 정규식, 왜 무해한가). 메시지와 모듈이 모두 맞아야 거른다.
HARMLESS_WARNINGS = (
    (FutureWarning, r".*`is_gradient_checkpointing` is deprecated.*", r"transformers\.",
     "peft(0.17~)가 LoRA를 붙일 때(`get_peft_model`) transformers 5의 옛 속성 이름 `is_gradient_checkpointing`을 "
     "읽는다. 경고는 transformers가 내지만 부르는 쪽은 peft 안이라 강의 코드로 고칠 수 없고, 값은 새 이름과 같다. "
     "강의 코드는 새 이름을 쓴다(`course_lib.compat`). 옛 이름 `gradient_checkpointing_enable` 같은, 강의 코드가 "
     "직접 부르는 이름의 경고는 거르지 않는다(보이면 고칠 곳이 강의 안에 있다)."),
)


class _DropMessages(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


def install() -> None:
    """표의 경고를 거르고, transformers 자신의 진행 막대만 끈다. 여러 번 불러도 한 번과 같다.

    끄는 것: transformers가 `logging.tqdm`으로 그리는 막대 — `from_pretrained`의 "Loading weights"(data/의 작은
    LLM은 순식간이라 노트북 출력에 막대만 남는다)와 `save_pretrained`의 "Writing model shards"(사전학습).
    끄지 않는 것: huggingface_hub의 내려받기 막대. colab/full 프리셋은 처음에 수 GiB를 받으므로 진행이 보여야 한다.
    `transformers.utils.logging.disable_progress_bar()`는 허브의 막대까지 전역으로 끄므로, 부르기 전 허브의 상태
    (켬; 또는 사용자가 HF_HUB_DISABLE_PROGRESS_BARS=1로 끈 상태)를 되돌려 놓는다."""
    install_log_filters()
    for category, pattern, module, _why in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category, module=module)
    # transformers·huggingface_hub는 무겁다: 부를 때만
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars
    from transformers.utils import logging as hf_logging

    hub_bars_shown = not are_progress_bars_disabled()
    with warnings.catch_warnings():  # HF_HUB_DISABLE_PROGRESS_BARS=0이면 허브가 "끌 수 없다"고 경고한다: 바라던 대로다
        warnings.simplefilter("ignore")
        hf_logging.disable_progress_bar()
    if hub_bars_shown:
        enable_progress_bars()


def install_log_filters() -> None:
    """표의 로그 메시지만 거른다(표준 라이브러리만 쓰므로 torch가 깨진 환경에서도 된다: doctor)."""
    by_logger: dict[str, tuple[str, ...]] = {}
    for name, fragment, _why in HARMLESS_LOGS:
        by_logger[name] = by_logger.get(name, ()) + (fragment,)
    for name, fragments in by_logger.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(fragments))
