"""Parse a raw payload into a :class:`ParsedArticle`.

Pure module: stdlib, lxml, trafilatura and the offline language model only;
no I/O at call time, no logging, no network (trafilatura is only ever given
the page itself, never a URL to fetch).

Three payload shapes, chosen by ``raw.kind``:

* ``text``: a scraped plain-text page. The first non-empty line is the title,
  usually with the outlet after a final " - " (or " | ", an en or em dash)
  when what follows looks like an outlet name. By-line and date lines under
  it give ``authors`` and ``published``. Every following line is a paragraph
  (hard wraps and line-end hyphenation are undone) until the teaser block:
  a header line ("You may also like...", "Related", "Most popular", ...) or,
  without one, a trailing run of headline + one-sentence teaser pairs
  recognised by its shape. Teasers become ``related``.
* ``html``: a whole page, parsed without network or entity expansion and
  bounded in size and element count; related, newsletter, share and comment
  blocks are pruned, then trafilatura (tuned for precision) finds the main
  text and the metadata, and the text goes through the same teaser and
  furniture filters as a text page.
* ``json``: a record whose common field names (title/headline, body/content,
  url/link, ...) are mapped; the fields it does not know go to ``metadata``.

Every result passes the "is this an article?" gate (:mod:`gate`), whose
confidence is stored as ``metadata["extraction_confidence"]``; the language
is the declared one, else detected (:mod:`language`). Anything that cannot be
parsed raises :class:`ParseError`; a page that is not an article (empty, an
index page, a cookie wall, an error page, teasers only, under
``MIN_BODY_WORDS`` words) raises :class:`NotAnArticle`, its message ending
with the verdict in brackets ("... [cookie_wall]").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import lxml.etree  # type: ignore[import-untyped]  # no stubs installed
import lxml.html  # type: ignore[import-untyped]
import trafilatura
from pydantic import JsonValue, ValidationError
from trafilatura.settings import set_date_params

from worker.pipeline.errors import NotAnArticle, ParseError
from worker.pipeline.gate import MIN_BODY_WORDS, assess
from worker.pipeline.language import detect_language
from worker.pipeline.models import ParsedArticle, PayloadKind, RawArticle, RelatedItem
from worker.pipeline.text import (
    clean_line,
    clean_text,
    normalize_for_hash,
    reflow,
    sanitize,
    word_count,
)

__all__ = [
    "MAX_HTML_BYTES",
    "MAX_HTML_ELEMENTS",
    "MIN_BODY_WORDS",
    "parse",
    "split_title",
]

MAX_HTML_BYTES: Final = 5 * 1024 * 1024
# A real article page has a few thousand elements (heavy ones ten thousand);
# far more is hostile or junk, and trafilatura's time grows with the count
# (about 0.2 ms an element at worst): this bounds a page to a few seconds.
MAX_HTML_ELEMENTS: Final = 25_000
# A first line longer than this is a paragraph, not a headline.
MAX_TITLE_LINE_CHARS: Final = 300
# Length of a title derived from the body when the payload has none.
DERIVED_TITLE_CHARS: Final = 120

# --------------------------------------------------------------------------
# Title and outlet

_TITLE_SEPARATORS: Final = (" - ", " | ", " \u2013 ", " \u2014 ")
_OUTLET_MAX_CHARS: Final = 40
_OUTLET_MAX_WORDS: Final = 5
# Lower-case words allowed inside an outlet name ("Mail & Guardian", "Le Monde").
_CONNECTORS: Final = frozenset(
    {"&", "+", "of", "the", "and", "for", "on", "in", "at", "a", "an"}
    | {"de", "la", "le", "les", "el", "los", "las", "der", "die", "das", "du", "des", "di"}
    | {"da", "del", "y", "et"}
)
# Title suffixes that look like an outlet (short, capitalised) but are not one.
_NOT_OUTLETS: Final = frozenset(
    {
        "analysis",
        "as it happened",
        "breaking",
        "breaking news",
        "explained",
        "exclusive",
        "faq",
        "full text",
        "highlights",
        "in pictures",
        "interview",
        "latest",
        "latest news",
        "latest updates",
        "live",
        "live blog",
        "live updates",
        "opinion",
        "photos",
        "pictures",
        "podcast",
        "q&a",
        "recap",
        "report",
        "review",
        "timeline",
        "transcript",
        "update",
        "updates",
        "video",
        "videos",
        "watch",
        "what we know",
    }
)
_NUMBERED_PART: Final = re.compile(
    r"(?:part|episode|day|round|game|week|chapter|vol\.?|volume)\s+\d+", re.IGNORECASE
)
_OUTLET_BAD_END: Final = frozenset("?.\"'\u201c\u201d\u2018\u2019\u2026:;,")
_OUTLET_BAD_CHARS: Final = frozenset('?"\u201c\u201d')
_DOMAIN: Final = re.compile(r"[\w-]+(?:\.[\w-]+)+")


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

_TEASER_TRIGGER: Final = re.compile(
    r"(?:you (?:may|might) (?:also )?(?:like|enjoy|be interested in)"
    r"|related(?: (?:stories|articles|news|content|posts|reading|coverage|links|topics))?"
    r"|read (?:more|next|also)|also read|see also|further reading|what to read next"
    r"|more (?:from|on|in) [^.,;:!?\"]{1,40}?|more (?:stories|news|articles|to read)"
    r"|most (?:popular|read|viewed|shared)|popular (?:now|stories)"
    r"|recommended(?: (?:for you|stories|reading|articles))?"
    r"|trending(?: (?:now|stories|news|articles))?|don'?t miss"
    # The same headers on French, German, Spanish, Portuguese and Italian pages.
    r"|(?:\u00e0 )?lire aussi|sur le m\u00eame sujet|voir aussi|mehr zum thema|lesen sie auch"
    r"|das k\u00f6nnte sie auch interessieren|auch interessant|lee tambi\u00e9n|leia tamb\u00e9m"
    r"|te puede interesar|leggi anche)"
    # Trailing decoration: "...", ":", "»"; a lone "." would make it a sentence.
    r"[\s:!>\u00bb\u2026\-\u2013\u2014]*+(?:\.{2,}+[\s:!>\u00bb\u2026\-\u2013\u2014]*+)?",
    re.IGNORECASE,
)
# An in-body link to another story: "Read more: Headline", "RELATED | Headline".
_INLINE_TEASER: Final = re.compile(
    r"(?:read (?:more|also|next)|related(?: stories| articles)?|see also|also read|more on this"
    r"|(?:\u00e0 )?lire aussi|mehr zum thema|lesen sie auch)"
    r"\s*[:|\u00bb>\u2013\u2014-]\s*\S.{0,150}",
    re.IGNORECASE,
)
# Page furniture that survives extraction as a line of its own.
_FURNITURE: Final = re.compile(
    r"(?:advertisement|advert|sponsored|(?:story |article )?continues? (?:reading )?below"
    r"|continue reading(?: below)?|share (?:this )?(?:article|story|page)"
    r"|print this (?:page|article)"
    r"|email (?:this )?to a friend|leave a (?:reply|comment)|share"
    r"|sign up(?: (?:for|to) [\w ]{1,40})?|subscribe(?: now)?|listen to (?:this )?article"
    r"|skip (?:to content|advert)"
    r"|(?:print this page|email to a friend)(?: \| (?:print this page|email to a friend))*"
    # Captions and credits scraped along with the text: "Image caption, ...".
    r"|(?:image|photo|picture|video) (?:caption|source|credit)s?\s*[,:].{0,200}"
    r"|(?:photo|image|picture)s?\s*:.{0,80})"
    r"[\s.:!\u2026]*",
    re.IGNORECASE,
)


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


_BULLET: Final = re.compile(r"^(?:[-*•·▪►»]|\d{1,2}[.)])\s+")
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
_ELLIPSIS: Final = ("...", "\u2026")
# A second sentence inside a line: ". " followed by a capital.
_INNER_SENTENCE: Final = re.compile(r"[.!?][\"\u201d\u2019]?\s+[A-Z\u00c0-\u00de]")


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

_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH: Final = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ZONE: Final = r"(?:utc|gmt|bst|cet|cest|est|edt|cst|pst|pdt|et|pt|ist|aest|sast|wat|eat)"
_CLOCK: Final = (
    rf"(?:\d{{1,2}}[:.]\d{{2}}(?:\s*[ap]\.?m\.?)?|\d{{1,2}}\s*[ap]\.?m\.?)"
    rf"(?:\s*{_ZONE}(?:\s*[+-]\s*\d{{1,2}})?)?"
)
_WEEKDAY: Final = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?"
_DATE_CORE: Final = (
    rf"(?:{_WEEKDAY}\s+)?(?:"
    rf"(?P<d1>\d{{1,2}})(?:st|nd|rd|th|\.)?\s+(?P<m1>{_MONTH}),?(?:\s+(?P<y1>\d{{4}}))?"
    rf"|(?P<m2>{_MONTH})\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y2>\d{{4}}))?"
    rf"|(?P<y3>\d{{4}})-(?P<m3>\d{{2}})-(?P<d3>\d{{2}})(?:[t ]\d{{2}}:\d{{2}}(?::\d{{2}})?\S*)?"
    rf"|(?P<d4>\d{{1,2}})[/.](?P<m4>\d{{1,2}})[/.](?P<y4>\d{{4}})"
    r"|yesterday|today|just now"
    r"|(?:\d{1,3}|an?|one)\s+(?:second|sec|minute|min|hour|hr|day|week|month|year)s?\s+ago)"
)
_DATE_LINE_RE: Final = re.compile(
    r"(?:(?:first |last )?(?:published|updated|posted|modified|last modified)"
    r"(?:\s+(?:on|at))?\s*:?\s*)?"
    rf"(?:{_CLOCK},?\s+(?:on\s+)?)?{_DATE_CORE}(?:,?\s+(?:at\s+)?{_CLOCK})?",
    re.IGNORECASE,
)
_READ_TIME: Final = re.compile(r"\d{1,3}\s*-?\s*min(?:ute)?s?\.?\s+read", re.IGNORECASE)
_META_SEPARATOR: Final = re.compile(r"\s+[|\u00b7\u2022/]\s+|\s+[-\u2013\u2014]\s+|\s*;\s+")
_BYLINE: Final = re.compile(
    r"(?:by|written by|words by|reporting by|report by|par|von|por|di|door)\s+(?P<names>.+)",
    re.IGNORECASE,
)
_ROLE_WORDS: Final = frozenset(
    re.split(
        " ",
        "correspondent editor reporter writer staff contributor columnist producer analyst desk"
        " bureau team agency agencies newsroom"
        # "By Tuesday" starts a sentence, not a by-line.
        " monday tuesday wednesday thursday friday saturday sunday",
    )
)
_NAME_WORD: Final = re.compile(
    r"[A-Z\u00c0-\u00de][\w'\u2019.-]*|(?:van|von|de|da|del|la|le|al|bin)"
)
_PLACE_SUFFIX: Final = re.compile(r"\s+in\s+[A-Z][\w ,.'-]*$")
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
# Shared finishing: title fallback, body checks, model construction


def _derive_title(paragraph: str) -> str:
    if len(paragraph) <= DERIVED_TITLE_CHARS:
        return paragraph
    cut = paragraph[: DERIVED_TITLE_CHARS - 1]
    space = cut.rfind(" ")
    if space > DERIVED_TITLE_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-\u2013\u2014") + "\u2026"


def _finish(
    *,
    title: str,
    paragraphs: Iterable[str],
    outlet: str | None = None,
    related: Sequence[RelatedItem] = (),
    url: str | None = None,
    authors: Sequence[str] = (),
    published: str | None = None,
    language: str | None = None,
    metadata: dict[str, JsonValue] | None = None,
    headline_links: int = 0,
) -> ParsedArticle:
    # Callers pass cleaned lines: cleaning twice would double the cost.
    body = [p for p in paragraphs if p]
    # Pages often repeat the headline as the first line of the text.
    if body and title and normalize_for_hash(body[0]) == normalize_for_hash(title):
        body = body[1:]
    verdict = assess(title, body, len(related), headline_links=headline_links)
    if verdict.verdict is not None:
        raise NotAnArticle(f"{verdict.message} [{verdict.verdict}]")
    metadata = dict(metadata or {})
    metadata["extraction_confidence"] = verdict.confidence
    try:
        return ParsedArticle(
            title=title or _derive_title(body[0]),
            outlet=outlet or None,
            paragraphs=tuple(body),
            related=tuple(related),
            url=(clean_line(url) or None) if url else None,
            authors=tuple(authors),
            published=published or None,
            language=language or detect_language("\n".join(body)),
            metadata=metadata,
            word_count=verdict.words,
        )
    except (ValidationError, RecursionError) as exc:  # e.g. absurdly nested metadata
        raise ParseError(f"the parsed article is invalid: {exc}") from None


# --------------------------------------------------------------------------
# Shared field normalisers

_BYLINE_PREFIX: Final = re.compile(r"^(?:by|written by|from)\s+", re.IGNORECASE)
_AUTHOR_SPLIT: Final = re.compile(r"\s*(?:;|,|\band\b|&)\s*", re.IGNORECASE)
_LANGUAGE: Final = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")


def _split_authors(value: str) -> list[str]:
    value = _BYLINE_PREFIX.sub("", clean_line(value))
    return [a for a in (_BYLINE_PREFIX.sub("", p) for p in _AUTHOR_SPLIT.split(value)) if a]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _language(value: str | None) -> str | None:
    """Primary language subtag, lower-case ("en-GB" -> "en"); None if not a tag."""
    match = _LANGUAGE.fullmatch(value.strip()) if value else None
    return match.group(1).lower() if match else None


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


# --------------------------------------------------------------------------
# html payloads


def _html_language(tree: lxml.html.HtmlElement) -> str | None:
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if lang:
        return _language(lang)
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "").lower()
        if key in ("content-language", "og:locale", "language", "dc.language"):
            return _language(meta.get("content"))
    return None


def _html_title(tree: lxml.html.HtmlElement) -> str:
    element = tree.find(".//title")
    return clean_line(element.text_content()) if element is not None else ""


def _load_html(html: str) -> lxml.html.HtmlElement:
    # trafilatura refuses (and logs an error for) bare fragments such as
    # "<p>...</p>": it wants "html" near the start, so wrap those up front.
    wrapped = f"<html><body>{html}</body></html>"
    tree = trafilatura.load_html(html if "html" in html[:50].lower() else wrapped)
    if tree is None:
        tree = trafilatura.load_html(wrapped)
    if tree is None:
        raise ParseError("the page is not parseable HTML")
    if not isinstance(tree, lxml.html.HtmlElement):
        raise ParseError("the page is not parseable HTML")
    return tree


def _html_metadata(document: Any) -> dict[str, JsonValue]:
    """The page's own summary and labels, when it declares them."""
    metadata: dict[str, JsonValue] = {}
    description = clean_line(document.description or "")
    if description:
        metadata["description"] = description
    for name in ("categories", "tags"):
        values = [clean_line(v) for v in getattr(document, name, None) or () if isinstance(v, str)]
        if any(values):
            metadata[name] = [v for v in values if v]
    return metadata


