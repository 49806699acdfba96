"""Which vault a folder belongs to, by an id kept in the vault itself, not by its folder name.

The first ingest of a folder writes a small hidden file, `.overlay-vault`, with a random id.
Later a folder is recognised by that file — in itself or in a folder above it — so:

- moving or renaming the vault's folder keeps its notes' identities (their node ids);
- ingesting a subfolder of an ingested vault names its notes from the vault's root, so
  relative links keep resolving;
- two vaults whose folders share a name stay apart in the store.

A folder may also say how its notes are encoded, in a one-line `.overlay-encoding` file
(`latin-1`, `cp1251`, …); it holds for that folder and the ones below it.
"""

from __future__ import annotations

import codecs
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


def read_marker(folder: Path) -> str | None:
    """The vault id in `folder`'s marker, if it has a readable one."""
    path = folder / MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return str(found) if found else None


def find(start: Path) -> Vault | None:
    """The vault `start` (a folder or a file) lies in: the nearest folder at or above it that
    holds a marker; None when none does."""
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        found = read_marker(candidate)
        if found:
            return Vault(candidate, found)
    return None


def claim(folder: Path, warnings: list[str]) -> Vault:
    """`folder` as a new vault: its marker written (a read-only folder gets a warning, and
    is then known by its name alone)."""
    vault_id = uuid.uuid4().hex
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        (folder / MARKER).write_text(json.dumps({"id": vault_id, "created": stamp}) + "\n",
                                     encoding="utf-8")
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
