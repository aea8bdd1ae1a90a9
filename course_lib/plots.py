"""한글이 깨지지 않는 그림. 강의의 모든 그림은 이 모듈을 거친다.

`import koreanize_matplotlib` 은 Python 3.12에서 `distutils`를 찾다가 실패한다. 그래서 그 패키지를
실행하지 않고 위치만 찾아(`importlib.util.find_spec`) 함께 들어 있는 나눔고딕(NanumGothic) 파일을
matplotlib에 등록한다. 패키지가 없으면 시스템에 설치된 한글 글꼴을 찾는다.
"""
from __future__ import annotations

import importlib.util
import textwrap
import unicodedata
import warnings
from functools import lru_cache
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook, font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text

# 시스템 글꼴에서 찾을 한글 글꼴 후보(먼저 나온 것이 우선).
SYSTEM_KOREAN_FAMILIES = (
    "NanumGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Malgun Gothic",
    "AppleGothic",
    "UnDotum",
)
# 한글 글꼴에 없는 그리스 문자·수학 기호(α, √, ≤ …)는 이 글꼴로 대신 그린다.
FALLBACK_FAMILY = "DejaVu Sans"
# 그림의 폭 상한(인치)과 해상도. 노트북 칸은 그림을 칸 폭으로 줄여 보이므로, 이보다 넓은 그림은 글자가 작아져
# 읽을 수 없다(24인치 그림은 글자가 40 % 남짓으로 줄었다). 12인치 × 100 dpi = 1,200픽셀.
MAX_FIGURE_WIDTH = 12.0
FIGURE_DPI = 100
# 글자의 잉크 높이가 'A'(또는 DejaVu Sans의 같은 글자)의 이 비율보다 작으면 "작게 그려진 글자"다.
# 100 dpi에서 나눔고딕의 →는 'A'의 0.40배(9pt)·0.18배(10pt)로 작은 '›'처럼 보이고, DejaVu Sans의 →는 0.5배 이상이다.
SMALL_GLYPH_RATIO = 0.5
# 어느 글꼴에서나 원래 낮은 기호(가로획뿐인 기호). 문장부호·첨자·공백도 원래 작다(`_small_by_design`).
SHORT_BY_DESIGN = frozenset("=~≈∼≃≒−¬")
# 크기는 재도 드러나지 않지만 모양이 달라지는 글자: (글꼴, 글자) → (이 크기(pt) 미만에서, 고치는 법).
MISDRAWN_GLYPHS = {
    ("NanumGothic", "√"): (float("inf"), "나눔고딕의 √는 윗줄이 (거의) 없어 체크 표시(✓)처럼 보입니다. "
                                         "수식 $\\sqrt{n}$이나 '제곱근'으로 쓰세요"),
    ("NanumGothic", "≤"): (10, "10pt 미만의 나눔고딕 ≤는 아래 줄이 사라져 작은 '<'로 보입니다. '이하', '최대'로 쓰세요"),
    ("NanumGothic", "≥"): (10, "10pt 미만의 나눔고딕 ≥는 아래 줄이 사라져 작은 '>'로 보입니다. '이상', '최소'로 쓰세요"),
}
# 잉크로 셀 픽셀의 진하기(0–255). 작은 글자의 세로획은 안티에일리어싱으로 반쯤만 진해서(8pt 'T'의 기둥) 128로는
# 멀쩡한 글자도 작게 재진다. 64(25 %)면 7–14pt에서 라틴 문자·숫자·캡션의 한글이 모두 'A' 높이의 0.69배 이상이다.
INK_LEVEL = 64

_korean_family: str | None = None


class FontError(RuntimeError):
    """한글 글꼴을 찾지 못했을 때."""