# Blocks that are never the article: related links, recommendation widgets,
# newsletter boxes, share bars, comments and reply forms. trafilatura knows
# many of these; the names below are the ones that slipped through on the
# fixture pages and their common variants.
_JUNK_BLOCK_NAMES: Final = (
    "related",
    "relatedposts",
    "recommend",
    "outbrain",
    "taboola",
    "newsletter",
    "signup",
    "sign-up",
    "subscribe",
    "share",
    "social",
    "comment",
    "respond",
    "reply",
    "most-popular",
    "mostpopular",
    "most-read",
    "trending",
    "more-from",
    "lire-aussi",
    "read-more",
    "readmore",
    "ad-slot",
    "advert",
    "paywall",
    "topics",
)
_JUNK_BLOCK: Final = re.compile("|".join(map(re.escape, _JUNK_BLOCK_NAMES)))
# The junk blocks whose links are stories of the same outlet: kept as ``related``.
_RELATED_BLOCK: Final = re.compile(
    r"related|recommend|outbrain|taboola|popular|most|trending|more|read|lire"
)
_PRUNABLE_TAGS: Final = frozenset({"div", "section", "aside", "ul", "ol", "p", "span", "form"})
# Longer attribute values are cut: a megabyte-long class is hostile, and no
# class, id or link needs more (a data: URI image is never article text).
_ATTRIBUTE_CHARS: Final = 2_000
# trafilatura's fallback extractors (readability, jusText) are quadratic in the
# number of text blocks; past this many, the main extractor works alone.
_FALLBACK_MAX_BLOCKS: Final = 1_500
_TEXT_BLOCK_TAGS: Final = frozenset({"p", "div", "td", "li", "pre", "blockquote", "tr", "dd"})


