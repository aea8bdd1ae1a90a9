"""라이브러리 버전 차이를 한곳에서 흡수한다.

transformers 5.x는 체크포인팅 API의 이름을 `gradient_checkpointing_*`에서 `activation_checkpointing_*`로 바꿨고,
옛 이름은 FutureWarning을 낸다. 이 강의의 의존성 범위(transformers>=4.56)에는 새 이름이 없는 버전도 들어 있으므로,
새 이름이 있으면 새 이름을, 없으면 옛 이름을 부른다. 인자 이름도 함께 바뀌었다
(`gradient_checkpointing_kwargs` → `activation_checkpointing_kwargs`).
"""
from __future__ import annotations


def enable_activation_checkpointing(model, use_reentrant: bool = False) -> None:
    """층마다 그레이디언트 체크포인팅을 켠다(기본은 재진입(reentrant)하지 않는 방식: 노트북 04)."""
    kwargs = {"use_reentrant": use_reentrant}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:  # transformers < 5의 이름
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def disable_activation_checkpointing(model) -> None:
    if hasattr(model, "activation_checkpointing_disable"):
        model.activation_checkpointing_disable()
    else:
        model.gradient_checkpointing_disable()


def is_activation_checkpointing(model) -> bool:
    if hasattr(model, "is_activation_checkpointing"):
        return bool(model.is_activation_checkpointing)
    return bool(model.is_gradient_checkpointing)
