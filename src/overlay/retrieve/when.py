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
from typing import Any

from overlay.dates import MONTH, month_of
from overlay.patterns import END, START, S, linear

_UNIT = (r"(?P<unit>days?|weeks?|months?|years?|дн[а-я]{0,2}|день|недел[а-я]{0,2}|"
         r"месяц[а-я]{0,2}|год[а-я]{0,2}|лет)")
_LAST = r"(?P<rel>last|this|previous|past|прошл[а-я]{0,3}|этом|эту|этот|текущ[а-я]{0,3})"
_SPAN = r"(?P<span>year|month|week|году|год|месяце|месяц|неделе|неделю|неделя)"
_SP = f"[{S}]+"


def _form(body: str) -> re.Pattern[str]:
    """A date form as a whole word or words, its words in group "said"."""
    return linear(rf"{START}(?P<said>{body}){END}")


DATE_FORMS = [  # (form, pattern), most specific first; read from lowercased text
    ("iso", _form(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})")),
    ("dmy", _form(rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)?{_SP}{MONTH},?{_SP}(?P<y>\d{{4}})")),
    ("mdy", _form(rf"{MONTH}{_SP}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?{_SP}(?P<y>\d{{4}})")),
    ("my", _form(rf"{MONTH}{_SP}(?P<y>\d{{4}})")),
    ("m", _form(rf"(?:(?P<last>last|прошл[а-я]{{0,3}}){_SP})?{MONTH}")),
    ("y", _form(r"(?P<y>(?:19|20)\d{2})")),
    # at most six digits: "99999999999 days ago" names no day a calendar holds
    ("ago", _form(rf"(?P<n>\d{{1,6}}|a|an|one|two|three){_SP}{_UNIT}{_SP}(?:ago|назад)")),
    ("rel", _form(rf"{_LAST}{_SP}{_SPAN}")),
    ("day", _form(r"(?P<day>yesterday|today|вчера|сегодня|позавчера)")),
]
_MAY_MONTH = _form(rf"(?:in|of|during|since|before|after|until|в){_SP}may")  # not the verb
BOUND = linear(rf"(?i){START}(?P<bound>before|after|since|until|до|после|с тех пор как|перед)"
               rf"{_SP}(?P<rest>.+)$")
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
    """The days `m` names, or None when they fall outside the calendar (years 1 to 9999):
    "in December 9999", "5000 years ago", "on 2023-02-30" name no time."""
    try:
        return _days(form, m.groupdict(), anchor)
    except (ValueError, OverflowError):  # date() and timedelta() check the calendar's range
        return None


def _days(form: str, g: dict[str, Any], anchor: date) -> tuple[date, date] | None:
    month = (month_of(g["month"]) if g.get("month") else int(g.get("m") or 0)) or 0
    if form in ("iso", "dmy", "mdy"):
        day = date(int(g["y"]), month, int(g["d"]))
        return day, day + timedelta(days=1)
    if form == "my":
        return month_span(int(g["y"]), month)
    if form == "m":  # the latest such month at or before the anchor's (before it, if "last")
        if not month:
            return None
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
    are tried most specific first, and the first found decides: outside the calendar, the
    text names no time."""
    low = text.lower()
    for form, pattern in DATE_FORMS:
        m = pattern.search(low)
        if m is None:
            continue
        if form == "m" and m.group("month") == "may" and not m.group("last") and (
                _MAY_MONTH.search(low) is None):
            continue  # "may" as a verb
        span = _span(form, m, anchor)
        if span is None:  # "in December 9999": no date, not the December the rest names
            return None
        return span, text[m.start("said"):m.end("said")]
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
