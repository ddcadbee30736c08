"""The ``text`` path: a scraped plain-text page, and the line filters the others reuse.

The first non-empty line is the title, usually with the outlet after a final
" - " (or " | ", an en or em dash) when what follows looks like an outlet
name. By-line and date lines under it give ``authors`` and ``published``.
Every following line is a paragraph (hard wraps and line-end hyphenation are
undone) until the teaser block: a header line ("You may also like...",
"Related", "Most popular", ...) or, without one, a trailing run of headline
+ one-sentence teaser pairs recognised by its shape. Teasers become
``related``.

The HTML path runs the text trafilatura finds through the same title,
by-line, furniture and teaser filters (:mod:`.html`), and the JSON path runs
a record's body through the teaser split (:mod:`.json`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from worker.pipeline.errors import NotAnArticle
from worker.pipeline.models import ParsedArticle, RelatedItem
from worker.pipeline.parse.article import _finish, _unique
from worker.pipeline.parse.patterns import (
    _AUTHOR_SPLIT,
    _BULLET,
    _BYLINE,
    _CONNECTORS,
    _DATE_LINE_RE,
    _DOMAIN,
    _ELLIPSIS,
    _FURNITURE,
    _INLINE_TEASER,
    _INNER_SENTENCE,
    _META_SEPARATOR,
    _MONTHS,
    _NAME_WORD,
    _NOT_OUTLETS,
    _NUMBERED_PART,
    _OUTLET_BAD_CHARS,
    _OUTLET_BAD_END,
    _PLACE_SUFFIX,
    _READ_TIME,
    _ROLE_WORDS,
    _TEASER_TRIGGER,
    _TITLE_SEPARATORS,
)
from worker.pipeline.text import clean_line, clean_text, reflow, word_count

__all__ = ["MAX_TITLE_LINE_CHARS", "split_title"]

# A first line longer than this is a paragraph, not a headline.
MAX_TITLE_LINE_CHARS: Final = 300

# --------------------------------------------------------------------------
# Title and outlet

_OUTLET_MAX_CHARS: Final = 40
_OUTLET_MAX_WORDS: Final = 5


def _is_capitalised(word: str) -> bool:
    if _DOMAIN.fullmatch(word):  # theguardian.com, news.com.au
        return True
    letters = [c for c in word if c.isalnum()]
    if not letters:
        return False
    first = letters[0]
    if first.isupper() or first.isdigit():
        return True
    if first.isalpha() and not first.islower():
        return True  # scripts without case (CJK, Arabic, ...)
    return any(c.isupper() for c in letters)  # iNews, eKathimerini


def _looks_like_outlet(candidate: str, headline: str) -> bool:
    if not candidate or len(candidate) > _OUTLET_MAX_CHARS:
        return False
    words = candidate.split()
    if len(words) > _OUTLET_MAX_WORDS:
        return False
    if candidate[-1] in _OUTLET_BAD_END or candidate[0] in _OUTLET_BAD_END:
        return False
    if any(c in _OUTLET_BAD_CHARS for c in candidate):
        return False
    if candidate.casefold() in _NOT_OUTLETS or _NUMBERED_PART.fullmatch(candidate):
        return False
    if headline[-1:].isdigit() and candidate[0].isdigit():
        return False  # a score line: "Arsenal 2 - 1 Chelsea"
    significant = [w for w in words if w.casefold() not in _CONNECTORS]
    return bool(significant) and all(_is_capitalised(w) for w in significant)


def split_title(line: str) -> tuple[str, str | None]:
    """Split "Headline - Outlet" into ``(headline, outlet)``.

    Only the last separator is considered, and only when what follows it
    looks like an outlet name (short, capitalised, not a sentence); otherwise
    the whole line is the headline and the outlet is ``None``.
    """
    line = clean_line(line)
    cut, sep = max((line.rfind(s), s) for s in _TITLE_SEPARATORS)
    if cut <= 0:
        return line, None
    headline, outlet = line[:cut].strip(), line[cut + len(sep) :].strip()
    if headline and _looks_like_outlet(outlet, headline):
        return headline, outlet
    return line, None


def _strip_outlet_suffix(title: str, outlet: str | None) -> str:
    """``title`` without a trailing " - <outlet>" when ``outlet`` is known."""
    if outlet:
        for sep in _TITLE_SEPARATORS:
            suffix = f"{sep}{outlet}"
            if title.casefold().endswith(suffix.casefold()) and len(title) > len(suffix):
                return title[: -len(suffix)].rstrip()
    return title


# --------------------------------------------------------------------------
# Teaser blocks ("You may also like...") at the foot of a page


def _drop_furniture(lines: Sequence[str]) -> list[str]:
    """Body lines without in-body story links and page furniture."""
    return [
        line
        for line in lines
        if not line
        or len(line) > 200
        or not (
            _FURNITURE.fullmatch(line)
            or (_INLINE_TEASER.fullmatch(line) and not line.endswith((".", "!", "?")))
        )
    ]


# Related-block lines: a headline is short, a teaser reads like a sentence.
_HEADLINE_MAX_WORDS: Final = 25
_HEADLINE_MAX_CHARS: Final = 200
_TEASER_MIN_WORDS: Final = 15


def _is_trigger(line: str) -> bool:
    return len(line) <= 80 and _TEASER_TRIGGER.fullmatch(line) is not None


def _reads_like_teaser(line: str, words: int, after_blank: bool, headline_words: int) -> bool:
    if line.endswith((".", "…")):
        return True
    return words >= _TEASER_MIN_WORDS or (after_blank and words > headline_words + 3)


def _related_items(lines: Sequence[str]) -> list[RelatedItem]:
    """Headline/teaser pairs from the lines of a teaser block.

    A headline may be followed (possibly after a blank line) by a teaser;
    headline-only lists give items with an empty teaser. Date and reading-time
    lines ("2 days ago", "4 min read") between them are dropped.
    """
    entries: list[tuple[str, int, bool]] = []  # (line, words, came after a blank line)
    blank = False
    for raw_line in lines:
        line = _BULLET.sub("", raw_line)
        if not line:
            blank = True
            continue
        if _is_date_line(line):
            continue
        entries.append((line, word_count(line), blank))
        blank = False

    items: list[RelatedItem] = []
    i = 0
    while i < len(entries):
        line, words, _ = entries[i]
        has_teaser = i + 1 < len(entries) and _reads_like_teaser(*entries[i + 1], words)
        if _is_trigger(line) and not has_teaser:
            i += 1  # a second block header ("Most popular"), not a "More on X" headline
        elif words <= _HEADLINE_MAX_WORDS and len(line) <= _HEADLINE_MAX_CHARS:
            if has_teaser:
                items.append(RelatedItem(title=line, teaser=entries[i + 1][0]))
                i += 2
            else:
                items.append(RelatedItem(title=line))
                i += 1
        else:
            if items and not items[-1].teaser:  # a teaser whose headline had none yet
                items[-1] = RelatedItem(title=items[-1].title, teaser=line)
            i += 1
    return items


# A teaser block without a header is recognised by its shape: a run of short
# headlines each followed by a one-sentence teaser, ending the page.
_SHAPE_HEADLINE_MAX_WORDS: Final = 16
_SHAPE_TEASER_WORDS: Final = (6, 45)
_SHAPE_MIN_ITEMS: Final = 3
# Truncated teasers ("...") are a strong enough signal for a shorter run.
_SHAPE_MIN_TRUNCATED_ITEMS: Final = 2


def _shape_headline(line: str) -> bool:
    words = word_count(line)
    return (
        1 < words <= _SHAPE_HEADLINE_MAX_WORDS
        and len(line) <= _HEADLINE_MAX_CHARS
        and not line.endswith((".", ",", ";", ":"))
        and not _is_date_line(line)
    )


def _shape_teaser(line: str) -> bool:
    """One sentence, or a snippet cut off with "..." (which may hold two)."""
    low, high = _SHAPE_TEASER_WORDS
    if not low <= word_count(line) <= high:
        return False
    if line.endswith(_ELLIPSIS):
        return True
    return line.endswith((".", "!", "?", "\u201d", '"')) and not _INNER_SENTENCE.search(line[:-1])


def _trailing_teasers(lines: Sequence[str]) -> tuple[list[str], list[RelatedItem]]:
    """Cut a header-less teaser block off the end of ``lines``, if there is one."""
    entries = [(i, line) for i, line in enumerate(lines) if line]
    items: list[RelatedItem] = []
    start = len(lines)  # index of the first line of the block
    j = len(entries) - 1
    while j >= 1:
        k = j
        while k >= 0 and _is_date_line(entries[k][1]):  # "3 hours ago" after a teaser
            k -= 1
        if k < 1 or not _shape_teaser(entries[k][1]):
            break
        h = k - 1
        while h >= 0 and _is_date_line(entries[h][1]):  # a date between headline and teaser
            h -= 1
        if h < 0 or not _shape_headline(entries[h][1]):
            break
        items.append(RelatedItem(title=entries[h][1], teaser=entries[k][1]))
        start = entries[h][0]
        j = h - 1
        while j >= 0 and _is_date_line(entries[j][1]):  # a date above the headline
            start = entries[j][0]
            j -= 1
    items.reverse()
    truncated = all(item.teaser.endswith(_ELLIPSIS) for item in items)
    questions = sum(item.title.endswith("?") for item in items)
    enough = len(items) >= _SHAPE_MIN_ITEMS or (
        truncated and len(items) >= _SHAPE_MIN_TRUNCATED_ITEMS
    )
    # A run of question headlines with one-sentence answers is an FAQ, not teasers.
    if not enough or 2 * questions > len(items):
        return list(lines), []
    return list(lines[:start]), items


def _split_teasers(lines: Sequence[str]) -> tuple[list[str], list[RelatedItem]]:
    """Cut the teaser block off ``lines``: ``(body lines, related)``.

    The block starts at the first header line ("You may also like...") or,
    without one, is the trailing run of headline/teaser pairs.
    """
    for index, line in enumerate(lines):
        if line and _is_trigger(line):
            return list(lines[:index]), _related_items(lines[index + 1 :])
    return _trailing_teasers(lines)


# --------------------------------------------------------------------------
# By-lines and date lines under the headline

_MAX_META_LINES: Final = 4
# How far into the body a by-line ("By ...") on a line of its own is looked for.
_BYLINE_SCAN_LINES: Final = 4
_MAX_META_WORDS: Final = 20


def _is_date_line(line: str) -> bool:
    return len(line) <= 80 and (
        _DATE_LINE_RE.fullmatch(line) is not None or _READ_TIME.fullmatch(line) is not None
    )


def _iso_date(line: str) -> str | None:
    """ "6 May 2025", "May 6, 2025" or "06/05/2025" as "2025-05-06"; None if no year."""
    match = _DATE_LINE_RE.fullmatch(line)
    if match is None:
        return None
    groups = match.groupdict()
    for d, m, y in (("d1", "m1", "y1"), ("d2", "m2", "y2"), ("d3", "m3", "y3"), ("d4", "m4", "y4")):
        if groups[y] is None or groups[d] is None:
            continue
        month_text = groups[m].rstrip(".").lower()
        month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text, 0)
        try:
            return datetime(int(groups[y]), month, int(groups[d]), tzinfo=UTC).date().isoformat()
        except ValueError:
            return None
    return None


def _is_name(part: str) -> bool:
    words = part.split()
    return (
        0 < len(words) <= 4
        and all(_NAME_WORD.fullmatch(w) for w in words)
        and not any(_ROLE_WORDS.intersection((w.casefold(), w.casefold()[:-1])) for w in words)
    )


def _byline_names(names: str) -> list[str]:
    """The people in a by-line's names part, stopping at a role or an outlet."""
    names = _PLACE_SUFFIX.sub("", names)
    found: list[str] = []
    for part in _AUTHOR_SPLIT.split(names):
        if not _is_name(part):
            break
        found.append(part)
    return found