def bundled_font_files() -> list[Path]:
    """koreanize-matplotlib에 들어 있는 나눔고딕 파일들(패키지를 import하지 않는다)."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    files: list[Path] = []
    for location in spec.submodule_search_locations:
        files.extend(sorted((Path(location) / "fonts").glob("*.ttf")))
    return files


def _family_available(family: str) -> bool:
    return any(entry.name == family for entry in font_manager.fontManager.ttflist)


def setup_korean_font() -> str:
    """한글 글꼴을 등록하고 기본 글꼴로 설정한 뒤 그 이름을 돌려준다. 여러 번 불러도 된다."""
    global _korean_family
    if _korean_family is None:
        for font_file in bundled_font_files():
            font_manager.fontManager.addfont(str(font_file))
        family = next((f for f in SYSTEM_KOREAN_FAMILIES if _family_available(f)), None)
        if family is None:
            raise FontError(
                "한글 글꼴을 찾지 못했습니다(Korean font not found). "
                "`pip install koreanize-matplotlib` 로 나눔고딕을 설치하세요."
            )
        _korean_family = family
    matplotlib.rcParams["font.family"] = [_korean_family, FALLBACK_FAMILY]
    matplotlib.rcParams["figure.dpi"] = FIGURE_DPI
    # 나눔고딕에는 유니코드 마이너스(U+2212)가 없다. 축 눈금에 보통 하이픈을 쓴다.
    matplotlib.rcParams["axes.unicode_minus"] = False
    return _korean_family


def missing_glyph_warnings(fig) -> list[str]:
    """그림을 실제로 그려 보고, matplotlib의 "Glyph … missing" 경고 문장들을 돌려준다."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    return [str(w.message) for w in caught if "Glyph" in str(w.message) and "missing" in str(w.message)]


def hangul_renders(text: str = "한글 글꼴 확인: 가나다 손실(loss) α/r ≤ 3분") -> tuple[bool, str]:
    """`text`를 그려 보고 (빠진 글자가 없는지, 설명)을 돌려준다. doctor와 테스트가 쓴다."""
    try:
        family = setup_korean_font()
    except FontError as err:
        return False, str(err)
    fig = Figure(figsize=(3, 1))
    FigureCanvasAgg(fig)
    fig.text(0.05, 0.5, text)
    missing = missing_glyph_warnings(fig)
    if missing:
        return False, f"{family} 글꼴: {missing[0]}"
    return True, f"{family} 글꼴"


def figure_size(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.5) -> tuple[float, float]:
    """칸(panel) 하나의 바라는 폭·높이에서 그림 전체의 (폭, 높이) 인치. 폭은 칸 수와 상관없이 `MAX_FIGURE_WIDTH` 이하다.

    넘치면 칸의 폭만 줄이고 높이는 그대로 둔다: 글자 크기(포인트)는 그림 크기와 상관없으므로 칸이 좁아져도
    글자는 그대로 읽히고, 칸은 상대적으로 키가 커진다(막대·곡선이 납작해지지 않는다).
    """
    return min(width * ncols, MAX_FIGURE_WIDTH), height * nrows


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.5, **kwargs):
    """강의 공통 모양의 (fig, axes). `width`, `height`는 칸 하나의 크기이고 전체 폭은 `figure_size`가 12인치로 자른다.
    한글 글꼴이 설정된 상태를 보장한다."""
    setup_korean_font()
    fig, axes = plt.subplots(nrows, ncols, figsize=figure_size(ncols, nrows, width, height), layout="constrained",
                             **kwargs)
    for ax in fig.axes:
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def legend_below(ax, ncols: int = 2, **kwargs):
    """`ax`의 범례를 그림 아래 바깥에 둔다(데이터도 축 이름도 가리지 않는다). `new_figure`의 constrained 배치가
    그 자리를 만든다. 여러 칸이 같은 색을 쓰면 범례 하나로 모든 칸을 설명한다."""
    handles, labels = ax.get_legend_handles_labels()
    return ax.figure.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False, **kwargs)


# ---------------------------------------------------------------- 작게(또는 다르게) 그려지는 글자
# 나눔고딕은 수학 기호를 가는 획으로 그려서 작은 글자 크기(8–10pt)에서는 획이 거의 사라진다: "→"는 작은 "›",
# "≤"는 "<", "√"는 체크 표시처럼 보인다. 빠진 글자가 아니라서 matplotlib은 경고하지 않는다. 그래서 Agg가 글을
# 그리는 그대로(같은 글꼴 사슬·힌팅·크기·dpi) 글자를 하나씩 그려, 잉크(`INK_LEVEL`)가 차지하는 높이를 잰다.

