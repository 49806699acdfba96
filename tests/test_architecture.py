"""The shape of the code, checked: every import of every module (read with ast, function-level
imports included) is allowed by the "may import" table in docs/architecture.md, the table
itself only points down (a unit names units of earlier rows), no two modules import each other
round a cycle, and files and functions stay small."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "overlay"
DOC = ROOT / "docs" / "architecture.md"
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 80
LONG_ON_PURPOSE = "long on purpose"  # a docstring that says why a function must be long


def module_name(path: Path) -> str:
    parts = ("overlay", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its file."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("overlay")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            if not base.startswith("overlay"):
                continue
            for alias in node.names:  # `from overlay import builtins` imports a module
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found - {name}


def table() -> list[tuple[list[str], list[str]]]:
    """The rows of the architecture table: (units, units they may import), in order."""
    rows = []
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("| unit | job | may import |") :]
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        units = re.findall(r"`([^`]+)`", cells[0])
        allowed = [] if cells[2] == "nothing" else [u.strip() for u in cells[2].split(",")]
        rows.append(([u.removesuffix(".py").removesuffix("/") for u in units], allowed))
    return rows


def unit_of(module: str, units: list[str]) -> str | None:
    """The most specific unit a module belongs to (`overlay` itself is the unit `overlay`)."""
    rel = module.removeprefix("overlay").lstrip(".") or "overlay"
    best = [u for u in units if rel == u or rel.startswith(u + ".")]
    return max(best, key=len) if best else None


def allows(allowed: list[str], target: str) -> bool:
    rel = target.removeprefix("overlay").lstrip(".") or "overlay"
    return any(rel == a or rel.startswith(a + ".") for a in allowed)


def test_every_module_is_in_the_table_and_imports_only_what_it_may() -> None:
    rows = table()
    units = [u for row_units, _ in rows for u in row_units]
    allowed = {u: a for row_units, a in rows for u in row_units}
    found = modules()
    known = set(found)
    problems = []
    for name, path in found.items():
        unit = unit_of(name, units)
        if unit is None:
            problems.append(f"{name}: no row of docs/architecture.md's table covers it")
            continue
        for target in sorted(imports(name, path, known)):
            if unit_of(target, units) == unit or allows(allowed[unit], target):
                continue
            problems.append(f"{name} imports {target}, which the `{unit}` row does not allow")
    assert problems == []


def test_the_table_only_points_down() -> None:
    rows = table()
    seen: list[str] = []
    for row_units, allowed in rows:
        for a in allowed:
            assert any(a == s or a.startswith(s + ".") for s in seen), (
                f"{row_units} may import {a!r}, which is not a unit of an earlier row"
            )
        seen += row_units


def test_no_import_cycles() -> None:
    found = modules()
    graph = nx.DiGraph()
    for name, path in found.items():
        for target in imports(name, path, set(found)):
            if target != "overlay" and not name.startswith(target + "."):
                graph.add_edge(name, target)  # a package importing its own parts is no cycle
    cycles = list(nx.simple_cycles(graph))
    assert cycles == []


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: module_name(p))
def test_files_and_functions_stay_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path.name}: split it"
    tree = ast.parse(text)
    assert ast.get_docstring(tree), f"{path.name} does not say what it is for"
    for fn in _functions(tree):
        length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
        why = ast.get_docstring(fn) or ""
        assert length <= MAX_FUNCTION_LINES or LONG_ON_PURPOSE in why, (
            f"{path.name}:{fn.lineno} {fn.name} is {length} lines"
        )


def test_nothing_points_to_files_outside_the_repository() -> None:
    for path in [*SRC.rglob("*.py"), *(ROOT / "docs").glob("*.md"), ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text and "MISSION.md" not in text, path
