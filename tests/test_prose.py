"""산문의 숫자: 마크다운이 적은 측정값이 같은 노트북의 출력(또는 코드의 설정값)에 있는가.

규칙과 허용 표시는 `course_lib/tooling/prose.py`의 맨 위에 있다.
"""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib import REPO_ROOT
from course_lib.tooling import prose

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_figure_in_prose_is_shown_by_an_output(notebook):
    problems = prose.notebook_problems(nbformat.read(notebook, as_version=4))
    assert not problems, f"{notebook.name}:\n" + "\n".join(map(str, problems))


# --- 작은 노트북으로: 낡은 숫자를 잡는가 ---------------------------------------------------------------

def notebook(markdown: str, printed: str = "", code: str = "print(result)", *more_cells):
    """마크다운 셀 하나와, `printed`를 출력한 코드 셀 하나(와 더 붙일 셀들)로 된 노트북."""
    cell = new_code_cell(code, outputs=[new_output("stream", name="stdout", text=printed)] if printed else [])
    return new_notebook(cells=[new_markdown_cell(markdown), cell, *more_cells])


def flagged(nb) -> list[str]:
    return [p.figure if isinstance(p, prose.Problem) else p for p in prose.notebook_problems(nb)]


def test_a_planted_stale_number_fails_and_the_printed_one_passes():
    printed = "test 정확 일치: 0.954 (n=500)\n"
    assert flagged(notebook("정확 일치는 0.954입니다.", printed)) == []
    assert flagged(notebook("정확 일치는 0.961입니다.", printed)) == ["0.961"]  # 다시 실행한 뒤 남은 옛 숫자


def test_a_notebook_without_outputs_shows_nothing():
    assert flagged(notebook("NF4 가중치는 float32의 22.7%이고 10.7배 작습니다.")) == ["22.7%", "10.7배"]


@pytest.mark.parametrize(
    "written, printed",
    [
        ("0.954", "acc 0.9543"),  # 산문이 반올림
        ("0.95", "acc 0.9543"),
        ("22.7%", "비율 22.7%"),
        ("22.7%", "비율 0.227"),  # 백분율 ↔ 비율
        ("0.227", "비율 22.7%"),
        ("96%", "파싱된 비율 0.958"),
        ("43,646,976개", "trainable 43646976"),  # 천 단위 쉼표
        ("10.7배", "10.71배 작다"),
        ("4.6×", "노름 비 4.6"),
        ("273 GiB", "캐시 273.0 GiB"),
        ("0.02 낮습니다", "차이 -0.020"),  # 부호 없이 적으면 크기만
        ("−0.62", "상관 -0.62"),
        ("1e-3", "lr 0.001"),
        ("55만 장", "LCS 558,128장"),  # 어림수
        ("2천여 토큰", "토큰 2,322"),
        ("80억 파라미터", "8,190,735,360"),
        ("0.74–7.4 s", "0.74초에서 7.40초"),  # 범위의 두 끝
    ],
)
def test_figures_match_the_output_after_normalisation(written, printed):
    assert flagged(notebook(f"측정: {written}.", printed)) == []


@pytest.mark.parametrize(
    "written, printed",
    [
        ("0.954", "acc 0.95"),  # 출력보다 정밀하게 적음
        ("22.7%", "비율 0.23"),
        ("0.62", "상관 0.63"),
        ("−0.62", "상관 0.62"),  # 부호를 적었으면 부호까지
        ("1e-3", "오차 0.0013"),  # 지수 표기는 반올림 없이
        ("95%", "epoch 95"),  # 단위 붙은 정수는 같은 종류로 적힌 것만
        ("10배", "걸음 10"),
        ("16 GB", "배치 16"),
        ("9,300", "토큰 9,288"),
        ("5–50×", "5배에서 49배"),  # 범위의 뒤 끝
    ],
)
def test_figures_that_no_output_shows_are_flagged(written, printed):
    assert flagged(notebook(f"측정: {written}.", printed)) != []


