"""Pure text normalisation helpers.

Two levels on purpose:

* :func:`clean_text` / :func:`clean_line` tidy text *for storage*: Unicode NFC,
  one kind of newline, no invisible or control characters, collapsed spaces.
  The wording and typography (curly quotes, dashes) are kept.
* :func:`fold_typography` and :func:`normalize_for_hash` are *for comparison*:
  typographic variants (curly vs straight quotes, en/em dashes vs hyphens,
  ellipsis character vs three dots, case, punctuation) must not make two copies
  of the same story look different.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Sequence
from typing import Final

import numpy as np

__all__ = [
    "clean_line",
    "clean_text",
    "fold_typography",
    "normalize_for_hash",
    "reflow",
    "sanitize",
    "word_count",
    "word_counts",
]

# Controls that are not whitespace (tab, newline and the other line breaks are
# handled as whitespace instead), the XML-illegal U+FFFE/U+FFFF, and invisible
# format characters that only hide text or break matching: soft hyphen,
# zero-width space, word joiner, BOM, bidi embeddings/overrides (which also
# defuses "Trojan source" tricks). ZWJ/ZWNJ stay in stored text: Persian,
# Indic scripts and emoji sequences need them.
_INVISIBLE_CHARS: Final = (
    "\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u00ad\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff"
)
_INVISIBLE: Final = re.compile(f"[{_INVISIBLE_CHARS}]")
# For comparison the joiners go too.
_JOINERS: Final = re.compile("[\u200c\u200d]")
# The ASCII members of _INVISIBLE, for bytes.translate.
_ASCII_INVISIBLE: Final = bytes(c for c in range(128) if _INVISIBLE.match(chr(c)))
# ASCII that is not invisible: what _rare_chars leaves out.
_ASCII_COMMON: Final = bytes(c for c in range(128) if c not in _ASCII_INVISIBLE)
# Line breaks other than \n that str.splitlines() honours.
_ODD_BREAKS: Final = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")

_TYPOGRAPHY_MAP: Final = {
    # single quotes, apostrophes and primes
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u02bc": "'",
    "\uff07": "'",
    "`": "'",
    "\u00b4": "'",
    # double quotes and guillemets
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\uff02": '"',
    # hyphens, dashes and the minus sign
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\ufe58": "-",
    "\ufe63": "-",
    "\uff0d": "-",
    "\u2026": "...",
}
# str.translate looks every character of a non-ASCII string up in a dict
# (~10 us per KB); str.replace of the few keys a text holds is much faster.
_TYPOGRAPHY_ITEMS: Final = tuple(_TYPOGRAPHY_MAP.items())
# ASCII text can only hold the map's ASCII keys.
_ASCII_TYPOGRAPHY: Final = tuple((k, v) for k, v in _TYPOGRAPHY_ITEMS if k.isascii())

# Apostrophes and dots/commas inside a word or number ("don't", "U.S.",
# "12,000", "3.5") are dropped rather than turned into a space. The pattern
# starts with the character class so that re can scan for it quickly.
_INNER_PUNCT: Final = re.compile(r"['.,](?<=\w['.,])(?=\w)")
# ASCII punctuation and symbols (and "_", which \w counts as a word character)
# become spaces, and so does every ASCII character str.split() splits at.
# bytes.translate on the UTF-8 form is a plain table lookup, and safe: ASCII
# bytes never occur inside a multi-byte character.
_ASCII_SPLITTERS: Final = bytes(c for c in range(128) if len(f"a{chr(c)}a".split()) == 2)
_ASCII_PUNCT_SPACE: Final = bytes.maketrans(
    string.punctuation.encode() + _ASCII_SPLITTERS,
    b" " * (len(string.punctuation) + len(_ASCII_SPLITTERS)),
)
# _INNER_PUNCT on ASCII bytes, where \w is [A-Za-z0-9_].
_ASCII_INNER_PUNCT: Final = re.compile(rb"['.,](?<=[A-Za-z0-9_]['.,])(?=[A-Za-z0-9_])")
# Runs of non-ASCII characters in UTF-8: a byte range scans fast, unlike a
# negated \w (a Unicode lookup per character); _fold_symbols handles each run.
_NON_ASCII_BYTES: Final = re.compile(rb"[\x80-\xff]+")
# Real text holds a handful of distinct non-ASCII characters: each is
# replaced in one pass when there are no more than this many.
_FEW_SYMBOLS: Final = 64

# Scripts written without spaces between words: each character counts as one
# word so that a Chinese or Japanese article is not "too short".
_CJK_CHAR: Final = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Dashes used as punctuation separate words even without spaces around them.
_WORD_DASHES: Final = ("\u2013", "\u2014", "\u2015")
# A token made only of these is not a word ("-", "|", "...", "***").
_PUNCTUATION: Final = (
    string.punctuation
    + "\u2013\u2014\u2015\u2026\u00ab\u00bb\u2018\u2019\u201c\u201d"  # dashes, quotes
    + "\u00b7\u2022\u00a7\u00b6\u2020\u2021\u00b0"  # bullets, section, dagger, degree
)
_SPACE: Final = 0x20
_NEWLINE: Final = 0x0A
_ASCII_PUNCTUATION: Final = string.punctuation.encode()
# str.split() also splits at the information separators; bytes.split() not.
_SEPARATORS_TO_SPACE: Final = bytes.maketrans(b"\x1c\x1d\x1e\x1f", b"    ")
_NON_ASCII_PUNCTUATION: Final = tuple(c for c in _PUNCTUATION if not c.isascii())
# The bytes that bytes.split() splits at, as a lookup table.
_SPLITS_AT: Final = np.array([bytes([c]).isspace() for c in range(256)], dtype=np.bool_)
_ZERO_INDEX: Final = np.zeros(1, dtype=np.intp)


def _nfc(text: str) -> str:
    # is_normalized is a fast C check; most text is already NFC.
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def sanitize(text: str) -> str:
    """Every line break as ``\\n``; control and invisible format characters
    removed. The result is safe to hand to an XML/HTML parser."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _INVISIBLE.sub("", _ODD_BREAKS.sub("\n", text))


