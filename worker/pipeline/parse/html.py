"""The ``html`` path: a whole page, through lxml and trafilatura.

The page is parsed without network or entity expansion and bounded in size
and element count; related, newsletter, share and comment blocks are pruned
(never the block that holds most of the page's prose, whatever its class
names), then trafilatura (tuned for precision) finds the main text and the
metadata, and the text goes through the same teaser and furniture filters as
a text page (:mod:`.text`). When that body holds much less than the page's
paragraphs, trafilatura's balanced extraction is tried too, cleaned the same
way, and kept if it holds much more text that is not a link's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import lxml.html  # type: ignore[import-untyped]  # no stubs installed
import trafilatura
from pydantic import JsonValue
from trafilatura.settings import set_date_params

from worker.pipeline.errors import NotAnArticle, ParseError
from worker.pipeline.models import ParsedArticle, RelatedItem
from worker.pipeline.parse.article import _finish, _language, _split_authors, _unique
from worker.pipeline.parse.patterns import (
    _CARD_CONTAINERS,
    _DOMAIN,
    _HEADINGS,
    _JUNK_BLOCK,
    _PRUNABLE_TAGS,
    _RELATED_BLOCK,
    _TEXT_BLOCK_TAGS,
    TAG,
    VOID_ELEMENTS,
)
from worker.pipeline.parse.text import (
    _HEADLINE_MAX_CHARS,
    _drop_furniture,
    _split_meta,
    _split_teasers,
    _strip_outlet_suffix,
    split_title,
)
from worker.pipeline.text import clean_line, normalize_for_hash, sanitize, word_count

__all__ = ["MAX_HTML_BYTES", "MAX_HTML_ELEMENTS"]

MAX_HTML_BYTES: Final = 5 * 1024 * 1024
# A real article page has a few thousand elements (heavy ones ten thousand);
# far more is hostile or junk, and trafilatura's time grows with the count
# (about 0.2 ms an element at worst): this bounds a page to a few seconds.
MAX_HTML_ELEMENTS: Final = 25_000


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


# Longer attribute values are cut: a megabyte-long class is hostile, and no
# class, id or link needs more (a data: URI image is never article text).
_ATTRIBUTE_CHARS: Final = 2_000
# trafilatura's fallback extractors (readability, jusText) are quadratic in the
# number of text blocks; past this many, the main extractor works alone.
_FALLBACK_MAX_BLOCKS: Final = 1_500


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
    page_words = _paragraph_words(tree) if junk else 0
    for element in junk:
        if any(a in gone for a in element.iterancestors()):
            continue  # inside a block already dropped
        if _holds_the_story(element, page_words):
            continue  # a class such as "post category-advertising" on the story itself
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


# A "junk" block holding at least this share of the page's paragraph words
# (and this many) is the story's own container, whatever its class names say:
# a rail, a share bar or a sign-up box never holds most of a page's prose.
_STORY_SHARE: Final = 0.5
_STORY_MIN_WORDS: Final = 60


def _paragraph_words(element: lxml.html.HtmlElement) -> int:
    return sum(word_count(p.text_content()) for p in element.iter("p"))


def _holds_the_story(element: lxml.html.HtmlElement, page_words: int) -> bool:
    words = _paragraph_words(element)
    return words >= _STORY_MIN_WORDS and words >= _STORY_SHARE * page_words


# A link whose text is at least this many words reads like a headline.
_HEADLINE_LINK_WORDS: Final = 4


# Teaser cards: a container of at least this many children, most of them a
# headline link with at most a sentence of teaser, is a block of teasers,
# whatever its class names say (the HTML form of the text pages' shape rule).
_CARDS_MIN: Final = 3
_CARDS_SHARE: Final = 0.6
_CARD_MAX_WORDS: Final = 70
_CARDS_MAX_CHILDREN: Final = 200


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


def _headline_links(tree: lxml.html.HtmlElement) -> tuple[int, frozenset[str]]:
    """Links that read like headlines (an index page is mostly these): their
    number, and the normalised texts of all the page's links."""
    count = 0
    texts: set[str] = set()
    for link in tree.iterfind(".//a"):
        text = link.text_content()
        if len(text) < 300:
            texts.add(normalize_for_hash(text))
            if word_count(text) >= _HEADLINE_LINK_WORDS:
                count += 1
    return count, frozenset(texts)


# The balanced extraction is tried only when the precise body has under this
# share of the words in the page's paragraphs (after the junk blocks are
# gone), and replaces it when it holds this many times its words (outside
# links and the headline), and this many more: a precise extraction that
# missed part of the story, not one that left out a caption or a by-line.
_RECALL_SHARE: Final = 0.5
_RECALL_GAIN: Final = 1.5
_RECALL_MIN_WORDS: Final = 20