def _small_by_design(char: str) -> bool:
    """원래 작은 글자: 공백, 문장부호(. , · - – — _ 따옴표 …), 수식 보조 기호(^ `), 첨자, 가로획뿐인 기호(= ~ ≈)."""
    category = unicodedata.category(char)
    name = unicodedata.name(char, "")
    return (char.isspace() or category[0] == "P" or category in ("Sk", "Lm") or char in SHORT_BY_DESIGN
            or "SUBSCRIPT" in name or "SUPERSCRIPT" in name)


@lru_cache(maxsize=None)
def _charmap(path: str) -> tuple[str, frozenset]:
    font = FT2Font(path)
    return font.family_name, frozenset(font.get_charmap())


@lru_cache(maxsize=None)
def _ink_height(paths: tuple[str, ...], char: str, size: float, dpi: float) -> int:
    """글꼴 사슬 `paths`로 `char`를 Agg처럼 그렸을 때 `INK_LEVEL` 이상 진한 픽셀이 있는 행의 수(픽셀)."""
    font = font_manager.get_font(list(paths))
    font.clear()
    font.set_size(size, dpi)
    font.set_text(char, 0, flags=get_hinting_flag())
    font.draw_glyphs_to_bitmap(antialiased=True)
    rows = np.flatnonzero((np.asarray(font.get_image()) >= INK_LEVEL).any(axis=1))
    return 0 if rows.size == 0 else int(rows[-1] - rows[0] + 1)


def _font_chain(prop: FontProperties) -> tuple[str, ...]:
    """matplotlib이 글자마다 고르는 순서의 글꼴 파일들: font.family의 이름마다 하나, 글자가 있는 첫 파일이 그린다."""
    paths = []
    for family in prop.get_family():
        one = prop.copy()
        one.set_family(family)
        try:
            paths.append(str(font_manager.findfont(one, fallback_to_default=False)))
        except ValueError:
            continue
    return tuple(dict.fromkeys(paths))


def glyph_problems(text: str, prop: FontProperties | None = None, dpi: float = FIGURE_DPI,
                   ratio: float = SMALL_GLYPH_RATIO) -> list[str]:
    """`text`를 `prop`(기본: 강의 글꼴, 10pt)으로 그릴 때 작게 그려지거나 모양이 다른 글자들(사람이 읽을 한 줄씩).

    작게 그려진 글자: 잉크 높이가 같은 크기의 'A'의 `ratio`배보다 작거나(원래 작은 글자는 빼고), 같은 글자를
    DejaVu Sans(matplotlib 기본 글꼴)로 그린 높이의 `ratio`배보다 작다. 모양이 다른 글자는 `MISDRAWN_GLYPHS`.
    수식($…$)은 matplotlib의 수식 글꼴이 그리므로 보지 않는다. 빠진 글자는 `missing_glyph_warnings`가 잡는다.
    """
    if prop is None:
        setup_korean_font()
        prop = FontProperties()
    if cbook.is_math_text(text):
        return []
    chain = _font_chain(prop)
    if not chain:
        return []
    size = prop.get_size_in_points()
    reference = _ink_height(chain, "A", size, dpi)
    plain = _font_chain(FontProperties(family=FALLBACK_FAMILY))
    problems = []
    for char in dict.fromkeys(text):
        path = next((p for p in chain if ord(char) in _charmap(p)[1]), None)
        if path is None or char.isspace():
            continue
        family = _charmap(path)[0]
        below, fix = MISDRAWN_GLYPHS.get((family, char), (0, ""))
        if size < below:
            problems.append(f"{char!r} ({family}, {size:g}pt): {fix} — 글: {text!r}")
            continue
        height = _ink_height(chain, char, size, dpi)
        usual = _ink_height(plain, char, size, dpi) if plain and ord(char) in _charmap(plain[0])[1] else 0
        if (height < ratio * reference and not _small_by_design(char)) or height < ratio * usual:
            problems.append(f"{char!r} (U+{ord(char):04X}, {family}, {size:g}pt): 잉크 높이 {height}픽셀, 'A'는 "
                            f"{reference}, DejaVu Sans의 같은 글자는 {usual}. 작게 그려집니다: 화살표는 "
                            f"annotate(arrowprops=…)로 그리거나 말로 쓰세요 — 글: {text!r}")
    return problems


