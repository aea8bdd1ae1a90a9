"""용어집(GLOSSARY.md)과 노트북의 용어 검사.

GLOSSARY.md의 표 한 줄이 용어 하나다: `| 한국어 | 영어 | 뜻 |`. 영어 칸에는 같은 용어의 다른 표기를
` / `로 나눠 적을 수 있다(예: `LoRA / low-rank adaptation`). 한국어 칸도 ` / `로 나눌 수 있지만 맨 앞이 표준 번역이고,
뒤의 것은 활용형(예: `얼리기 / 얼리고`)에만 쓴다.

검사하는 것(노트북마다, 마크다운 셀의 본문만):
1. **처음 쓸 때 풀이**: 용어집의 영어 표기가 노트북 본문에 처음 나오는 자리는 `한국어(영어)` 꼴의 괄호 안이어야 하고,
   괄호 바로 앞의 한국어는 용어집의 한국어여야 한다. 예: `저랭크 적응(LoRA)`, `**시각 인코더**(vision encoder)`,
   `시각-언어 모델(VLM, vision-language model)`. 용어집의 더 긴 용어 안에 든 경우(예: gradient checkpointing 안의
   gradient)는 짧은 용어의 사용으로 치지 않는다. 노트북마다 처음 풀이가 용어집과 같으므로 번역이 노트북 사이에 일관된다.
2. **빠짐없이**: 본문의 `한국어(영어)` 꼴 풀이의 영어는 모두 용어집에 있어야 한다(용어가 아닌 이름은 무시 목록에 적는다).

검사하지 않는 것: 코드 셀(주석 포함), 인라인 코드와 코드 블록, 링크 주소, 두 번째 이후의 풀이, 한국어만 쓰고 영어를
한 번도 적지 않은 경우, 영어 표기가 굴절한 꼴(예: activations)과 용어집에 없는 철자, 풀이가 맞는 뜻인지.

어휘 검사(학습자가 읽는 모든 글에서):
3. **쓰지 않는 말**: GLOSSARY.md의 "쓰지 않는 말" 표(`| 쓰지 않는 말 | 대신 쓸 말 | 잡는 꼴 |`, 잡는 꼴은 정규식)의
   꼴이 나오면 문제다. 보는 곳(`learner_texts`): 노트북의 마크다운(HTML 주석과 링크 주소는 뺌), 코드 셀(주석과 문자열 포함:
   학습자가 읽는다), 출력(stream, text/plain, text/markdown); README.md, INSTRUCTORS.md, CONTRIBUTING.md 전체;
   `course_lib`의 모든 문자열 리터럴(독스트링과 f-string의 글자 포함, 주석은 뺌 — `ast`로 읽는다).
4. **단위**: 메모리는 GiB·MiB(2³⁰·2²⁰ 바이트). 10진 단위(GB, MB, TB, KB)는 출처가 그 단위를 쓸 때만, 밝혀서 쓴다.
   허용: 같은 글 단위(마크다운 셀 하나, 출력 하나, 문서의 문단 하나, 문자열 하나) 안에 밝힘(`10⁹ 바이트`, `GB(10⁹`,
   `GB = 1e9`)이 있을 때, 따옴표 안의 인용(원문의 "약 4 GB"), GPU 제품 이름(A100 80GB, T4 16GB).
   코드 셀의 소스(`GB = 1e9` 같은 상수)와 검사기 자신(이 모듈, prose.py)의 문자열은 보지 않는다.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_lib import REPO_ROOT

GLOSSARY_FILE = "GLOSSARY.md"
TABLE_START = "<!-- glossary:start -->"
TABLE_END = "<!-- glossary:end -->"
IGNORED_START = "<!-- glossary-ignore:start -->"
IGNORED_END = "<!-- glossary-ignore:end -->"
REJECT_START = "<!-- glossary-reject:start -->"
REJECT_END = "<!-- glossary-reject:end -->"
DOCS = ("README.md", "INSTRUCTORS.md", "CONTRIBUTING.md")
OUTPUT_MIMES = ("text/plain", "text/markdown", "text/html", "text/latex")  # 출력에서 읽는 글
CHECKERS = ("course_lib/tooling/glossary.py", "course_lib/tooling/prose.py")  # 단위 규칙의 정규식을 담은 곳

HANGUL = "가-힣"
# `한국어(영어, …)` 꼴의 풀이: 괄호 바로 앞 글자가 한글(강조 표시 ** 는 지운 뒤), 괄호 안의 첫 글자가 로마자
GLOSS_RE = re.compile(rf"(?P<before>[{HANGUL}](?:[^\n()]{{0,40}}?[{HANGUL}])?)\s?\((?P<inside>[A-Za-z][^()\n]*)\)")
# 용어처럼 보이는 영어: 로마자로 시작하는 낱말들(수식 "S + F", "k = 1" 같은 것은 빼려고 기호는 . ' / - 만)
ENGLISH_ITEM_RE = re.compile(r"^[A-Za-z][A-Za-z0-9.'/-]*(?: [A-Za-z0-9][A-Za-z0-9.'/-]*)*$")
# 단위 규칙: 10진 메모리 단위, 그 단위를 밝힌 꼴, GPU 제품 이름(A100 80GB, A100/H100 80GB, T4 16GB), 따옴표 안의 인용
DECIMAL_UNIT_RE = re.compile(r"(?<![A-Za-z])(?:GB|MB|TB|KB|kB)(?![A-Za-z])")
UNIT_LABEL_RE = re.compile(r"10(?:⁹|⁶|¹²|³|\^\d+|\*\*\d+)\s?바이트|(?:GB|MB|TB|KB|kB)\s*(?:\(|=|,)?\s*(?:10(?:⁹|⁶|¹²|³)|1e\d)")
GPU_PRODUCT_RE = re.compile(r"\b[A-Z]\d{1,4}[A-Za-z]?(?:/[A-Z]\d{1,4}[A-Za-z]?)*\s?\d{1,3}\s?GB(?![A-Za-z])")
QUOTED_RE = re.compile(r"\"[^\"\n]{0,300}\"|“[^”\n]{0,300}”")


@dataclass(frozen=True)
class Entry:
    korean: tuple[str, ...]  # 맨 앞이 표준 번역, 뒤는 활용형
    english: tuple[str, ...]  # 같은 용어의 영어 표기들
    meaning: str = ""


@dataclass(frozen=True)
class Gloss:
    """본문의 `한국어(영어)` 한 군데."""

    before: str  # 괄호 앞의 글(한국어 용어로 끝나야 함)
    items: tuple[str, ...]  # 괄호 안을 쉼표로 나눈 것
    start: int  # 괄호 안의 시작 위치(본문 글자열에서)
    end: int


@dataclass(frozen=True)
class Variant:
    """쓰지 않는 말 한 줄: 사람이 읽는 꼴들, 대신 쓸 말, 잡는 정규식."""

    rejected: tuple[str, ...]
    preferred: str
    pattern: re.Pattern


@dataclass(frozen=True)
class Place:
    """학습자가 읽는 글 한 조각: 어디(파일과 셀·줄), 글, 단위 규칙을 적용하나."""

    where: str
    text: str
    units: bool = True


def _table_rows(text: str, start: str, end: str) -> list[list[str]]:
    if start not in text or end not in text:
        return []
    body = text.split(start, 1)[1].split(end, 1)[0]
    rows = []
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        # 칸 나누기: `\|`(정규식 속의 |)는 칸 경계가 아니다
        rows.append([cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))])
    return rows[1:]  # 머리줄 제외


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split(" / ") if part.strip())


def load(path: Path | None = None) -> list[Entry]:
    path = path or REPO_ROOT / GLOSSARY_FILE
    text = path.read_text(encoding="utf-8")
    return [Entry(_split(c[0]), _split(c[1]), c[2] if len(c) > 2 else "") for c in _table_rows(text, TABLE_START, TABLE_END)]


def ignored_names(path: Path | None = None) -> set[str]:
    """`한국어(영어)` 꼴로 나오지만 용어가 아닌 이름(제품·모델·클래스 이름 등)."""
    path = path or REPO_ROOT / GLOSSARY_FILE
    return {c[0].strip("`") for c in _table_rows(path.read_text(encoding="utf-8"), IGNORED_START, IGNORED_END)}


def load_variants(path: Path | None = None) -> list[Variant]:
    """GLOSSARY.md의 "쓰지 않는 말" 표. 잡는 꼴이 비면 쓰지 않는 말 그대로(띄어쓰기는 있어도 없어도)를 잡는다."""
    path = path or REPO_ROOT / GLOSSARY_FILE
    variants = []
    for cells in _table_rows(path.read_text(encoding="utf-8"), REJECT_START, REJECT_END):
        rejected, preferred = _split(cells[0]), cells[1].strip("`")
        source = cells[2].strip().strip("`") if len(cells) > 2 else ""
        source = source or "|".join(r"\s*".join(map(re.escape, form.split())) for form in rejected)
        variants.append(Variant(rejected, preferred, re.compile(source)))
    return variants


def variant_hits(text: str, variants: list[Variant]) -> list[str]:
    """검사 3: 글에 나온 쓰지 않는 말(한 줄씩: '꼴' → 대신 쓸 말, 앞뒤 글)."""
    hits = []
    for variant in variants:
        for m in variant.pattern.finditer(text):
            context = " ".join(text[max(0, m.start() - 20): m.end() + 20].split())
            hits.append(f"'{m.group(0)}' → '{variant.preferred}': …{context}…")
    return hits


def unit_hits(text: str) -> list[str]:
    """검사 4: 밝히지 않은 10진 메모리 단위(GB, MB …). 같은 글 단위 안에 `GB(10⁹ 바이트)` 같은 밝힘이 있으면 괜찮다."""
    if UNIT_LABEL_RE.search(text):
        return []
    allowed = [m.span() for pattern in (GPU_PRODUCT_RE, QUOTED_RE) for m in pattern.finditer(text)]
    hits = []
    for m in DECIMAL_UNIT_RE.finditer(text):
        if not any(a <= m.start() < b for a, b in allowed):
            context = " ".join(text[max(0, m.start() - 25): m.end() + 15].split())
            hits.append(f"'{m.group(0)}' → GiB/MiB(출처의 단위면 'GB(10⁹ 바이트)'처럼 밝힘): …{context}…")
    return hits


def output_text(cell) -> str:
    """코드 셀이 보여 주는 글: stream, text/plain, text/markdown, text/html(태그 뺌), 오류 메시지."""
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        for mime in OUTPUT_MIMES:
            data = out.get("data", {}).get(mime)
            if data is not None:
                data = data if isinstance(data, str) else "".join(data)
                parts.append(re.sub(r"<[^>]+>", " ", data) if mime == "text/html" else data)
        if out.get("output_type") == "error":
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
    return "\n".join(parts)


def _notebook_places(path: Path, root: Path) -> list[Place]:
    rel, places = path.relative_to(root).as_posix(), []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown":
            text = re.sub(r"<!--.*?-->|https?://\S+", " ", cell.source, flags=re.S)
            places.append(Place(f"{rel} 셀 {i} 마크다운", text))
        elif cell.cell_type == "code":
            places.append(Place(f"{rel} 셀 {i} 코드", cell.source, units=False))
            places.append(Place(f"{rel} 셀 {i} 출력", output_text(cell)))
    return places


def _doc_places(path: Path, root: Path) -> list[Place]:
    """문서의 문단마다(빈 줄로 나눔) 한 조각, 위치는 문단의 첫 줄 번호."""
    places, line = [], 1
    for paragraph in re.split(r"(\n\s*\n)", path.read_text(encoding="utf-8")):
        if paragraph.strip():
            places.append(Place(f"{path.relative_to(root).as_posix()} {line}행", re.sub(r"https?://\S+", " ", paragraph)))
        line += paragraph.count("\n")
    return places


def _string_places(path: Path, root: Path) -> list[Place]:
    """파이썬 파일의 문자열 리터럴마다 한 조각(f-string은 글자 부분을 이어서). 주석은 `ast`에 없으므로 보지 않는다."""
    rel = path.relative_to(root).as_posix()
    nodes = list(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
    joined = [n for n in nodes if isinstance(n, ast.JoinedStr)]
    inside = {id(v) for n in joined for v in n.values}
    texts = [(n.lineno, "{…}".join(v.value for v in n.values if isinstance(v, ast.Constant) and isinstance(v.value, str)))
             for n in joined]
    texts += [(n.lineno, n.value) for n in nodes
              if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in inside]
    return [Place(f"{rel} {line}행", text, units=rel not in CHECKERS) for line, text in sorted(texts)]


def learner_texts(root: Path = REPO_ROOT) -> list[Place]:
    """검사 3·4가 보는 글: 노트북(학생용 사본은 원본에서 만들어지므로 빼고), 세 문서, course_lib의 문자열."""
    places = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        places += _notebook_places(path, root)
    for name in DOCS:
        if (root / name).is_file():
            places += _doc_places(root / name, root)
    for path in sorted((root / "course_lib").rglob("*.py")):
        places += _string_places(path, root)
    return places


def vocabulary_report(root: Path = REPO_ROOT) -> dict[str, list[str]]:
    """파일마다 쓰지 않는 말과 밝히지 않은 단위(`위치: 문제` 한 줄씩)."""
    variants, found = load_variants(root / GLOSSARY_FILE), {}
    for place in learner_texts(root):
        lines = variant_hits(place.text, variants) + (unit_hits(place.text) if place.units else [])
        if lines:
            found.setdefault(place.where.split(" ")[0], []).extend(f"{place.where}: {line}" for line in lines)
    return found


def prose(markdown: str) -> str:
    """검사할 본문: 코드 블록, 인라인 코드, 수식($…$), HTML 주석과 태그, 그림, 링크 주소, 강조 표시를 뺀 마크다운."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)  # 수식
    text = re.sub(r"\$[^$\n]+\$", " ", text)
    text = re.sub(r"</?[A-Za-z][^>\n]*>", " ", text)  # HTML 태그(<div class=…>)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)  # 그림(배지)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # 링크는 글자만
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"[ \t]*(?<!\n)\n(?!\n)[ \t]*", " ", text)  # 문단 안의 줄바꿈은 띄어쓰기(용어가 두 줄에 걸쳐도 읽도록)
    text = re.sub("[\"“”‘’]", "", text)  # 따옴표: "얼어 있다"(frozen)도 풀이로 읽도록
    return text.replace("**", "").replace("__", "")


