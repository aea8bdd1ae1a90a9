"""산문 숫자 검사: 노트북의 마크다운이 적은 측정값이 같은 노트북의 출력에 정말 있는가.

결과 셀은 nbval이 엄격하게 비교하지 않으므로(시간, CPU에 따라 끝자리가 바뀌는 학습), 다시 실행하면 산문이 출력에서
멀어질 수 있다. 이 검사는 마크다운 셀이 적은 **측정값처럼 보이는 수**마다, 같은 노트북의 어느 출력(stream, text/plain,
text/markdown — `display(Markdown(f"…"))`로 그린 글 포함)이나 코드 셀의 수 리터럴(설정값)에 그 수가 있는지 본다.

검사하는 수(마크다운 본문에서):
- 소수(0.954, 22.7, 1e-3), 백분율(96%, 22.7%), 배수(10.7배, 4.6×), 메모리 단위가 붙은 수(273 GiB, 50 MiB, 2 GB),
  1000 이상의 정수(43,646,976), 만·천·억 단위 어림수(55만, 2천여, 80억; "64만 다룬다"의 조사 "만"은 뒤에 세는 말이
  없으므로 수가 아니다). 범위(0.74–7.4 s, 5–50×)는 두 끝을 따로 본다
  (앞 끝에 단위가 없으면 뒤 끝의 %·배·× 를 물려받는다).
- 1000 미만의 맨 정수(층 4개, r=16, 3분, 시드 3개)는 보지 않는다: 설정과 셈이 대부분이라 검사하면 시끄럽기만 하다.

같다고 보는 것(정규화):
- 반올림: 산문이 적은 자릿수로 반올림해 같으면 된다(출력 0.9543 → 산문 0.954, 0.95). 출력이 산문보다 거칠면 안 된다.
  지수 표기(1e-3, 5e-5)는 설정값이라 반올림 없이 값이 같아야 한다(출력 0.001, 1e-03, 코드 1e-3).
- 단위가 붙은 1000 미만의 정수(95%, 10배, 16 GB)는 출력에서도 같은 종류로 적혀 있어야 한다(95%, 0.95 ↔ 95%; 10배 ↔ 10배, 10×;
  16 GB ↔ 16 GB, 16.0 GiB). 맨 수 16이나 코드의 리터럴 10과는 우연히 같기 쉬워서 세지 않는다.
- 백분율과 비율: 산문 22.7%는 출력 22.7%, 22.7, 0.227(×100)과 같다. 산문 0.227은 출력 22.7%(÷100)와 같다.
- 천 단위 쉼표와 밑줄(43,646,976 = 43646976 = 코드의 43_646_976), 지수 표기(1e-3 = 0.001).
- 부호: 산문에 부호가 없으면 크기만 견준다("0.02 낮다" ↔ 출력 -0.02). 산문에 부호(−, -)가 있으면 부호까지.
- 만·천·억 어림수는 그 단위 하나나 5% 가운데 큰 것 안이면 같다(55만 ↔ 558,128, 80억 ↔ 8,190,735,360).
- 코드 셀의 수 리터럴은 노트북이 쓰는 **설정**이다(허용 오차 1e-5, assert의 0.85): 값이 정확히 같으면 된다.
  주석과 문자열 속의 수는 설정이 아니므로 세지 않는다.

보지 않는 것(본문에서 먼저 지운다): 코드 블록, 인라인 코드, 수식($…$), 링크 주소, HTML 태그와 주석, 제목의 절 번호,
따옴표 안("…", “…”, '…': 원문이나 문헌을 그대로 옮긴 인용), 날짜(2026-11-28), 버전(2.14.1, Python 3.12, LLaVA-1.5),
arXiv 번호(2402.07865), 절·표 번호(§4.3, 9절, 표 8), 연습문제 번호(00.5), 문헌의 연도(ICML 2024, 2016년),
이름에 붙은 수(Qwen3, A100, fp32, ViT-L/14), GPU 제품 이름(A100 80GB, T4 16GB), 붙여 쓴 모델·데이터 크기
(8B, 1.7B, 558K; 띄어 쓴 "1.24 B개"는 검사한다), 그리고 연습문제 절
("## 연습문제"부터 다음 절 제목까지: 문제의 조건과 선택지는 결과가 아니다).

허용 목록(작고 드러나게): 출력에 없는 상수(문헌 값, 제품 사양, 출력하지 않는 설정)는 그 수를 적은 마크다운 셀에
HTML 주석으로 적는다. `<!-- 인용(LLaVA v1 표 8): 90.92%, 85.81% -->` 또는 `<!-- 설정(presets.mini): 5e-4 -->`.
괄호 안의 출처·이유는 비울 수 없고, 표시에 적었지만 그 셀 본문에 없는 수는 그것대로 문제다(낡은 허용 목록이 남지 않게).

한계: "어느 출력엔가 있다"만 본다. 같은 수가 다른 뜻으로 출력에 있으면 통과하고, 1000 미만의 맨 정수와 말로 쓴 주장
("두 배쯤", "4분의 1 남짓")은 보지 않는다. 그런 것은 REVIEW.md의 절차(사람이 읽기)가 맡는다.
"""
from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

