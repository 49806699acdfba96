"""Dates as people write them (English and Russian month names, ISO, day.month.year) and the
one form the store keeps times in.

Times are kept as ISO 8601 text to the minute ("2023-05-08T13:56"), local to where they were
written: text that orders as time does, so a range filter is a comparison of strings.
"""

from __future__ import annotations

from datetime import datetime

from overlay.patterns import END, START, S, linear

MONTHS = {  # English names and Russian stems ("ма" is May: май, мая, мае)
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
    "январ": 1, "феврал": 2, "март": 3, "апрел": 4, "июн": 6, "июл": 7,
    "август": 8, "сентябр": 9, "октябр": 10, "ноябр": 11, "декабр": 12,
}
MONTH = (r"(?P<month>january|february|march|april|may|june|july|august|september|october|"
         r"november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec|"
         r"январ[а-я]{0,3}|феврал[а-я]{0,3}|март[а-я]{0,2}|апрел[а-я]{0,3}|ма[йяе]|"
         r"июн[а-я]{0,3}|июл[а-я]{0,3}|август[а-я]{0,2}|сентябр[а-я]{0,3}|"
         r"октябр[а-я]{0,3}|ноябр[а-я]{0,3}|декабр[а-я]{0,3})")
DAY_FORMS = [  # (form, pattern): a whole date, most specific first, read from group "at"
    ("iso", linear(rf"{START}(?P<at>(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}}))")),
    ("dotted", linear(rf"{START}(?P<at>(?P<d>\d{{1,2}})\.(?P<m>\d{{1,2}})\.(?P<y>\d{{4}})){END}")),
    ("dmy", linear(rf"(?i){START}(?P<at>(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[{S}]+{MONTH},?[{S}]+"
                   rf"(?P<y>\d{{4}})){END}")),
    ("mdy", linear(rf"(?i){START}(?P<at>{MONTH}[{S}]+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?[{S}]+"
                   rf"(?P<y>\d{{4}})){END}")),
]
CLOCK = linear(rf"(?i)(?:^|\D)(?P<h>\d{{1,2}}):(?P<mi>\d{{2}})(?:[{S}]*(?P<ampm>[ap]\.?m\.?))?")
_MAY = linear(r"ма[йяе]")


def month_of(word: str) -> int | None:
    """The month a name or Russian form names ("May", "мая", "сентябре"); None for a word
    that only looks like one."""
    word = word.casefold()  # RE2 matched it case-blind: "ſeptember" is September
    if word in MONTHS:
        return MONTHS[word]
    if _MAY.fullmatch(word):
        return 5
    return next((m for stem, m in MONTHS.items() if not stem.isascii()
                 and word.startswith(stem)), None)


def when_of(text: str) -> datetime | None:
    """The first whole date written in `text`, with a time of day if one is written there
    too: "1:56 pm on 8 May, 2023", "2023-05-08 14:00", "03.07.2025 at 6:06" (day first),
    "8 мая 2023". None when `text` holds no whole date."""
    for form, pattern in DAY_FORMS:
        m = pattern.search(text)
        if m is None:
            continue
        month = int(m.group("m")) if form in ("iso", "dotted") else month_of(m.group("month"))
        if month is None:
            continue
        rest = text[: m.start("at")] + " " + text[m.end("at"):]
        hour = minute = 0
        clock = CLOCK.search(rest)
        if clock is not None:
            hour, minute = int(clock.group("h")), int(clock.group("mi"))
            ampm = (clock.group("ampm") or "").lower().replace(".", "")
            hour = hour % 12 + (12 if ampm == "pm" else 0) if ampm else hour
        try:  # a date out of the calendar (31 February, year 0, 25:00) is no date
            return datetime(int(m.group("y")), month, int(m.group("d")), hour, minute)
        except ValueError:
            return None
    return None


def minutes(when: datetime | None) -> str | None:
    """A time as the store keeps it: ISO 8601 to the minute, its zone dropped."""
    return when.replace(tzinfo=None).isoformat(timespec="minutes") if when else None
