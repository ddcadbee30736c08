"""Payloads and checks shared by the parse tests."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, settings
from pydantic import JsonValue, ValidationError

from worker.pipeline.errors import NotAnArticle, ParseError, PermanentError
from worker.pipeline.gate import MIN_BODY_WORDS
from worker.pipeline.models import ParsedArticle, PayloadKind, RawArticle
from worker.pipeline.parse import parse
from worker.pipeline.text import word_count

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
# Fuzzing: anything either parses into an article that passes the gate, or
# raises a ParseError saying why; and the same payload always does the same.

VERDICTS = ("empty", "too_short", "error_page", "cookie_wall", "index_page", "teasers_only")


def parse_or_parse_error(raw: RawArticle) -> ParsedArticle | ParseError:
    """Parse ``raw`` and check what any outcome must satisfy: the properties
    of an article the gate let through, or of a refusal the dead-letter
    stream can record. Anything but a ParseError propagates (a bug)."""
    outcome: ParsedArticle | ParseError
    try:
        outcome = parse(raw)
    except ParseError as exc:
        outcome = exc
    # Deterministic: a redelivery must meet the same fate.
    try:
        again: ParsedArticle | ParseError = parse(raw)
    except ParseError as exc:
        again = exc
    if isinstance(outcome, ParsedArticle):
        assert again == outcome
        title, paragraphs = outcome.title, outcome.paragraphs
        assert title and title == title.strip() and "\n" not in title, title
        assert paragraphs, "an article without a paragraph"
        assert all(p and p == p.strip() for p in paragraphs), paragraphs
        assert word_count(outcome.body) >= MIN_BODY_WORDS, outcome.body  # the gate's floor
        confidence = outcome.metadata["extraction_confidence"]
        assert isinstance(confidence, float) and 0.0 <= confidence <= 1.0, confidence
    else:
        assert type(again) is type(outcome) and str(again) == str(outcome)
        assert isinstance(outcome, PermanentError)  # dead-lettered, never retried
        assert outcome.reason in ("parse_error", "not_an_article"), outcome.reason
        assert str(outcome).strip()  # a human message
        if isinstance(outcome, NotAnArticle):
            verdict = re.search(r"\[(\w+)\]", str(outcome))
            assert verdict is not None and verdict.group(1) in VERDICTS, str(outcome)
    return outcome


def raw_or_none(**fields: Any) -> RawArticle | None:
    try:
        return RawArticle(**fields)
    except ValidationError:
        return None  # e.g. whitespace-only text: refused before parsing


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