def _prune_junk_blocks(tree: lxml.html.HtmlElement) -> tuple[int, list[RelatedItem]]:
    """Drop the never-the-article blocks in place, in one pass.

    Returns the number of text blocks (for the fallback decision) and the
    headline links found in the related-story blocks among them.
    """
    junk: list[lxml.html.HtmlElement] = []
    blocks = 0
    for element in tree.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _TEXT_BLOCK_TAGS:
            blocks += 1
        attributes = element.attrib
        for key, value in attributes.items():
            if len(value) > _ATTRIBUTE_CHARS:  # trafilatura runs regexes over them
                attributes[key] = value[:_ATTRIBUTE_CHARS]
        if tag not in _PRUNABLE_TAGS:
            continue
        names = f"{element.get('class', '')} {element.get('id', '')}".lower().replace("_", "-")
        if _JUNK_BLOCK.search(names):
            junk.append(element)
    related: list[RelatedItem] = []
    gone: set[lxml.html.HtmlElement] = set()
    for element in junk:
        if any(a in gone for a in element.iterancestors()):
            continue  # inside a block already dropped
        gone.add(element)
        names = f"{element.get('class', '')} {element.get('id', '')}".lower()
        if _RELATED_BLOCK.search(names):
            for link in element.iter("a"):
                headline = clean_line(link.text_content())
                if word_count(headline) >= _CARDS_MIN and len(headline) <= _HEADLINE_MAX_CHARS:
                    related.append(RelatedItem(title=headline))
        if element.getparent() is not None:
            element.drop_tree()
    return blocks, related


