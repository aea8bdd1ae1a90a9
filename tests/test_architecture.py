"""패키지의 모양: 순환 import 없음, 다른 모듈의 비공개 이름을 가져오지 않음, 함수 안 import에는 이유,
ML 라이브러리는 강의 도구(course_lib.tooling)를 모름, 모듈 하나는 400줄 이하(CONTRIBUTING.md의 "지도")."""
from __future__ import annotations

import ast
from pathlib import Path

from course_lib import REPO_ROOT

PACKAGE = REPO_ROOT / "course_lib"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path):
    """(가져오는 모듈, 가져오는 이름들, 함수 안인가, 줄 번호) — course_lib 안의 것만."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = {id(node) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
              for node in ast.walk(fn)}
    this = module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), id(node) in inside, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # 상대 import: 절대 이름으로 바꾼다
                base = this.split(".")
                base = base[: len(base) - node.level + (path.name == "__init__.py")]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = tuple(a.name for a in node.names)
            # `from course_lib.training import checkpoint`: 하위 모듈을 가져오는 것이면 그 모듈이 대상이다
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            yield (submodules[0] if len(submodules) == len(names) == 1 else target), names, id(node) in inside, node.lineno


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, names, _, _ in imports(path):
            if target.startswith("course_lib"):
                for n in names or ("",):
                    full = f"{target}.{n}" if f"{target}.{n}" in MODULES else target
                    if full in MODULES and full != name:
                        edges[name].add(full)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """강하게 연결된 요소(Tarjan) 가운데 크기 2 이상인 것 = 순환."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_a_cycle_is_detected():
    """검사기가 순환을 실제로 찾는지(실패할 수 있는 테스트)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_private_names_across_modules():
    offenders = [f"{name}:{line} {target} import {n}"
                 for name, path in MODULES.items() for target, names, _, line in imports(path)
                 if target.startswith("course_lib") and target != name
                 for n in names if n.startswith("_") and n != "__version__"]
    assert offenders == []


def test_function_level_imports_state_a_reason():
    """함수 안의 import는 그 줄이나 바로 윗줄의 주석이 이유를 말한다(무거운 선택 의존성, 명령줄 시작 속도 등)."""
    offenders = []
    for name, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for target, _, inside, line in imports(path):
            if not inside:
                continue
            here, above = lines[line - 1], lines[line - 2] if line >= 2 else ""
            block_start = line - 1
            while block_start > 0 and lines[block_start - 1].strip().startswith(("import ", "from ")):
                block_start -= 1  # 연달아 놓인 import 묶음은 묶음 위의 주석 하나로 충분하다
            head = lines[block_start - 1] if block_start >= 1 else ""
            if "#" not in here and not above.strip().startswith("#") and not head.strip().startswith("#"):
                offenders.append(f"{name}:{line} {target}")
    assert offenders == []


def test_library_does_not_import_course_tooling():
    offenders = [f"{name} → {target}" for name, path in MODULES.items()
                 if not name.startswith(("course_lib.tooling", "course_lib.__main__"))
                 for target, _, _, _ in imports(path) if target.startswith("course_lib.tooling")]
    assert offenders == []


def test_modules_fit_one_sitting():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_contributing_map_lists_every_module():
    """CONTRIBUTING.md의 "지도"가 모듈을 하나도 빠뜨리지 않는다(새 모듈을 만들면 한 줄을 더한다)."""
    text = (REPO_ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    missing = [str(p.relative_to(REPO_ROOT)) for p in MODULES.values()
               if p.name != "__init__.py" or p.parent == PACKAGE
               if f"`{p.relative_to(PACKAGE).as_posix()}`" not in text]
    assert missing == []
