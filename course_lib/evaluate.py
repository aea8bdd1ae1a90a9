"""평가(evaluation): 속성 정확도, SigLIP 점수, 눈 가린 기준선(blind baseline), 텍스트 퍼플렉서티(perplexity).

속성 정확도(attribute accuracy)
    생성된 캡션을 `world.parse_caption`으로 속성으로 되돌려 정답과 비교한다.
    - exact: 장면의 모든 도형(위치·크기·색·모양)과 개수가 정확히 같을 때만 1.
    - position: 도형이 있는 칸의 집합이 같은가. count: 도형 수가 같은가.
    - color / shape / size: 정답 도형마다, 같은 칸에 놓인 생성 도형의 그 속성이 같은가(도형 단위 평균).
    읽을 수 없는 캡션(unparseable)은 모든 항목에서 0점이다.

SigLIP 점수(SigLIP score) — 표준 지표가 아니라 이 강의가 정의한다
    score(그림, 캡션) = sigmoid(t · cos(f_img, f_txt) + b)
    f_img, f_txt는 미니 월드의 SigLIP 모델(이미지 타워, 텍스트 타워)이 낸 임베딩, t = exp(logit_scale)와
    b = logit_bias는 그 모델이 학습한 값이다. SigLIP 손실은 맞는 짝에 대해 이 값을 1로, 틀린 짝에 대해
    0으로 보내도록 학습하므로 "이 캡션이 이 그림의 캡션일 확률"처럼 읽을 수 있다. 분할 전체의 평균을 쓴다.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Sequence

import torch

from course_lib import world
from course_lib.models.vision import CONTEXT_LENGTH, normalize_pixels
from course_lib.models.vlm import IGNORE_INDEX, context_prompt_ids, encode_captions

ATTRIBUTES = ("exact", "count", "position", "size", "color", "shape", "parsed")


def caption_accuracy(truth: world.Scene, caption: str) -> dict[str, float]:
    """캡션 하나의 속성별 점수(0~1)."""
    parsed = world.parse_caption(caption)
    if not parsed.ok:
        return {name: 0.0 for name in ATTRIBUTES}
    by_position = {o.position: o for o in parsed.objects}
    per_object = {name: 0.0 for name in ("size", "color", "shape")}
    for obj in truth.objects:
        guess = by_position.get(obj.position)
        for name in per_object:
            per_object[name] += float(guess is not None and getattr(guess, name) == getattr(obj, name))
    scores = {name: value / truth.count for name, value in per_object.items()}
    scores["exact"] = float(parsed.objects == truth.objects)
    scores["count"] = float(parsed.count == truth.count)
    scores["position"] = float(set(by_position) == {o.position for o in truth.objects})
    scores["parsed"] = 1.0
    return scores


def attribute_accuracy(scenes: Sequence[world.Scene], captions: Sequence[str]) -> dict[str, float]:
    """여러 캡션의 속성별 평균 정확도."""
    if len(scenes) != len(captions) or not scenes:
        raise ValueError(f"장면 수({len(scenes)})와 캡션 수({len(captions)})가 같고 0보다 커야 합니다")
    rows = [caption_accuracy(s, c) for s, c in zip(scenes, captions)]
    return {name: sum(r[name] for r in rows) / len(rows) for name in ATTRIBUTES}


def tokenize_for_siglip(tokenizer, captions: Sequence[str]) -> torch.Tensor:
    """SigLIP 텍스트 타워 입력: 캡션 + 끝 토큰, 길이 CONTEXT_LENGTH로 채우고 자른다."""
    ids = [tokenizer(c, add_special_tokens=False).input_ids[:CONTEXT_LENGTH - 1] + [tokenizer.eos_token_id]
           for c in captions]
    out = torch.full((len(ids), CONTEXT_LENGTH), tokenizer.pad_token_id)
    for i, row in enumerate(ids):
        out[i, :len(row)] = torch.tensor(row)
    return out


@torch.no_grad()
def siglip_scores(siglip, tokenizer, pixel_values: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
    """그림-캡션 짝마다 sigmoid(t·cos + b). 모양 [N]."""
    siglip.eval()
    f_img = siglip.encode_image(normalize_pixels(pixel_values), normalize=True)
    f_txt = siglip.encode_text(tokenize_for_siglip(tokenizer, captions).to(f_img.device), normalize=True)
    logits = siglip.logit_scale.exp() * (f_img * f_txt).sum(-1) + siglip.logit_bias
    return torch.sigmoid(logits)


@torch.no_grad()
def retrieval_accuracy(siglip, tokenizer, pixel_values: torch.Tensor, captions: Sequence[str]) -> dict[str, float]:
    """제로샷 검색(zero-shot retrieval) top-1: 그림 N장과 캡션 N개 가운데 제 짝을 1등으로 고르는 비율."""
    siglip.eval()
    f_img = siglip.encode_image(normalize_pixels(pixel_values), normalize=True)
    f_txt = siglip.encode_text(tokenize_for_siglip(tokenizer, captions).to(f_img.device), normalize=True)
    sim = f_img @ f_txt.T
    target = torch.arange(len(captions), device=sim.device)
    return {"image_to_text": (sim.argmax(1) == target).float().mean().item(),
            "text_to_image": (sim.argmax(0) == target).float().mean().item()}


@torch.no_grad()
def text_perplexity(llm, tokenizer, captions: Sequence[str], batch_size: int = 256) -> float:
    """LLM 혼자(그림 없이) 지시문 + 캡션을 읽을 때 캡션 토큰의 퍼플렉서티. 낮을수록 말을 잘 안다."""
    was_training = llm.training
    llm.eval()
    total_nll, total_tokens = 0.0, 0
    for start in range(0, len(captions), batch_size):
        batch = encode_captions(tokenizer, captions[start:start + batch_size])
        device = next(llm.parameters()).device
        logits = llm(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)).logits
        labels = batch.labels.to(device)[:, 1:]
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels.flatten(),
                                                ignore_index=IGNORE_INDEX, reduction="sum")
        total_nll += nll.item()
        total_tokens += int((labels != IGNORE_INDEX).sum())
    llm.train(was_training)
    return math.exp(total_nll / total_tokens)


@torch.no_grad()
def generate_after_context(llm, tokenizer, contexts: Sequence[str | None], max_new_tokens: int = 40,
                           batch_size: int = 250) -> list[str]:
    """LLM 혼자 "[문맥] 그림 설명:" 뒤를 탐욕적으로 이어 쓴다. 문맥이 None이면 지시문만 준다.

    길이가 다른 줄은 왼쪽을 채운다(left padding): 이어 쓸 자리가 모든 줄에서 맨 끝이 되게.
    """
    was_training = llm.training
    llm.eval()
    device = next(llm.parameters()).device
    outputs: list[str] = []
    for start in range(0, len(contexts), batch_size):
        rows = [context_prompt_ids(tokenizer, c) for c in contexts[start:start + batch_size]]
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row):] = torch.tensor(row)
            attention_mask[i, width - len(row):] = 1
        out = llm.generate(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                           max_new_tokens=max_new_tokens, do_sample=False,
                           eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        outputs += [c.strip() for c in tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)]
    llm.train(was_training)
    return outputs


def context_reading_accuracy(llm, tokenizer, scenes: Sequence[world.Scene], seed: int = 0,
                             with_context: bool = True) -> dict[str, float]:
    """LLM이 글로 된 문맥을 읽고 같은 장면을 다시 쓰는지: 문맥 = 장면의 캡션 하나(seed로 고른 템플릿).

    with_context=False면 지시문만 주어 같은 채점을 한다(문맥 없이 맞힐 수 있는 정도 = 기준선).
    그림은 어디에도 없다. 이 능력이 1단계에서 얼어 있는 LLM이 그림 토큰을 읽게 해 준다.
    """
    rng = random.Random(seed)
    contexts = [world.write_caption(s, rng) if with_context else None for s in scenes]
    return attribute_accuracy(scenes, generate_after_context(llm, tokenizer, contexts))


@dataclass
class EvalResult:
    accuracy: dict[str, float]
    siglip_score: float
    captions: list[str] = field(repr=False)


def evaluate_vlm(vlm, siglip, tokenizer, scenes: Sequence[world.Scene], pixel_values: torch.Tensor,
                 batch_size: int = 250, blind: str | None = None) -> EvalResult:
    """VLM이 캡션을 만들게 하고 속성 정확도와 SigLIP 점수를 잰다.

    blind="zeros"면 그림 자리에 회색(0) 그림을, "shuffle"이면 다른 장면의 그림을 넣는다(눈 가린 기준선).
    점수는 언제나 진짜 그림과 비교한다.
    """
    inputs = pixel_values
    if blind == "zeros":
        inputs = torch.full_like(pixel_values, 128 if pixel_values.dtype == torch.uint8 else 0.5)
    elif blind == "shuffle":
        inputs = pixel_values.roll(1, dims=0)
    elif blind is not None:
        raise ValueError(f"blind는 None, 'zeros', 'shuffle' 가운데 하나입니다: {blind!r}")
    captions: list[str] = []
    for start in range(0, len(scenes), batch_size):
        captions += vlm.generate(inputs[start:start + batch_size], tokenizer)
    scores = siglip_scores(siglip, tokenizer, pixel_values, captions)
    return EvalResult(attribute_accuracy(scenes, captions), scores.mean().item(), captions)
