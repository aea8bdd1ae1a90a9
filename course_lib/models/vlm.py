"""시각-언어 모델(VLM): 얼어 있는 시각 인코더 → 프로젝터 → LLM.

입력 순서는 [그림 토큰들][지시문 토큰][캡션 토큰][끝 토큰]이다. 손실(loss)은 캡션과 끝 토큰에서만
계산한다: 그림 자리와 지시문 자리의 라벨(label)은 -100이라 무시된다.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from course_lib.models.projector import Projector
from course_lib.text import PROMPT

IGNORE_INDEX = -100


@dataclass
class TextBatch:
    """VLM이 받는 텍스트 부분: 지시문 + 캡션 + 끝 토큰, 오른쪽을 채움(padding)."""
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor


def context_prompt_ids(tokenizer, context: str | None = None) -> list[int]:
    """[문맥 글][지시문]의 토큰 번호. 문맥이 없으면 지시문만. 학습(encode_captions)과 생성이 함께 쓴다."""
    head = tokenizer(context, add_special_tokens=False).input_ids if context else []
    return head + tokenizer(PROMPT, add_special_tokens=False).input_ids


def encode_captions(tokenizer, captions: Sequence[str] | None, batch_size: int | None = None,
                    contexts: Sequence[str | None] | None = None) -> TextBatch:
    """캡션 목록을 지시문이 붙은 학습용 텐서로 바꾼다. captions가 None이면 지시문만(생성용).

    contexts를 주면 i번째 줄은 [문맥 글][지시문][캡션][끝]이 된다(문맥이 None인 줄은 문맥 없이).
    LLM 사전학습이 쓰는 형식으로, 그림 토큰이 앉을 자리에 같은 장면을 다르게 쓴 캡션이 앉는다.
    라벨은 언제나 캡션과 끝 토큰에만 붙는다.
    """
    if captions is None:
        ids = torch.tensor([context_prompt_ids(tokenizer)] * batch_size)
        return TextBatch(ids, torch.ones_like(ids), torch.full_like(ids, IGNORE_INDEX))
    if contexts is None:
        contexts = [None] * len(captions)
    if len(contexts) != len(captions):
        raise ValueError(f"contexts({len(contexts)}개)와 captions({len(captions)}개)의 길이가 다릅니다")
    # 한 번에 토큰화한다(걸음마다 부르므로 줄마다 부르는 것보다 몇 배 빠르다; 토큰 번호는 같다).
    prompt = tokenizer(PROMPT, add_special_tokens=False).input_ids
    caption_ids = tokenizer(list(captions), add_special_tokens=False).input_ids
    given = [c for c in contexts if c]
    context_ids = iter(tokenizer(given, add_special_tokens=False).input_ids if given else [])
    rows, starts = [], []
    for context, ids in zip(contexts, caption_ids):
        head = (next(context_ids) if context else []) + prompt
        rows.append(head + ids + [tokenizer.eos_token_id])
        starts.append(len(head))
    # 오른쪽 채움(padding)은 토크나이저가 한다(padding_side="right", pad 토큰, attention_mask 0).
    padded = tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt")
    positions = torch.arange(padded["input_ids"].shape[1])
    is_caption = (positions >= torch.tensor(starts)[:, None]) & padded["attention_mask"].bool()
    labels = padded["input_ids"].masked_fill(~is_caption, IGNORE_INDEX)  # 문맥·지시문·채움 자리는 손실에서 뺀다
    return TextBatch(padded["input_ids"], padded["attention_mask"], labels)


class MiniVLM(nn.Module):
    """시각-언어 모델: `vision`(얼어 있는 인코더) → `projector`(그림 토큰을 LLM의 임베딩 폭으로) → `llm`.

    `forward(pixel_values, input_ids, attention_mask, labels)`는 그림 토큰을 지시문·캡션 임베딩 앞에 이어 붙여
    `inputs_embeds`를 만들고, 주의 마스크(attention mask)를 그림 자리만큼 1로 늘리고, 라벨 앞에 그림 자리만큼
    -100을 붙여 LLM에 준다(손실은 캡션과 끝 토큰에서만). `generate`도 같은 이어 붙이기로 시작한다.
    노트북 00의 7절이 이 과정을 손으로 쓰고 이 클래스와 같음을 확인한다.
    """

    def __init__(self, vision: nn.Module, projector: nn.Module, llm: nn.Module):
        super().__init__()
        self.vision = vision
        self.projector = projector
        self.llm = llm
        self.vision.requires_grad_(False)  # 시각 인코더는 두 단계 모두 얼어 있다.

    @property
    def num_image_tokens(self) -> int:
        """LLM이 그림 하나에서 받는 자리 수: 패치 수(2×2로 합치면 그 4분의 1)."""
        return self.projector.num_tokens(self.vision.num_patches)

    def train(self, mode: bool = True):
        super().train(mode)
        self.vision.eval()  # 얼어 있는 인코더는 늘 평가 모드(eval mode)로 둔다.
        return self

    def image_embeddings(self, pixel_values: torch.Tensor | None,
                         vision_features: torch.Tensor | None = None) -> torch.Tensor:
        """그림 토큰 = 프로젝터(얼어 있는 인코더의 패치 토큰).

        `vision_features`(인코더 출력 [B, 패치 수, 폭])를 주면 인코더를 건너뛴다. 인코더가 얼어 있고 그림이 늘 같으면
        그 출력도 늘 같으므로, 학습기는 학습 그림마다 한 번만 계산해 둘 수 있다(`TrainConfig.cache_vision_features`).
        """
        if vision_features is None:
            if pixel_values is None:
                raise ValueError("pixel_values와 vision_features 가운데 하나는 있어야 합니다")
            with torch.no_grad():
                vision_features = self.vision(pixel_values)
        return self.projector(vision_features)

    def _input_embeddings(self, pixel_values, input_ids, attention_mask, vision_features=None):
        image_embeds = self.image_embeddings(pixel_values, vision_features)
        text_embeds = self.llm.get_input_embeddings()(input_ids)
        image_embeds = image_embeds.to(text_embeds.dtype)
        inputs_embeds = torch.cat([image_embeds, text_embeds], dim=1)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        image_mask = attention_mask.new_ones(image_embeds.shape[:2])
        return inputs_embeds, torch.cat([image_mask, attention_mask], dim=1)

    def forward(self, pixel_values, input_ids, attention_mask=None, labels=None, vision_features=None, **llm_kwargs):
        inputs_embeds, attention_mask = self._input_embeddings(pixel_values, input_ids, attention_mask, vision_features)
        if labels is not None:
            image_labels = labels.new_full((labels.shape[0], inputs_embeds.shape[1] - labels.shape[1]),
                                           IGNORE_INDEX)
            labels = torch.cat([image_labels, labels], dim=1)
        return self.llm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels,
                        use_cache=False, **llm_kwargs)

    @torch.no_grad()
    def generate(self, pixel_values, tokenizer, max_new_tokens: int = 40) -> list[str]:
        """탐욕적 디코딩(greedy decoding)으로 캡션을 만든다. 모든 입력 길이가 같아 채움이 필요 없다."""
        was_training = self.training
        self.eval()
        text = encode_captions(tokenizer, None, batch_size=pixel_values.shape[0])
        inputs_embeds, attention_mask = self._input_embeddings(pixel_values, text.input_ids.to(pixel_values.device),
                                                               text.attention_mask.to(pixel_values.device))
        out = self.llm.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                max_new_tokens=max_new_tokens, do_sample=False,
                                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        self.train(was_training)
        return [c.strip() for c in tokenizer.batch_decode(out, skip_special_tokens=True)]


def caption_loss_sum(vlm, pixel_values, text: TextBatch, vision_features=None) -> tuple[torch.Tensor, int]:
    """캡션 토큰의 음의 로그우도 합과 토큰 수. 누적·여러 프로세스에서도 전체 토큰 평균이 되도록 합으로 둔다.

    `vision_features`(미리 계산한 인코더 출력)를 주면 `pixel_values`는 None이어도 된다.
    """
    out = vlm(pixel_values, text.input_ids, text.attention_mask, vision_features=vision_features)
    n_image = out.logits.shape[1] - text.input_ids.shape[1]
    logits = out.logits[:, n_image:-1].float()
    labels = text.labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
                                             reduction="sum")
    return loss, int((labels != IGNORE_INDEX).sum())


def build_vlm(encoder: nn.Module, llm: nn.Module, seed: int = 0, merge: int = 1) -> MiniVLM:
    """얼어 있는 시각 인코더 + 무작위 초기화 프로젝터(seed로 고정; `merge`는 토큰 합치기 배수) + LLM.

    인코더는 `hidden_size`(패치 토큰의 폭)와 `num_patches`를 가진 모듈이다: 미니 월드의 `vision.VisionEncoder`,
    실제 규모의 `real.RealVisionEncoder`. LLM이 meta 장치에 있으면(구조만 셀 때) 프로젝터도 meta에 만든다.
    """
    llm_hidden = llm.get_input_embeddings().embedding_dim
    device = "meta" if next(llm.parameters()).is_meta else "cpu"
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        projector = Projector(encoder.hidden_size, llm_hidden, merge=merge)
    return MiniVLM(encoder, projector, llm)
