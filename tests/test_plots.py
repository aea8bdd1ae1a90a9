"""한글 그림(course_lib.plots): 빠진 글자가 하나라도 있으면 실패한다."""
import warnings

import matplotlib

matplotlib.use("Agg")

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