def notebook_prose(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return "\n\n".join(prose(cell.source) for cell in nb.cells if cell.cell_type == "markdown")


def glosses(text: str) -> list[Gloss]:
    found = []
    for match in GLOSS_RE.finditer(text):
        items = tuple(item.strip() for item in match["inside"].split(","))
        found.append(Gloss(match["before"], items, match.start("inside"), match.end("inside")))
    return found


def _term_re(term: str) -> re.Pattern:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(term)}(?![A-Za-z0-9_])", re.I)


def _longer_spans(text: str, term: str, entries: list[Entry]) -> list[tuple[int, int]]:
    """`term`을 안에 품은 더 긴 용어집 표기(예: gradient → gradient checkpointing)가 나오는 구간들."""
    spans = []
    for entry in entries:
        for english in entry.english:
            if len(english) > len(term) and _term_re(term).search(english):
                spans += [m.span() for m in _term_re(english).finditer(text)]
    return spans


def first_use(text: str, entry: Entry, entries: list[Entry] = ()) -> int | None:
    """본문에서 용어집 영어 표기(어느 것이든)가 처음 나오는 위치. 더 긴 용어집 용어 안에 든 것은 건너뛴다."""
    positions = []
    for english in entry.english:
        inside = _longer_spans(text, english, list(entries))
        for match in _term_re(english).finditer(text):
            if not any(a <= match.start() < b for a, b in inside):
                positions.append(match.start())
                break
    return min(positions) if positions else None