# A link whose text is at least this many words reads like a headline.
_HEADLINE_LINK_WORDS: Final = 4


# Teaser cards: a container of at least this many children, most of them a
# headline link with at most a sentence of teaser, is a block of teasers,
# whatever its class names say (the HTML form of the text pages' shape rule).
_CARDS_MIN: Final = 3
_CARDS_SHARE: Final = 0.6
_CARD_MAX_WORDS: Final = 70
_CARDS_MAX_CHILDREN: Final = 200
_CARD_CONTAINERS: Final = frozenset({"div", "section", "ul", "ol", "aside", "footer", "nav"})
_HEADINGS: Final = frozenset({"h2", "h3", "h4", "h5", "h6"})


def _card(element: lxml.html.HtmlElement) -> RelatedItem | None:
    """The teaser in one card: a headline link plus at most a short teaser."""
    link = element if element.tag == "a" else element.find(".//a")
    if link is None:
        return None
    headline = clean_line(link.text_content())
    headline_words = word_count(headline)
    if headline_words < _CARDS_MIN or len(headline) > _HEADLINE_MAX_CHARS:
        return None
    text = clean_line(element.text_content())
    words = word_count(text)
    if words > _CARD_MAX_WORDS:
        return None
    has_heading = any(isinstance(e.tag, str) and e.tag in _HEADINGS for e in element.iter())
    # A body paragraph may hold a link; in a card the link is the point.
    if not has_heading and 2 * headline_words < words:
        return None
    teaser = text.replace(headline, "", 1).strip(" \u00b7|-") if headline in text else ""
    return RelatedItem(title=headline, teaser=teaser)