def _meta_line(line: str) -> tuple[list[str], str | None] | None:
    """``(authors, date)`` when ``line`` is a by-line and/or date line, else None.

    "By Ana Lima | 6 May 2025", "Published 6 May 2025, 08:00 BST",
    "Ana Lima · 3 hours ago · 4 min read".
    """
    if word_count(line) > _MAX_META_WORDS or line.endswith(("!", "?")):
        return None
    authors: list[str] = []
    date: str | None = None
    plain_names: list[str] = []
    recognised = False
    for segment in _META_SEPARATOR.split(line):
        segment = segment.strip(" ,")
        if not segment:
            continue
        byline = _BYLINE.fullmatch(segment)
        if byline is not None:
            names = _byline_names(byline.group("names"))
            if not names:
                return None
            authors.extend(names)
            # "By Ana Lima, 6 May 2025": the date rides on the by-line.
            tail = byline.group("names").rsplit(",", 1)[-1].strip()
            if _is_date_line(tail):
                date = date or _iso_date(tail)
            recognised = True
        elif _is_date_line(segment):
            date = date or _iso_date(segment)  # relative dates need a clock: dropped
            recognised = True
        elif _is_name(segment):
            plain_names.append(segment)  # a name only counts next to a by-line or date
        else:
            return None
    if not recognised:
        return None
    return authors + plain_names, date


