"""The text helpers (worker/pipeline/text.py): normalisation, word counts, reflow."""

from __future__ import annotations

import re
import string
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from worker.pipeline.text import (
    _INVISIBLE_CHARS,
    _TYPOGRAPHY_MAP,
    _ascii_fold,
    clean_line,
    clean_text,
    normalize_for_hash,
    reflow,
    word_count,
    word_counts,
)

# --------------------------------------------------------------------------
# text.py helpers


def test_normalize_for_hash_ignores_typography_case_and_spacing() -> None:
    fancy = (
        "\u201cDon\u2019t panic\u201d \u2014 the U.S. envoy said\u2026  12,000 troops\u00a0left."
    )
    plain = '"don\'t panic" - the US envoy said... 12000 troops left'
    assert (
        normalize_for_hash(fancy)
        == normalize_for_hash(plain)
        == ("dont panic the us envoy said 12000 troops left")
    )
    assert normalize_for_hash("Caf\u00e9") == normalize_for_hash("Cafe\u0301")
    assert normalize_for_hash("one\u200b two") == "one two"
    assert normalize_for_hash("hello world") != normalize_for_hash("hello there world")


def _reference_normalize_for_hash(text: str) -> str:
    """normalize_for_hash's definition in plain str operations, step by step;
    the real one takes byte-level short cuts and must give the same string
    (stored body hashes depend on it)."""
    text = unicodedata.normalize("NFKC", re.sub(f"[{_INVISIBLE_CHARS}]", "", text))
    text = re.sub("[\u200c\u200d]", "", text)  # after NFKC: marks keep their order
    text = "".join(_TYPOGRAPHY_MAP.get(c, c) for c in text).casefold()
    text = re.sub(r"['.,](?<=\w['.,])(?=\w)", "", text)
    text = "".join(" " if c in string.punctuation else c for c in text)
    text = "".join(
        c if c.isascii() or c.isalnum() or c.isspace() or unicodedata.category(c)[0] == "M" else " "
        for c in text
    )
    return " ".join(text.split())


