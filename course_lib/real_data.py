"""실제 (그림, 캡션) 데이터: `python -m course_lib train --preset colab|full --data PATH`.

두 가지 표준 형식을 읽는다(형식은 내용을 보고 알아낸다).
- LLaVA 사전학습 JSON(`blip_laion_cc_sbu_558k.json`): `[{"id", "image": "00453/004539375.jpg",
  "conversations": [{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", "value": 캡션}]}, ...]`.
  그림 폴더는 `--image-folder`, 없으면 JSON 옆의 `images/`, 그것도 없으면 JSON이 있는 폴더.
- COCO captions(`captions_train2017.json`): `{"images": [{"id", "file_name"}], "annotations":
  [{"image_id", "caption"}]}`. 그림 하나에 캡션이 여럿이면 epoch마다 (seed, epoch, 번호)로 하나를 고른다.

`RealCaptionData`는 학습기가 쓰는 `training.SceneCaptionData`와 같은 모양이다: `len(data)`,
`data.images[인덱스 목록]` → uint8 [N, 3, S, S] 텐서(그때그때 파일에서 읽는다), `data.captions(indices, epoch)`.
장면(scene) 정답이 없으므로 `scenes`는 None이고, 평가는 속성 정확도 없이 SigLIP 점수와 검증 손실만 낸다
(`RealEvaluator`).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image

from course_lib import world
from course_lib.errors import DataFormatError, config_error
from course_lib.evaluate import siglip_scores
from course_lib.models.vlm import caption_loss_sum, encode_captions


@dataclass(frozen=True)
class CaptionRecord:
    image: Path
    captions: tuple[str, ...]


LLAVA_JSON_NAMES = ("blip_laion_cc_sbu_558k.json", "chat.json")


def _find_json(path: Path) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        for name in LLAVA_JSON_NAMES:
            if (path / name).is_file():
                return path / name
        candidates = sorted(path.glob("*.json")) + sorted(path.glob("annotations/captions_*.json"))
        if len(candidates) == 1:
            return candidates[0]
        raise DataFormatError(f"data: 폴더 {path}에서 캡션 JSON을 하나로 정할 수 없습니다(후보 {len(candidates)}개: "
                              f"{[c.name for c in candidates[:5]]}). JSON 파일 경로를 직접 주세요 "
                              f"(data: cannot pick one caption JSON)")
    raise DataFormatError(f"data: {path}가 없습니다. LLaVA 사전학습 JSON이나 COCO captions JSON의 경로를 주세요 "
                          f"(data: path not found)")


def _llava_records(items: list, root: Path) -> list[CaptionRecord]:
    records = []
    for k, item in enumerate(items):
        try:
            answer = next(turn["value"] for turn in item["conversations"] if turn["from"] == "gpt")
            records.append(CaptionRecord(root / item["image"], (answer.strip(),)))
        except (KeyError, TypeError, StopIteration) as err:
            raise DataFormatError(f"data: LLaVA 형식의 {k}번째 항목에 'image'나 gpt 대답(conversations)이 없습니다: "
                                  f"{str(item)[:120]} (data: malformed LLaVA record, {type(err).__name__})") from err
    return records


def _coco_records(data: dict, root: Path) -> list[CaptionRecord]:
    try:
        files = {image["id"]: image["file_name"] for image in data["images"]}
        captions: dict[int, list[str]] = {}
        for ann in data["annotations"]:
            captions.setdefault(ann["image_id"], []).append(ann["caption"].strip())
    except (KeyError, TypeError) as err:
        raise DataFormatError(f"data: COCO 형식에 images[].id/file_name 또는 annotations[].image_id/caption이 "
                              f"없습니다 (data: malformed COCO captions, missing {err})") from err
    unknown = sorted(set(captions) - set(files))[:3]
    if unknown:
        raise DataFormatError(f"data: annotations의 image_id {unknown}가 images에 없습니다 (data: unknown image_id)")
    return [CaptionRecord(root / files[i], tuple(captions[i])) for i in sorted(captions)]


def load_records(path, image_folder=None, check_files: bool = True) -> tuple[list[CaptionRecord], str]:
    """(기록 목록, 형식 이름 "llava" | "coco"). 그림 파일이 없으면 몇 개가 없는지와 고칠 방법을 알린다."""
    json_path = _find_json(Path(path))
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFormatError(f"data: {json_path}는 JSON이 아닙니다: {err} (data: not valid JSON)") from err
    if image_folder is not None:
        root = Path(image_folder)
    elif (json_path.parent / "images").is_dir():
        root = json_path.parent / "images"
    else:
        root = json_path.parent
    if isinstance(data, list) and data and isinstance(data[0], dict) and "conversations" in data[0]:
        records, kind = _llava_records(data, root), "llava"
    elif isinstance(data, dict) and "annotations" in data and "images" in data:
        records, kind = _coco_records(data, root), "coco"
    else:
        raise DataFormatError(f"data: {json_path}의 형식을 모릅니다. LLaVA 사전학습 JSON(항목마다 image, "
                              f"conversations)이나 COCO captions(images, annotations)만 읽습니다 (data: unknown format)")
    if not records:
        raise DataFormatError(f"data: {json_path}에 (그림, 캡션) 쌍이 하나도 없습니다 (data: empty data set)")
    if check_files:
        missing = [r.image for r in records if not r.image.is_file()]
        if missing:
            raise DataFormatError(f"data: 그림 파일 {len(missing)}개가 없습니다(예: {missing[0]}). 그림 폴더를 "
                                  f"--image-folder로 알려 주세요 (data: image files not found under {root})")
    return records, kind


def load_image(path: Path, size: int) -> torch.Tensor:
    """RGB로 읽고 짧은 변을 size로 맞춘 뒤 가운데를 자른다(CLIP 전처리와 같은 방식). uint8 [3, size, size]."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        w, h = image.size
        scale = size / min(w, h)
        new = (max(size, round(w * scale)), max(size, round(h * scale)))
        image = image.resize(new, Image.BICUBIC)
        left, top = (new[0] - size) // 2, (new[1] - size) // 2
        image = image.crop((left, top, left + size, top + size))
        array = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return array.view(size, size, 3).permute(2, 0, 1).contiguous()


