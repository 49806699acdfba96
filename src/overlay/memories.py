"""Memories: what a search or an ask keeps to. A speaker, a range of dates given outright,
or, when none is given, the time the question itself names ("last May", "в 2023 году",
"before the trip"), read against the dates the overlay's conversations hold.

A time the question names narrows the search only where memories are dated in that range:
read against nothing (an overlay of notes alone) or leaving nothing to search, it is
dropped, and the trace says which range was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from overlay.errors import ConfigError
from overlay.graph import Within
from overlay.patterns import linear
from overlay.retrieve.hybrid import Retriever
from overlay.retrieve.when import Range, find, month_span, names_time, resolve

ISO_PART = linear(r"(?P<y>\d{4})(?:-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2}))?)?")


@dataclass(frozen=True)
class Scope:
    """The filter in force and, when the question named the time, the words it named."""

    within: Within | None
    said: str | None = None


def anchor(retriever: Retriever) -> date | None:
    """The latest date the overlay's memories hold: what "last May" is read against."""
    span = retriever.store.time_span()
    return datetime.fromisoformat(span[1]).date() if span else None


def bound(text: str, latest: date | None) -> tuple[date, date]:
    """The days a `--since` / `--until` value names: "2023", "2023-05", "2023-05-08", or
    anything a question may say ("May 2023", "last week")."""
    try:  # years 1 to 9999: "9999" has no year after it to end at, "0000" none at all
        return _bound(text, latest)
    except (ValueError, OverflowError):
        raise ConfigError(f"{text!r} is not a date between the years 1 and 9999") from None


def _bound(text: str, latest: date | None) -> tuple[date, date]:
    m = ISO_PART.fullmatch(text.strip())
    if m is not None:
        y, mo, d = int(m["y"]), int(m["m"] or 1), int(m["d"] or 1)
        start = date(y, mo, d)
        if m["d"]:
            return start, start + timedelta(days=1)
        if m["m"]:
            return month_span(y, mo)
        return start, date(y + 1, 1, 1)
    found = find(text, latest or date.today())
    if found is None:
        raise ConfigError(f"{text!r} is not a date: give YYYY, YYYY-MM, YYYY-MM-DD or e.g. "
                          "'May 2023'")
    return found[0]


def scope(retriever: Retriever, question: str, speaker: str | None = None,
          since: str | None = None, until: str | None = None) -> Scope:
    """What a search or ask for `question` keeps to: the speaker and dates given (`since`
    from the start of its day, month or year, `until` to the end of it), else the time the
    question names."""
    if since is None and until is None and not names_time(question):
        return Scope(Within(speaker) if speaker is not None else None)
    latest = anchor(retriever)
    if since is not None or until is not None:
        start = bound(since, latest)[0].isoformat() if since is not None else None
        end = bound(until, latest)[1].isoformat() if until is not None else None
        if start is not None and end is not None and start >= end:
            raise ConfigError(f"the range is reversed: since {since!r} starts after until "
                              f"{until!r} ends")
        return Scope(Within(speaker, start, end))
    named = _named(retriever, question, latest) if latest is not None else None
    if named is not None:
        within = Within(speaker, named.since or None, named.until or None)
        if retriever.store.keys_within(within):
            return Scope(within, named.said)
    return Scope(Within(speaker) if speaker is not None else None)


def _named(retriever: Retriever, question: str, latest: date) -> Range | None:
    def event(text: str) -> datetime | None:
        """When what `text` describes happened: the best dated match's time."""
        dated = Within(since="0")  # every ISO time sorts after "0": any dated memory
        hits = retriever.search(text, 1, expand=False, within=dated)
        node = retriever.store.get_node(hits[0].node_id) if hits else None
        stamp = node.meta.get("time") if node is not None else None
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None

    return resolve(question, latest, event)
