"""아이디어 그림(course_lib.diagrams): 모듈마다의 EXAMPLES를 모두 그려 보고, 한글 글자가 하나도 빠지지 않는지,
작게(또는 다르게) 그려지는 글자("→", "√" …)가 없는지, 폭이 12인치 이하인지 본다. "지금 여기" 지도도 노트북마다 그린다."""
import importlib
import pkgutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import course_lib.diagrams  # noqa: E402
from course_lib import REPO_ROOT, plots  # noqa: E402
from course_lib.diagrams import pipeline  # noqa: E402

EXAMPLES = [(module.name, name, make)
            for module in pkgutil.iter_modules(course_lib.diagrams.__path__)
            for name, make in importlib.import_module(f"course_lib.diagrams.{module.name}").EXAMPLES.items()]


def test_every_diagram_module_has_examples():
    modules = {m.name for m in pkgutil.iter_modules(course_lib.diagrams.__path__)}
    assert modules == {m for m, _, _ in EXAMPLES}


@pytest.mark.parametrize("module, name, make", EXAMPLES, ids=[f"{m}.{n}" for m, n, _ in EXAMPLES])
def test_diagram_renders_every_glyph(module, name, make):
    fig = make()
    fig.canvas.draw()
    assert plots.missing_glyph_warnings(fig) == []
    assert plots.small_glyphs(fig) == []
    assert fig.get_size_inches()[0] <= plots.MAX_FIGURE_WIDTH
    assert fig.axes, "그림에 축(axes)이 하나도 없다"
    plt.close(fig)


# --- "지금 여기" 지도 ---------------------------------------------------------------------------------------

NOTEBOOK_IDS = sorted({path.name[:2] for path in (REPO_ROOT / "notebooks").glob("*.ipynb")})


def highlighted(fig) -> set[str]:
    """그림에서 칠해진(이 노트북이 가르치는) 부분의 이름: 상자의 gid "part:이름"과 색으로 읽는다."""
    here = matplotlib.colors.to_rgba(pipeline.HERE_FACE)
    return {patch.get_gid().split(":", 1)[1] for patch in fig.axes[0].patches
            if (patch.get_gid() or "").startswith("part:") and patch.get_facecolor() == here}


def test_every_notebook_has_a_map():
    assert NOTEBOOK_IDS and set(pipeline.YOU_ARE_HERE) == set(NOTEBOOK_IDS)


@pytest.mark.parametrize("notebook", NOTEBOOK_IDS)
def test_you_are_here_map_draws_the_notebooks_part(notebook):
    fig = pipeline.draw_you_are_here(notebook)
    width, height = fig.get_size_inches()
    assert width <= plots.MAX_FIGURE_WIDTH and height <= 3.0, "작은 지도여야 한다"
    assert highlighted(fig) == set(pipeline.YOU_ARE_HERE[notebook].parts)
    assert plots.missing_glyph_warnings(fig) == [] and plots.small_glyphs(fig) == []
    assert f"노트북 {notebook}" in fig.axes[0].get_title(loc="left")
    plt.close(fig)


def test_you_are_here_highlights_differ_between_notebooks():
    drawn = {}
    for notebook in NOTEBOOK_IDS:
        fig = pipeline.draw_you_are_here(f"{notebook}_아무_이름.ipynb")  # 파일 이름도 받는다
        drawn[notebook] = frozenset(highlighted(fig))
        plt.close(fig)
    assert all(drawn.values()), f"칠한 부분이 없는 노트북: {[n for n, parts in drawn.items() if not parts]}"
    assert len(set(drawn.values())) == len(drawn), f"같은 부분을 칠한 노트북이 있다: {drawn}"
    assert drawn["00"] == frozenset(pipeline.MAP_PARTS), "노트북 00(강의 전체)은 모든 부분을 칠한다"


def test_you_are_here_rejects_an_unknown_notebook():
    with pytest.raises(ValueError, match="알 수 없는 노트북"):
        pipeline.draw_you_are_here("99")
