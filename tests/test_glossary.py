"""용어집(GLOSSARY.md): 노트북이 용어를 처음 쓸 때 용어집의 한국어로 풀이하는지, 풀이한 용어가 모두 용어집에 있는지.

무엇을 검사하고 무엇을 검사하지 않는지는 GLOSSARY.md의 "테스트가 검사하는 것"과 `course_lib/glossary.py`에 있다.
"""
import nbformat
import pytest

from course_lib import REPO_ROOT
from course_lib.tooling import glossary

ENTRIES = glossary.load()
IGNORED = glossary.ignored_names()
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_glossary_table_is_parsed_and_unambiguous():
    assert len(ENTRIES) >= 10, "GLOSSARY.md의 표를 읽지 못했습니다(표시 주석 사이에 표가 있어야 함)"
    assert all(entry.korean and entry.english for entry in ENTRIES)
    assert glossary.duplicate_problems(ENTRIES) == []


def test_readme_links_to_the_glossary_instead_of_keeping_its_own():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "(GLOSSARY.md)" in readme
    assert "| 한국어 | 영어 |" not in readme, "용어표는 GLOSSARY.md 한 곳에만 둡니다"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_first_use_of_each_term_is_glossed_in_korean(notebook):
    problems = glossary.first_use_problems(glossary.notebook_prose(notebook), ENTRIES)
    assert not problems, f"{notebook.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_glossed_term_is_in_the_glossary(notebook):
    missing = glossary.unlisted_glosses(glossary.notebook_prose(notebook), ENTRIES, IGNORED)
    assert not missing, f"{notebook.name}: GLOSSARY.md에 없는 용어: {missing}"


# --- 검사 도구가 실제로 잡아내는지(작은 예문으로) --------------------------------------------------------

SAMPLE = [
    glossary.Entry(("저랭크 적응",), ("LoRA", "low-rank adaptation")),
    glossary.Entry(("그레이디언트 체크포인팅",), ("gradient checkpointing",)),
    glossary.Entry(("기울기",), ("gradient",)),
    glossary.Entry(("미세조정",), ("fine-tuning",)),
    glossary.Entry(("얼리기", "얼리고"), ("freeze",)),
]


@pytest.mark.parametrize(
    "text",
    [
        "**저랭크 적응**(LoRA)을 씁니다. LoRA는 작습니다.",
        "언어 모델에 붙인 저랭크 적응(LoRA, low-rank adaptation)입니다.",
        "그레이디언트 체크포인팅(gradient checkpointing)은 기울기(gradient)를 다시 계산합니다.",
        "전체 미세조정(full fine-tuning)보다 작습니다. fine-tuning",
        "인코더는 얼리고(freeze) 학습합니다.",
        "긴 문단이 줄을 바꾸면 저랭크\n적응(LoRA)도 한 용어입니다.",
        '인코더는 "얼리고"(freeze) 학습합니다.',
        "코드의 `lora_forward`와 `gradient`는 본문이 아닙니다.",
    ],
)
def test_checker_accepts_proper_first_use(text):
    assert glossary.first_use_problems(glossary.prose(text), SAMPLE) == []


@pytest.mark.parametrize(
    "text, term, reason",
    [
        ("LoRA를 씁니다. 저랭크 적응(LoRA)입니다.", "LoRA", "풀이가 없습니다"),
        ("## LoRA 구현\n\n저랭크 적응(LoRA)", "LoRA", "풀이가 없습니다"),
        ("경사(gradient)를 봅니다.", "gradient", "번역이 용어집과 다릅니다"),
        ("그레이디언트(gradient)와 그레이디언트 체크포인팅(gradient checkpointing)", "gradient", "번역이 용어집과 다릅니다"),
        ("미세 조정(fine-tuning)", "fine-tuning", "번역이 용어집과 다릅니다"),
        ("gradient checkpointing을 켭니다.", "gradient checkpointing", "풀이가 없습니다"),
        ("손실을 비교합니다(fine-tuning 방식; 이유는 노트북 04)", "fine-tuning", "풀이가 없습니다"),
    ],
)
def test_checker_rejects_unglossed_or_inconsistent_first_use(text, term, reason):
    (problem,) = glossary.first_use_problems(glossary.prose(text), SAMPLE)
    assert problem.startswith(f"'{term}'") and reason in problem


def test_unlisted_glosses_are_found_and_formulas_are_not_terms():
    text = glossary.prose("역전파(backward)와 저랭크 적응(LoRA), 상한은(S + F), 구간(k = 1), 해시(SHA-256), 모델(Qwen3-8B)")
    assert glossary.unlisted_glosses(text, SAMPLE, {"Qwen3-8B"}) == ["backward", "SHA-256"]


def test_markdown_noise_is_removed():
    text = glossary.prose(
        "[![Colab에서 열기](https://x/badge.svg)](https://colab) [링크](https://a/LoRA) `LoRA` <!-- LoRA -->\n```\nLoRA\n```"
        '\n$\\text{LoRA}$ 와 $$W + \\text{LoRA}$$ <div class="LoRA">상자</div>'
    )
    assert "LoRA" not in text and "링크" in text and "상자" in text


def test_cli_report(capsys):
    from course_lib.__main__ import main

    code = main(["glossary"])
    out = capsys.readouterr().out
    assert f"용어 {len(ENTRIES)}개" in out
    problems = glossary.report()
    assert code == (1 if any(any(found) for per_notebook in problems.values() for found in per_notebook.values()) else 0)
