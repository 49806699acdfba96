"""Every regular expression of the package is made through `overlay.patterns`: on RE2, or on
Python's engine with the reason it is safe written beside it. Checked on the source (no module
compiles or runs a pattern any other way) and on what the modules hold once imported."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import re2

import overlay
from overlay import patterns

SRC = Path(overlay.__file__).parent
RUNS = {"compile", "search", "match", "fullmatch", "finditer", "findall", "split", "sub", "subn"}


def test_no_module_runs_a_pattern_outside_patterns() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "patterns.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("re", "re2", "regex") and node.func.attr in RUNS):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not found, f"patterns made outside overlay.patterns: {found}"


def test_every_module_level_pattern_is_registered() -> None:
    modules = [importlib.import_module(info.name)
               for info in pkgutil.walk_packages(overlay.__path__, "overlay.")]
    registered = {e.pattern for e in patterns.REGISTRY}
    loose = []
    for module in modules:
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern | re2._Regexp) and value.pattern not in registered:
                loose.append(f"{module.__name__}.{name}")
    assert not loose, f"not made through overlay.patterns: {loose}"


def test_each_pattern_is_re2_or_says_why_it_is_safe() -> None:
    assert patterns.REGISTRY
    for entry in patterns.REGISTRY:
        if entry.engine == "re2":
            assert isinstance(entry.compiled, re2._Regexp), entry.pattern
        else:
            assert entry.engine == "re" and len(entry.why) > 10, entry.pattern
    share = sum(e.engine == "re2" for e in patterns.REGISTRY) / len(patterns.REGISTRY)
    assert share > 0.8


def test_re2_matches_carry_group_names_like_re() -> None:
    m = patterns.linear(rf"{patterns.START}(?P<w>вчера){patterns.END}").search("и вчера, да")
    assert m is not None and m.group("w") == "вчера"
    assert m.span("w") == (2, 7) and m.start("w") == 2 and m.end("w") == 7
    assert patterns.linear(rf"[{patterns.W}]+").findall("héllo мир_2") == ["héllo", "мир_2"]