def clean_text(text: str) -> str:
    """Storage form of a multi-line text.

    NFC, every line break as ``\\n``, invisible characters removed, runs of
    horizontal whitespace collapsed to one space, lines stripped. Blank lines
    are kept (they carry structure).
    """
    # splitlines() knows every Unicode line break. Then every other space
    # character becomes " " and the spaces are squeezed on UTF-8 bytes, where
    # " " and "\n" never occur inside a multi-byte character.
    if text.isascii():
        text = text.encode().translate(None, _ASCII_INVISIBLE).decode()
        return _squeeze("\n".join(text.splitlines()).replace("\t", " ").encode())
    text = _nfc(text)
    rare = _rare_chars(text.encode())
    if _INVISIBLE.search(rare):
        text = _INVISIBLE.sub("", text)
    text = "\n".join(text.splitlines()).replace("\t", " ")
    for c in rare:
        if c.isspace():  # no-break, em, ideographic spaces...
            text = text.replace(c, " ")
    return _squeeze(text.encode())


def clean_line(text: str) -> str:
    """Storage form of a one-line text: like :func:`clean_text`, and every
    whitespace run (newlines included) becomes one space."""
    return " ".join(_INVISIBLE.sub("", _nfc(text)).split())


# A line that ends like this closes its sentence; one that does not, followed
# by a line starting in lower case, was wrapped by the scraper.
_LINE_END: Final = (".", "!", "?", ":", ";", '"', "'", ")", "]", "\u201d", "\u2019", "\u2026")
# A page is hard-wrapped when its lines are this short and most of them fill
# the width: then a paragraph ends only at a blank line or a short last line.
_WRAP_MAX_WIDTH: Final = 100
_WRAP_MIN_LINES: Final = 5
_WRAP_FILL: Final = 0.75


def _hard_wrap_width(lines: Sequence[str]) -> int:
    """The wrap width of a hard-wrapped text, or 0 when it is not wrapped.

    A list of headlines has short lines of similar length too; what gives a
    wrap away is lines that continue a sentence, starting in lower case.
    """
    lengths = [len(line) for line in lines if line]
    if len(lengths) < _WRAP_MIN_LINES:
        return 0
    width = max(lengths)
    if width > _WRAP_MAX_WIDTH:
        return 0
    full = sum(1 for n in lengths if n >= _WRAP_FILL * width)
    continued = sum(1 for line in lines if line and line[0].islower())
    return width if 2 * full >= len(lengths) and 4 * continued >= len(lengths) else 0


def reflow(lines: Sequence[str]) -> list[str]:
    """Undo hard wraps and line-end hyphenation in cleaned paragraph lines.

    "inter-" + "national" becomes "international". A line that does not end a
    sentence, followed by one starting in lower case, is joined to it; in a
    hard-wrapped text (short lines of about equal length) every line is,
    unless it is a short line ending a sentence. A blank line always
    separates paragraphs.
    """
    width = _hard_wrap_width(lines)
    out: list[str] = []
    # The paragraph being built (out's next entry), as parts joined once at
    # the end, with its length and last two characters: joining strings line
    # by line was quadratic (a 2 MB page of short lines took half a minute).
    parts: list[str] = []
    length = 0
    tail = ""
    for line in lines:
        if length and line:
            lower = line[0].islower()
            if lower and tail.endswith("-") and length > 1 and tail[-2].isalpha():
                parts[-1] = parts[-1][:-1]
                parts.append(line)
                length += len(line) - 1
                tail = (tail[:-1] + line)[-2:]
                continue
            paragraph_end = tail.endswith(_LINE_END)
            if width:
                paragraph_end = paragraph_end and length < _WRAP_FILL * width
            if not paragraph_end and (lower or width):
                parts += (" ", line)
                length += 1 + len(line)
                tail = (" " + line)[-2:]
                continue
        if parts:
            out.append("".join(parts))
        parts, length, tail = [line], len(line), line[-2:]
    if parts:
        out.append("".join(parts))
    return out