import nbformat

from course_lib import REPO_ROOT
from course_lib.tooling.glossary import GPU_PRODUCT_RE, output_text

MEMORY_UNITS = ("GiB", "MiB", "KiB", "TiB", "GB", "MB", "KB", "kB", "TB")
KOREAN_UNITS = {"천": 1000, "만": 10_000, "억": 10**8, "조": 10**12}
# 만·천 단위 어림수. "만"은 조사(64만 다룬다 = 64만)일 수 있어서, 뒤에 세는 말이나 수가 올 때만 단위로 읽는다
KOREAN_NUMBER = (r"(?:천|억|조|만(?=\s?(?:\d|개|장|명|걸음|토큰|파라미터|단어|쌍|번|줄|건|바이트|회|여)))"
                 r"(?:\s?\d+\s?(?:천|만))?여?")
SOFTWARE = r"(?:Python|파이썬|PyTorch|torch|torchvision|transformers|peft|bitsandbytes|accelerate|open_clip|CUDA|numpy|nbval|Colab)"
MARKER_RE = re.compile(r"<!--\s*(인용|설정)\s*\(([^)]*)\)\s*:\s*(.*?)-->", re.S)

# 본문에서 먼저 지우는 것(이름, 근거)
EXEMPT = [
    ("인용(따옴표)", re.compile(r"\"[^\"\n]{0,300}\"|“[^”\n]{0,300}”|‘[^’\n]{0,300}’|'[^'\n]{0,80}'")),
    ("GPU 제품 이름", GPU_PRODUCT_RE),  # A100 80GB, T4 16GB
    ("날짜·시각", re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|(?<!\d)\d{1,2}:\d{2}(?::\d{2})?(?!\d)")),
    ("버전", re.compile(rf"{SOFTWARE}\s*(?:[≤≥<>=~]=?\s*)?\d+(?:\.\d+)+(?:\s*[–~-]\s*\d+(?:\.\d+)+)?"
                      r"|(?<![\d.])\d+(?:\.\d+){2,}(?![\d.])")),
    ("arXiv 번호", re.compile(r"(?<![\d.])\d{4}\.\d{4,5}(?:v\d+)?(?!\d)")),
    ("절·표 번호", re.compile(r"§\s*\d+(?:\.\d+)*|\d+(?:\.\d+)*\s*절|(?:표|그림|식|Table|Figure|Fig\.|Eq\.)\s*\d+(?:\.\d+)*")),
    ("연습문제 번호", re.compile(r"(?<![\d.])0\d\.\d{1,2}(?![\d.])")),
    ("연도", re.compile(r"(?<!\d)(?:19|20)\d{2}(?=\s*년)"  # 2016년; 문헌·학회·데이터 이름 뒤: ICML 2024, al. 2016, COCO 2017
                      r"|(?:(?<=[A-Za-z]\s)|(?<=[A-Za-z][.,]\s)|(?<=[A-Za-z]\.,\s)|(?<=\())(?:19|20)\d{2}(?!\d|[.,]\d|\s?(?:번|개|장|걸음|회|쌍|줄|토큰))")),
]
NUMBER_RE = re.compile(r"(?P<sign>[−-])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][-+−]?\d+)?)")
RANGE_GAP_RE = re.compile(r"\s*[–~-]\s*")


@dataclass(frozen=True)
class Figure:
    """본문이나 출력의 수 하나."""

    text: str  # 적힌 그대로(단위 포함): "22.7%", "10.7배", "273 GiB", "55만"
    value: Decimal  # 부호 포함, 백분율은 % 앞의 수(22.7)
    signed: bool  # 부호를 적었나
    percent: bool
    kind: str  # "소수", "백분율", "배수", "메모리", "큰 정수", "어림수", "" (검사하지 않음)
    tolerance: Decimal  # 적은 자릿수의 반 단위(0.954 → 0.0005), 어림수는 단위 하나나 5%
    start: int = 0
    suffix: str = ""  # 수 뒤에 붙은 단위 글자("%", "배", " GiB")


@dataclass(frozen=True)
class Problem:
    cell: int
    figure: str
    kind: str
    context: str

    def __str__(self) -> str:
        return f"셀 {self.cell}: '{self.figure}' ({self.kind}) — 출력에 없습니다: …{self.context}…"


def _blank(match: re.Match) -> str:
    return " " * len(match.group(0))


def clean_markdown(markdown: str) -> str:
    """검사할 본문: 코드·수식·링크 주소·HTML·강조 표시·제목의 절 번호를 공백으로 바꾼 마크다운(위치는 그대로)."""
    text = re.sub(r"```.*?```|~~~.*?~~~|<!--.*?-->|\$\$.*?\$\$", _blank, markdown, flags=re.S)
    text = re.sub(r"`[^`\n]*`|\$[^$\n]+\$|!\[[^\]]*\]\([^)]*\)|https?://\S+|</?[A-Za-z][^>\n]*>", _blank, text)
    text = re.sub(r"\]\([^)]*\)", _blank, text)  # 링크는 글자만 남긴다
    text = re.sub(r"(?m)^(\s*#+\s*)(\d+(?:\.\d+)*\.?)", lambda m: m.group(1) + " " * len(m.group(2)), text)
    return text.replace("**", "  ").replace("__", "  ")


def exempt(text: str) -> str:
    """EXEMPT의 구간(인용, 날짜, 버전, 번호 …)을 공백으로 바꾼다."""
    for _, pattern in EXEMPT:
        text = pattern.sub(_blank, text)
    return text


def _decimal(number: str) -> Decimal | None:
    try:
        return Decimal(number.replace(",", "").replace("_", "").replace("−", "-"))
    except InvalidOperation:
        return None


def _half_unit(value: Decimal) -> Decimal:
    return Decimal(5).scaleb(value.as_tuple().exponent - 1)


def figures(text: str, prose: bool = True) -> list[Figure]:
    """글 속의 수들. `prose`면 본문 규칙(이름에 붙은 수는 건너뜀, 검사할 종류만 남김)을, 아니면(출력) 모든 수를 낸다."""
    found: list[Figure] = []
    for m in NUMBER_RE.finditer(text):
        start, sign = m.start(), m["sign"] or ""
        before = text[start - 1] if start else " "
        if sign and before.isdigit():  # 범위의 줄표 "0.5-0.9"
            start, sign, before = m.start("num"), "", sign
        glued = before.isalnum() or before in "_." or (not sign and before == "/")
        if glued and prose:
            continue  # 이름의 일부: Qwen3, A100, fp32, LLaVA-1.5, Qwen3-8B, ViT-L/14, v1.5
        if glued:
            sign = ""
        value = _decimal(m["num"])
        if value is None:
            continue
        kind, suffix, percent = _classify(m["num"], value, text[m.end():])
        tolerance = Decimal(0) if "e" in m["num"].lower() else _half_unit(value)  # 지수 표기(1e-3)는 설정: 정확히
        if kind == "어림수":
            value, tolerance = _korean(value, suffix)
        if kind is None and prose:
            continue  # 붙여 쓴 모델·데이터 크기(8B, 558K)나 이름(4bit)
        found.append(Figure(text[start:m.end()] + suffix, -value if sign else value, bool(sign), percent,
                            kind or "", tolerance, start, suffix))
    return _inherit_range_units(found, text) if prose else found


def _classify(number: str, value: Decimal, after: str) -> tuple[str | None, str, bool]:
    """(종류, 붙은 단위 글자, 백분율인가). 종류 None = 수가 아니라 이름이나 크기의 일부, "" = 검사하지 않는 수."""
    if m := re.match(r"\s?%", after):
        return "백분율", m.group(0), True
    if m := re.match(r"\s?배|×(?!\s*\d)|x(?![A-Za-z\d])", after):
        return "배수", m.group(0), False
    if m := re.match(KOREAN_NUMBER, after):
        return "어림수", m.group(0), False
    if m := re.match(r"\s?(?:" + "|".join(MEMORY_UNITS) + r")(?![A-Za-z])", after):
        return "메모리", m.group(0), False
    if (m := re.match(r"[A-Za-z]+", after)) and m.group(0) not in ("s", "ms"):
        return None, "", False  # 8B, 558K(크기), 4bit, 2D(이름)
    if "." in number or "e" in number.lower():
        return "소수", "", False
    return ("큰 정수" if value >= 1000 else ""), "", False


def _korean(value: Decimal, suffix: str) -> tuple[Decimal, Decimal]:
    """"55만" → 550000 (오차 27500), "2만5천" → 25000 (오차 1250), "2천여" → 2000 (오차 1000): 단위 하나나 5% 가운데 큰 것."""
    unit = Decimal(KOREAN_UNITS[suffix[0]])
    total, smallest = value * unit, unit
    if m := re.search(r"(\d+)\s?(천|만)", suffix[1:]):
        smallest = Decimal(KOREAN_UNITS[m.group(2)])
        total += Decimal(m.group(1)) * smallest
    return total, max(smallest, total / 20)  # 어림수: 그 단위 하나 또는 5% 안


def _inherit_range_units(found: list[Figure], text: str) -> list[Figure]:
    """범위 "5–50×", "20–25%": 단위 없는 앞 끝이 뒤 끝의 %·배·×를 물려받는다. 검사하지 않는 수는 뺀다."""
    result = []
    for first, second in zip(found, found[1:] + [None]):
        gap = text[first.start + len(first.text): second.start] if second else ""
        if second and not first.suffix and second.kind in ("백분율", "배수") and RANGE_GAP_RE.fullmatch(gap):
            first = replace(first, text=first.text + second.suffix, percent=second.percent, kind=second.kind,
                            suffix=second.suffix)
        if first.kind:
            result.append(first)
    return result


def _shown(figure: Figure, shown: list[Figure], settings: set[Decimal]) -> bool:
    """출력의 수 가운데 하나를 산문의 자릿수로 반올림하면 이 수인가, 또는 코드의 설정값과 정확히 같은가.

    단위가 붙은 1000 미만의 정수(95%, 10배, 16 GB)는 아무 정수와 우연히 같기 쉬우므로, 출력에서도 같은 종류(%, 배·×, 메모리 단위)로
    적혔거나 백분율이 비율(0.95)로 적힌 것만 인정하고, 코드의 설정값은 백분율의 비율(0.95)만 인정한다."""
    value = figure.value
    whole = figure.kind in ("백분율", "배수", "메모리") and figure.tolerance >= Decimal("0.5") and abs(value) < 1000
    if (not whole and abs(value) in settings) or (figure.percent and abs(value) / 100 in settings):
        return True
    for other in shown:
        candidates = [] if whole and other.kind != figure.kind else [(other.value, other.tolerance)]
        if figure.percent and not other.percent:
            candidates.append((other.value * 100, other.tolerance * 100))
        if other.percent and not figure.percent:
            candidates.append((other.value / 100, other.tolerance / 100))
        for candidate, precision in candidates:
            close = abs((candidate if figure.signed else abs(candidate)) - value) <= figure.tolerance
            if close and (precision <= figure.tolerance or figure.kind == "어림수" or not figure.tolerance):
                return True
    return False


def code_settings(source: str) -> set[Decimal]:
    """코드 셀의 수 리터럴(주석·문자열 속은 빼고). 매직(%, !) 줄은 건너뛴다."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    values = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            if token.type == tokenize.NUMBER and not token.string.lower().startswith(("0x", "0o", "0b")):
                if (value := _decimal(token.string.rstrip("jJ"))) is not None:
                    values.add(abs(value))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return values


def markers(markdown: str) -> tuple[set[str], list[str]]:
    """셀의 허용 표시 `<!-- 인용(출처): 수, 수 -->`가 허락하는 수들과, 표시 자체의 문제."""
    allowed, problems = set(), []
    for kind, why, items in MARKER_RE.findall(markdown):
        if not why.strip():
            problems.append(f"<!-- {kind}(…) -->의 괄호 안에 출처나 이유를 적어야 합니다")
        allowed |= {item.replace(" ", "") for item in re.split(r",\s+|\s{2,}|;\s*", items.strip()) if item.strip()}
    return allowed, problems


def _in_exercises(cells) -> set[int]:
    """"## 연습문제"부터 다음 절(#, ## 제목)까지의 마크다운 셀 번호."""
    inside, skipped = False, set()
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        headings = re.findall(r"(?m)^#{1,2}\s+(.*)$", cell.source)
        if any(h.strip().startswith("연습문제") for h in headings):
            inside = True
        elif headings:
            inside = False
        if inside:
            skipped.add(i)
    return skipped


def notebook_problems(nb) -> list[Problem | str]:
    """노트북 하나(nbformat 객체)의 문제: 출력에 없는 수(Problem)와 허용 표시의 문제(글)."""
    shown: list[Figure] = []
    settings: set[Decimal] = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            shown += figures(output_text(cell), prose=False)
            settings |= code_settings(cell.source)
    skipped = _in_exercises(nb.cells)
    problems: list[Problem | str] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or i in skipped:
            continue
        text = exempt(clean_markdown(cell.source))
        allowed, marker_problems = markers(cell.source)
        problems += [f"셀 {i}: {p}" for p in marker_problems]
        used = set()
        for figure in figures(text):
            if figure.text.replace(" ", "") in allowed or figure.text.split()[0] in allowed:
                used |= {figure.text.replace(" ", ""), figure.text.split()[0]}
                continue
            if not _shown(figure, shown, settings):
                context = " ".join(text[max(0, figure.start - 30): figure.start + len(figure.text) + 20].split())
                problems.append(Problem(i, figure.text, figure.kind, context))
        problems += [f"셀 {i}: 허용 표시의 '{item}'이(가) 이 셀 본문에 없습니다(낡은 표시는 지우세요)"
                     for item in sorted(allowed - used)]
    return problems


def report(root: Path = REPO_ROOT) -> dict[str, list[str]]:
    """노트북마다 문제 목록(사람이 읽을 한 줄씩). 학생용 사본은 원본에서 만들어지므로 보지 않는다."""
    return {path.name: [str(p) for p in notebook_problems(nbformat.read(path, as_version=4))]
            for path in sorted((root / "notebooks").glob("*.ipynb"))}


def print_report(root: Path = REPO_ROOT) -> int:
    """`python -m course_lib glossary`가 부르는 보고서. 문제가 있으면 1."""
    found = report(root)
    print("산문의 숫자(마크다운이 적은 측정값이 같은 노트북의 출력에 있는가):")
    for name, problems in found.items():
        print(f"{name}: " + ("문제 없음" if not problems else f"문제 {len(problems)}개"))
        for line in problems:
            print(f"  {line}")
    return 1 if any(found.values()) else 0