def test_code_literals_are_settings_but_comments_and_strings_are_not():
    assert flagged(notebook("허용 오차는 1e-5, 여유는 0.85입니다.", code="assert abs(d) < 1e-5 and acc >= 0.85")) == []
    assert flagged(notebook("허용 오차는 1%입니다.", code="torch.testing.assert_close(a, b, rtol=0.01)")) == []
    assert flagged(notebook("결과는 0.954입니다.", code='x = f()  # 0.954가 나온다\nprint("0.954")')) == ["0.954"]
    assert flagged(notebook("10배 크다.", code="n = 10")) == ["10배"]  # 단위 붙은 정수는 리터럴과 우연히 같기 쉽다


@pytest.mark.parametrize(
    "text",
    [
        "`lr=0.954` 와 ```\n0.954\n``` 와 $0.954 x$",  # 코드와 수식
        '원문은 "약 4 GB", “0.52%”라고 합니다.',  # 따옴표 안은 인용
        "2026-11-28 커밋, Python 3.10–3.14, torch ≤ 2.14.1, LLaVA-1.5, v1.5",  # 날짜, 버전, 이름
        "Prismatic VLMs(2402.07865, ICML 2024), Chen et al.(2016), 2016년",  # arXiv, 연도
        "§4.3, 4.3절, 표 8, 연습문제 00.5와 06.1",  # 번호
        "Qwen3-8B, Qwen3-1.7B, 8B, 0.6B, LCS-558K, A100 80GB, T4 16GB, fp32, ViT-L/14",  # 이름과 크기
        "## 2.1 절 제목\n층 4개, r=16, 시드 3개, 3분",  # 제목의 번호, 1000 미만의 맨 정수
        "블록 64만 다룹니다. 출력 5만 두 배",  # 조사 "만"
    ],
)
def test_names_numbers_and_quotes_are_not_figures(text):
    assert flagged(notebook(text)) == []


def test_the_exercise_section_states_problems_not_results():
    nb = notebook("## 연습문제", "", "print()", new_markdown_cell("**00.5** (a) 0.9배 이상 (b) 0.5배 미만"),
                  new_markdown_cell("## 정리\n- 정확 일치 0.954"))
    assert flagged(nb) == ["0.954"]


def test_allow_markers_name_their_source_and_cannot_go_stale():
    quoted = "<!-- 인용(LLaVA v1 표 8): 90.92%, 85.81% -->\nScienceQA가 90.92%에서 85.81%로 떨어졌습니다."
    assert flagged(notebook(quoted)) == []
    assert flagged(notebook(quoted.replace("85.81%로", "85.8%로"))) == [
        "85.8%", "셀 0: 허용 표시의 '85.81%'이(가) 이 셀 본문에 없습니다(낡은 표시는 지우세요)"]
    assert flagged(notebook("<!-- 설정(): 0.5 -->\n평균 0.5")) == ["셀 0: <!-- 설정(…) -->의 괄호 안에 출처나 이유를 적어야 합니다"]
    assert flagged(notebook("<!-- 설정(presets.mini): 0.5 -->\n다른 셀의 0.5", "", "print()",
                            new_markdown_cell("여기의 0.25"))) == ["0.25"]  # 표시는 그 셀에만


def test_display_markdown_outputs_count():
    cell = new_code_cell("display(Markdown(f'...'))", outputs=[
        new_output("display_data", data={"text/markdown": "> 가중치는 **6.07 GiB**", "text/plain": "<Markdown>"})])
    nb = new_notebook(cells=[new_markdown_cell("위 상자의 6.07 GiB"), cell])
    assert flagged(nb) == []


def test_report_covers_every_committed_notebook(capsys):
    report = prose.report()
    assert sorted(report) == [p.name for p in NOTEBOOKS]
    code = prose.print_report()
    assert code == (1 if any(report.values()) else 0)
    assert "산문의 숫자" in capsys.readouterr().out