class LazyImages:
    """`images[i]`·`images[[i, j, ...]]`를 그때그때 파일에서 읽는다(55만 장을 메모리에 올리지 않는다)."""

    def __init__(self, paths: Sequence[Path], size: int):
        self.paths = list(paths)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, int):
            return load_image(self.paths[index], self.size)
        if isinstance(index, slice):
            index = range(*index.indices(len(self.paths)))
        if torch.is_tensor(index):
            index = index.tolist()
        return torch.stack([load_image(self.paths[i], self.size) for i in index])


class RealCaptionData:
    """학습기가 받는 데이터(`SceneCaptionData`와 같은 모양). 장면 정답이 없어 `scenes`는 None이다."""

    scenes = None

    def __init__(self, records: Sequence[CaptionRecord], image_size: int, seed: int = 0, tokenizer=None,
                 max_caption_tokens: int | None = None, split: str = "train"):
        self.records = list(records)
        self.images = LazyImages([r.image for r in self.records], image_size)
        self.seed = seed
        self.split = split
        self.tokenizer = tokenizer
        self.max_caption_tokens = max_caption_tokens

    def __len__(self) -> int:
        return len(self.records)

    def _truncate(self, caption: str) -> str:
        if self.tokenizer is None or self.max_caption_tokens is None:
            return caption
        ids = self.tokenizer(caption, add_special_tokens=False).input_ids
        if len(ids) <= self.max_caption_tokens:
            return caption
        return self.tokenizer.decode(ids[:self.max_caption_tokens])

    def captions(self, indices: Sequence[int], epoch: int) -> list[str]:
        out = []
        for i in indices:
            options = self.records[i].captions
            pick = random.Random(f"{self.seed}-{epoch}-{i}").randrange(len(options)) if len(options) > 1 else 0
            out.append(self._truncate(options[pick]))
        return out


def make_splits(path, n_train: int, n_val: int, image_size: int, seed: int = 0, image_folder=None,
                tokenizer=None, max_caption_tokens: int | None = None) -> tuple[RealCaptionData, RealCaptionData]:
    """seed로 섞은 뒤 앞의 n_val개를 검증, 나머지에서 n_train개를 학습에 쓴다(둘은 겹치지 않는다)."""
    records, _ = load_records(path, image_folder)
    if len(records) < n_val + 1:
        raise DataFormatError(f"n_val: 데이터가 {len(records)}쌍뿐이라 검증 {n_val}개를 떼면 학습할 것이 없습니다 "
                              f"(n_val: data set too small)")
    order = list(range(len(records)))
    random.Random(f"split-{seed}").shuffle(order)
    val = [records[i] for i in order[:n_val]]
    train = [records[i] for i in order[n_val:n_val + n_train]]
    kwargs = dict(image_size=image_size, seed=seed, tokenizer=tokenizer, max_caption_tokens=max_caption_tokens)
    return RealCaptionData(train, split="train", **kwargs), RealCaptionData(val, split="val", **kwargs)