def _unique_related(items: Iterable[RelatedItem]) -> list[RelatedItem]:
    """One item per headline (a page lists the same story in several blocks);
    the first listing with a teaser wins."""
    chosen: dict[str, RelatedItem] = {}
    for item in items:
        key = normalize_for_hash(item.title)
        if key not in chosen or (item.teaser and not chosen[key].teaser):
            chosen[key] = item
    return list(chosen.values())


def _take_teaser_cards(tree: lxml.html.HtmlElement) -> list[RelatedItem]:
    """Remove the blocks of teaser cards from ``tree``; return their teasers."""
    found: list[tuple[lxml.html.HtmlElement, list[RelatedItem]]] = []
    for container in tree.iter(*_CARD_CONTAINERS):
        children = [c for c in container if isinstance(c.tag, str)]
        if not _CARDS_MIN <= len(children) <= _CARDS_MAX_CHILDREN:
            continue
        allowed_misses = len(children) - max(_CARDS_MIN, _CARDS_SHARE * len(children))
        items: list[RelatedItem] = []
        misses = 0
        for child in children:
            item = _card(child) if child.tag not in _HEADINGS else None
            if item is None:
                misses += 1
                if misses > allowed_misses:
                    break
            else:
                items.append(item)
        else:
            found.append((container, items))
    related: list[RelatedItem] = []
    dropped: set[lxml.html.HtmlElement] = set()
    for container, items in found:
        if any(a in dropped for a in container.iterancestors()):
            continue  # inside a block already taken
        dropped.add(container)
        related.extend(items)
        if container.getparent() is not None:
            container.drop_tree()
    return related


