"""Conversation exports read as sessions of turns: who said what, when, in which session.

Recognised (anything else is read as a note):
- ChatGPT's `conversations.json`: each conversation a session, its messages along the branch
  the user last saw, each with its own time;
- LoCoMo's JSON (one sample or a list): `session_N` lists of turns, dated by
  `session_N_date_time`; an image a turn shares is kept as its caption;
- a plain transcript: `Speaker: text` lines under dated session headers ("## Session 2 —
  8 May 2023", "# 2023-05-08 14:00").

(The callout form of the user's own Markdown exports is read by `markdown.py`.)

A session becomes a section block and each turn a `turn` block with meta `speaker`, `time`
(ISO 8601, minutes), `session` and `turn` (its position in the session). Anchors come from
the export's own ids where it has them, so re-ingest after an export grows rewrites nothing
already there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from overlay.dates import minutes, when_of
from overlay.ingest.markdown import Block, Note

SPEAKER_LINE = re.compile(r"(?P<who>[^\W\d_][\w .'’-]{0,40}?):\s+(?P<text>\S.*)")
HEADER = re.compile(r"#{1,6}\s+(?P<title>\S.*)|(?P<session>(?:session|сессия|день|day)\b.*)",
                    re.IGNORECASE)
MIN_TURNS = 2


@dataclass
class Turn:
    anchor: str
    speaker: str
    text: str
    time: datetime | None
    line: int


@dataclass
class Session:
    anchor: str
    title: str
    time: datetime | None
    line: int
    turns: list[Turn] = field(default_factory=list)


def read(text: str, path: str, title: str) -> Note | None:
    """The conversation `text` holds, as a note of sessions and turns; None if it holds
    none."""
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        sessions = _chatgpt(data, text) or _locomo(data, text)
    else:
        sessions = _transcript(text)
    if not sessions or sum(len(s.turns) for s in sessions) < MIN_TURNS:
        return None
    return note(title, sessions)


def note(title: str, sessions: list[Session]) -> Note:
    blocks: list[Block] = []
    for session in sessions:
        last = max([t.line for t in session.turns] or [session.line])
        parent = len(blocks)
        stamp = minutes(session.time)
        blocks.append(Block("section", session.title, session.title, session.line, last, None,
                            anchor=f"s:{session.anchor}",
                            meta={"session": session.title, **({"time": stamp} if stamp else {})}))
        for n, turn in enumerate(session.turns, 1):
            at = minutes(turn.time or session.time)
            meta: dict[str, Any] = {"speaker": turn.speaker, "session": session.title, "turn": n}
            if at:
                meta["time"] = at
            blocks.append(Block("turn", f"{turn.speaker} · {session.title}", turn.text,
                                turn.line, turn.line, parent,
                                anchor=f"s:{session.anchor}/t:{turn.anchor}", meta=meta))
    return Note(title, {}, [], [], "memory", [], [], blocks, [])


class _Lines:
    """Line numbers of pieces of a JSON text, found in order."""

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def of(self, piece: str) -> int:
        found = self.text.find(json.dumps(piece, ensure_ascii=False)[1:-1], self.at)
        if found < 0:
            found = self.text.find(json.dumps(piece)[1:-1], self.at)
        if found >= 0:
            self.at = found
        return self.text.count("\n", 0, self.at) + 1


def _chatgpt(data: Any, text: str) -> list[Session]:
    """ChatGPT's export: a list of conversations, each a tree of messages (`mapping`)."""
    if not (isinstance(data, list) and data and all(
            isinstance(c, dict) and isinstance(c.get("mapping"), dict) for c in data)):
        return []
    lines, sessions = _Lines(text), []
    for i, conv in enumerate(data, 1):
        mapping, node = conv["mapping"], conv.get("current_node")
        chain: list[dict[str, Any]] = []
        while isinstance(node, str) and node in mapping and len(chain) <= len(mapping):
            chain.append(mapping[node])
            node = mapping[node].get("parent")
        if not chain:  # no current node: the order the export lists them in
            chain = list(reversed(list(mapping.values())))
        started = _epoch(conv.get("create_time"))
        name = str(conv.get("title") or f"Conversation {i}")
        title = f"{name} · {started:%d %b %Y}" if started else name
        session = Session(str(conv.get("id") or conv.get("conversation_id") or i), title,
                          started, lines.of(name))
        for entry in reversed(chain):
            msg = entry.get("message") or {}
            role = (msg.get("author") or {}).get("role")
            parts = (msg.get("content") or {}).get("parts") or []
            said = "\n".join(p for p in parts if isinstance(p, str)).strip()
            if role not in ("user", "assistant") or not said:
                continue
            session.turns.append(Turn(str(msg.get("id") or entry.get("id")), role, said,
                                      _epoch(msg.get("create_time")) or started,
                                      lines.of(said[:200])))
        sessions.append(session)
    return sessions


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def _locomo(data: Any, text: str) -> list[Session]:
    """LoCoMo: {conversation: {speaker_a, speaker_b, session_N, session_N_date_time}}."""
    samples = data if isinstance(data, list) else [data]
    if not samples or not all(isinstance(s, dict) and isinstance(s.get("conversation"), dict)
                              for s in samples):
        return []
    lines, sessions = _Lines(text), []
    for k, sample in enumerate(samples, 1):
        conv = sample["conversation"]
        sample_id = str(sample.get("sample_id") or k)
        numbers = sorted(int(m.group(1)) for key in conv
                         if (m := re.fullmatch(r"session_(\d+)", key)))
        for n in numbers:
            stamp = str(conv.get(f"session_{n}_date_time") or "")
            when = when_of(stamp)
            title = f"Session {n}" + (f" · {when.day} {when:%B %Y}" if when else "")
            if len(samples) > 1:
                title = f"{sample_id} · {title}"
            session = Session(f"{sample_id}:{n}", title, when, lines.of(f"session_{n}"))
            for j, turn in enumerate(conv[f"session_{n}"] or [], 1):
                said = str(turn.get("text") or "").strip()
                if turn.get("blip_caption"):
                    said += f" [shares {turn['blip_caption']}]"
                if said:
                    anchor = str(turn.get("dia_id") or j)
                    session.turns.append(Turn(anchor, str(turn.get("speaker") or "?"), said,
                                              None, lines.of(anchor)))
            sessions.append(session)
    return sessions


def _transcript(text: str) -> list[Session]:
    """`Speaker: text` lines under dated headers; a line that is neither continues the turn
    before it. Needs a dated header and two turns at least."""
    sessions: list[Session] = []
    for n, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped:
            continue
        head = HEADER.fullmatch(stripped)
        if head is not None and (when := when_of(stripped)) is not None:
            name = (head.group("title") or head.group("session")).strip()
            sessions.append(Session(f"{len(sessions) + 1}", name, when, n))
            continue
        said = SPEAKER_LINE.fullmatch(stripped)
        if not sessions:
            if head is None:
                return []  # text before any dated header: a note, not a transcript
            continue
        turns = sessions[-1].turns
        if said is not None:
            turns.append(Turn(str(len(turns) + 1), said.group("who").strip(),
                              said.group("text").strip(), None, n))
        elif turns:
            turns[-1].text += "\n" + stripped
        else:
            return []
    speakers = {t.speaker.casefold() for s in sessions for t in s.turns}
    return sessions if len(speakers) > 1 else []  # one voice is a journal, not a conversation
