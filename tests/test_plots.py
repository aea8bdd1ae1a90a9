"""한글 그림(course_lib.plots): 빠진 글자, 작게(또는 다르게) 그려지는 글자, 12인치보다 넓은 그림이 있으면 실패한다."""
import warnings

import matplotlib

matplotlib.use("Agg")

from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from course_lib import plots  # noqa: E402


def test_hangul_labels_render_without_missing_glyphs():
    plots.setup_korean_font()
    fig, ax = plots.new_figure()
    ax.plot([0, 1, 2], [3, -1, 2], label="학습 손실(loss)")
    ax.set_title("한글 제목: 가나다라마바사 아자차카타파하 — 뷁똠햏")
    ax.set_xlabel("에폭(epoch)")
    ax.set_ylabel("메모리(GiB) α/r ≤ 3분 √n")
    ax.legend()
    # matplotlib의 "Glyph … missing from font(s)" 경고를 오류로 바꾼다.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Glyph.*missing.*")
        fig.canvas.draw()
    matplotlib.pyplot.close(fig)


def test_missing_glyph_is_detected():
    """검사 자체가 동작하는지: 한글 글꼴을 빼면 빠진 글자 경고를 잡아야 한다."""
    fig, ax = plots.new_figure()
    ax.set_title("가나다", family="DejaVu Sans")
    assert any("missing" in w for w in plots.missing_glyph_warnings(fig))
    matplotlib.pyplot.close(fig)


def test_setup_is_idempotent_and_uses_bundled_font():
    first = plots.setup_korean_font()
    assert plots.setup_korean_font() == first == "NanumGothic"
    assert any(p.name == "NanumGothic.ttf" for p in plots.bundled_font_files())
    assert matplotlib.rcParams["font.family"][0] == "NanumGothic"


def test_font_setup_does_not_import_koreanize_matplotlib():
    """koreanize_matplotlib은 Python 3.12에서 import가 실패한다(distutils). 실행하지 않고 파일만 쓴다."""
    import subprocess
    import sys

    code = "import course_lib.plots, sys; assert 'koreanize_matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_hangul_renders_helper():
    ok, detail = plots.hangul_renders()
    assert ok, detail


# --- 작게(또는 다르게) 그려지는 글자 --------------------------------------------------------------------------


def _title_problems(title: str, fontsize: float = 10) -> list[str]:
    fig, ax = plots.new_figure()
    ax.set_title(title, fontsize=fontsize)
    try:
        return plots.small_glyphs(fig)
    finally:
        matplotlib.pyplot.close(fig)


def test_small_glyph_check_catches_the_arrow_and_the_root():
    """나눔고딕의 "→"는 작은 "›"로, "√"는 체크 표시로 보인다: 두 글자 모두 잡는다(빠진 글자 경고는 없다)."""
    arrow = _title_problems("그림 → 패치", fontsize=9)
    assert len(arrow) == 1 and "'→'" in arrow[0]
    root = _title_problems("k* = √(n·h/L)")
    assert len(root) == 1 and "'√'" in root[0]
    fig, ax = plots.new_figure()
    ax.set_title("그림 → 패치 √n")
    assert plots.missing_glyph_warnings(fig) == []  # 기존 검사로는 보이지 않는 문제다
    matplotlib.pyplot.close(fig)


def test_small_glyph_check_passes_ordinary_text_at_small_sizes():
    text = "한글 제목: 가나다 손실(loss) 48×48 = 2,304개, α/r · ‖W‖ … (a) A–B — x_1 'q' \"k\" 1e-3 ± 0.5%"
    for size in (7, 8, 9, 10, 12, 14):
        assert plots.glyph_problems(text, FontProperties(size=size)) == [], size
    assert plots.glyph_problems(r"$\sqrt{n}$ 와 $a \to b$") == []  # 수식은 수식 글꼴이 그린다


def test_small_glyph_check_knows_font_size():
    """"≤"는 10pt 미만에서만 아래 줄이 사라진다."""
    assert plots.glyph_problems("T ≤ 73", FontProperties(size=9))
    assert plots.glyph_problems("T ≤ 73", FontProperties(size=12)) == []


def test_small_glyph_check_compares_with_the_fallback_font():
    """DejaVu Sans로 그린 글자는 기준 글꼴과 같으니 작다고 하지 않는다: 글꼴을 바꾸면 "→"도 제 크기다."""
    assert plots.glyph_problems("A → B", FontProperties(family="DejaVu Sans", size=9)) == []
    assert plots.glyph_problems("A → B", FontProperties(size=9))


