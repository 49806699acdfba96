"""What a statement is about, and whether a question is about the same thing.

A learned statement (an edit) acts only where a question is about what it is about: its
subject, worked out from the statement's own words and the overlay around it.

- The statement splits into *runs*: words not broken by punctuation, a possessive, a
  function word, or a change between capitalised and lowercase words. "The mother tongue of
  Danielle Darrieux is English" has the runs "mother tongue", "Danielle Darrieux" and
  "English".
- A question *names* a run when it says all of its words, adjacent and in order, and does
  not extend a name with one more capitalised word: "Dodge Charger R/T" does not name
  "Dodge Charger", "Neil Young" does not name "Young".
- Words are weighted by how specific they are in the overlay: inverse document frequency
  over all its nodes. A Russian word is read by its dictionary form ("Льва Толстого" names
  "Лев Толстой"), and a dash breaks a run as a comma does ("Столица Австралии — Сидней").
- A question is about the statement when it names one of its subjects:
  - its names (runs of capitalised words): "Denmark" in "In Denmark, the language spoken is
    English", and "Danielle Darrieux" even after two statements about her, when "English"
    is rarer;
  - in a statement with no name, the run that holds its most specific word (the earliest on
    a tie): "application bundle" in "application bundle was developed by …".
- As a fallback, a question is also about the statement when it names at least `share` of
  the statement's specificity, including its most specific word: "Darrieux's mother tongue
  is" names only part of the name.

So "In Denmark, people speak" is about the Denmark statement. "The law in Iisalmi declares
the language" is not about "The law in Philippines declares the language Finnish", because
it names the relation but not the subject. Nothing is read from outside the text, so the
same rule serves a user's `learn` and a benchmark's records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from stop_words import get_stop_words

from overlay.lexical import analyze, lemma_stems
from overlay.patterns import bounded
from overlay.store.base import Store

WORD = bounded(r"\w+", "one class under one quantifier: each character read once; a hot path")
PUNCTUATION = bounded(r"[,;:!?()\[\]{}\"“”«»…—–]|\s-\s",  # a spaced dash too
                      "a match is one to three characters; run per gap between words")
SENTENCE_END = bounded(r"[.!?…]\s", "a match is two characters; run per gap between words")
APOSTROPHES = ("'", "’")


@cache
def stop_stems() -> frozenset[str]:
    words = get_stop_words("english") + get_stop_words("russian")
    return frozenset(s for w in words for s in analyze(w) + lemma_stems(w))


def content_stems(text: str) -> list[str]:
    stop = stop_stems()
    return list(dict.fromkeys(s for s in lemma_stems(text) if s not in stop))


@dataclass(frozen=True)
class Word:
    """One word of a text: its stem, its case ("U" capitalised, "L" lowercase, "S" a
    sentence's first word, whose case says nothing, "" no letter) and whether punctuation, a
    possessive or a sentence's end precedes it."""

    stem: str
    case: str
    broken: bool

    @property
    def stop(self) -> bool:
        return self.stem in stop_stems()


def read(text: str) -> list[Word]:
    """The words of `text`, possessive endings dropped."""
    out: list[Word] = []
    end, cut, last = 0, True, ""
    for m in WORD.finditer(text):
        gap, word = text[end : m.start()], m.group(0)
        end = m.end()
        if gap in APOSTROPHES and word.lower() == "s":
            cut = True  # "Robinson's": the possessive ends the name
            continue
        stems = lemma_stems(word)
        if not stems:
            cut = True
            continue
        # a full stop after one letter is an initial ("Charles H. Goode"), not a sentence's end
        sentence = not out or (SENTENCE_END.search(gap) is not None
                               and (len(last) > 1 or "." not in gap))
        case = ("" if not word[0].isalpha() else "S" if sentence
                else "U" if word[0].isupper() else "L")
        out.append(Word(stems[0], case, cut or sentence or PUNCTUATION.search(gap) is not None))
        cut, last = False, word
    return out


@dataclass(frozen=True)
class Run:
    """A run of words: its stems, and whether it is a name (no lowercase word; a sentence's
    first word alone may be one: "Iowa is in Colorado")."""

    stems: tuple[str, ...]
    name: bool
    dropped: str = ""  # the sentence's first word, left off before a name


def runs(text: str) -> list[Run]:
    """The runs of `text` (see the module's docstring), in order. A sentence's first word
    before a name may be the name's or not ("Player Mikael Lindholm"), so the name follows
    both with it and without it."""
    groups: list[list[Word]] = []
    current: list[Word] = []
    for w in read(text):
        function_word = w.stop and w.case != "U"  # "Cy" in "… Cy Young" is a name's
        cased = [x.case for x in current if x.case]  # digits take the case around them
        clash = bool(cased) and {cased[-1], w.case} in ({"U", "L"}, {"S", "L"})
        if function_word or w.broken or clash:
            groups.append(current)
            current = []
        if not function_word:
            current.append(w)
    groups.append(current)
    found = []
    for words in filter(None, groups):
        found.append(_run(words))
        if len(words) > 1 and words[0].case == "S" and words[1].case == "U":
            found.append(_run(words[1:], words[0].stem))
    return found


def _run(words: list[Word], dropped: str = "") -> Run:
    cases = {w.case for w in words}
    name = "L" not in cases and bool(cases & {"U", "S"})
    return Run(tuple(w.stem for w in words), name, dropped)


def names(question: str, run: Run) -> bool:
    """Whether `question` says `run`'s words adjacent and in order, and not as part of a
    longer name: a capitalised word after them extends the name ("Apple Pro Mouse"), and so
    does one before them that is not a function word ("Neil Young", but "of The Beatles");
    before a run that left off a first word, a sentence's first word does too ("Alexander
    Island" is not the "Island" of "Fredriksen Island")."""
    return _names(read(question), run)


def _names(words: list[Word], run: Run) -> bool:
    stems = [w.stem for w in words]
    k = len(run.stems)
    lead = {"U", "S"} if run.dropped else {"U"}
    for i in range(len(stems) - k + 1):
        if tuple(stems[i : i + k]) != run.stems:
            continue
        before = words[i - 1] if i > 0 and not words[i].broken else None
        after = words[i + k] if i + k < len(words) and not words[i + k].broken else None
        if not ((after is not None and after.case == "U")
                or (before is not None and before.case in lead and not before.stop)):
            return True
    return False


def specificity(store: Store, stems: list[str]) -> dict[str, float]:
    """Each stem's specificity in the overlay, log((N + 1) / (df + 1)) + 1."""
    if not stems:
        return {}
    total, freqs = store.doc_freqs(stems)
    return {s: math.log((total + 1) / (freqs.get(s, 0) + 1)) + 1 for s in stems}


def subjects(store: Store, text: str) -> list[Run]:
    """The runs of `text` that can be its subject: its names, or, in a statement without
    one, the run that holds its most specific word. A name that left off a first word counts
    only if it is as specific as that word ("Mikael Lindholm" of "Player Mikael Lindholm",
    not "Island" of "Fredriksen Island")."""
    return _subjects(runs(text), specificity(store, list(dict.fromkeys(lemma_stems(text)))))


def _subjects(found: list[Run], spec: dict[str, float]) -> list[Run]:
    if not found:
        return []
    level = [max(spec[s] for s in r.stems) for r in found]
    named = [r for i, r in enumerate(found)
             if r.name and (not r.dropped or level[i] >= spec[r.dropped])]
    # a relation word may be the rarest ("headquarters" among notes on Nokia): where the
    # statement names something, its subject is a name
    return named or [found[level.index(max(level))]]  # the first of the most specific


def _share(w: dict[str, float], other: set[str]) -> float:
    total = sum(w.values())
    return sum(v for s, v in w.items() if s in other) / total if total else 0.0


def is_about(store: Store, question: str, text: str, share: float = 0.5) -> bool:
    """Whether `question` names a subject of the statement `text`, or at least `share` of
    its specificity including one of its most specific words, outside any other name."""
    asked = read(question)
    spec = specificity(store, list(dict.fromkeys(lemma_stems(text))))  # one look-up serves both
    if any(_names(asked, run) for run in _subjects(runs(text), spec)):
        return True
    w = {s: spec[s] for s in content_stems(text)}
    if not w:
        return False
    said = {word.stem for word in asked}
    top = max(w.values())
    keys = {s for s, v in w.items() if v == top} & said
    if not keys or _share(w, said) < share:
        return False
    # "Tampa Executive Airport" names "tampa" and "airport", but it is another airport
    mine = set(spec)
    return not any(r.name and keys & set(r.stems) and not mine.issuperset(r.stems)
                   for r in runs(question))
