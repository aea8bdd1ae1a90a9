"""용어집(GLOSSARY.md): 노트북이 용어를 처음 쓸 때 용어집의 한국어로 풀이하는지, 풀이한 용어가 모두 용어집에 있는지,
쓰지 않는 말(작은 세계, 비전 인코더 …)과 밝히지 않은 10진 단위(GB)가 학습자가 읽는 글 어디에도 없는지.

무엇을 검사하고 무엇을 검사하지 않는지는 GLOSSARY.md의 "테스트가 검사하는 것"과 `course_lib/tooling/glossary.py`에 있다.
"""
import pytest

from course_lib import REPO_ROOT
from course_lib.tooling import glossary

ENTRIES = glossary.load()
IGNORED = glossary.ignored_names()
VARIANTS = glossary.load_variants()
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
    from course_lib.tooling import prose

    code = main(["glossary"])
    out = capsys.readouterr().out
    assert f"용어 {len(ENTRIES)}개, 쓰지 않는 말 {len(VARIANTS)}줄" in out and "산문의 숫자" in out
    problems = glossary.report()
    bad = (any(any(found) for per_notebook in problems.values() for found in per_notebook.values())
           or glossary.vocabulary_report() or any(prose.report().values()))
    assert code == (1 if bad else 0)


# --- 쓰지 않는 말(검사 3)과 단위(검사 4) -------------------------------------------------------------------

PLACES = glossary.learner_texts()
GROUPS = sorted({place.where.split(" ")[0] for place in PLACES})


def test_variant_table_is_parsed_and_each_row_catches_its_own_forms():
    korean = {entry.korean[0] for entry in ENTRIES}
    assert len(VARIANTS) >= 8
    for variant in VARIANTS:
        assert variant.preferred in korean or variant.preferred.isascii(), variant.preferred
        for form in variant.rejected:
            assert variant.pattern.search(form), f"'{form}'을(를) 그 줄의 꼴이 잡지 못합니다"
        assert not variant.pattern.search(variant.preferred)


@pytest.mark.parametrize(
    "text, caught",
    [
        ("두 팔(arm)을 시드마다 돌립니다", "팔"),
        ("| 팔 | 학습하는 것 |", "팔"),
        ("팔마다 학습률 예산을 셉니다", "팔마다"),
        ("조건 × 시드 × 팔만큼 학습", "팔만큼"),
        ("끊긴 곳에서 이어 하기", "이어 하"),
        ("끊기지 않은 학습과 이어 한 학습", "이어 한"),
        ("중간에 죽였다가 이어 해도", "이어 해"),
        ("작은세계의 부품", "작은세계"),
        ("완전일치 비율", "완전일치"),
        ("fp32 가중치·그레이디언트·AdamW 상태", "그레이디언트"),
        ("그래디언트 체크포인팅", "그래디언트 체크포인팅"),
        ("그래디언트를 계산", "그래디언트"),
        ("에폭마다 평가", "에폭"),
    ],
)
def test_rejected_variants_are_caught(text, caught):
    hits = glossary.variant_hits(text, VARIANTS)
    assert hits and hits[0].startswith(f"'{caught}'")


@pytest.mark.parametrize(
    "text",
    [
        "팔아 버린 물건, 팔십 개, 팔다리",  # 보통 낱말 "팔"
        "이어서 2부가 이어집니다. 셀을 이어 붙인다. 학습을 이어 가기",  # 보통 낱말 "이어"
        "그레이디언트 체크포인팅(gradient checkpointing)과 기울기(gradient)",
        "미니 월드, 시각 인코더, 정확 일치, 재개(resume), epoch, 실험군(arm), 예열, 걸음",
    ],
)
def test_ordinary_words_and_preferred_terms_pass(text):
    assert glossary.variant_hits(text, VARIANTS) == []


@pytest.mark.parametrize(
    "text",
    [
        "모델 카드 기준 GB(10⁹ 바이트)로 6.07 GB",
        "| 합계(GB, 10⁹ 바이트) |\n| 6.07GB |",  # 같은 글 단위 안의 밝힘(표의 머리줄)
        "원문은 단위를 GB로 적었으므로 10⁹ 바이트로 읽어 풉니다",
        '원문의 "층마다 2 GB, 합계 64 GB"는 맞지 않습니다',  # 인용
        "A100 80GB, A100 40GB, A100/H100 80GB, T4 16GB",  # 제품 이름
        "가중치 6.07 GiB, 캐시 50 MiB",
    ],
)
def test_labelled_or_quoted_decimal_units_pass(text):
    assert glossary.unit_hits(text) == []


@pytest.mark.parametrize("text", ["가중치는 6.07 GB입니다", "설치에는 수 GB가 듭니다", "0.44GB", "캐시 50 MB"])
def test_bare_decimal_units_are_caught(text):
    assert len(glossary.unit_hits(text)) == 1


def test_learner_texts_cover_notebooks_docs_and_library_strings():
    groups = set(GROUPS)
    assert {"README.md", "INSTRUCTORS.md", "CONTRIBUTING.md"} <= groups
    assert {p.relative_to(REPO_ROOT).as_posix() for p in NOTEBOOKS} <= groups
    assert "course_lib/__main__.py" in groups and "course_lib/tooling/exercises/ex00.py" in groups
    kinds = {place.where.rsplit(" ", 1)[-1] for place in PLACES if place.where.startswith("notebooks/")}
    assert kinds == {"마크다운", "코드", "출력"}
    assert not any("notebooks/student/" in place.where for place in PLACES)  # 사본은 원본에서 만들어진다
    strings = [place for place in PLACES if place.where.startswith("course_lib/world.py")]
    assert strings and all(not place.text.lstrip().startswith("#") for place in strings)


@pytest.mark.parametrize("group", GROUPS)
def test_no_rejected_variant_or_bare_decimal_unit(group):
    problems = [f"{place.where}: {hit}" for place in PLACES if place.where.split(" ")[0] == group
                for hit in glossary.variant_hits(place.text, VARIANTS) + (glossary.unit_hits(place.text) if place.units else [])]
    assert not problems, "\n".join(problems)
