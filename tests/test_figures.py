"""노트북에 저장된 그림과 그림을 그리는 코드: 노트북 칸 폭에서 읽히는가.

규칙(노트북 규약, CONTRIBUTING.md): 그림 전체의 폭은 칸 수와 상관없이 `plots.MAX_FIGURE_WIDTH`(12인치) 이하다.
강의의 그림 해상도는 `plots.FIGURE_DPI`(100 dpi; `plots.setup_korean_font`가 rcParams["figure.dpi"]에 넣는다)라서
- 출력의 `text/plain` 줄 "<Figure size 1200x350 with 2 Axes>"의 폭(픽셀 = 인치 × dpi)은 12 × 100 = 1,200 이하,
- 저장된 PNG의 폭은 그보다 조금 넓을 수 있다: 노트북(matplotlib-inline)은 `bbox_inches="tight"`로 저장해 그림의
  글자 둘레에 `savefig.pad_inches`(0.1인치)씩 여백을 더한다. 그래서 PNG 폭 ≤ (12 + 2 × 0.1) × 100 + 1(반올림) 픽셀.
  글자가 그림 밖으로 삐져나간 그림은 PNG가 더 넓어져 여기서 걸린다.
원본 노트북(notebooks/*.ipynb)만 본다. 학생용 사본은 같은 출력을 복사한 것이다.
노트북 셀이 그림에 쓰는 글(제목·축 이름·범례·주석)에 작게 그려지는 글자("→", "√" …)가 없는지도 본다.
"""
from __future__ import annotations

import ast
import base64
import json
import re
import struct

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402

from course_lib import REPO_ROOT, plots  # noqa: E402

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
FIGURE_SIZE_RE = re.compile(r"<Figure size (?P<width>\d+)x(?P<height>\d+) with \d+ Axes>")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# 그림에 글을 쓰는 호출과 글을 받는 인자
FIGURE_TEXT_CALLS = {"set_title", "set_xlabel", "set_ylabel", "text", "annotate", "suptitle", "supxlabel", "supylabel",
                     "legend", "set_xticks", "set_yticks", "set_xticklabels", "set_yticklabels", "bar_label", "figtext"}
FIGURE_TEXT_KEYWORDS = {"label", "labels", "title"}


def max_png_width() -> float:
    return (plots.MAX_FIGURE_WIDTH + 2 * matplotlib.rcParams["savefig.pad_inches"]) * plots.FIGURE_DPI + 1


def png_width(data: bytes) -> int:
    """PNG 머리(IHDR)의 폭(픽셀)."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", "PNG가 아니다"
    return struct.unpack(">I", data[16:20])[0]


def stored_figures(path):
    """(셀 번호, text/plain 줄 또는 None, PNG 폭, 표시 폭 메타데이터 또는 None)을 출력마다."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                plain = "".join(data.get("text/plain", "")) or None
                shown = output.get("metadata", {}).get("image/png", {}).get("width")
                yield index, plain, png_width(base64.b64decode(data["image/png"])), shown


def code_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            # IPython 매직 줄(%, !)은 파이썬 문법이 아니다
            yield index, "\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!")))


def test_course_dpi_is_the_one_matplotlib_uses():
    plots.setup_korean_font()
    assert matplotlib.rcParams["figure.dpi"] == plots.FIGURE_DPI
    fig, _ = plots.new_figure()
    assert fig.dpi == plots.FIGURE_DPI
    plt.close(fig)


