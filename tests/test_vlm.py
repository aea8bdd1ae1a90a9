"""VLM: 모양, 라벨 가리기(label masking), 얼어 있는 인코더, peft·그래디언트 체크포인팅과의 호환, 생성."""
import re

import pytest
import torch
from peft import LoraConfig, get_peft_model

from course_lib import compat, memory, world
from course_lib.lora import LINEAR_MODULES
from course_lib.models.vision import normalize_pixels
from course_lib.models.vlm import IGNORE_INDEX, build_vlm, encode_captions


@pytest.fixture
def batch(tokenizer):
    scenes = world.make_scenes("val", 4)
    captions = [world.write_caption(s) for s in scenes]
    return world.render_batch(scenes), encode_captions(tokenizer, captions), captions


@pytest.mark.parametrize("feature_layer, block", [(-2, 2), (-1, 3), (0, 0)])
def test_encoder_gives_one_layers_patch_tokens(parts, feature_layer, block):
    """인코더 = ViT 블록 `feature_layer`(기본 끝에서 두 번째)의 출력에서 클래스 토큰을 뺀 패치 토큰 16개 × 폭 128.
    견줄 값은 다른 길로 얻는다: ViT 전체를 보통대로 돌리며 그 블록의 출력을 훅으로 받아 둔다."""
    encoder = parts.vision_encoder(feature_layer=feature_layer)
    assert (encoder.num_layers, encoder.hidden_size, encoder.num_patches) == (4, 128, (48 // 12) ** 2)
    pixels = world.render_batch(world.make_scenes("val", 2))
    seen = []
    handle = encoder.visual.transformer.resblocks[block].register_forward_hook(lambda m, i, out: seen.append(out))
    try:
        with torch.no_grad():
            encoder.visual(normalize_pixels(pixels))
            tokens = encoder(pixels)
    finally:
        handle.remove()
    assert tokens.shape == (2, encoder.num_patches, encoder.hidden_size)
    assert torch.equal(tokens, seen[0][:, 1:])  # 0번은 클래스 토큰


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


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")  # peft가 옛 이름을 읽는다
def test_peft_and_gradient_checkpointing(parts, fresh_llm, batch):
    """peft LoRA를 붙인 LLM에 그레이디언트 체크포인팅을 켜고 VLM으로 역전파하면: 층이 역전파 때 다시 계산되고
    (체크포인팅이 정말 돈다), LoRA 기울기는 체크포인팅 없이 계산한 것과 같다(B = 0에서 시작하므로 A의 기울기는 0,
    B의 기울기는 0이 아니다)."""
    llm = get_peft_model(fresh_llm, LoraConfig(r=4, lora_alpha=8, target_modules=list(LINEAR_MODULES)))
    vlm = build_vlm(parts.vision_encoder(), llm).train()
    pixels, text, _ = batch
    for name, p in llm.named_parameters():
        p.requires_grad_("lora_" in name)
    # transformers는 층의 forward를 체크포인트한다(층의 훅은 그 밖): 다시 계산은 층 안 모듈(MLP)의 호출로 보인다
    calls = []
    memory.decoder_layers(llm.get_base_model())[0].mlp.register_forward_pre_hook(lambda *_: calls.append(1))

    def lora_grads(checkpointing: bool) -> dict:
        if checkpointing:
            compat.enable_activation_checkpointing(llm, use_reentrant=False)
        else:
            compat.disable_activation_checkpointing(llm)
        llm.zero_grad(set_to_none=True)
        calls.clear()
        loss = vlm(pixels, text.input_ids, text.attention_mask, labels=text.labels).loss
        forward_calls = len(calls)
        loss.backward()
        assert (forward_calls, len(calls)) == ((1, 2) if checkpointing else (1, 1))  # 체크포인팅: 역전파 때 한 번 더
        return {n: p.grad for n, p in llm.named_parameters() if "lora_" in n}

    checkpointed, plain = lora_grads(True), lora_grads(False)
    assert checkpointed.keys() == plain.keys() and any("lora_A" in n for n in plain)
    for name, grad in checkpointed.items():
        torch.testing.assert_close(grad, plain[name], msg=name)
        assert (grad.abs().sum() == 0) == ("lora_A" in name), name


def test_generate_returns_korean_strings(parts, fresh_llm, tokenizer):
    """그림마다 한국어 글 하나: 한글 낱말과 띄어쓰기·마침표뿐(지시문, 특수 토큰, 채움 없이), 새 토큰 12개 이내."""
    vlm = build_vlm(parts.vision_encoder(), fresh_llm)
    pixels = world.render_batch(world.make_scenes("test", 3))
    captions = vlm.generate(pixels, tokenizer, max_new_tokens=12)
    assert len(captions) == 3
    for caption in captions:
        assert re.fullmatch(r"[가-힣]+(?:[ .]+[가-힣]+)*\.?", caption), caption
        assert "설명" not in caption  # 지시문("그림 설명:")을 되풀이하지 않는다
        assert len(tokenizer(caption, add_special_tokens=False).input_ids) <= 12
    assert vlm.generate(pixels, tokenizer, max_new_tokens=12) == captions  # 탐욕적 디코딩은 결정적
