"""VLM: 모양, 라벨 가리기(label masking), 얼어 있는 인코더, peft·그래디언트 체크포인팅과의 호환, 생성."""
import pytest
import torch
from peft import LoraConfig, get_peft_model

from course_lib import compat, world
from course_lib.lora import LINEAR_MODULES as LORA_TARGET_MODULES
from course_lib.models.vlm import IGNORE_INDEX, build_vlm, encode_captions


@pytest.fixture
def batch(tokenizer):
    scenes = world.make_scenes("val", 4)
    captions = [world.write_caption(s) for s in scenes]
    return world.render_batch(scenes), encode_captions(tokenizer, captions), captions


def test_forward_shapes(parts, fresh_llm, batch):
    vlm = build_vlm(parts.vision_encoder(), fresh_llm)
    pixels, text, _ = batch
    out = vlm(pixels, text.input_ids, text.attention_mask, labels=text.labels)
    n_image = vlm.vision.num_patches
    assert out.logits.shape == (4, n_image + text.input_ids.shape[1], fresh_llm.config.vocab_size)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)


def test_labels_mask_prompt_and_padding(tokenizer, batch):
    _, text, captions = batch
    prompt_len = len(tokenizer("그림 설명:", add_special_tokens=False).input_ids)
    assert (text.labels[:, :prompt_len] == IGNORE_INDEX).all()
    assert (text.labels[text.attention_mask == 0] == IGNORE_INDEX).all()
    for row, caption in zip(text.labels, captions):
        kept = row[row != IGNORE_INDEX].tolist()
        assert kept[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(kept[:-1]) == caption


def test_context_rows_label_only_the_caption(tokenizer):
    """LLM 사전학습 형식: [문맥][지시문][캡션][끝]. 문맥과 지시문에는 라벨이 없어야 한다."""
    scenes = world.make_scenes("val", 3)
    captions = [world.write_caption(s) for s in scenes]
    contexts = ["도형이 한 개 있다. 왼쪽 위에 작은 빨간 원이 있다.", None, captions[2]]
    text = encode_captions(tokenizer, captions, contexts=contexts)
    prompt = tokenizer("그림 설명:", add_special_tokens=False).input_ids
    for row, ids, context, caption in zip(text.labels, text.input_ids, contexts, captions):
        kept = row[row != IGNORE_INDEX].tolist()
        assert tokenizer.decode(kept[:-1]) == caption and kept[-1] == tokenizer.eos_token_id
        head = (tokenizer(context, add_special_tokens=False).input_ids if context else []) + prompt
        assert ids[:len(head)].tolist() == head
        assert (row[:len(head)] == IGNORE_INDEX).all()
    plain = encode_captions(tokenizer, captions[1:2])
    assert torch.equal(plain.input_ids[0], text.input_ids[1, :plain.input_ids.shape[1]])
    with pytest.raises(ValueError, match="contexts"):
        encode_captions(tokenizer, captions, contexts=[None])


def test_loss_ignores_image_and_prompt_positions(parts, fresh_llm, batch):
    """손실을 캡션 토큰만으로 손수 계산한 값과 같아야 한다. 그림이나 지시문 자리가 섞이면 달라진다."""
    vlm = build_vlm(parts.vision_encoder(), fresh_llm).eval()
    pixels, text, _ = batch
    out = vlm(pixels, text.input_ids, text.attention_mask, labels=text.labels)
    n_image = vlm.vision.num_patches
    logits = out.logits[:, n_image:-1]
    targets = text.labels[:, 1:]
    manual = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)
    torch.testing.assert_close(out.loss, manual)
    all_text = torch.where(text.attention_mask.bool(), text.input_ids, IGNORE_INDEX)
    wrong = vlm(pixels, text.input_ids, text.attention_mask, labels=all_text).loss
    assert not torch.isclose(out.loss, wrong)


def test_vision_is_frozen_and_projector_gets_gradients(parts, fresh_llm, batch):
    vlm = build_vlm(parts.vision_encoder(), fresh_llm)
    fresh_llm.requires_grad_(False)
    pixels, text, _ = batch
    vlm(pixels, text.input_ids, text.attention_mask, labels=text.labels).loss.backward()
    assert all(not p.requires_grad and p.grad is None for p in vlm.vision.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vlm.projector.parameters())
    assert all(p.grad is None for p in fresh_llm.parameters())


def test_wrong_image_size_is_refused(parts, fresh_llm, tokenizer):
    vlm = build_vlm(parts.vision_encoder(), fresh_llm)
    text = encode_captions(tokenizer, ["왼쪽 위에 큰 빨간 원이 있다."])
    with pytest.raises(ValueError, match="image size"):
        vlm(torch.zeros(1, 3, 32, 32), text.input_ids, text.attention_mask)


def test_peft_and_gradient_checkpointing(parts, fresh_llm, batch):
    llm = get_peft_model(fresh_llm, LoraConfig(r=4, lora_alpha=8, target_modules=list(LORA_TARGET_MODULES)))
    compat.enable_activation_checkpointing(llm, use_reentrant=False)
    vlm = build_vlm(parts.vision_encoder(), llm).train()
    pixels, text, _ = batch
    for name, p in llm.named_parameters():
        p.requires_grad_("lora_" in name)
    vlm(pixels, text.input_ids, text.attention_mask, labels=text.labels).loss.backward()
    lora_a = [p for n, p in llm.named_parameters() if "lora_A" in n]
    lora_b = [p for n, p in llm.named_parameters() if "lora_B" in n]
    # B = 0에서 시작하므로 A의 기울기는 0이고, B의 기울기는 0이 아니어야 한다.
    assert all(p.grad is not None for p in lora_a + lora_b)
    assert all(p.grad.abs().sum() > 0 for p in lora_b)


def test_generate_returns_korean_strings(parts, fresh_llm, tokenizer):
    vlm = build_vlm(parts.vision_encoder(), fresh_llm)
    pixels = world.render_batch(world.make_scenes("test", 3))
    captions = vlm.generate(pixels, tokenizer, max_new_tokens=12)
    assert len(captions) == 3 and all(isinstance(c, str) and c for c in captions)
    assert vlm.generate(pixels, tokenizer, max_new_tokens=12) == captions  # 탐욕적 디코딩은 결정적
