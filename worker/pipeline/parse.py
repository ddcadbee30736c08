"""Parse a raw payload into a :class:`ParsedArticle`.

Pure module: stdlib, lxml and trafilatura only; no I/O, no logging, no
network (trafilatura is only ever given the page itself, never a URL to fetch).

Three payload shapes, chosen by ``raw.kind``:

* ``text``: a scraped plain-text page. The first non-empty line is the title,
  usually with the outlet after a final " - " (or " | ", an en or em dash); every
  following non-empty line is a paragraph, until a teaser block ("You may also
  like...", "Related stories", "Read more", ...) whose headline/teaser pairs
  become ``related``.
* ``html``: a whole page; trafilatura finds the main text and the metadata.
* ``json``: a record whose common field names (title/headline, body/content,
  url/link, ...) are mapped; the fields it does not know go to ``metadata``.

Anything that cannot be parsed raises :class:`ParseError`; something parsed
that is not an article (no body, a handful of words) raises
:class:`NotAnArticle`.
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

from worker.pipeline.errors import NotAnArticle, ParseError
from worker.pipeline.models import ParsedArticle, PayloadKind, RawArticle, RelatedItem
from worker.pipeline.text import clean_line, clean_text, normalize_for_hash, sanitize, word_count

__all__ = [
    "MAX_HTML_BYTES",
    "MAX_HTML_ELEMENTS",
    "MIN_BODY_WORDS",
    "parse",
    "split_title",
]

MAX_HTML_BYTES: Final = 5 * 1024 * 1024
# A real article page has a few thousand elements; far more is hostile or junk
# and would make extraction slow.
MAX_HTML_ELEMENTS: Final = 200_000
# Below this the payload is a stub, a teaser or an error page, not an article.
MIN_BODY_WORDS: Final = 20
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
    r"|trending(?: (?:now|stories|news|articles))?|don'?t miss)"
    # Trailing decoration: "...", ":", "»"; a lone "." would make it a sentence.
    r"[\s:!>\u00bb\u2026\-\u2013\u2014]*+(?:\.{2,}+[\s:!>\u00bb\u2026\-\u2013\u2014]*+)?",
    re.IGNORECASE,
)
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
    headline-only lists give items with an empty teaser.
    """
    entries: list[tuple[str, int, bool]] = []  # (line, words, came after a blank line)
    blank = False
    for raw_line in lines:
        line = _BULLET.sub("", raw_line)
        if not line:
            blank = True
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


def _split_teasers(lines: Sequence[str]) -> tuple[list[str], list[RelatedItem]]:
    """Cut ``lines`` at the first teaser-block header: ``(body lines, related)``."""
    for index, line in enumerate(lines):
        if line and _is_trigger(line):
            return list(lines[:index]), _related_items(lines[index + 1 :])
    return list(lines), []


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
) -> ParsedArticle:
    # Callers pass cleaned lines: cleaning twice would double the cost.
    body = [p for p in paragraphs if p]
    # Pages often repeat the headline as the first line of the text.
    if body and title and normalize_for_hash(body[0]) == normalize_for_hash(title):
        body = body[1:]
    if not body:
        raise NotAnArticle("no article body")
    words = sum(word_count(p) for p in body)
    if words < MIN_BODY_WORDS:
        raise NotAnArticle(
            f"article body too short: {words} word{'' if words == 1 else 's'}"
            f" (an article has at least {MIN_BODY_WORDS})"
        )
    try:
        return ParsedArticle(
            title=title or _derive_title(body[0]),
            outlet=outlet or None,
            paragraphs=tuple(body),
            related=tuple(related),
            url=(clean_line(url) or None) if url else None,
            authors=tuple(authors),
            published=published or None,
            language=language,
            metadata=metadata or {},
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
        raise NotAnArticle("the page is empty")
    first = lines[start]
    if len(first) > MAX_TITLE_LINE_CHARS:
        # No headline line: the page starts with the text itself.
        title, outlet, rest = "", None, lines[start:]
    else:
        (title, outlet), rest = split_title(first), lines[start + 1 :]
    body, related = _split_teasers(rest)
    return _finish(title=title, outlet=outlet, paragraphs=body, related=related, url=url)


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
        document = trafilatura.bare_extraction(
            tree,
            with_metadata=True,
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
    if document is None or isinstance(document, dict) or not document.text:
        raise NotAnArticle("no article body")

    # <title> usually reads "Headline | Outlet"; trafilatura's title and
    # sitename (from og:/schema.org metadata or <h1>) take precedence.
    page_headline, page_outlet = split_title(page_title) if page_title else ("", None)
    outlet = clean_line(document.sitename or "") or None
    if page_outlet and (outlet is None or _DOMAIN.fullmatch(outlet)):
        outlet = page_outlet  # trafilatura falls back to the host name: a name is better
    title = _strip_outlet_suffix(clean_line(document.title or "") or page_headline, outlet)
    if outlet is None and title:
        title, outlet = split_title(title)

    body, related = _split_teasers([clean_line(line) for line in document.text.split("\n")])
    return _finish(
        title=title,
        outlet=outlet,
        paragraphs=body,
        related=related,
        url=url or document.url,
        authors=_unique(_split_authors(document.author or "")),
        published=document.date,
        language=language or _language(document.language),
        metadata=_html_metadata(document),
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

    Raises :class:`NotAnArticle` when the payload parses but holds no article
    (no body, fewer than ``MIN_BODY_WORDS`` words) and :class:`ParseError` for
    anything that cannot be parsed (wrong field types, broken or oversized HTML).
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