def _korean_phrase(before: str, words: int) -> str:
    return " ".join(before.split()[-words:])


def _glossed_by(gloss: Gloss, entry: Entry) -> tuple[bool, bool]:
    """(이 풀이가 이 용어의 영어를 담았나, 괄호 앞 한국어가 용어집과 같은가)."""
    for item in gloss.items:
        for english in entry.english:
            if item.lower() == english.lower():  # 정확히 그 용어: 괄호 바로 앞이 한국어 용어
                return True, any(gloss.before.rstrip().endswith(korean) for korean in entry.korean)
            if _term_like(item) and _term_re(english).search(item):  # 더 긴 용어 안(예: full fine-tuning): 앞 몇 낱말에 한국어
                words = max(len(item.split()), max(len(k.split()) for k in entry.korean))
                phrase = _korean_phrase(gloss.before, words)
                return True, any(korean in phrase for korean in entry.korean)
    return False, False


def first_use_problems(text: str, entries: list[Entry]) -> list[str]:
    """검사 1: 처음 나오는 영어 표기가 용어집의 한국어로 풀이되지 않은 용어들(사람이 읽을 한 줄씩)."""
    spans = glosses(text)
    problems = []
    for entry in entries:
        position = first_use(text, entry, entries)
        if position is None:
            continue
        gloss = next((g for g in spans if g.start <= position < g.end), None)
        has_english, same_korean = _glossed_by(gloss, entry) if gloss is not None else (False, False)
        wanted = f"{entry.korean[0]}({entry.english[0]})"
        if not has_english:
            context = " ".join(text[max(0, position - 25) : position + 35].split())
            problems.append(f"'{entry.english[0]}': 처음 나온 곳에 한국어 풀이가 없습니다: …{context}… → '{wanted}'")
        elif not same_korean:
            problems.append(
                f"'{entry.english[0]}': 처음 나온 곳의 번역이 용어집과 다릅니다: "
                f"…{' '.join(gloss.before.split()[-3:])}({', '.join(gloss.items)})… → '{wanted}'"
            )
    return problems