def small_glyphs(fig, ratio: float = SMALL_GLYPH_RATIO) -> list[str]:
    """그림을 그려 보고, 보이는 모든 글(제목, 눈금, 범례, 주석)에서 `glyph_problems`가 찾은 글자들."""
    fig.canvas.draw()
    problems: list[str] = []
    for artist in fig.findobj(Text):
        if artist.get_visible() and artist.get_text():
            problems += glyph_problems(artist.get_text(), artist.get_fontproperties(), fig.dpi, ratio)
    return list(dict.fromkeys(problems))


setup_korean_font()


# ---------------------------------------------------------------- 학습 그림(학습기와 노트북이 함께 쓴다)

def plot_stage_losses(steps: list[dict], ax=None, label_prefix: str = ""):
    """단계별 손실 곡선. steps는 학습기의 `history.steps`(stage, global_step, loss)."""
    if ax is None:
        _, ax = new_figure()
    for stage in dict.fromkeys(s["stage"] for s in steps):
        rows = [s for s in steps if s["stage"] == stage]
        ax.plot([r["global_step"] for r in rows], [r["loss"] for r in rows], label=f"{label_prefix}{stage}")
    ax.set_xlabel("옵티마이저 걸음(step)")
    ax.set_ylabel("캡션 손실(loss)")
    ax.legend()
    return ax


def plot_epoch_metrics(evals: list[dict], ax=None):
    """epoch별 SigLIP 점수와 정확 일치(exact match) 정확도."""
    if ax is None:
        _, ax = new_figure()
    labels = [f"{e['stage']}\nepoch {e['epoch']}" for e in evals]
    x = range(len(evals))
    ax.plot(x, [e["siglip_score"] for e in evals], "o-", label="SigLIP 점수")
    ax.plot(x, [e["acc_exact"] for e in evals], "s--", label="정확 일치 정확도")
    best = [i for i, e in enumerate(evals) if e.get("is_best")]
    if best:
        ax.scatter([best[-1]], [evals[best[-1]]["siglip_score"]], s=160, facecolors="none", edgecolors="red",
                   label="최고 SigLIP 점수(저장된 모델)")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("검증(val) 점수")
    ax.legend(fontsize=8)
    return ax


def plot_caption_grid(images, captions, correct=None, ncols: int = 4, width: float = 3.2, title: str | None = None,
                      fontsize: float = 8):
    """그림과 생성된 캡션을 격자로. correct가 주어지면 맞으면 초록, 틀리면 빨강 글씨.

    전체 폭은 `figure_size`가 12인치로 자르고, 캡션은 실제 칸 폭에 맞춰 줄을 바꾼다. 줄의 높이는 가장 긴 캡션의
    줄 수만큼 잡아서 캡션이 위 칸의 그림이나 그림 제목(`title`, suptitle)에 겹치지 않는다.
    """
    setup_korean_font()
    n = len(captions)
    nrows = (n + ncols - 1) // ncols
    fig_width, _ = figure_size(ncols, nrows, width, width)
    panel = fig_width / ncols
    # 한글 한 글자의 폭 ≈ 글자 크기(1 em). 칸 폭(포인트)에 들어가는 글자 수에서 여백 두 글자를 뺀다.
    per_line = max(8, int(panel * 72 / fontsize) - 2)
    wrapped = [textwrap.wrap(caption, per_line) or [""] for caption in captions]
    line_height = 1.5 * fontsize / 72  # 인치(줄 간격 1.5: 나눔고딕의 한글은 matplotlib의 기본 1.2로는 윗줄에 닿는다)
    title_space = 0.35 if title else 0.0
    row_height = panel + (max(len(lines) for lines in wrapped) + 0.6) * line_height
    fig, axes = plt.subplots(nrows, ncols, figsize=(fig_width, row_height * nrows + title_space), layout="constrained",
                             squeeze=False)
    # 여러 줄 제목의 윗줄은 matplotlib이 잰 상자보다 조금 높다: 칸 사이 여백을 넉넉히(suptitle과도 떨어지게).
    fig.get_layout_engine().set(h_pad=0.1)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = images[i]
        if hasattr(image, "permute"):
            image = image.permute(1, 2, 0).numpy()
        ax.imshow(image, interpolation="nearest")
        color = "black" if correct is None else ("green" if correct[i] else "red")
        ax.set_title("\n".join(wrapped[i]), fontsize=fontsize, color=color, linespacing=1.5)
    if title:
        fig.suptitle(title)
    return fig