def _headline_links(tree: lxml.html.HtmlElement) -> int:
    """Links that read like headlines: an index page is mostly these."""
    count = 0
    for link in tree.iterfind(".//a"):
        text = link.text_content()
        if len(text) < 300 and word_count(text) >= _HEADLINE_LINK_WORDS:
            count += 1
    return count


def _parse_html(html: str, url: str | None) -> ParsedArticle:
    # len() counts characters, so the encode is only needed when it could matter.
    if len(html) > MAX_HTML_BYTES or (
        len(html) * 4 > MAX_HTML_BYTES and len(html.encode()) > MAX_HTML_BYTES
    ):
        raise ParseError(f"the HTML page is over the {MAX_HTML_BYTES // (1024 * 1024)} MB limit")
    try:
        tree = _load_html(sanitize(html))
        if sum(1 for _ in tree.iter()) > MAX_HTML_ELEMENTS:
            raise ParseError(f"the HTML page has over {MAX_HTML_ELEMENTS} elements")
        language = _html_language(tree)
        page_title = _html_title(tree)
        headline_links = _headline_links(tree)
        blocks, linked = _prune_junk_blocks(tree)
        cards = _take_teaser_cards(tree)
        document = trafilatura.bare_extraction(
            tree,
            fast=blocks > _FALLBACK_MAX_BLOCKS,
            with_metadata=True,
            # Dates from meta tags, JSON-LD, <time> and the URL; htmldate's
            # extensive search scans the whole text with regexes (a third of
            # the HTML path) and mostly finds dates the story mentions.
            date_extraction_params=set_date_params(extensive=False),
            favor_precision=True,
            include_comments=False,
            include_images=False,
            include_links=False,
            include_tables=True,
            deduplicate=False,
        )
    except ParseError:
        raise
    except Exception as exc:  # lxml/trafilatura fail in many ways on hostile input
        raise ParseError(f"the HTML page could not be parsed: {type(exc).__name__}") from None
    text = "" if document is None or isinstance(document, dict) else document.text or ""

    # <title> usually reads "Headline | Outlet"; trafilatura's title and
    # sitename (from og:/schema.org metadata or <h1>) take precedence.
    page_headline, page_outlet = split_title(page_title) if page_title else ("", None)
    outlet = clean_line(getattr(document, "sitename", None) or "") or None
    if page_outlet and (outlet is None or _DOMAIN.fullmatch(outlet)):
        outlet = page_outlet  # trafilatura falls back to the host name: a name is better
    title = clean_line(getattr(document, "title", None) or "") or page_headline
    title = _strip_outlet_suffix(title, outlet)
    if outlet is None and title:
        title, outlet = split_title(title)

    lines = [clean_line(line) for line in text.split("\n")]
    # A headline repeated in the text comes before the by-line and date lines.
    if lines and title and normalize_for_hash(lines[0]) == normalize_for_hash(title):
        lines = lines[1:]
    lines, meta_authors, meta_date = _split_meta(lines)
    body, related = _split_teasers(_drop_furniture(lines))
    related = _unique_related([*cards, *related, *linked])
    authors = _split_authors(getattr(document, "author", None) or "") or meta_authors
    return _finish(
        title=title,
        outlet=outlet,
        paragraphs=body,
        related=related,
        url=url or getattr(document, "url", None),
        authors=_unique(authors),
        published=getattr(document, "date", None) or meta_date,
        language=language or _language(getattr(document, "language", None)),
        metadata=_html_metadata(document) if document is not None else {},
        headline_links=headline_links,
    )


