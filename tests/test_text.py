"""토크나이저: 한국어 왕복, 특수 토큰, 저장/불러오기."""
import random

from course_lib import text, world


def test_tokenizer_round_trips_korean(tokenizer):
    rng = random.Random(1)
    for scene in world.make_scenes("test", 100):
        caption = world.write_caption(scene, rng)
        ids = tokenizer(caption, add_special_tokens=False).input_ids
        assert tokenizer.decode(ids) == caption
        assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids


def test_special_tokens(tokenizer):
    assert tokenizer.pad_token == text.PAD_TOKEN and tokenizer.eos_token == text.EOS_TOKEN
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert len(tokenizer) <= text.VOCAB_SIZE


def test_save_and_load(tmp_path, tokenizer):
    path = text.save_tokenizer(tokenizer, tmp_path / "tok" / "tokenizer.json")
    again = text.load_tokenizer(path)
    sample = "오른쪽 아래에는 큰 노란 마름모가 놓여 있다."
    assert again(sample).input_ids == tokenizer(sample).input_ids