def fold_typography(text: str) -> str:
    """Curly quotes, primes and guillemets to straight quotes, dashes and minus
    to ``-``, the ellipsis character to ``...``. For comparison only."""
    # Every key is one character and no value holds a key, so replacing
    # the keys one after another is the same as replacing them all at once;
    # a substring test scans far faster than a regex with a callback.
    for char, folded in _ASCII_TYPOGRAPHY if text.isascii() else _TYPOGRAPHY_ITEMS:
        if char in text:
            text = text.replace(char, folded)
    return text


def _fold_symbols(data: bytes) -> bytes:
    """Non-ASCII punctuation and symbols in UTF-8 ``data`` become spaces;
    letters, digits, spaces and combining marks (parts of letters: Devanagari
    vowel signs, ...) stay."""
    chars = _rare_chars(data)
    if len(chars) > _FEW_SYMBOLS:  # a replace per character would be quadratic
        return _NON_ASCII_BYTES.sub(lambda m: _fold_run(m.group().decode()).encode(), data)
    for c in chars:
        if not _keeps(c):
            data = data.replace(c.encode(), b" ")
    return data


def _keeps(c: str) -> bool:
    return c.isalnum() or c.isspace() or unicodedata.category(c)[0] == "M"


def _fold_run(run: str) -> str:
    return run if run.isalnum() else "".join(c if _keeps(c) else " " for c in run)


def normalize_for_hash(text: str) -> str:
    """Canonical form for exact-dedup hashing.

    NFKC (full-width and ligature forms fold too), case-folded, typography
    folded, punctuation and symbols removed, whitespace collapsed to single
    spaces. Copies that differ only typographically give the same string.
    """
    data = text.encode()
    if not text.isascii():
        # The few distinct rare characters tell which passes are needed at all.
        rare = _rare_chars(data)
        folds = _ascii_folds(rare)
        if folds is None:
            return _normalize_unicode(text, rare)
        for char, folded in folds:
            data = data.replace(char, folded)
    # The same steps on ASCII bytes: controls deleted, "`" folded,
    # lower-cased, inner punctuation dropped, punctuation to spaces.
    data = data.translate(None, _ASCII_INVISIBLE).replace(b"`", b"'").lower()
    return _squeeze(_ASCII_INNER_PUNCT.sub(b"", data).translate(_ASCII_PUNCT_SPACE))


def _ascii_folds(rare: str) -> list[tuple[bytes, bytes]] | None:
    """For text whose only non-ASCII characters are punctuation and symbols
    that NFKC and case folding leave alone (curly quotes, dashes, "£"): each
    one's UTF-8 form and the ASCII that normalize_for_hash makes of it (its
    typographic fold, or a space). Replaced up front, they leave ASCII for the
    byte steps, ~2x faster than the str ones; None when a character needs
    those (letters, marks, spaces, compatibility forms, invisibles)."""
    if len(rare) > _FEW_SYMBOLS:
        return None
    folds = []
    for char in rare:
        if char.isascii():  # an invisible control: the byte steps delete it
            continue
        folded = _ascii_fold(char)
        if folded is None:
            return None
        folds.append((char.encode(), folded))
    return folds


@functools.lru_cache(maxsize=4096)
def _ascii_fold(char: str) -> bytes | None:
    # Punctuation and symbols are not \w (inner punctuation is judged the
    # same), are not marks or joiners (nothing composes with them when NFKC
    # leaves them alone) and have no case.
    if unicodedata.category(char)[0] not in "PS":
        return None
    if unicodedata.normalize("NFKC", char) != char or char.casefold() != char:
        return None
    return _TYPOGRAPHY_MAP.get(char, " ").encode()