# --------------------------------------------------------------------------
# json payloads

# Field aliases in priority order, compared after _field_key().
_TITLE_KEYS: Final = ("title", "headline", "name")
_BODY_KEYS: Final = ("body", "text", "content", "article", "articlebody", "description")
_URL_KEYS: Final = ("url", "link", "canonicalurl", "canonical", "permalink")
_DATE_KEYS: Final = (
    "published",
    "date",
    "publishedat",
    "datepublished",
    "pubdate",
    "publicationdate",
    "publishedtime",
)
_OUTLET_KEYS: Final = ("source", "site", "outlet", "publisher", "sitename", "publication")
_AUTHOR_KEYS: Final = ("author", "authors", "byline", "creator")
_LANGUAGE_KEYS: Final = ("language", "lang", "inlanguage", "locale")

_KEY_NOISE: Final = re.compile(r"[\W_]+")
_HTML_MARKUP: Final = re.compile(
    r"</?(?:p|br|div|span|a|b|i|u|s|em|strong|h[1-6]|ul|ol|li|blockquote|q|cite|figure"
    r"|figcaption|img|picture|section|article|header|footer|aside|nav|table|thead|tbody"
    r"|tr|td|th|pre|code|small|sup|sub|hr|font|mark|abbr|time|script|style|iframe|html"
    r"|body|main)\b[^<>]{0,2000}>",
    re.IGNORECASE,
)
_BLOCK_TAGS: Final = frozenset(
    {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "figcaption"}
    | {"section", "article", "header", "footer", "aside", "main", "ul", "ol", "table", "tr"}
    | {"td", "th", "dd", "dt", "hr"}
)
_JUNK_TAGS: Final = ("script", "style", "noscript", "template", "iframe", "object", "svg")
# Epoch timestamps above this are in milliseconds.
_EPOCH_MS_THRESHOLD: Final = 100_000_000_000


def _field_key(key: str) -> str:
    """Normalised key: datePublished, date_published and Date-Published are equal."""
    return _KEY_NOISE.sub("", key).casefold()


def _type_name(value: JsonValue) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


class _Record:
    """Field lookup by alias over a JSON record; remembers which keys it used."""

    def __init__(self, record: dict[str, JsonValue]) -> None:
        self.record = record
        self.used: set[str] = set()
        self._by_alias: dict[str, list[str]] = {}
        for key in record:
            self._by_alias.setdefault(_field_key(key), []).append(key)

    def pick(self, aliases: Sequence[str]) -> tuple[str, JsonValue] | None:
        """First present, non-null, non-blank field among ``aliases``."""
        for alias in aliases:
            for key in self._by_alias.get(alias, ()):
                value = self.record[key]
                if value is None or (isinstance(value, str) and not value.strip()):
                    continue
                self.used.add(key)
                return key, value
        return None

    def metadata(self) -> dict[str, JsonValue]:
        return {k: v for k, v in self.record.items() if k not in self.used}


def _wrong_type(key: str, value: JsonValue, expected: str) -> ParseError:
    return ParseError(f"field {key!r} must be {expected}, not {_type_name(value)}")


def _string_field(record: _Record, aliases: Sequence[str]) -> str | None:
    found = record.pick(aliases)
    if found is None:
        return None
    key, value = found
    if not isinstance(value, str):
        raise _wrong_type(key, value, "a string")
    return clean_line(value) or None