def test_png_width_reader_and_rule_on_a_real_figure(tmp_path):
    """규칙이 재는 것을 진짜 그림으로: 12인치 그림은 통과하고, 13인치 그림은 걸린다(검사가 실패할 수 있다)."""
    for width, fits in ((plots.MAX_FIGURE_WIDTH, True), (13.0, False)):
        fig = plt.figure(figsize=(width, 2), dpi=plots.FIGURE_DPI)
        ax = fig.add_axes((0.0, 0.2, 1.0, 0.7))  # 그림의 왼쪽 끝부터 오른쪽 끝까지: 자를 여백이 없다
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("한글 제목 A")
        path = tmp_path / f"{width}.png"
        fig.savefig(path, bbox_inches="tight")  # 노트북(matplotlib-inline)이 저장하는 방식
        assert (png_width(path.read_bytes()) <= max_png_width()) is fits, width
        assert (int(width * plots.FIGURE_DPI) <= plots.MAX_FIGURE_WIDTH * plots.FIGURE_DPI) is fits
        plt.close(fig)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_figures_are_at_most_12_inches_wide(path):
    figures = list(stored_figures(path))
    too_wide = []
    for index, plain, width, shown in figures:
        match = FIGURE_SIZE_RE.search(plain or "")
        if match and int(match["width"]) > plots.MAX_FIGURE_WIDTH * plots.FIGURE_DPI:
            too_wide.append(f"셀 {index}: {match.group(0)} = {int(match['width']) / plots.FIGURE_DPI:g}인치")
        elif (shown or width) > max_png_width():
            too_wide.append(f"셀 {index}: PNG 폭 {shown or width}픽셀 > {max_png_width():g}")
    assert not too_wide, (
        f"{path.name}: {plots.MAX_FIGURE_WIDTH:g}인치보다 넓은 그림(셀 번호는 0부터)\n" + "\n".join(too_wide)
        + "\n고치기: plots.new_figure/figure_size로 그리고 노트북을 다시 실행해 저장하세요"
    )


def _figure_strings(tree: ast.AST):
    """(글, 글자 크기 pt 또는 None): 그림에 글을 쓰는 호출의 문자열 상수(f-string의 고정된 부분 포함)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        parts = list(node.args) + [k.value for k in node.keywords] if name in FIGURE_TEXT_CALLS else \
            [k.value for k in node.keywords if k.arg in FIGURE_TEXT_KEYWORDS]
        size = next((k.value.value for k in node.keywords if k.arg in ("fontsize", "size")
                     and isinstance(k.value, ast.Constant) and isinstance(k.value.value, (int, float))), None)
        for part in parts:
            for text in _literals(part):
                if text.strip():
                    yield text, size


def _literals(node: ast.AST) -> list[str]:
    """식 안의 문자열 상수. f-string은 고정된 부분만(서식 지정 ".2f" 같은 것은 글이 아니다)."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)] + [
            text for v in node.values if isinstance(v, ast.FormattedValue) for text in _literals(v.value)]
    return [text for child in ast.iter_child_nodes(node) for text in _literals(child)]


def test_figure_string_finder_sees_labels_titles_and_fstrings():
    tree = ast.parse('ax.axvline(1, label=f"k* = √(n) = {k:.2f}")\nax.set_title("A → B", fontsize=8)\nprint("→")')
    assert list(_figure_strings(tree)) == [("k* = √(n) = ", None), ("A → B", 8)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_figure_text_has_no_small_glyphs(path):
    problems = []
    for index, source in code_cells(path):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for text, size in _figure_strings(tree):
            prop = FontProperties(size=size) if size else FontProperties()
            problems += [f"셀 {index}: {p}" for p in plots.glyph_problems(text, prop)]
    assert not problems, f"{path.name}: 그림 글에 작게(또는 다르게) 그려지는 글자(셀 번호는 0부터)\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_do_not_set_wide_figsize_directly(path):
    wide = []
    for index, source in code_cells(path):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "figsize" and isinstance(node.value, ast.Tuple):
                first = node.value.elts[0]
                if isinstance(first, ast.Constant) and first.value > plots.MAX_FIGURE_WIDTH:
                    wide.append(f"셀 {index}: figsize 폭 {first.value}")
    assert not wide, f"{path.name}: " + "; ".join(wide) + " (plots.new_figure를 쓰세요: 폭을 12인치로 자른다)"
