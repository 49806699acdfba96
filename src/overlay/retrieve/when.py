"""Times a question names, read as a range of dates relative to the conversations' own dates.

"When did I decide X last May?" asked of conversations that end in August 2023 means May 2023,
whatever today's date is: every relative expression is read against `anchor`, the latest time
the overlay's memories hold. Understood, in English and Russian:

- a year, a month (with or without its year), an ISO date or "8 May 2023": "in 2023",
  "в мае 2023", "on 2023-05-08";
- "last/this year|month|week", "yesterday", "today" and "N days|weeks|months|years ago";
- "before", "after", "since" with any of those, or with an event ("before the trip"), whose
  date the caller finds (`event`).

The result is a half-open range [since, until) of ISO dates, and the words it was read from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from overlay.dates import MONTH, month_of

_UNIT = (r"(?P<unit>days?|weeks?|months?|years?|дн[а-я]{0,2}|день|недел[а-я]{0,2}|"
         r"месяц[а-я]{0,2}|год[а-я]{0,2}|лет)")
_LAST = r"(?P<rel>last|this|previous|past|прошл[а-я]{0,3}|этом|эту|этот|текущ[а-я]{0,3})"
_SPAN = r"(?P<span>year|month|week|году|год|месяце|месяц|неделе|неделю|неделя)"
DATE_FORMS = [
    ("iso", re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b")),
    ("dmy", re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+{MONTH},?\s+(?P<y>\d{{4}})\b")),
    ("mdy", re.compile(rf"\b{MONTH}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b")),
    ("my", re.compile(rf"\b{MONTH}\s+(?P<y>\d{{4}})\b")),
    ("m", re.compile(rf"\b(?:(?P<last>last|прошл[а-я]{{0,3}})\s+)?{MONTH}\b")),
    ("y", re.compile(r"\b(?P<y>(?:19|20)\d{2})\b")),
    ("ago", re.compile(rf"\b(?P<n>\d+|a|an|one|two|three)\s+{_UNIT}\s+(?:ago|назад)\b")),
    ("rel", re.compile(rf"\b{_LAST}\s+{_SPAN}\b")),
    ("day", re.compile(r"\b(?P<day>yesterday|today|вчера|сегодня|позавчера)\b")),
]
BOUND = re.compile(r"\b(?P<bound>before|after|since|until|до|после|с тех пор как|перед)\s+"
                   r"(?P<rest>.+)$", re.IGNORECASE)
WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3}


@dataclass(frozen=True)
class Range:
    """[since, until) as ISO dates ("" for an open end) and the words it was read from."""

    since: str
    until: str
    said: str


def month_span(y: int, m: int) -> tuple[date, date]:
    """The days of month `m` of year `y`: [its first, the next month's first)."""
    return date(y, m, 1), date(y + m // 12, m % 12 + 1, 1)


def _span(form: str, m: re.Match[str], anchor: date) -> tuple[date, date] | None:
    g = m.groupdict()
    if form == "iso" or form in ("dmy", "mdy"):
        month = int(g["m"]) if form == "iso" else month_of(g["month"])
        try:
            day = date(int(g["y"]), month, int(g["d"]))
        except ValueError:
            return None
        return day, day + timedelta(days=1)
    if form == "my":
        return month_span(int(g["y"]), month_of(g["month"]))
    if form == "m":  # the latest such month at or before the anchor's (before it, if "last")
        month = month_of(g["month"])
        late = month > anchor.month or (g.get("last") and month == anchor.month)
        return month_span(anchor.year - (1 if late else 0), month)
    if form == "y":
        return date(int(g["y"]), 1, 1), date(int(g["y"]) + 1, 1, 1)
    if form == "ago":
        n = int(g["n"]) if g["n"].isdigit() else WORDS[g["n"].lower()]
        return _ago(n, g["unit"].lower(), anchor)
    if form == "rel":
        back = 0 if g["rel"].lower() in ("this", "этом", "эту", "этот") or g[
            "rel"].lower().startswith("текущ") else 1
        return _ago(back, g["span"].lower(), anchor)
    back = {"yesterday": 1, "вчера": 1, "позавчера": 2}.get(g["day"].lower(), 0)
    start = anchor - timedelta(days=back)
    return start, start + timedelta(days=1)


def _ago(n: int, unit: str, anchor: date) -> tuple[date, date]:
    if unit.startswith(("day", "дн", "ден")):
        start = anchor - timedelta(days=n)
        return start, start + timedelta(days=1)
    if unit.startswith(("week", "недел")):
        start = anchor - timedelta(days=anchor.weekday() + 7 * n)
        return start, start + timedelta(days=7)
    if unit.startswith(("month", "месяц")):
        k = anchor.year * 12 + anchor.month - 1 - n
        return month_span(k // 12, k % 12 + 1)
    return date(anchor.year - n, 1, 1), date(anchor.year - n + 1, 1, 1)


def find(text: str, anchor: date) -> tuple[tuple[date, date], str] | None:
    """The time `text` names, as a range of dates, with the words that named it: the forms
    are tried most specific first, and the first that reads as a date wins."""
    low = text.lower()
    for form, pattern in DATE_FORMS:
        m = pattern.search(low)
        if m is None:
            continue
        if form == "m" and m.group("month") == "may" and not m.group("last") and not re.search(
                r"\b(?:in|of|during|since|before|after|until|в)\s+may\b", low):
            continue  # "may" as a verb
        span = _span(form, m, anchor)
        if span is not None:
            return span, text[m.start():m.end()]
    return None


def names_time(text: str) -> bool:
    """Whether `text` names a time or bounds one ("before …"): the cheap test before the
    overlay's dates are looked up."""
    return BOUND.search(text) is not None or find(text, date(2000, 1, 1)) is not None


def resolve(question: str, anchor: datetime | date,
            event: Callable[[str], datetime | None] | None = None) -> Range | None:
    """The range of dates `question` names, read against `anchor`; None when it names none.
    "before X" / "after X" / "since X" bound the range by X, a time or, through `event`, the
    date of what X describes."""
    day = anchor.date() if isinstance(anchor, datetime) else anchor
    bound = BOUND.search(question)
    if bound is not None:
        rest = bound.group("rest").rstrip("?!. ")
        found = find(rest, day)
        if found is not None:
            (start, end), said = found
        elif event is not None and (when := event(rest)) is not None:
            start, said = when.date(), rest
            end = start + timedelta(days=1)
        else:
            return None
        word = bound.group("bound").lower()
        text = f"{bound.group('bound')} {said}"
        if word in ("before", "до", "перед"):
            return Range("", start.isoformat(), text)
        if word == "until":
            return Range("", end.isoformat(), text)
        return Range((end if word in ("after", "после") else start).isoformat(), "", text)
    found = find(question, day)
    if found is None:
        return None
    (start, end), said = found
    return Range(start.isoformat(), end.isoformat(), said)