_TRICKY = st.sampled_from(
    [*"aZ9_ .,'`-\t\n\r\x0b\x0c\x1c\x1f\x00\x7f\x85\xa0",
       "\u2019", "\u201c", "\u2014", "\u2026", "\u00e9", "e\u0301", "\u00df", "\u0130",
       "\ufb01", "\uff34", "\u200b", "\u200c", "\u200d", "\u0348", "\ufe2e", "\u00a3",
       "\u65e5", "\u3000", "\u2028", "\u00bd", "\u212a", "\u02bc", "\u0915\u093f"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@example("\ufe2e\u200d\u0348 x")  # a joiner between two combining marks
@example("don\u2019t \u00a3\u20ac5 K\u212a U.S. 3,5")
@given(st.lists(_TRICKY | st.characters(codec="utf-8"), max_size=60).map("".join))
def test_normalize_for_hash_matches_its_plain_definition(text: str) -> None:
    assert normalize_for_hash(text) == _reference_normalize_for_hash(text)


def test_every_symbol_replaced_as_bytes_gives_the_plain_definition() -> None:
    # Text whose only non-ASCII characters are such symbols (curly quotes,
    # dashes, currency signs) skips the str steps: each of them, between
    # words, after inner punctuation and doubled, must hash the same way.
    symbols = [chr(c) for c in range(0x80, 0x110000) if _ascii_fold(chr(c)) is not None]
    assert "\u2019" in symbols and "\u00a3" in symbols and "\u00e9" not in symbols
    for c in symbols:
        text = f"Don't{c}x, U.S.{c}3,5 a'{c}'b {c}{c}"
        assert normalize_for_hash(text) == _reference_normalize_for_hash(text), hex(ord(c))


def test_normalize_for_hash_of_many_distinct_symbols_matches_its_definition() -> None:
    text = " ".join(chr(c) for c in range(0x2190, 0x2290)) + " caf\u00e9 \u00a3 5"
    assert normalize_for_hash(text) == _reference_normalize_for_hash(text) == "caf\u00e9 5"


def _reference_clean_text(text: str) -> str:
    """clean_text's definition in plain str operations."""
    lines = re.sub(f"[{_INVISIBLE_CHARS}]", "", unicodedata.normalize("NFC", text)).splitlines()
    return "\n".join(" ".join(line.split()) for line in lines)


_SPACING = st.sampled_from(
    [*" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x00\x85\xa0", "\r\n", "\u2028", "\u3000",
     "\u2003", "\u1680", "\u202f", "\u200b", "e\u0301", "\u2019", "ab", "Z9."]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@example(" a  b \n\n \u3000c\t\n")
@given(st.lists(_SPACING | st.characters(codec="utf-8"), max_size=40).map("".join))
def test_clean_text_matches_its_plain_definition(text: str) -> None:
    assert clean_text(text) == _reference_clean_text(text)


def test_word_count() -> None:
    assert word_count("") == 0
    assert word_count("Kim's war \u2014 it's 2025! -- | ...") == 4
    assert word_count("word\u2014word") == 2
    assert word_count("\u65b0\u534e\u793e\u62a5\u9053") == 5


def _reference_word_count(text: str) -> int:
    """word_count as first written: every step on the whole text."""
    cjk_class = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    cjk = len(re.findall(f"[{cjk_class}]", text))
    text = re.sub(f"[{cjk_class}\u2013\u2014\u2015]", " ", text)  # dashes separate words
    punctuation = (
        string.punctuation + "\u2026\u00ab\u00bb\u2018\u2019\u201c\u201d"
        "\u00b7\u2022\u00a7\u00b6\u2020\u2021\u00b0"
    )
    words = [w for w in text.split() if w.strip(punctuation)]
    return cjk + len(words)


_WORDY = (
    _TRICKY
    | _SPACING
    | st.sampled_from(
        ["\u2013", "\u2015", "\u00ab", "\u2022", "\u00b0", "|", "--", "\u534e", "\u30a2", "it's"]
    )
)


@settings(max_examples=500, deadline=None)
@example("a\u2014b \u00a3 5 x\u2028y \u00ab\u00bb")
@given(st.lists(_WORDY | st.characters(codec="utf-8"), max_size=30).map("".join))
def test_word_count_matches_its_plain_definition(text: str) -> None:
    assert word_count(text) == _reference_word_count(text)


@settings(max_examples=300, deadline=None)
@example(["a\u2014b", "", "\u00ab x \u00bb", "--"])
@example(["\u534e b", "c"])  # CJK: counted line by line
@example(["a\u2028b", "c d"])  # a Unicode space: str.split() would cross lines
@given(st.lists(st.lists(_WORDY | st.characters(codec="utf-8"), max_size=12).map("".join)))
def test_word_counts_of_a_pages_lines_are_each_lines_word_count(lines: list[str]) -> None:
    assert word_counts(lines) == [word_count(line) for line in lines]


def test_clean_text_and_clean_line() -> None:
    assert clean_text(" a \u00a0 b \r\n\r\nc\u2028d\x00 ") == "a b\n\nc\nd"
    assert clean_line(" a \n b\u200b\t c ") == "a b c"


# --------------------------------------------------------------------------
# Normalisation: hard wraps and hyphenation


def test_reflow_joins_wrapped_lines_and_line_end_hyphenation() -> None:
    assert reflow(["The inter-", "national talks went on", "into the night.", "", "Next."]) == [
        "The international talks went on into the night.",
        "",
        "Next.",
    ]
    # Lines that end sentences, and a list of headlines, are left alone.
    assert reflow(["One.", "two", "Three"]) == ["One.", "two", "Three"]
    headlines = ["Bus fares to rise in January", "New bridge opens", "Library hours cut"] * 2
    assert reflow(headlines) == headlines