def unlisted_glosses(text: str, entries: list[Entry], ignored: set[str] = frozenset()) -> list[str]:
    """검사 2: 용어집에도 무시 목록에도 없는 `한국어(영어)` 풀이의 영어 표기들."""
    known = {english.lower() for entry in entries for english in entry.english} | {name.lower() for name in ignored}
    missing = []
    for gloss in glosses(text):
        if not all(_term_like(item) for item in gloss.items):
            continue  # 용어 풀이가 아니라 목록·수식·예시(예: "(q, k, v, o)", "(S + F)", "(Llama 14336)")
        for item in gloss.items:
            if item.lower() not in known and item not in missing:
                missing.append(item)
    return missing


def _term_like(item: str) -> bool:
    """용어처럼 보이는 영어인가: 로마자 두 글자 이상, 숫자만으로 된 낱말 없음, 기호는 . ' / - 만."""
    return (
        bool(ENGLISH_ITEM_RE.match(item))
        and sum(ch.isalpha() for ch in item) >= 2
        and not any(word.isdigit() for word in item.split())
    )


def duplicate_problems(entries: list[Entry]) -> list[str]:
    """같은 영어 표기나 같은 한국어가 두 줄에 있으면 용어집이 모호하다."""
    problems, seen_en, seen_ko = [], {}, set()
    for entry in entries:
        for english in entry.english:
            if english.lower() in seen_en:
                problems.append(f"영어 '{english}'가 두 줄에: '{seen_en[english.lower()]}', '{entry.korean[0]}'")
            seen_en[english.lower()] = entry.korean[0]
        if entry.korean[0] in seen_ko:
            problems.append(f"한국어 '{entry.korean[0]}'가 두 줄에")
        seen_ko.add(entry.korean[0])
    return problems


