"""Conversation exports read as sessions of turns: who said what, when, in which session.

Recognised (anything else is read as a note):
- ChatGPT's `conversations.json` (read by `chatgpt.py`, one conversation at a time): each
  conversation a session, its messages along the branch the user last saw, each with its time;
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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from overlay.dates import minutes, when_of
from overlay.ingest.markdown import Block, Note
from overlay.patterns import S, W, linear

SPEAKER_LINE = linear(rf"(?P<who>\p{{L}}[{W} .'’-]{{0,40}}?):[{S}]+(?P<text>[^{S}].*)")
HEADER = linear(rf"(?i)#{{1,6}}[{S}]+(?P<title>[^{S}].*)|"
                rf"(?P<session>(?:session|сессия|день|day)(?:[^{W}].*)?)")
SESSION_KEY = linear(r"session_(\d+)")
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
        except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
            return None
        sessions = _locomo(data, text)
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
    """Line numbers of pieces of a JSON text, found in order: the cursor only moves forward
    and the newlines before it are counted once, so finding them all is linear."""

    def __init__(self, text: str) -> None:
        self.text, self.at, self.line = text, 0, 1

    def of(self, piece: str) -> int:
        found = self.text.find(json.dumps(piece, ensure_ascii=False)[1:-1], self.at)
        if found < 0:
            found = self.text.find(json.dumps(piece)[1:-1], self.at)
        if found >= 0:
            self.line += self.text.count("\n", self.at, found)
            self.at = found
        return self.line


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
                         if (m := SESSION_KEY.fullmatch(key)))
        for n in numbers:
            turns = conv[f"session_{n}"]
            if not isinstance(turns, list):  # a session given as text or a number: none
                continue
            stamp = str(conv.get(f"session_{n}_date_time") or "")[:200]
            when = when_of(stamp)
            title = f"Session {n}" + (f" · {when.day} {when:%B %Y}" if when else "")
            if len(samples) > 1:
                title = f"{sample_id} · {title}"
            session = Session(f"{sample_id}:{n}", title, when, lines.of(f"session_{n}"))
            for j, turn in enumerate(turns, 1):
                if not isinstance(turn, dict):  # a turn must say who said what
                    continue
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