# --- 그림 폭 ---------------------------------------------------------------------------------------------


def test_figure_width_is_capped_whatever_the_number_of_panels():
    for ncols, width in ((1, 5.0), (2, 5.2), (2, 11.0), (2, 12.0), (3, 4.2), (6, 2.6)):
        fig, _ = plots.new_figure(ncols=ncols, width=width, height=3.0)
        fig_width, fig_height = fig.get_size_inches()
        assert fig_width == min(ncols * width, plots.MAX_FIGURE_WIDTH), (ncols, width)
        assert fig_height == 3.0  # 칸이 좁아져도 높이는 줄지 않는다
        matplotlib.pyplot.close(fig)
    assert plots.figure_size(2, 3, 11.0, 4.0) == (12.0, 12.0)
    assert plots.figure_size(1, 1, 7.0, 3.0) == (7.0, 3.0)


# --- 학습 그림(학습기와 노트북 06이 쓰는 것) --------------------------------------------------------------------


def _steps_and_evals():
    steps = [{"stage": stage, "global_step": i, "loss": 1.0 / (i + 1)}
             for i, stage in enumerate(["stage1"] * 5 + ["stage2"] * 5)]
    evals = [{"stage": "stage1", "epoch": 1, "siglip_score": 0.2, "acc_exact": 0.4},
             {"stage": "stage2", "epoch": 1, "siglip_score": 0.3, "acc_exact": 0.9, "is_best": True}]
    return steps, evals


def test_training_plots_fit_and_draw_every_glyph():
    steps, evals = _steps_and_evals()
    fig, axes = plots.new_figure(ncols=2, width=6)
    plots.plot_stage_losses(steps, axes[0])
    plots.plot_epoch_metrics(evals, axes[1])
    assert fig.get_size_inches()[0] <= plots.MAX_FIGURE_WIDTH
    assert plots.missing_glyph_warnings(fig) == [] and plots.small_glyphs(fig) == []
    matplotlib.pyplot.close(fig)


def test_caption_grid_fits_and_keeps_captions_apart():
    """여섯 칸 격자도 12인치 안에 들고, 캡션(여러 줄)이 위 칸 그림이나 그림 제목과 겹치지 않는다."""
    import torch

    caption = "도형이 세 개 있다. 왼쪽 위에서 작은 파란 사각형을 볼 수 있다. 오른쪽 아래에 작은 빨간 마름모가 있다."
    images = torch.rand(12, 3, 8, 8)
    fig = plots.plot_caption_grid(images, [caption] * 12, [i % 2 == 0 for i in range(12)], ncols=6, width=2.6,
                                  title="test 그림과 생성된 캡션")
    assert fig.get_size_inches()[0] <= plots.MAX_FIGURE_WIDTH
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = fig.axes
    [suptitle] = [t.get_window_extent(renderer) for t in fig.findobj(Text)
                  if t.get_text() == "test 그림과 생성된 캡션"]
    for ax in axes:
        title = ax.title.get_window_extent(renderer)
        assert title.y1 < suptitle.y0, "캡션이 그림 제목에 겹친다"
    for upper, lower in zip(axes[:6], axes[6:]):
        assert lower.title.get_window_extent(renderer).y1 < upper.get_window_extent(renderer).y0, "캡션이 위 칸 그림에 겹친다"
    assert plots.missing_glyph_warnings(fig) == [] and plots.small_glyphs(fig) == []
    matplotlib.pyplot.close(fig)


def test_legend_below_sits_outside_the_axes_and_its_labels():
    fig, ax = plots.new_figure(width=8, height=3)
    for i in range(9):
        ax.barh(["full", "colab"], [1, 1], left=[i, i], label=f"조각 {i} (가중치+AdamW)")
    ax.set_xlabel("GiB (2단계, GPU 한 장)")
    legend = plots.legend_below(ax, ncols=3, fontsize=8)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box, axes_box = legend.get_window_extent(renderer), ax.get_tightbbox(renderer)  # 축 + 눈금 + 축 이름
    assert box.y1 <= axes_box.y0, "범례가 축이나 축 이름에 겹친다"
    assert fig.get_size_inches()[0] == 8
    matplotlib.pyplot.close(fig)
