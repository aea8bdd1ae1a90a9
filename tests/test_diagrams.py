"""아이디어 그림(course_lib.diagrams): 모듈마다의 EXAMPLES를 모두 그려 보고, 한글 글자가 하나도 빠지지 않는지 본다."""
import importlib
import pkgutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import course_lib.diagrams  # noqa: E402
from course_lib import plots  # noqa: E402

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
    assert fig.axes, "그림에 축(axes)이 하나도 없다"
    plt.close(fig)