def _normalize_unicode(text: str, rare: str) -> str:
    """normalize_for_hash for text with letters, marks or spaces beyond ASCII."""
    if _INVISIBLE.search(rare):
        text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    # After NFKC: a joiner keeps combining marks on either side in order.
    if "\u200c" in rare or "\u200d" in rare:
        text = _JOINERS.sub("", text)
    text = fold_typography(text).casefold()
    data = _INNER_PUNCT.sub("", text).encode().translate(_ASCII_PUNCT_SPACE)
    if not data.isascii():
        data = _fold_symbols(data)
        if not data.isascii():  # Unicode spaces: only str.split() knows them
            return " ".join(data.decode().split())
    return _squeeze(data)


def _rare_chars(data: bytes) -> str:
    """The distinct non-ASCII and invisible ASCII characters of UTF-8
    ``data`` (deleting ASCII bytes leaves whole multi-byte characters; lone
    surrogates encoded with ``surrogatepass`` come back as themselves)."""
    return "".join(set(data.translate(None, _ASCII_COMMON).decode("utf-8", "surrogatepass")))


# Below this, one line is squeezed faster by split and join than by numpy.
_SHORT_LINE: Final = 2048


def _squeeze(data: bytes) -> str:
    """UTF-8 lines whose only spaces are " ", each with single spaces between
    its words and none at either end (numpy masks: 4-5x faster than split
    and join on a whole page)."""
    if len(data) < _SHORT_LINE and b"\n" not in data:
        # One short line (a title, a paragraph): numpy's fixed cost per call
        # is then more than the work, split and join are 2-10x faster. Only
        # " " separates words here, so bytes.split() splits where " " does.
        return b" ".join(data.split()).decode()
    codes = np.frombuffer(data, dtype=np.uint8)
    space = codes == _SPACE
    drop = space.copy()
    drop[1:] &= space[:-1] | (codes[:-1] == _NEWLINE)  # runs, and line starts
    kept = codes[~drop]
    space = kept == _SPACE
    space[:-1] &= kept[1:] == _NEWLINE  # line ends (a last space ends the text)
    squeezed: bytes = kept[~space].tobytes()
    return squeezed.decode()


def word_count(text: str) -> int:
    """Number of words: whitespace-separated tokens that are not only
    punctuation (dashes also separate words); each CJK character is a word."""
    cjk = 0
    if not text.isascii():
        # The few distinct non-ASCII characters say which steps apply: a
        # substring scan of the text per dash and mark cost more than the count.
        rare = _rare_chars(text.encode("utf-8", "surrogatepass"))
        for dash in _WORD_DASHES:
            if dash in rare:
                text = text.replace(dash, " ")
        if _CJK_CHAR.search(rare):
            cjk = len(_CJK_CHAR.findall(text))
            text = _CJK_CHAR.sub(" ", text)
        for mark in _NON_ASCII_PUNCTUATION:
            if mark in rare:
                text = text.replace(mark, "")
        if any(c.isspace() for c in rare):  # bytes.split() knows only ASCII spaces
            text = " ".join(text.split())
    # A token is a word when something is left once its punctuation is
    # deleted: deleting it all at once, as bytes, keeps the loop in C.
    data = text.encode("utf-8", "surrogatepass").translate(_SEPARATORS_TO_SPACE, _ASCII_PUNCTUATION)
    return cjk + len(data.split())


def word_counts(lines: Sequence[str]) -> list[int]:
    """``[word_count(line) for line in lines]`` for lines without "\\n" (a
    page's paragraphs), 40% faster: each step runs once on the lines joined
    by "\\n", and numpy counts the words of each line (splitting them into
    bytes objects was most of the cost)."""
    joined = "\n".join(lines)
    if not lines or joined.count("\n") != len(lines) - 1:
        return [word_count(line) for line in lines]
    if not joined.isascii():
        rare = _rare_chars(joined.encode("utf-8", "surrogatepass"))
        # CJK is counted per line, and str.split() would split at "\n" too.
        if _CJK_CHAR.search(rare) or any(c.isspace() for c in rare):
            return [word_count(line) for line in lines]
        for dash in _WORD_DASHES:
            if dash in rare:
                joined = joined.replace(dash, " ")
        for mark in _NON_ASCII_PUNCTUATION:
            if mark in rare:
                joined = joined.replace(mark, "")
    data = joined.encode("utf-8", "surrogatepass")
    codes = np.frombuffer(data.translate(_SEPARATORS_TO_SPACE, _ASCII_PUNCTUATION), np.uint8)
    if not len(codes):
        return [0] * len(lines)
    # A word starts at a byte that bytes.split() does not split at, after
    # one that it does; a line's words are the starts from its "\n" on.
    space = _SPLITS_AT[codes]
    start = ~space
    start[1:] &= space[:-1]
    bounds = np.concatenate((_ZERO_INDEX, np.flatnonzero(codes == _NEWLINE)))
    counts: list[int] = np.add.reduceat(start, bounds, dtype=np.intp).tolist()
    return counts
