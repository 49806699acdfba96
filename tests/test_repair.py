"""Text repair: the seeds come back exactly; good files are never touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlay.ingest.repair import NotText, decode, repair_text
from tests.conftest import CHAT_EXPORT, double_encoded


def test_a_double_encoded_russian_export_is_restored_exactly() -> None:
    decoded = decode(double_encoded(CHAT_EXPORT))
    assert decoded.repaired == "utf-8 read as mac_roman"
    assert decoded.text == CHAT_EXPORT


def test_every_seed_is_restored_exactly(seeds: Path) -> None:
    files = sorted(seeds.iterdir())
    assert len(files) == 5
    for file in files:
        raw = file.read_bytes()
        decoded = decode(raw)
        expected = raw.decode("utf-8").encode("mac_roman").decode("utf-8")
        assert decoded.repaired == "utf-8 read as mac_roman", file.name
        assert decoded.text == expected
    text = decode((seeds / "003_88ea89ca3104fdae.txt").read_bytes()).text
    assert (
        "Харкевича" in text.split("\n")[1]
    )  # the first paragraph, which ftfy alone leaves garbled


@pytest.mark.parametrize(
    "text",
    [
        "Привет, мир — «ёлка» и Харкевич… 🧠",
        "Plain English, nothing to see.",
        "café, naïve, Zürich — “curly quotes” and ½",
        "Ð is a real letter in Icelandic: Ðórr",
        "",
    ],
)
def test_correct_files_are_left_alone(text: str) -> None:
    decoded = decode(text.encode("utf-8"))
    assert decoded.text == text
    assert decoded.repaired is None


def test_utf8_read_as_cp1252_is_repaired() -> None:
    broken = "naïve café – déjà vu".encode().decode("cp1252")
    assert repair_text(broken)[0] == "naïve café – déjà vu"


def test_binary_and_undecodable_bytes_are_refused() -> None:
    with pytest.raises(NotText, match="binary"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00")


def test_cp1251_file_is_read_as_cp1251() -> None:
    text = (
        "Информационная ценность сообщения по Харкевичу измеряется изменением "
        "вероятности достижения цели. "
    ) * 5
    decoded = decode(text.encode("cp1251"))
    assert decoded.encoding != "utf-8"
    assert "Харкевичу" in decoded.text


def test_windows_line_endings_are_normalised() -> None:
    assert decode(b"a\r\nb\rc").text == "a\nb\nc"


SAFE = st.text(
    alphabet=st.sampled_from(
        list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ")
        + list("abcdefghijklmnopqrstuvwxyzABC 0123456789.,;:!?-\n")
        + list("—«»…")
    ),
    max_size=200,
)


@given(SAFE)
def test_property_good_text_is_never_changed(text: str) -> None:
    assert repair_text(text) == (text, None)


@given(SAFE.filter(lambda t: any(ord(c) > 127 for c in t)))
def test_property_mac_roman_mojibake_round_trips(text: str) -> None:
    broken = text.encode("utf-8").decode("mac_roman")
    assert repair_text(broken)[0] == text
