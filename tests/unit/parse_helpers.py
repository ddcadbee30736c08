"""Payloads and checks shared by the parse tests."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from pydantic import JsonValue, ValidationError

from worker.pipeline.errors import ParseError, PermanentError
from worker.pipeline.models import ParsedArticle, PayloadKind, RawArticle
from worker.pipeline.parse import parse

# A body comfortably over MIN_BODY_WORDS, as separate paragraphs.
BODY = [
    "The city council voted on Tuesday to extend the tram line to the new hospital.",
    "Work on the four-kilometre extension is expected to start next spring and to last two years.",
    "Opponents said the money would be better spent on buses serving the outer suburbs.",
]
BODY_TEXT = "\n".join(BODY)


def text_page(text: str, url: str | None = None) -> ParsedArticle:
    return parse(RawArticle(kind=PayloadKind.TEXT, text=text, url=url))


def html_page(html: str, url: str | None = None) -> ParsedArticle:
    return parse(RawArticle(kind=PayloadKind.HTML, text=html, url=url))


def record(fields: dict[str, JsonValue], url: str | None = None) -> ParsedArticle:
    return parse(RawArticle(kind=PayloadKind.JSON, record=fields, url=url))


# --------------------------------------------------------------------------
# Fuzzing: anything either parses or raises a ParseError (a PermanentError)


def parse_or_parse_error(raw: RawArticle) -> None:
    error: ParseError | None = None
    try:
        article = parse(raw)
    except ParseError as exc:  # anything else propagates and fails the test
        error = exc
    else:
        assert isinstance(article, ParsedArticle)
        assert article.title and article.paragraphs
    if error is not None:
        assert isinstance(error, PermanentError)
        assert str(error)  # a human message


def raw_or_none(**fields: Any) -> RawArticle | None:
    try:
        return RawArticle(**fields)
    except ValidationError:
        return None  # e.g. whitespace-only text: refused before parsing


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