def report(root: Path = REPO_ROOT) -> dict[str, dict[str, list[str]]]:
    """노트북마다 {"처음 풀이": […], "용어집에 없음": […]} (문제가 없으면 빈 목록)."""
    entries, ignored = load(root / GLOSSARY_FILE), ignored_names(root / GLOSSARY_FILE)
    result = {}
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        text = notebook_prose(notebook)
        result[notebook.name] = {
            "처음 풀이": first_use_problems(text, entries),
            "용어집에 없음": unlisted_glosses(text, entries, ignored),
        }
    return result


def print_report(root: Path = REPO_ROOT) -> int:
    """`python -m course_lib glossary`의 용어 부분: 검사 1·2(노트북마다)와 검사 3·4(파일마다). 문제가 있으면 1."""
    print(f"GLOSSARY.md: 용어 {len(load(root / GLOSSARY_FILE))}개, 쓰지 않는 말 {len(load_variants(root / GLOSSARY_FILE))}줄")
    bad = 0
    for name, found in report(root).items():
        lines = [f"  처음 풀이: {p}" for p in found["처음 풀이"]] + [f"  용어집에 없음: {t}" for t in found["용어집에 없음"]]
        print(f"{name}: " + ("문제 없음" if not lines else f"문제 {len(lines)}개"), *lines, sep="\n")
        bad += len(lines)
    vocabulary = vocabulary_report(root)
    print("쓰지 않는 말과 단위(노트북, README·INSTRUCTORS·CONTRIBUTING, course_lib의 문자열): "
          + ("문제 없음" if not vocabulary else f"파일 {len(vocabulary)}개에 문제 {sum(map(len, vocabulary.values()))}개"))
    for line in (line for lines in vocabulary.values() for line in lines):
        print(f"  {line}")
    return 1 if bad or vocabulary else 0
