"""Turn a file's bytes into correct text, repairing mojibake without harming good files.

The user's exports are UTF-8 that was read as Mac Roman and encoded again. A whole-file round
trip (encode as Mac Roman, decode as UTF-8 strictly) restores them exactly, where character-level
repair leaves long stretches garbled; so the round trip is tried first and kept only when it
decodes cleanly and yields more real letters. `ftfy.fix_encoding` handles the other common
cases (UTF-8 read as cp1252/latin-1). A file that was fine is never changed.
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass

import ftfy
from charset_normalizer import from_bytes

BINARY_SNIFF = 8192
# code pages whose mis-decoding of UTF-8 the whole-file round trip can undo
ROUND_TRIP_CODECS = ("mac_roman", "cp1252", "latin-1")


@dataclass(frozen=True)
class Decoded:
    """Text of one file. `repaired` names the repair applied; `encoding` the codec read with."""

    text: str
    encoding: str
    repaired: str | None = None


class NotText(ValueError):
    """The bytes are not a text file (binary, or no encoding fits)."""


def letter_balance(text: str) -> int:
    """Cased letters (Latin, Cyrillic, Greek…) minus symbols, over non-ASCII characters.

    Mojibake turns one letter into a letter and a symbol, or into two symbols, so a repair
    raises this number and damage lowers it. Uncased letters (CJK, ª) and marks count zero."""
    score = 0
    for ch in text:
        if ord(ch) > 127 and not ch.isspace():
            cat = unicodedata.category(ch)
            if cat in ("Lu", "Ll", "Lt", "Lm"):
                score += 1
            elif cat[0] not in ("L", "M"):
                score -= 1
    return score


def _better(candidate: str, text: str) -> bool:
    """Does the candidate read as more real text? Letters gained count, and so does every
    character a strict UTF-8 decode collapsed (each one was a multi-byte sequence split
    into 2–4 characters), which keeps punctuation-only stretches like "‚Äî" → "—" repairable."""
    collapsed = len(text) - len(candidate)
    return letter_balance(candidate) + collapsed >= letter_balance(text)


def repair_text(text: str) -> tuple[str, str | None]:
    """Undo double encoding if that clearly helps; returns (text, name of repair or None)."""
    if text.isascii():
        return text, None
    for codec in ROUND_TRIP_CODECS:
        try:
            candidate = text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if candidate != text and _better(candidate, text):
            return candidate, f"utf-8 read as {codec}"
    fixed = ftfy.fix_encoding(text)
    if fixed != text and _better(fixed, text):
        return fixed, "ftfy"
    return text, None


BOMS = (  # longest first: a UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
WESTERN_SHARE = 0.3  # at most this share of a Western text's letters are accented


def _western(raw: bytes) -> str | None:
    """The text as Windows-1252 (else Latin-1) when it reads as Western European: mostly
    ASCII letters with a few accented ones. Cyrillic in cp1251 also decodes as cp1252, but as
    words made almost wholly of accented letters, so it is left to the detector."""
    for codec in ("cp1252", "latin-1"):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        letters = [c for c in text if c.isalpha()]
        accented = sum(1 for c in letters if ord(c) > 127)
        if letters and accented / len(letters) <= WESTERN_SHARE:
            return codec
    return None


def decode(raw: bytes, encoding: str | None = None) -> Decoded:
    """Decode bytes as `encoding` if given; else by their byte-order mark, as UTF-8, as
    Western European text, or as the code page a detector finds; then repair mojibake."""
    if encoding is not None:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise NotText(f"not {encoding} (byte {exc.start})") from None
        except LookupError:
            raise NotText(f"unknown encoding {encoding!r}") from None
        return _finish(text, encoding, repair=False)
    for mark, codec in BOMS:
        if raw.startswith(mark):
            try:
                return _finish(raw.decode(codec), codec.removesuffix("-sig"))
            except UnicodeDecodeError as exc:
                raise NotText(f"starts with a {codec} byte-order mark but is not {codec} "
                              f"(byte {exc.start})") from None
    if b"\x00" in raw[:BINARY_SNIFF]:
        raise NotText("binary file (contains NUL bytes)")
    try:
        return _finish(raw.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        western = _western(raw)
        if western is not None:
            return _finish(raw.decode(western), western)
        best = from_bytes(raw).best()
        if best is None or best.encoding is None:
            raise NotText(f"not UTF-8 (byte {exc.start}) and no other encoding fits") from None
        return _finish(str(best), best.encoding)


def _finish(text: str, encoding: str, repair: bool = True) -> Decoded:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fixed, how = repair_text(text) if repair else (text, None)
    return Decoded(fixed, encoding, how)
