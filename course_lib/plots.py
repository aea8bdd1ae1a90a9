"""한글이 깨지지 않는 그림. 강의의 모든 그림은 이 모듈을 거친다.

`import koreanize_matplotlib` 은 Python 3.12에서 `distutils`를 찾다가 실패한다. 그래서 그 패키지를
실행하지 않고 위치만 찾아(`importlib.util.find_spec`) 함께 들어 있는 나눔고딕(NanumGothic) 파일을
matplotlib에 등록한다. 패키지가 없으면 시스템에 설치된 한글 글꼴을 찾는다.
"""
from __future__ import annotations

import importlib.util
import textwrap
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.5, **kwargs):
    """강의 공통 모양의 (fig, axes). 한글 글꼴이 설정된 상태를 보장한다."""
    setup_korean_font()
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), layout="constrained", **kwargs
    )
    for ax in fig.axes:
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


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


def plot_caption_grid(images, captions, correct=None, ncols: int = 4, width: float = 3.2):
    """그림과 생성된 캡션을 격자로. correct가 주어지면 맞으면 초록, 틀리면 빨강 글씨."""
    setup_korean_font()
    n = len(captions)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, width * 1.25 * nrows), layout="constrained")
    for i, ax in enumerate(getattr(axes, "flat", [axes])):
        ax.axis("off")
        if i >= n:
            continue
        image = images[i]
        if hasattr(image, "permute"):
            image = image.permute(1, 2, 0).numpy()
        ax.imshow(image, interpolation="nearest")
        color = "black" if correct is None else ("green" if correct[i] else "red")
        ax.set_title("\n".join(textwrap.wrap(captions[i], 16)), fontsize=8, color=color)
    return fig
