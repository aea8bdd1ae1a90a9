"""노트북 07(실제 규모: 프리셋, 실제 데이터, 여러 GPU)의 연습문제 채점."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from course_lib import lora
from course_lib.tooling.exercises import Wrong, exercise


def _as_int(answer) -> int:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer != int(answer):
        raise Wrong(f"정수 하나로 답하세요. 받은 값: {answer!r}")
    return int(answer)


@exercise("07.1", title="colab 프리셋의 Qwen3-1.7B에 r=8 LoRA를 q_proj, v_proj에만 붙일 때의 학습 파라미터 수",
          level="🐢", wrong_answers=[28 * 8 * (2048 + 2048) * 2, 8 * (2048 + 2048) + 8 * (2048 + 1024), 0])
def grade_colab_lora(answer):
    from course_lib.models.real import qwen3_small_config

    config = qwen3_small_config("1.7B")
    expected = lora.count_lora_parameters(config, 8, ("q_proj", "v_proj"))
    got = _as_int(answer)
    shapes = lora.decoder_linear_shapes(config)
    if got == config.num_hidden_layers * 8 * 2 * (shapes["q_proj"][0] + shapes["q_proj"][1]):
        raise Wrong("v_proj를 q_proj와 같은 크기로 셌습니다. GQA에서 v_proj의 출력은 KV 헤드 8 × head_dim 128입니다.")
    if got * config.num_hidden_layers == expected:
        raise Wrong(f"층 하나의 값입니다. Qwen3-1.7B에는 디코더 층이 {config.num_hidden_layers}개 있습니다.")
    if got != expected:
        raise Wrong("층마다 q_proj와 v_proj에 A[r, d_in], B[d_out, r]가 붙습니다. lora.decoder_linear_shapes로 "
                    "모양을 확인하세요.")


@exercise("07.2", title="LLaVA 사전학습 형식의 항목 하나 만들기", level="🐕",
          wrong_answers=[lambda image, caption: {"image": image, "caption": caption},
                         lambda image, caption: {"image": image, "conversations": [
                             {"from": "human", "value": caption}]},
                         lambda image, caption: {"file_name": image, "conversations": [
                             {"from": "human", "value": "<image>\n설명하세요."}, {"from": "gpt", "value": caption}]}])
def grade_llava_item(fn):
    from PIL import Image

    from course_lib import real_data

    if not callable(fn):
        raise Wrong("함수를 넘기세요: to_llava_item(image, caption) -> dict")
    pairs = [("a/0001.jpg", "빨간 공이 잔디 위에 있다."), ("b/17.png", "A dog runs on the beach."),
             ("c/x.jpeg", "두 사람이 자전거를 탄다.")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, _ in pairs:
            (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (30, 20), (200, 10, 10)).save(root / "images" / name)
        items = [fn(name, caption) for name, caption in pairs]
        if not all(isinstance(item, dict) for item in items):
            raise Wrong("항목은 사전(dict) 하나여야 합니다.")
        (root / "data.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        try:
            records, kind = real_data.load_records(root / "data.json")
        except real_data.DataFormatError as err:
            raise Wrong(f"real_data가 읽지 못했습니다: {err}") from None
    if kind != "llava":
        raise Wrong("LLaVA 형식으로 알아보지 못했습니다. 항목마다 'conversations'가 있어야 합니다.")
    if [r.captions[0] for r in records] != [c for _, c in pairs]:
        raise Wrong("캡션은 gpt 차례(from='gpt')의 value에 들어가야 합니다. human 차례에는 '<image>'와 지시문을 둡니다.")


@exercise("07.3", title="주어진 GPU 메모리에 들어가는 가장 큰 마이크로 배치", level="🦁",
          wrong_answers=[lambda preset, gpu_bytes: 4,
                         lambda preset, gpu_bytes: next((b for b in range(1, 65) if __import__(
                             "course_lib.preset_memory", fromlist=["estimate"]).estimate(
                             preset, micro_batch=b).total > gpu_bytes), 65)])
def grade_largest_batch(fn):
    from course_lib.preset_memory import estimate

    if not callable(fn):
        raise Wrong("함수를 넘기세요: largest_micro_batch(preset, gpu_bytes) -> int")

    def reference(preset, gpu_bytes):
        best = 0
        for b in range(1, 65):
            if estimate(preset, micro_batch=b).total <= gpu_bytes:
                best = b
        return best

    for preset, gpu_bytes in (("full", 11e9), ("full", 9.5e9), ("colab", 6.5e9), ("full", 5e9)):
        want, got = reference(preset, gpu_bytes), fn(preset, gpu_bytes)
        if got != want:
            raise Wrong(f"{preset}, GPU {gpu_bytes / 2**30:.2f} GiB: 기대 {want}, 받은 값 {got}. "
                        f"estimate(preset, micro_batch=b).total ≤ gpu_bytes인 가장 큰 b(1~64, 없으면 0)를 찾으세요.")
