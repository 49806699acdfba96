"""ChatGPT's `conversations.json`, read one conversation at a time: a heavy user's export is
hundreds of megabytes, so it is never loaded whole.

ijson parses the file's top-level list item by item; each conversation becomes a session of
the turns along the branch the user last saw. Memory holds one conversation's tree at a time
(and the sessions read so far); time is linear in the file: line numbers come from a cursor
that only moves forward, each turn's text looked for between the last turn found and the bytes
the parser has read.

A conversation that is not what the format says (a mapping entry that is a list, a message
given as a string, a time of 1e20) costs a warning naming it and only it; JSON that breaks off
keeps the conversations before the break. The turn limit counts per conversation: the limits
stop a hostile conversation, not a long history.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import ijson

from overlay import cancel
from overlay.ingest.conversations import Session, Turn

# ijson's pure-Python parser: its C parser (yajl) exhausts memory on deeply nested lists and
# refuses integers past 64 bits; this one is linear in the file, at about 5 MB/s
_PARSER = ijson.get_backend("python")
FALLBACK_BYTES = 64_000_000  # JSON ijson refuses (Infinity, 1e400) is read whole below this
LATEST = 253402300799  # 9999-12-31 23:59:59 UTC: the last second a datetime holds
BAD_SHAPE = (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError)


class _Reader(io.RawIOBase):
    """The export's bytes, as ijson reads them, keeping count of how far it has read."""

    def __init__(self, raw: bytes) -> None:
        self.raw, self.read_to = memoryview(raw), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.raw[self.read_to:self.read_to + len(buffer)]
        buffer[:len(chunk)] = chunk
        self.read_to += len(chunk)
        return len(chunk)


class _Lines:
    """Line numbers of pieces found in order: the cursor only moves forward, and a piece is
    looked for only in the bytes read since, so the file is scanned about twice in all."""

    def __init__(self, raw: bytes, reader: _Reader) -> None:
        self.raw, self.reader = raw, reader
        self.at, self.line = 0, 1  # a byte offset and the line it is on

    def of(self, piece: str) -> int:
        needle = json.dumps(piece[:200], ensure_ascii=False)[1:-1].encode()
        found = self.raw.find(needle, self.at, self.reader.read_to) if needle else -1
        if found < 0:
            found = self.raw.find(json.dumps(piece[:200])[1:-1].encode(), self.at,
                                  self.reader.read_to)
        if found >= 0:
            self.line += self.raw.count(b"\n", self.at, found)
            self.at = found
        return self.line


def looks_like(raw: bytes) -> bool:
    """Whether `raw` may be ChatGPT's export: a JSON list whose first item has a mapping."""
    head = raw[:4096].lstrip()
    return head.startswith(b"[") and b'"mapping"' in raw[:1 << 20]


def read(raw: bytes, path: str, max_turns: int) -> tuple[list[Session], list[str]]:
    """The export's conversations as sessions, and a warning for each one left out or cut."""
    reader = _Reader(raw)
    lines, sessions, warnings = _Lines(raw, reader), list[Session](), list[str]()
    count = 0
    try:
        items = _PARSER.items(io.BufferedReader(reader, 1 << 16), "item", use_float=True)
        for count, conv in enumerate(items, 1):
            cancel.check()  # a server shutting down stops between conversations
            _add(conv, count, lines, sessions, warnings, path, max_turns)
    except (ijson.JSONError, *BAD_SHAPE) as exc:
        if len(raw) > FALLBACK_BYTES or not _whole(raw, count, lines, sessions, warnings, path,
                                                     max_turns):
            warnings.append(f"{path}:{lines.line}: the JSON breaks off after conversation "
                            f"{count} ({_why(exc)}); the {len(sessions):,} before it kept")
    return sessions, warnings


def _whole(raw: bytes, done: int, lines: _Lines, sessions: list[Session], warnings: list[str],
           path: str, max_turns: int) -> bool:
    """The conversations after the first `done`, from the file read whole by Python's own
    parser (which takes Infinity and any number); False if that fails too."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    if not isinstance(data, list):
        return False
    lines.reader.read_to = len(raw)
    for i, conv in enumerate(data[done:], done + 1):
        _add(conv, i, lines, sessions, warnings, path, max_turns)
    return True


def _add(conv: Any, i: int, lines: _Lines, sessions: list[Session], warnings: list[str],
         path: str, max_turns: int) -> None:
    try:
        session = _session(conv, i, lines)
    except BAD_SHAPE as exc:
        warnings.append(f"{path}: conversation {i} skipped: {_why(exc)}")
        return
    if session is None:
        warnings.append(f"{path}: conversation {i} skipped: not a conversation (no mapping "
                        "of messages)")
        return
    if len(session.turns) > max_turns:
        warnings.append(f"{path}: conversation {i} ({session.title}): {len(session.turns):,} "
                        f"turns, only the first {max_turns:,} kept (ingest.max_blocks)")
        del session.turns[max_turns:]
    sessions.append(session)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _session(conv: Any, i: int, lines: _Lines) -> Session | None:
    conv = _dict(conv)
    mapping = conv.get("mapping")
    if not isinstance(mapping, dict):
        return None
    started = epoch(conv.get("create_time"))
    name = str(conv.get("title") or f"Conversation {i}")[:500]
    title = f"{name} · {started:%d %b %Y}" if started else name
    session = Session(str(conv.get("id") or conv.get("conversation_id") or i)[:200], title,
                      started, lines.of(name))
    for entry in _branch(mapping, conv.get("current_node")):
        msg = _dict(entry.get("message"))
        role = _dict(msg.get("author")).get("role")
        parts = _dict(msg.get("content")).get("parts")
        said = "\n".join(p for p in parts if isinstance(p, str)).strip() if isinstance(
            parts, list) else ""
        if role not in ("user", "assistant") or not said:
            continue
        session.turns.append(Turn(str(msg.get("id") or entry.get("id"))[:200], role, said,
                                  epoch(msg.get("create_time")) or started, lines.of(said)))
    return session


def _branch(mapping: dict[str, Any], node: Any) -> Iterator[dict[str, Any]]:
    """The messages from the root to `node` (the one the user last saw), or, with no such
    node, every message in the order the export lists them. Entries that are not objects are
    passed over; a parent chain that loops stops where it would repeat."""
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    while isinstance(node, str) and node in mapping and node not in seen:
        seen.add(node)
        entry = _dict(mapping[node])
        chain.append(entry)
        node = entry.get("parent")
    if not chain:
        chain = [_dict(e) for e in reversed(list(mapping.values()))]
    yield from reversed(chain)


def epoch(value: Any) -> datetime | None:
    """A Unix time as a datetime; None for anything that is not one a calendar holds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 < float(value) <= LATEST:  # NaN compares false: it is no time either
        return None
    return datetime.fromtimestamp(float(value), tz=UTC)
