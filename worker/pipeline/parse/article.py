"""What every parse path ends in: the gate, the title fallback, the article.

Every result passes the "is this an article?" gate (:mod:`gate`), whose
confidence is stored as ``metadata["extraction_confidence"]`` (and a verdict
left in doubt as ``metadata["extraction_verdict"]``: the page is stored); the language
is the declared one, else detected (:mod:`language`). The field normalisers
for authors and language tags are shared by the paths too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from pydantic import JsonValue, ValidationError

from worker.pipeline.errors import NotAnArticle, ParseError
from worker.pipeline.gate import assess
from worker.pipeline.language import detect_language
from worker.pipeline.models import ParsedArticle, RelatedItem
from worker.pipeline.parse.patterns import _AUTHOR_SPLIT, _BYLINE_PREFIX, _LANGUAGE
from worker.pipeline.text import clean_line, normalize_for_hash

__all__ = ["DERIVED_TITLE_CHARS"]

# Length of a title derived from the body when the payload has none.
DERIVED_TITLE_CHARS: Final = 120

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
    link_texts: frozenset[str] | None = None,
) -> ParsedArticle:
    # Callers pass cleaned lines: cleaning twice would double the cost.
    body = [p for p in paragraphs if p]
    # Pages often repeat the headline as the first line of the text.
    if body and title and normalize_for_hash(body[0]) == normalize_for_hash(title):
        body = body[1:]
    linked = None if link_texts is None else sum(normalize_for_hash(p) in link_texts for p in body)
    verdict = assess(title, body, len(related), headline_links=headline_links, linked_lines=linked)
    if verdict.refused:
        raise NotAnArticle(f"{verdict.message} [{verdict.verdict}]")
    metadata = dict(metadata or {})
    metadata["extraction_confidence"] = verdict.confidence
    if verdict.verdict is not None:  # in doubt: stored, with what the gate suspects
        metadata["extraction_verdict"] = verdict.verdict
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


def _split_authors(value: str) -> list[str]:
    value = _BYLINE_PREFIX.sub("", clean_line(value))
    return [a for a in (_BYLINE_PREFIX.sub("", p) for p in _AUTHOR_SPLIT.split(value)) if a]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _language(value: str | None) -> str | None:
    """Primary language subtag, lower-case ("en-GB" -> "en"); None if not a tag."""
    match = _LANGUAGE.fullmatch(value.strip()) if value else None
    return match.group(1).lower() if match else None
