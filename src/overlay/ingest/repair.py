"""Turn a file's bytes into correct text, repairing mojibake without harming good files.

The user's exports are UTF-8 that was read as Mac Roman and encoded again. A whole-file round
trip (encode as Mac Roman, decode as UTF-8 strictly) restores them exactly, where character-level
repair leaves long stretches garbled; so the round trip is tried first and kept only when it
decodes cleanly and yields more real letters. `ftfy.fix_encoding` handles the other common
cases (UTF-8 read as cp1252/latin-1). A file that was fine is never changed.
"""

from __future__ import annotations

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
    """Non-ASCII letters minus non-ASCII symbols: mojibake turns one letter into a letter and a
    symbol (or two symbols), so repair raises this number and damage lowers it."""
    score = 0
    for ch in text:
        if ord(ch) > 127 and not ch.isspace():
            score += 1 if ch.isalpha() else -1
    return score


def repair_text(text: str) -> tuple[str, str | None]:
    """Undo double encoding if that clearly helps; returns (text, name of repair or None)."""
    if text.isascii():
        return text, None
    base = letter_balance(text)
    for codec in ROUND_TRIP_CODECS:
        try:
            candidate = text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if candidate != text and letter_balance(candidate) > base:
            return candidate, f"utf-8 read as {codec}"
    fixed = ftfy.fix_encoding(text)
    if fixed != text and letter_balance(fixed) > base:
        return fixed, "ftfy"
    return text, None


def decode(raw: bytes) -> Decoded:
    """Decode bytes as UTF-8 (or a detected code page), then repair mojibake."""
    if b"\x00" in raw[:BINARY_SNIFF]:
        raise NotText("binary file (contains NUL bytes)")
    encoding = "utf-8"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        best = from_bytes(raw).best()
        if best is None or best.encoding is None:
            raise NotText(f"not UTF-8 (byte {exc.start}) and no other encoding fits") from None
        encoding = best.encoding
        text = str(best)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fixed, how = repair_text(text)
    return Decoded(fixed, encoding, how)