# ---------------------------------------------------------------- 평가(정답 장면 없이)

class MiniSiglipScorer:
    """미니 월드의 SigLIP으로 매기는 채점기(CPU 시험용). 실제 프리셋은 `models.real.OpenClipScorer`."""

    def __init__(self, siglip, tokenizer):
        self.siglip, self.tokenizer = siglip, tokenizer

    def __call__(self, pixel_values, captions) -> torch.Tensor:
        return siglip_scores(self.siglip, self.tokenizer, pixel_values.cpu(), captions)


class RealEvaluator:
    """검증 데이터에서 (1) 생성한 캡션의 SigLIP 점수, (2) 정답 캡션의 검증 손실(토큰 평균 NLL)을 잰다.

    속성 정확도는 장면 정답이 있어야 하므로 실제 데이터에서는 내지 않는다(키가 아예 없다).
    """

    def __init__(self, scorer: Callable, max_items: int = 64, batch_size: int = 16, max_new_tokens: int = 40):
        self.scorer = scorer
        self.max_items = max_items
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens

    @torch.no_grad()
    def __call__(self, model, tokenizer, data) -> dict:
        device = next(model.projector.parameters()).device
        was_training = model.training
        model.eval()
        n = min(len(data), self.max_items)
        generated, scores, nll, tokens = [], [], 0.0, 0
        for start in range(0, n, self.batch_size):
            index = list(range(start, min(n, start + self.batch_size)))
            pixels = data.images[index].to(device)
            text = encode_captions(tokenizer, data.captions(index, 0))
            text = type(text)(*(t.to(device) for t in (text.input_ids, text.attention_mask, text.labels)))
            loss_sum, count = caption_loss_sum(model, pixels, text)
            nll, tokens = nll + float(loss_sum), tokens + count
            batch_captions = model.generate(pixels, tokenizer, max_new_tokens=self.max_new_tokens)
            generated += batch_captions
            scores.append(self.scorer(pixels, batch_captions).float().cpu())
        model.train(was_training)
        return {"siglip_score": torch.cat(scores).mean().item(), "val_loss": nll / tokens,
                "captions": generated[:8]}


# ---------------------------------------------------------------- 작은 세계를 표준 형식으로 쓰기(시험·노트북용)

def write_mini_world_dataset(folder, n: int, fmt: str = "llava", split: str = "train", seed: int = 0) -> Path:
    """미니 월드의 장면 n개를 PNG로 그리고 LLaVA 사전학습 JSON 또는 COCO captions JSON을 쓴다.
    돌려주는 값은 `--data`에 줄 JSON 경로. COCO 형식에는 그림마다 캡션 두 개(다른 문형)를 넣는다."""
    folder = Path(folder)
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    scenes = world.make_scenes(split, n, seed=seed)
    pixels = world.render_batch(scenes)
    names = []
    for i, image in enumerate(pixels):
        name = f"{i // 100:03d}/{i:06d}.png"
        (images_dir / name).parent.mkdir(exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(images_dir / name)
        names.append(name)
    rng = random.Random(seed)
    if fmt == "llava":
        items = [{"id": f"{i:06d}", "image": name,
                  "conversations": [{"from": "human", "value": "<image>\n이 그림을 설명하세요."},
                                    {"from": "gpt", "value": world.write_caption(scene, rng)}]}
                 for i, (name, scene) in enumerate(zip(names, scenes))]
        path = folder / "blip_laion_cc_sbu_558k.json"
    elif fmt == "coco":
        items = {"images": [{"id": i, "file_name": name} for i, name in enumerate(names)],
                 "annotations": [{"id": 2 * i + k, "image_id": i, "caption": world.write_caption(scene, rng)}
                                 for i, scene in enumerate(scenes) for k in range(2)]}
        path = folder / "captions_train.json"
    else:
        raise config_error("fmt", f"'llava' 또는 'coco'여야 합니다: {fmt!r}", "unknown format")
    path.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