def _split_meta(lines: Sequence[str]) -> tuple[list[str], list[str], str | None]:
    """By-line and date lines at the top of the body: ``(rest, authors, published)``."""
    authors: list[str] = []
    published: str | None = None
    seen = 0
    for index, line in enumerate(lines):
        if not line:
            continue
        meta = _meta_line(line) if seen < _MAX_META_LINES else None
        if meta is None:
            rest = list(lines[index:])
            break
        authors.extend(meta[0])
        published = published or meta[1]
        seen += 1
    else:
        return [], authors, published
    # Some pages put the by-line under the first paragraph (the standfirst).
    for index, line in enumerate(rest[:_BYLINE_SCAN_LINES]):
        meta = _meta_line(line) if _BYLINE.match(line) else None
        if meta is not None and meta[0]:
            authors.extend(meta[0])
            published = published or meta[1]
            del rest[index]
            break
    return rest, authors, published


# --------------------------------------------------------------------------
# text payloads


def _parse_text(text: str, url: str | None) -> ParsedArticle:
    lines = clean_text(text).split("\n")
    start = next((i for i, line in enumerate(lines) if line), None)
    if start is None:
        raise NotAnArticle("no article body: the page is empty [empty]")
    first = lines[start]
    if len(first) > MAX_TITLE_LINE_CHARS:
        # No headline line: the page starts with the text itself.
        title, outlet, rest = "", None, lines[start:]
    else:
        (title, outlet), rest = split_title(first), lines[start + 1 :]
    rest, authors, published = _split_meta(rest)
    body, related = _split_teasers(rest)
    return _finish(
        title=title,
        outlet=outlet,
        paragraphs=reflow(_drop_furniture(body)),
        related=related,
        url=url,
        authors=_unique(authors),
        published=published,
    )
