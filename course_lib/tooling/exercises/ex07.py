"""노트북 07(실제 규모: 프리셋, 세 레시피, 실제 데이터, 여러 GPU)의 연습문제 채점.

모두 노트북이 보여 주지 않은 변형을 묻고, 함수 답은 처음 보는 입력으로 채점한다.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from PIL import Image

from course_lib import lora, preset_memory, real_data
from course_lib.models.real import qwen3_small_config
from course_lib.tooling.exercises import Wrong, as_int, choices, exercise, grade_choice


# ---------------------------------------------------------------- 07.1 colab 모델의 작은 LoRA

@exercise("07.1", title="colab 프리셋의 Qwen3-1.7B에 r=8 LoRA를 q_proj, v_proj에만 붙일 때의 학습 파라미터 수",
          level="🐢", wrong_answers=[28 * 8 * (2048 + 2048) * 2, 8 * (2048 + 2048) + 8 * (2048 + 1024), 0])
def grade_colab_lora(answer):
    config = qwen3_small_config("1.7B")
    expected = lora.count_lora_parameters(config, 8, ("q_proj", "v_proj"))
    got = as_int(answer)
    shapes = lora.decoder_linear_shapes(config)
    if got == config.num_hidden_layers * 8 * 2 * (shapes["q_proj"][0] + shapes["q_proj"][1]):
        raise Wrong("v_proj를 q_proj와 같은 크기로 셌습니다. GQA에서 v_proj의 출력은 KV 헤드 8 × head_dim 128입니다.")
    if got * config.num_hidden_layers == expected:
        raise Wrong(f"층 하나의 값입니다. Qwen3-1.7B에는 디코더 층이 {config.num_hidden_layers}개 있습니다.")
    if got != expected:
        raise Wrong("층마다 q_proj와 v_proj에 A[r, d_in], B[d_out, r]가 붙습니다. lora.decoder_linear_shapes로 "
                    "모양을 확인하세요.")


# ---------------------------------------------------------------- 07.2 COCO captions 형식 만들기

def _one_image_per_caption(pairs):
    return {"images": [{"id": i, "file_name": f} for i, (f, _) in enumerate(pairs)],
            "annotations": [{"id": i, "image_id": i, "caption": c} for i, (_, c) in enumerate(pairs)]}


def _file_name_as_key(pairs):
    names = list(dict.fromkeys(f for f, _ in pairs))
    return {"images": [{"id": i, "file_name": f} for i, f in enumerate(names)],
            "annotations": [{"id": k, "image": f, "caption": c} for k, (f, c) in enumerate(pairs)]}


@exercise("07.2", title="(그림, 캡션) 쌍 목록을 COCO captions 형식으로 묶기(그림 하나에 캡션 여럿)", level="🐕",
          wrong_answers=[_one_image_per_caption, _file_name_as_key, lambda pairs: [dict(image=f, caption=c)
                                                                                   for f, c in pairs]])
def grade_coco_captions(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: to_coco(pairs) -> {'images': [...], 'annotations': [...]}")
    pairs = [("a/0001.jpg", "빨간 공이 잔디 위에 있다."), ("b/17.png", "A dog runs on the beach."),
             ("a/0001.jpg", "잔디밭에 공 하나."), ("c/x.jpeg", "두 사람이 자전거를 탄다."), ("b/17.png", "해변의 개.")]
    want: dict[str, list[str]] = {}
    for name, caption in pairs:
        want.setdefault(name, []).append(caption)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in want:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (30, 20), (200, 10, 10)).save(root / name)
        data = fn(list(pairs))
        if not isinstance(data, dict):
            raise Wrong("COCO captions는 사전 하나입니다: {'images': [{id, file_name}], 'annotations': [{id, image_id, caption}]}")
        (root / "captions.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        try:
            records, kind = real_data.load_records(root / "captions.json", image_folder=root)
        except real_data.DataFormatError as err:
            raise Wrong(f"real_data가 읽지 못했습니다: {err}") from None
    if kind != "coco":
        raise Wrong("COCO 형식으로 알아보지 못했습니다. 'images'와 'annotations'가 있어야 합니다.")
    got: dict[str, list[str]] = {}
    for record in records:
        got.setdefault(record.image.relative_to(root).as_posix(), []).extend(record.captions)
    if len(records) != len(want):
        raise Wrong(f"그림 {len(want)}장에 기록이 {len(records)}개입니다. 같은 그림(file_name)은 images에 한 번만 두고, "
                    f"캡션마다 annotations에 image_id로 그 그림을 가리키세요.")
    if got != want:
        raise Wrong(f"그림마다 캡션이 맞지 않습니다: 기대 {want}, 읽은 값 {got}. 캡션은 쌍의 순서대로 넣으세요.")
    ids = [a.get("id") for a in data["annotations"]]
    if len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
        raise Wrong("annotations마다 서로 다른 정수 id가 있어야 합니다(COCO 형식).")


# ---------------------------------------------------------------- 07.3 가장 큰 마이크로 배치

@exercise("07.3", title="주어진 GPU 메모리에 들어가는 가장 큰 마이크로 배치", level="🦁",
          wrong_answers=[lambda preset, gpu_bytes: 4,
                         lambda preset, gpu_bytes: next((b for b in range(1, 65) if preset_memory.estimate(
                             preset, micro_batch=b).total > gpu_bytes), 65)])
def grade_largest_batch(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: largest_micro_batch(preset, gpu_bytes) -> int")

    def reference(preset, gpu_bytes):
        best = 0
        for b in range(1, 65):
            if preset_memory.estimate(preset, micro_batch=b).total <= gpu_bytes:
                best = b
        return best

    for preset, gpu_bytes in (("full", 11e9), ("full", 9.5e9), ("colab", 6.5e9), ("full", 5e9)):
        want, got = reference(preset, gpu_bytes), fn(preset, gpu_bytes)
        if got != want:
            raise Wrong(f"{preset}, GPU {gpu_bytes / 2**30:.2f} GiB: 기대 {want}, 받은 값 {got}. "
                        f"estimate(preset, micro_batch=b).total ≤ gpu_bytes인 가장 큰 b(1~64, 없으면 0)를 찾으세요.")


# ---------------------------------------------------------------- 07.4 GPU 수가 바뀌어도 같은 전역 배치

def grad_accum_reference(global_batch: int, per_device: int, n_gpus: int) -> int:
    per_step = per_device * n_gpus
    return global_batch // per_step if global_batch % per_step == 0 else 0


@exercise("07.4", title="전역 배치를 지키는 기울기 누적 횟수(GPU 수가 바뀔 때)", level="🐕",
          wrong_answers=[lambda global_batch, per_device, n_gpus: global_batch // (per_device * n_gpus),
                         lambda global_batch, per_device, n_gpus: global_batch // per_device,
                         lambda global_batch, per_device, n_gpus: -(-global_batch // (per_device * n_gpus))])
def grade_grad_accum(fn):
    if not callable(fn):
        raise Wrong("함수를 넘기세요: grad_accum_for(global_batch, per_device, n_gpus) -> int(불가능하면 0)")
    cases = ((256, 16, 4), (128, 16, 4), (8, 4, 1), (128, 12, 8), (64, 16, 8), (96, 4, 3), (256, 32, 8), (10, 4, 1))
    for args in cases:
        want, got = grad_accum_reference(*args), fn(*args)
        if got == want:
            continue
        global_batch, per_device, n_gpus = args
        if got == global_batch // per_device and n_gpus > 1:
            raise Wrong(f"{args}: GPU 수를 빠뜨렸습니다. 전역 배치 = 마이크로 배치 × GPU 수 × 누적입니다.")
        if want == 0:
            raise Wrong(f"{args}: {per_device} × {n_gpus} × 누적으로 전역 배치 {global_batch}를 정확히 만들 수 없으니 "
                        f"0을 돌려주세요(내림이나 올림은 다른 전역 배치, 곧 다른 학습입니다).")
        raise Wrong(f"{args}: 기대 {want}, 받은 값 {got!r}.")


# ---------------------------------------------------------------- 07.5 예측해 보기: 체크포인팅을 끄면

CHECKPOINT_OPTIONS = choices(
    "거의 그대로(1.2배 미만): 메모리의 대부분은 가중치다",
    "1.2배 이상 2배 미만",
    "2배 이상: 36층의 활성값을 모두 저장한다",
)


def checkpointing_off_ratio(preset: str = "full") -> float:
    """체크포인팅을 끈 추정 합계 ÷ 켠(프리셋 그대로) 추정 합계."""
    on = preset_memory.estimate(preset)
    off = preset_memory.estimate(preset, gradient_checkpointing=False)
    return off.total / on.total


def checkpoint_option(ratio: float) -> str:
    return "a" if ratio < 1.2 else ("b" if ratio < 2 else "c")


@exercise("07.5", title="예측해 보기: full 프리셋에서 그레이디언트 체크포인팅을 끄면 GPU 메모리 합계는?", level="🐢",
          wrong_answers=["a", "b", "켬"])
def grade_checkpoint_prediction(answer):
    grade_choice(answer, CHECKPOINT_OPTIONS, truth=lambda: checkpoint_option(checkpointing_off_ratio()),
                 hint="계산과 다릅니다. 아래 셀을 실행해 어느 조각이 커지는지 보세요.")
