"""Which vault a folder belongs to, by an id kept in the vault itself, not by its folder name.

The first ingest of a folder writes a small hidden file, `.overlay-vault`, with a random id.
Later a folder is recognised by that file — in itself or in a folder above it — so:

- moving or renaming the vault's folder keeps its notes' identities (their node ids);
- ingesting a subfolder of an ingested vault names its notes from the vault's root, so
  relative links keep resolving;
- two vaults whose folders share a name stay apart in the store;
- a copy of a vault (`cp -r A B`) is told apart from a move: the marker also records where
  the vault was last ingested, and when that folder still holds the same id, the copy is
  given a new id and read as a new vault. Nothing of the original is moved or deleted.

A folder may also say how its notes are encoded, in a one-line `.overlay-encoding` file
(`latin-1`, `cp1251`, …); it holds for that folder and the ones below it.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from overlay.errors import ConfigError

MARKER = ".overlay-vault"
ENCODING_FILE = ".overlay-encoding"


@dataclass(frozen=True)
class Vault:
    """A vault's root folder on disk and its id (None where no marker could be written)."""

    root: Path
    id: str | None


def _marker(folder: Path) -> dict[str, str] | None:
    """`folder`'s marker as data, if it has a readable one with an id."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("id"):
        return None
    return {str(k): str(v) for k, v in data.items()}


def read_marker(folder: Path) -> str | None:
    """The vault id in `folder`'s marker, if it has a readable one."""
    data = _marker(folder)
    return data["id"] if data else None


def _write(folder: Path, vault_id: str, created: str | None = None) -> None:
    """Write `folder`'s marker: the vault's id and where the vault is now."""
    stamp = created or datetime.now(UTC).isoformat(timespec="seconds")
    body = {"id": vault_id, "created": stamp, "path": str(folder.resolve())}
    (folder / MARKER).write_text(json.dumps(body) + "\n", encoding="utf-8")


def find(start: Path, warnings: list[str]) -> Vault | None:
    """The vault `start` (a folder or a file) lies in: the nearest folder at or above it that
    holds a marker; None when none does. A marker also says where its vault was last seen,
    so a moved folder keeps its id while a copy (`cp -r`: the original is still there with
    the same id) becomes a new vault, with a warning."""
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        data = _marker(candidate)
        if data:
            return _placed(candidate, data, warnings)
    return None


def _placed(root: Path, data: dict[str, str], warnings: list[str]) -> Vault:
    vault_id, was = data["id"], data.get("path")
    here = root.resolve()
    if was == str(here):
        return Vault(root, vault_id)
    if was and Path(was) != here and read_marker(Path(was)) == vault_id:
        copy = claim(root, warnings)
        if copy.id is not None:
            warnings.append(f"{root}: a copy of the vault at {was} (the same {MARKER}); read "
                            "as a new vault, so the original's notes stay as they are")
        return copy
    # moved (the old folder is gone), or a marker from before markers kept their path; a
    # read-only vault is known by its id where it is
    with contextlib.suppress(OSError):
        _write(root, vault_id, data.get("created"))
    return Vault(root, vault_id)


def claim(folder: Path, warnings: list[str]) -> Vault:
    """`folder` as a new vault: its marker written (a read-only folder gets a warning, and
    is then known by its name alone)."""
    vault_id = uuid.uuid4().hex
    try:
        _write(folder, vault_id)
    except OSError as exc:
        warnings.append(f"{folder}: cannot write {MARKER} ({exc.strerror or exc}); the vault "
                        "is known by its folder name only, so moving it re-adds its notes")
        return Vault(folder, None)
    return Vault(folder, vault_id)


def nested(root: Path) -> list[Path]:
    """Markers of vaults inside `root` (a folder ingested alone before its parent was)."""
    return sorted(p.parent for p in root.rglob(MARKER) if p.parent != root)


def encoding_of(file: Path, root: Path, default: str | None) -> str | None:
    """The encoding `file` is declared in: `default` (a setting) if given, else the nearest
    `.overlay-encoding` between its folder and the vault's root, else None (guess)."""
    if default is not None:
        return default
    for folder in (file.parent, *file.parent.parents):
        path = folder / ENCODING_FILE
        if path.is_file():
            name = path.read_text(encoding="ascii", errors="replace").strip()
            try:
                codecs.lookup(name)
            except LookupError:
                raise ConfigError(f"{path}: {name!r} is not an encoding Python knows") from None
            return name
        if folder == root:
            break
    return None
