"""그림 토큰 2×2 합치기(`models.projector`): 어느 패치가 어느 토큰으로 가나, 모양, 학습기의 자리 수."""
from dataclasses import replace

import torch

from course_lib import presets, training
from course_lib.models import pretrained
from course_lib.models.projector import Projector, merge_tokens
from course_lib.models.vlm import build_vlm


def test_merge_puts_each_quadrant_in_one_token_in_row_major_order():
    # 4×4 격자의 패치 번호(행 우선). 합친 토큰 0은 위 왼쪽 칸: 패치 0, 1(윗줄), 4, 5(아랫줄) — 손으로 센 값.
    patches = torch.arange(16.0).view(1, 16, 1)
    merged = merge_tokens(patches, 2)
    assert merged.shape == (1, 4, 4)
    assert merged[0].tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]


def test_merge_keeps_every_feature_once_and_1_is_the_identity():
    tokens = torch.randn(3, 16, 5)
    assert torch.equal(merge_tokens(tokens, 1), tokens)
    merged = merge_tokens(tokens, 2)
    assert merged.shape == (3, 4, 20)
    assert torch.equal(merged.flatten(1).sort().values, tokens.flatten(1).sort().values)
    # 토큰 1(위 오른쪽 칸)의 둘째 조각은 패치 3의 특징이다(폭 5씩: [패치 2, 패치 3, 패치 6, 패치 7])
    assert torch.equal(merged[:, 1, 5:10], tokens[:, 3])


def test_projector_with_merge_reads_four_times_wider_tokens():
    plain, merged = Projector(128, 64), Projector(128, 64, merge=2)
    assert plain[0].in_features == 128 and merged[0].in_features == 512
    assert [n for n, _ in plain.named_parameters()] == [n for n, _ in merged.named_parameters()]
    assert merged(torch.randn(2, 16, 128)).shape == (2, 4, 64)
    assert (plain.num_tokens(16), merged.num_tokens(16)) == (16, 4)


def test_merged_vlm_gives_the_llm_four_image_positions():
    parts = pretrained.load_parts()
    vlm = build_vlm(parts.vision_encoder(), parts.llm, merge=2)
    assert vlm.num_image_tokens == 4
    ids = torch.tensor([[5, 6, 7]])
    out = vlm(torch.zeros(1, 3, 48, 48, dtype=torch.uint8), ids)
    assert out.logits.shape[1] == 4 + 3


def test_trainer_counts_merged_positions_and_caps_steps_per_epoch():
    config = replace(presets.mini(), n_train=96, n_val=8, n_test=1, checkpoint_every=0, eval_every_epoch=False,
                     projector_merge=2,
                     stages=(replace(presets.mini().stages[0], steps_per_epoch=2, batch_size=16),))
    trainer = training.Trainer(config, pretrained.load_parts(), progress=False).run()
    assert trainer.global_step == 2  # 96 ÷ 16 = 6걸음이 있지만 epoch마다 2걸음까지
    record = trainer.history.steps[0]
    text_positions = record["positions"] - 16 * 4  # 그림 하나에 4자리
    assert text_positions > 0 and text_positions % 16 == 0


def test_bad_merge_and_layer_are_refused_by_name():
    import pytest

    for key, value in (("projector_merge", 3), ("vision_feature_layer", 0)):
        with pytest.raises(training.ConfigError, match=rf"^{key}: "):
            replace(presets.mini(), **{key: value})
