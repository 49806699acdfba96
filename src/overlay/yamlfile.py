"""YAML files validated by a pydantic model, with every error pointing at file:line:column.

PyYAML's composer keeps the position of every node; we build plain data from that tree and keep
a map from each value's path (keys and list indices) to where it starts. A pydantic error's
`loc` is such a path, so it can name the line the user has to fix, and later checks (the
dataset's design rules) can point at spec lines the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from overlay.errors import SpecError

__all__ = ["Positions", "SpecError", "load", "read_yaml", "validate"]

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
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


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


def read_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """Parse `text` into plain data and the position of every value in it."""
    positions = Positions(file)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise SpecError(f"not valid YAML: {exc.problem}", file, line, col) from None
    if root is None:
        return None, positions
    return _plain(root, (), positions), positions


def validate(model: type[M], data: Any, positions: Positions) -> M:
    """`model` from `data`; the first schema error names its line, column and field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        pos = positions.of(loc)
        dotted = ".".join(str(p) for p in loc) or "(document)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SpecError(
            f"{dotted}: {first['msg']}{more}",
            positions.file,
            pos[0] if pos else None,
            pos[1] if pos else None,
        ) from None


def load(model: type[M], path: Path) -> tuple[M, Positions]:
    """Read and validate the YAML file at `path` as `model`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", path, None, None) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read: {exc}", path, None, None) from None
    data, positions = read_yaml(text, str(path))
    return validate(model, data, positions), positions