def _extract(tree: lxml.html.HtmlElement, *, fast: bool, precise: bool) -> Any:
    """trafilatura's extraction of the pruned ``tree`` (it works on a copy):
    precision-tuned with the metadata, or its default balance, text only."""
    return trafilatura.bare_extraction(
        tree,
        fast=fast,
        with_metadata=precise,
        # Dates from meta tags, JSON-LD, <time> and the URL; htmldate's
        # extensive search scans the whole text with regexes (a third of
        # the HTML path) and mostly finds dates the story mentions.
        date_extraction_params=set_date_params(extensive=False),
        favor_precision=precise,
        include_comments=False,
        include_images=False,
        include_links=False,
        include_tables=True,
        deduplicate=False,
    )


def _text(document: Any) -> str:
    return "" if document is None or isinstance(document, dict) else document.text or ""


def _clean_text(
    text: str, title: str
) -> tuple[list[str], list[RelatedItem], list[str], str | None]:
    """Body paragraphs, teasers, by-line authors and date line of an extracted text."""
    lines = [clean_line(line) for line in text.split("\n")]
    # A headline repeated in the text comes before the by-line and date lines.
    if lines and title and normalize_for_hash(lines[0]) == normalize_for_hash(title):
        lines = lines[1:]
    lines, meta_authors, meta_date = _split_meta(lines)
    body, related = _split_teasers(_drop_furniture(lines))
    return _cut_excerpts(body), related, meta_authors, meta_date


# Excerpts of other stories after the article: paragraphs of teaser length or
# more cut off with an ellipsis, at least this many, making at least this
# share of the tail from the first of them (an article's own trailing-off
# quote is one paragraph among many).
_EXCERPTS_MIN: Final = 2
_EXCERPTS_SHARE: Final = 0.5
_EXCERPT_MIN_WORDS: Final = 15


def _cut_excerpts(body: list[str]) -> list[str]:
    """``body`` without a tail of truncated excerpts of other stories."""
    truncated = [
        i
        for i, p in enumerate(body)
        if p.endswith(("...", "\u2026")) and word_count(p) >= _EXCERPT_MIN_WORDS
    ]
    for first in truncated:
        cut = sum(1 for i in truncated if i >= first)
        if cut >= _EXCERPTS_MIN and cut >= _EXCERPTS_SHARE * (len(body) - first):
            # Excerpts from the top: a page of teasers, for the gate to refuse.
            return body[:first] if first else body
    return body


def _prefer_recall(precise: Sequence[str], balanced: Sequence[str], known: frozenset[str]) -> bool:
    """Whether trafilatura's balanced extraction should replace the
    precision-tuned one: when it holds much more text that is not a link's
    or the headline (menus and rails are links; a story's paragraphs are not).
    ``known`` is those normalised link texts and the headline."""

    def words(paragraphs: Sequence[str]) -> int:
        return sum(word_count(p) for p in paragraphs if normalize_for_hash(p) not in known)

    more, less = words(balanced), words(precise)
    return more > _RECALL_GAIN * less and more - less >= _RECALL_MIN_WORDS


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
        headline_links, link_texts = _headline_links(tree)
        blocks, linked = _prune_junk_blocks(tree)
        cards = _take_teaser_cards(tree)
        fast = blocks > _FALLBACK_MAX_BLOCKS
        document = _extract(tree, fast=fast, precise=True)
    except ParseError:
        raise
    except Exception as exc:  # lxml/trafilatura fail in many ways on hostile input
        raise ParseError(f"the HTML page could not be parsed: {type(exc).__name__}") from None
    text = _text(document)

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

    body, related, meta_authors, meta_date = _clean_text(text, title)
    # Much less than the page's paragraphs hold: trafilatura's balanced
    # extraction may have the rest; the evidence decides which is kept.
    if word_count(" ".join(body)) < _RECALL_SHARE * _paragraph_words(tree):
        try:
            other = _text(_extract(tree, fast=fast, precise=False))
        except Exception:  # the precise extraction stands
            other = ""
        if other and other != text:
            body_b, related_b, authors_b, date_b = _clean_text(other, title)
            if _prefer_recall(body, body_b, link_texts | {normalize_for_hash(title)}):
                body, related = body_b, related_b
                meta_authors, meta_date = meta_authors or authors_b, meta_date or date_b
    related = _unique_related([*cards, *related, *linked])
    authors = _split_authors(getattr(document, "author", None) or "") or meta_authors
    try:
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
            link_texts=link_texts,
        )
    except NotAnArticle as exc:
        why = _why_empty(html, page_title) if str(exc).endswith("[empty]") else None
        if why is None:
            raise
        raise NotAnArticle(f"no article body: {why} [empty]") from None


# libxml2's HTML parser drops what lies deeper than this.
_MAX_PARSER_DEPTH: Final = 255


def _why_empty(html: str, page_title: str) -> str | None:
    """What in a page's markup hid its text from the parser, when it can be told."""
    if len(page_title) > 1000 or TAG.search(page_title):  # markup read as title text
        return "its <title> is never closed, so the whole page reads as the title"
    depth = 0
    for match in TAG.finditer(html):
        if match.group(2).lower() in VOID_ELEMENTS or match.group(3):
            continue
        depth += -1 if match.group(1) else 1
        if depth > _MAX_PARSER_DEPTH:
            return f"its elements nest deeper than {_MAX_PARSER_DEPTH} levels, where parsing stops"
    return None
