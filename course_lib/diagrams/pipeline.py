"""VLM의 길(pipeline)과 텐서 모양: 그림 → 패치 → 시각 인코더 → 프로젝터 → [그림 토큰 | 글 토큰] → LLM → 로짓.

모양은 설정에서 읽는다(타자로 친 수 없음).
- 미니 월드: `data/`의 설정 파일(open_clip SigLIP JSON, Qwen3 config.json)과 `mini` 프리셋의 2단계 배치.
- 실제 규모(`colab`, `full`): `presets.REAL_MODELS[name]`의 open_clip 설정과 Qwen3 설정, 그 프리셋의 2단계
  마이크로 배치, 글 토큰 상한은 `preset_memory.text_token_budget`(메모리 추정과 같은 전제).
`PipelineShapes.stages()`가 단계마다의 모양을 주므로 노트북은 그림의 모양을 실제 순전파의 모양과 맞춰 볼 수 있다.

`draw_you_are_here(노트북)`은 같은 길을 부품 단위로 작게 그리고(12 × 2.4인치) 그 노트북이 가르치는 부분을 칠한다
(`YOU_ARE_HERE`). 노트북마다 첫머리에 두는 "지금 여기" 지도다.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from transformers import Qwen3Config

from course_lib import assets, plots, presets, world
from course_lib.preset_memory import text_token_budget

RGB_CHANNELS = 3  # 그림은 RGB 세 채널(world.render_batch, CLIP 전처리 모두)
FROZEN_COLOR = "#9aa5b1"    # 얼린 부품
TRAINED_COLOR = "#d9480f"   # 학습하는 부품
TENSOR_COLOR = "#e7f0fa"    # 텐서(상자)


@dataclass(frozen=True)
class PipelineShapes:
    """한 세계(미니 월드 또는 실제 프리셋)의 VLM 모양. 글 토큰 수는 캡션마다 다르므로 상한만(알면) 둔다."""
    title: str
    batch: int
    image_size: int
    patch_size: int
    vision_width: int
    llm_hidden: int
    vocab_size: int
    text_tokens_max: int | None = None
    channels: int = RGB_CHANNELS
    merge: int = 1  # 프로젝터 앞의 그림 토큰 합치기(`TrainConfig.projector_merge`): 2면 2×2 패치가 토큰 하나

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def n_patches(self) -> int:
        return self.grid * self.grid

    @property
    def n_image_tokens(self) -> int:
        """LLM이 받는 그림 토큰 수: 패치 수 / merge²."""
        return self.n_patches // (self.merge * self.merge)

    @property
    def patch_dim(self) -> int:
        return self.channels * self.patch_size * self.patch_size

    def stages(self) -> list[tuple[str, tuple]]:
        """(이름, 모양)을 순서대로. 글 토큰 수는 "T"로 적는다(LLM 입력의 길이 = 그림 토큰 N + T)."""
        b, n, seq = self.batch, self.n_patches, f"{self.n_image_tokens}+T"
        return [
            ("그림", (b, self.channels, self.image_size, self.image_size)),
            ("패치", (b, n, self.patch_dim)),
            ("패치 토큰", (b, n, self.vision_width)),
            ("그림 토큰", (b, self.n_image_tokens, self.llm_hidden)),
            ("LLM 입력", (b, seq, self.llm_hidden)),
            ("로짓", (b, seq, self.vocab_size)),
        ]


# 상자 사이의 화살표: (무엇이 하는 일, 학습하나)
STEPS = (
    ("패치로 자르기\n(einops.rearrange)", None),
    ("시각 인코더\n(얼림)", False),
    ("프로젝터\n(두 단계 모두 학습)", True),
    ("+ 지시문·캡션\n토큰 T개", None),
    ("LLM(얼림)\n2단계: + LoRA 학습", True),
)


def mini_shapes(data_dir=None) -> PipelineShapes:
    """미니 월드: data/의 설정 파일에서 읽는다(가중치는 읽지 않는다)."""
    siglip = json.loads(assets.require_asset(assets.SIGLIP_CONFIG_FILE, data_dir).read_text(encoding="utf-8"))
    llm = Qwen3Config.from_json_file(assets.require_asset(assets.LLM_CONFIG_FILE, data_dir))
    vision = siglip["vision_cfg"]
    mini = presets.get_preset("mini")
    return PipelineShapes("미니 월드(mini)", mini.stages[-1].batch_size, vision["image_size"], vision["patch_size"],
                          vision["width"], llm.hidden_size, llm.vocab_size, merge=mini.projector_merge)


def real_shapes(name: str = "full") -> PipelineShapes:
    """실제 프리셋: open_clip 설정과 Qwen3 설정(내려받기 없음), 그 프리셋의 2단계 마이크로 배치."""
    spec = presets.REAL_MODELS[name]
    vision, llm = spec.vision_config()["vision_cfg"], spec.llm_config()
    title = f"{name}: {spec.llm_repo.split('/')[-1]} + {spec.vision_model}"
    config = presets.get_preset(name)
    return PipelineShapes(title, config.stages[-1].batch_size, vision["image_size"], vision["patch_size"],
                          vision["width"], llm.hidden_size, llm.vocab_size, text_token_budget(spec),
                          merge=config.projector_merge)


def _shape_text(shape: tuple) -> str:
    return "[" + ", ".join(f"{d:,}" if isinstance(d, int) else str(d) for d in shape) + "]"


def _draw_row(ax, shapes: PipelineShapes) -> None:
    box_w, box_h, step = 1.9, 1.0, 2.75
    stages = shapes.stages()
    for i, (name, shape) in enumerate(stages):
        x = i * step
        ax.add_patch(FancyBboxPatch((x, 0), box_w, box_h, boxstyle="round,pad=0.04,rounding_size=0.12",
                                    facecolor=TENSOR_COLOR, edgecolor="#4a6fa5", linewidth=1.2))
        ax.text(x + box_w / 2, box_h * 0.68, name, ha="center", va="center", fontsize=10, fontweight="bold")
        ax.text(x + box_w / 2, box_h * 0.3, _shape_text(shape), ha="center", va="center", fontsize=8.5)
    for i, (label, trained) in enumerate(STEPS):
        if i == 2 and shapes.merge > 1:  # 프로젝터 앞에서 합친다
            label = f"{shapes.merge}×{shapes.merge} 합치기 + 프로젝터\n(두 단계 모두 학습)"
        start, end = i * step + box_w + 0.05, (i + 1) * step - 0.05
        ax.add_patch(FancyArrowPatch((start, box_h / 2), (end, box_h / 2), arrowstyle="-|>", mutation_scale=12,
                                     color="black", linewidth=1.0))
        color = "black" if trained is None else (TRAINED_COLOR if trained else FROZEN_COLOR)
        ax.text((start + end) / 2, box_h + 0.12, label, ha="center", va="bottom", fontsize=8.5, color=color,
                fontweight="bold" if trained is not None else "normal")
    # 글 속 "→"는 나눔고딕에서 작은 "›"로 보인다(plots.glyph_problems): 말로 쓴다.
    note = f"배치 {shapes.batch}(2단계), 그림 {shapes.image_size}×{shapes.image_size}, 패치 {shapes.patch_size}: " \
           f"{shapes.grid}×{shapes.grid} = {shapes.n_patches}개"
    if shapes.merge > 1:
        note += f", {shapes.merge}×{shapes.merge}로 합쳐 그림 토큰 {shapes.n_image_tokens}개"
    note += f", 글 토큰 T는 최대 {shapes.text_tokens_max}개" if shapes.text_tokens_max else ", 글 토큰 T는 캡션마다 다름"
    ax.text(0, -0.22, note, ha="left", va="top", fontsize=9)
    ax.set_title(shapes.title, loc="left", fontsize=11)
    ax.set_xlim(-0.1, (len(stages) - 1) * step + box_w + 0.1)
    ax.set_ylim(-0.6, box_h + 0.75)
    ax.axis("off")


def draw_pipeline(worlds: Sequence[PipelineShapes]) -> Figure:
    """세계마다 한 줄: 텐서(상자)와 그것을 바꾸는 부품(화살표). 주황 = 학습, 회색 = 얼림."""
    fig, axes = plots.new_figure(nrows=len(worlds), width=plots.MAX_FIGURE_WIDTH, height=2.2, squeeze=False)
    for ax, shapes in zip(axes[:, 0], worlds):
        _draw_row(ax, shapes)
    return fig


def draw_patch_grid(image: torch.Tensor, patch_size: int) -> Figure:
    """그림 한 장 위에 패치 경계와 번호. 번호는 rearrange("(gh gw)")가 토큰을 늘어놓는 순서(행 우선)다."""
    channels, height, width = image.shape
    grid_h, grid_w = height // patch_size, width // patch_size
    fig, ax = plots.new_figure(width=4.2, height=4.2)
    ax.imshow(image.permute(1, 2, 0).numpy(), extent=(0, width, height, 0))
    for k in range(1, grid_w):
        ax.axvline(k * patch_size, color="white", linewidth=1.5)
    for k in range(1, grid_h):
        ax.axhline(k * patch_size, color="white", linewidth=1.5)
    for row in range(grid_h):
        for col in range(grid_w):
            ax.text((col + 0.5) * patch_size, (row + 0.5) * patch_size, str(row * grid_w + col), ha="center",
                    va="center", fontsize=9, color="black", alpha=0.8)
    ax.set_xticks([k * patch_size for k in range(grid_w + 1)])
    ax.set_yticks([k * patch_size for k in range(grid_h + 1)])
    ax.grid(False)
    ax.set_title(f"{height}×{width} 그림을 {patch_size}×{patch_size} 패치로: {grid_h}×{grid_w} = "
                 f"{grid_h * grid_w}개\n패치 하나 = {channels}×{patch_size}×{patch_size} = "
                 f"{channels * patch_size * patch_size}개 값", fontsize=10)
    return fig


# ---------------------------------------------------------------- "지금 여기" 지도: 노트북마다 첫머리의 작은 길

HERE_FACE, HERE_EDGE = "#ffe8a3", "#e67700"   # 이 노트북이 가르치는 부분
OTHER_FACE, OTHER_EDGE = "#f1f3f5", "#adb5bd"  # 나머지
# 부분 이름 → (글, 왼쪽 x, 아래 y, 폭, 높이). 좌표는 가로 0–24, 세로 0.3–4의 축 단위(12 × 2.4인치 그림).
MAP_PARTS = {
    "image": ("그림", 0.0, 2.0, 2.0, 1.3),
    "vision": ("시각 인코더\n(얼림)", 2.8, 2.0, 2.9, 1.3),
    "projector": ("프로젝터", 6.5, 2.0, 2.7, 1.3),
    "weights": ("가중치 W", 10.4, 2.1, 2.2, 0.95),
    "lora": ("LoRA\nW + BA", 12.85, 2.1, 2.2, 0.95),
    "dora": ("DoRA\n크기 × 방향", 15.3, 2.1, 2.2, 0.95),
    "activations": ("활성값", 17.75, 2.1, 2.2, 0.95),
    "loss": ("캡션 손실\n(캡션 자리만)", 21.2, 2.0, 2.8, 1.3),
    "stage1": ("1단계: 프로젝터만 학습", 6.5, 1.15, 2.7, 0.55),
    "stage2": ("2단계: 프로젝터 + LoRA 학습", 6.5, 0.4, 8.55, 0.55),
}
LLM_FRAME = (10.1, 1.9, 10.15, 1.95)  # LLM 상자(가중치·어댑터·활성값을 품는다)
ARROWS = (("image", "vision"), ("vision", "projector"), ("projector", "llm"), ("llm", "loss"))


@dataclass(frozen=True)
class Here:
    """노트북 하나가 가르치는 부분: 지도 위에 칠할 부분들과 제목 한 줄."""
    parts: frozenset
    label: str


def _scale_label() -> str:
    full = presets.REAL_MODELS["full"]
    return f"규모: 미니 월드(CPU) · colab(GPU 한 장)\nfull({full.llm_repo.split('/')[-1]} + {full.vision_model}, 여러 GPU)"


MAP_PARTS["scale"] = (_scale_label(), 15.6, 0.4, 8.4, 1.3)
YOU_ARE_HERE = {
    "00": Here(frozenset(MAP_PARTS), "강의 전체: 그림이 캡션 손실이 되기까지의 길"),
    "01": Here(frozenset({"stage1", "stage2"}), "1단계와 2단계를 나누는 까닭(한 번에 학습과 비교)"),
    "02": Here(frozenset({"lora"}), "LLM의 선형층에 붙이는 LoRA"),
    "03": Here(frozenset({"dora"}), "LoRA를 크기와 방향으로 나눈 DoRA"),
    "04": Here(frozenset({"activations"}), "LLM이 역전파를 위해 저장하는 활성값"),
    "05": Here(frozenset({"weights"}), "LLM의 얼린 가중치를 NF4 4비트로"),
    "06": Here(frozenset({"projector", "lora", "loss", "stage1", "stage2"}), "두 단계 학습 루프 전체"),
    "07": Here(frozenset({"image", "vision", "weights", "scale"}), "실제 규모: 실제 데이터, 큰 모델, GPU"),
}


def _map_box(ax, key: str, text: str, x: float, y: float, w: float, h: float, here: bool) -> None:
    box = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12", linewidth=2.0 if here else 0.8,
                         facecolor=HERE_FACE if here else OTHER_FACE, edgecolor=HERE_EDGE if here else OTHER_EDGE)
    box.set_gid(f"part:{key}")
    ax.add_patch(box)
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5, linespacing=1.3,
            color="black" if here else "#495057", fontweight="bold" if here else "normal")


def draw_you_are_here(notebook: str) -> Figure:
    """노트북 00의 길을 작게(12 × 2.4인치) 그리고, `notebook`("02" 또는 "02_lora….ipynb")이 가르치는 부분을 칠한다.
    부분은 `YOU_ARE_HERE`에 있다. 화살표는 글자가 아니라 화살표로 그린다(나눔고딕의 "→"는 작게 보인다)."""
    key = str(notebook)[:2]
    if key not in YOU_ARE_HERE:
        raise ValueError(f"알 수 없는 노트북 번호(unknown notebook id): {notebook!r}. "
                         f"{', '.join(YOU_ARE_HERE)} 가운데 하나를 주세요")
    here = YOU_ARE_HERE[key]
    fig, ax = plots.new_figure(width=plots.MAX_FIGURE_WIDTH, height=2.4)
    x, y, w, h = LLM_FRAME
    in_llm = bool(here.parts & {"weights", "lora", "dora", "activations"})
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.15", facecolor="white",
                                edgecolor=HERE_EDGE if in_llm else OTHER_EDGE, linewidth=1.2, linestyle="--"))
    ax.text(x + 0.15, y + h - 0.08, "LLM(얼림; 2단계에서 어댑터만 학습)", ha="left", va="top", fontsize=8, color="#495057")
    for part, (text, px, py, pw, ph) in MAP_PARTS.items():
        _map_box(ax, part, text, px, py, pw, ph, part in here.parts)
    mid = {k: (v[1], v[1] + v[3], v[2] + v[4] / 2) for k, v in MAP_PARTS.items()}
    mid["llm"] = (x, x + w, 2.65)
    for start, end in ARROWS:
        ax.add_patch(FancyArrowPatch((mid[start][1] + 0.08, 2.65), (mid[end][0] - 0.08, 2.65), arrowstyle="-|>",
                                     mutation_scale=11, color="#495057", linewidth=1.0))
    ax.set_title(f"지금 여기: 노트북 {key}, {here.label}", loc="left", fontsize=10)
    ax.set_xlim(-0.1, 24.1)
    ax.set_ylim(0.3, 4.0)
    ax.axis("off")
    return fig


EXAMPLES: dict[str, Callable[[], Figure]] = {
    "mini_and_full": lambda: draw_pipeline([mini_shapes(), real_shapes("full")]),
    "colab": lambda: draw_pipeline([real_shapes("colab")]),
    "mini_patch_grid": lambda: draw_patch_grid(world.render_batch(world.make_scenes("test", 1))[0],
                                               mini_shapes().patch_size),
    "you_are_here_00": lambda: draw_you_are_here("00"),
    "you_are_here_07": lambda: draw_you_are_here("07"),
}
