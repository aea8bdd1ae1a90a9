"""토크나이저(tokenizer): 캡션 말뭉치로 학습한 바이트 수준 BPE.

Qwen3의 토크나이저와 같은 방식(바이트 수준 BPE, byte-level BPE)을 아주 작게 만든 것이다.
LLM과 SigLIP 텍스트 타워(text tower)가 같은 토크나이저를 쓴다. 그래야 두 모델이 같은 토큰 id로
같은 문장을 보고, 말뭉치도 하나로 충분하다(토크나이저를 둘 만들 이유가 없다).
"""
from __future__ import annotations

import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from course_lib import world

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
SPECIAL_TOKENS = (PAD_TOKEN, EOS_TOKEN)
PROMPT = "그림 설명:"  # VLM이 캡션 앞에 받는 지시문(prompt)
VOCAB_SIZE = 384


def caption_corpus(n_scenes: int = 4000, seed: int = 0) -> list[str]:
    """train 분할의 장면으로 만든 캡션 말뭉치(모든 문형이 고르게 나온다)."""
    rng = random.Random(seed)
    scenes = world.make_scenes("train", n_scenes, seed=seed)
    return [PROMPT] + [world.write_caption(s, rng) for s in scenes]


def train_tokenizer(corpus: list[str], vocab_size: int = VOCAB_SIZE) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    return wrap(tok)


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD_TOKEN, eos_token=EOS_TOKEN,
                                   padding_side="right")


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.backend_tokenizer.save(str(path))
    return path


def load_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    return wrap(Tokenizer.from_file(str(path)))
