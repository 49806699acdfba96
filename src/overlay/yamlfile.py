"""The one YAML reader of the project (notes' frontmatter, dataset specs, signal rules), safe
against hostile files, and validation with every error pointing at file:line:column.

Safety: a document over `max_bytes` is refused before it is parsed; PyYAML composes a graph in
which an alias is a second reference to its anchor's node, which costs nothing — the cost comes
when the graph is walked or copied as a tree, where nine levels of nine aliases ("billion
laughs") become 387 million values. So the graph is measured first: aliases may add at most
`budget` values in all (none at all where anchors are refused, as in frontmatter), an alias may
not contain itself, and nesting is bounded. Each refusal names the line.

Positions: we build plain data from the node tree and keep a map from each value's path (keys
and list indices) to where it starts. A pydantic error's `loc` is such a path, so it can name the
line the user has to fix, and later checks (the dataset's design rules) can point at spec lines
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from overlay.errors import SpecError

__all__ = ["Positions", "SpecError", "compose", "construct", "load", "read_yaml", "validate"]

MAX_BYTES = 5_000_000  # a YAML document larger than this is refused unread
ALIAS_BUDGET = 10_000  # values that aliases may add to one document, in all
MAX_DEPTH = 200  # nesting of mappings and lists

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Positions:
    """Where each value of a YAML document starts (1-based line and column)."""

    file: str
    at: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: Path_) -> tuple[int, int] | None:
        """The position of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.at.get(tuple(path[:end]))
            if found:
                return found
        return None

    def where(self, path: Path_) -> str:
        """`file:line:col` for `path` (the file alone when nothing is known)."""
        pos = self.of(path)
        return f"{self.file}:{pos[0]}:{pos[1]}" if pos else self.file


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(node: yaml.Node) -> Any:
    return construct(node)


def _plain(node: yaml.Node, path: Path_, positions: Positions) -> Any:
    positions.at[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, str | int | float | bool):
                raise SpecError(
                    "mapping keys must be plain words",
                    positions.file,
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
            key = str(key)
            if key in out:
                raise SpecError(
                    f"duplicate key {key!r}",
                    positions.file,
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
            out[key] = _plain(value_node, (*path, key), positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), positions) for i, item in enumerate(node.value)]
    return _scalar(node)


def compose(
    text: str,
    file: str,
    *,
    max_bytes: int = MAX_BYTES,
    budget: int = ALIAS_BUDGET,
    anchors: bool = True,
    first_line: int = 1,
    fast: bool = True,
) -> yaml.Node | None:
    """The node graph of `text`, checked against the limits above (`first_line`: the line of
    the file where `text` starts, for the errors; `fast=False` uses PyYAML's own parser, whose
    error marks point at the offending line where the C one points at the next)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise SpecError(f"{size:,} bytes of YAML, over the {max_bytes:,}-byte limit", file,
                        None, None)
    try:
        root = yaml.compose(text, Loader=_LOADER if fast else yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + first_line, mark.column + 1) if mark else (None, None)
        raise SpecError(f"not valid YAML: {exc.problem}", file, line, col) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise SpecError(f"not valid YAML: {str(exc).splitlines()[0]}", file, None, None) from None
    if root is not None:
        _measure(root, file, budget if anchors else 0, anchors, first_line)
    return root


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _measure(root: yaml.Node, file: str, budget: int, anchors: bool, first_line: int) -> None:
    """Refuse a graph whose aliases expand it by more than `budget` values, that holds an
    alias inside itself, or that nests deeper than MAX_DEPTH (an iterative walk: a hostile
    file cannot exhaust the stack)."""
    size: dict[int, int] = {}
    reused: dict[int, yaml.Node] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            continue
        where = (node.start_mark.line + first_line, node.start_mark.column + 1)
        if key in open_:
            raise SpecError("an alias refers to the value that contains it", file, *where)
        if key in size:
            if not anchors:
                raise SpecError("anchors and aliases (&, *) are not allowed here", file, *where)
            reused[key] = node
            continue
        if len(open_) >= MAX_DEPTH:
            raise SpecError(f"nested more than {MAX_DEPTH} levels deep", file, *where)
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(_children(node)))
    extra = size[id(root)] - len(size)
    if extra > budget:
        worst = max(reused.values(), key=lambda n: size[id(n)])
        raise SpecError(
            f"aliases expand this document by {extra:,} values, over the limit of {budget:,} "
            "(an alias bomb?); the largest repeated value starts here",
            file, worst.start_mark.line + first_line, worst.start_mark.column + 1,
        )


def construct(root: yaml.Node | None, file: str = "", first_line: int = 1) -> Any:
    """Plain Python data of a graph `compose` has checked (aliases stay shared references);
    a value no safe constructor reads (an unknown `!tag`, a bad date) is a SpecError."""
    if root is None:
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + first_line, mark.column + 1) if mark else (None, None)
        raise SpecError(f"not valid YAML: {exc.problem}", file, line, col) from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise SpecError(f"not valid YAML: {exc}", file, None, None) from None


def read_yaml(text: str, file: str, max_bytes: int = MAX_BYTES) -> tuple[Any, Positions]:
    """Parse `text` into plain data and the position of every value in it."""
    positions = Positions(file)
    root = compose(text, file, max_bytes=max_bytes)
    if root is None:
        return None, positions
    return _plain(root, (), positions), positions


def validate(model: type[M], data: Any, positions: Positions) -> M:
    """`model` from `data`; the first schema error names its line, column and field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = tuple(first["loc"])
        pos = positions.of(loc)
        dotted = ".".join(str(p) for p in loc) or "(document)"
        unknown = [e for e in errors if e["type"] == "extra_forbidden"]
        if len(unknown) > 1:  # name every unknown field: a typo is rarely alone
            listed = ", ".join(f"{'.'.join(map(str, e['loc']))} (line {_line(positions, e)})"
                               for e in unknown)
            first = {**unknown[0], "msg": f"unknown fields: {listed}"}
            loc = tuple(unknown[0]["loc"])
            pos, dotted = positions.of(loc), "(document)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 and len(unknown) <= 1 else ""
        raise SpecError(
            f"{dotted}: {first['msg']}{more}",
            positions.file,
            pos[0] if pos else None,
            pos[1] if pos else None,
        ) from None


def _line(positions: Positions, error: Any) -> int:
    found = positions.of(tuple(error["loc"]))
    return found[0] if found else 0


def load(model: type[M], path: Path, max_bytes: int = MAX_BYTES) -> tuple[M, Positions]:
    """Read and validate the YAML file at `path` as `model` (a file over `max_bytes` is
    refused before it is read)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SpecError(f"{size:,} bytes, over the {max_bytes:,}-byte limit", path, None, None)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", path, None, None) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read: {exc}", path, None, None) from None
    data, positions = read_yaml(text, str(path), max_bytes)
    return validate(model, data, positions), positions