def _html_fragment_lines(fragment: str, key: str) -> list[str]:
    """Text lines of an HTML fragment: one per block element or <br>."""
    try:
        root = lxml.html.fragment_fromstring(sanitize(fragment), create_parent="div")
        lxml.etree.strip_elements(
            root, *_JUNK_TAGS, lxml.etree.Comment, lxml.etree.ProcessingInstruction, with_tail=False
        )
        for element in root.iter():
            tag = element.tag.lower() if isinstance(element.tag, str) else ""
            if tag in _BLOCK_TAGS:
                element.text = "\n" + (element.text or "")
                element.tail = "\n" + (element.tail or "")
            elif tag == "br":
                element.tail = "\n" + (element.tail or "")
        text: str = root.text_content()
    except Exception as exc:  # lxml raises a variety of errors on broken markup
        raise ParseError(f"field {key!r} holds HTML that could not be parsed") from exc
    return text.split("\n")


def _text_lines(value: str, key: str) -> list[str]:
    """Cleaned lines of a text field; HTML markup in it is reduced to text."""
    if _HTML_MARKUP.search(value):
        return [clean_line(line) for line in _html_fragment_lines(value, key)]
    return clean_text(value).split("\n")


def _json_body(record: _Record) -> list[str]:
    found = record.pick(_BODY_KEYS)
    if found is None:
        return []
    key, value = found
    if isinstance(value, str):
        return _text_lines(value, key)
    if isinstance(value, list):
        lines: list[str] = []
        for index, item in enumerate(value):
            if item is None:
                continue
            if not isinstance(item, str):
                raise ParseError(
                    f"field {key!r} must be a string or a list of strings,"
                    f" but item {index} is {_type_name(item)}"
                )
            lines.extend(_text_lines(item, key))
        return lines
    raise _wrong_type(key, value, "a string or a list of strings")


def _json_published(record: _Record) -> str | None:
    found = record.pick(_DATE_KEYS)
    if found is None:
        return None
    key, value = found
    if isinstance(value, str):
        return clean_line(value) or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # An epoch timestamp, in seconds or milliseconds.
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            raise ParseError(f"field {key!r} is not a valid timestamp: {value!r}") from None
    raise _wrong_type(key, value, "a date string or an epoch timestamp")


def _named(key: str, value: JsonValue, expected: str) -> str:
    """A string, or the "name" of an object such as {"name": "Reuters"}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = value.get("name")
        if isinstance(name, str):
            return name
    raise _wrong_type(key, value, expected)


def _json_outlet(record: _Record) -> str | None:
    found = record.pick(_OUTLET_KEYS)
    if found is None:
        return None
    key, value = found
    return clean_line(_named(key, value, 'a string or an object with a string "name"')) or None


def _json_authors(record: _Record) -> tuple[str, ...]:
    found = record.pick(_AUTHOR_KEYS)
    if found is None:
        return ()
    key, value = found
    expected = 'a string, an object with a "name", or a list of those'
    values = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in values:
        if item is not None:
            names.extend(_split_authors(_named(key, item, expected)))
    return _unique(names)


def _parse_json(record: dict[str, JsonValue], url: str | None) -> ParsedArticle:
    fields = _Record(record)
    title = _string_field(fields, _TITLE_KEYS)
    body = _json_body(fields)
    outlet = _json_outlet(fields)
    found_url = _string_field(fields, _URL_KEYS)
    published = _json_published(fields)
    authors = _json_authors(fields)
    language = _language(_string_field(fields, _LANGUAGE_KEYS))
    body_lines, related = _split_teasers(body)
    return _finish(
        title=_strip_outlet_suffix(title or "", outlet),
        outlet=outlet,
        paragraphs=body_lines,
        related=related,
        url=url or found_url,
        authors=authors,
        published=published,
        language=language,
        metadata=fields.metadata(),
    )


# --------------------------------------------------------------------------


def parse(raw: RawArticle) -> ParsedArticle:
    """Extract the article in ``raw``.

    Raises :class:`NotAnArticle` when the payload parses but the gate says it
    is not an article (the verdict ends the message: "[index_page]") and
    :class:`ParseError` for anything that cannot be parsed (wrong field
    types, broken, oversized or over-complex HTML).
    """
    if raw.kind is PayloadKind.JSON:
        if raw.record is None:
            raise ParseError("a json payload without a record")
        return _parse_json(raw.record, raw.url)
    if raw.text is None:
        raise ParseError(f"a {raw.kind.value} payload without text")
    if raw.kind is PayloadKind.HTML:
        return _parse_html(raw.text, raw.url)
    return _parse_text(raw.text, raw.url)
