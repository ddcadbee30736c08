"""Frozen pydantic models that flow through the pipeline.

``RawArticle`` is also the wire contract: the producer builds it, the worker
validates it. Everything downstream is derived from it by pure functions.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

__all__ = [
    "HARD_MAX_PAYLOAD_BYTES",
    "Classification",
    "ParsedArticle",
    "PayloadKind",
    "ProcessedArticle",
    "RawArticle",
    "RelatedItem",
]

# Absolute ceiling whatever the settings say; the configured limit is lower.
HARD_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PayloadKind(StrEnum):
    TEXT = "text"  # a scraped plain-text page: title line, body, teasers
    HTML = "html"  # a whole HTML page
    JSON = "json"  # a JSON record with fields such as title/body/url


def _now() -> datetime:
    return datetime.now(UTC)


def _new_submission_id() -> str:
    return uuid.uuid4().hex


class RawArticle(Frozen):
    """One payload as a producer sends it.

    ``text`` holds the page for ``text`` and ``html`` payloads; ``record`` holds
    the fields of a ``json`` payload. ``submission_id`` identifies this push of
    the payload: a redelivered message carries the same one, so the worker can
    tell a redelivery (ignore) from a second push of the same page (duplicate).
    """

    kind: PayloadKind
    text: str | None = None
    record: dict[str, JsonValue] | None = None
    url: str | None = Field(default=None, max_length=4096)
    source: str | None = Field(default=None, max_length=1024)
    client_id: str | None = Field(default=None, max_length=256)
    received_at: datetime = Field(default_factory=_now)
    submission_id: str = Field(default_factory=_new_submission_id, min_length=8, max_length=64)

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _one_payload(self) -> Self:
        if self.kind is PayloadKind.JSON:
            if self.record is None or self.text is not None:
                raise ValueError("a json payload carries `record` and no `text`")
        elif self.text is None or self.record is not None:
            raise ValueError(f"a {self.kind.value} payload carries `text` and no `record`")
        if self.text is not None and not self.text.strip():
            raise ValueError("the payload is empty (only whitespace)")
        if self.record is not None and not self.record:
            raise ValueError("the JSON record is empty")
        if self.payload_bytes() > HARD_MAX_PAYLOAD_BYTES:
            raise ValueError(
                f"the payload is over the hard limit of {HARD_MAX_PAYLOAD_BYTES} bytes"
            )
        return self

    def canonical_payload(self) -> bytes:
        """The payload as bytes, independent of key order or transport."""
        if self.record is not None:
            return json.dumps(self.record, sort_keys=True, ensure_ascii=False).encode()
        return (self.text or "").encode()

    def payload_bytes(self) -> int:
        return len(self.canonical_payload())

    @property
    def article_id(self) -> str:
        """Deterministic id: the same payload always gets the same id."""
        digest = hashlib.sha256()
        digest.update(self.kind.value.encode())
        digest.update(b"\0")
        digest.update((self.url or "").encode())
        digest.update(b"\0")
        digest.update(self.canonical_payload())
        return digest.hexdigest()[:16]


class RelatedItem(Frozen):
    """A teaser for another story found at the foot of a page."""

    title: str
    teaser: str = ""


class ParsedArticle(Frozen):
    """What the parse stage extracts from a payload."""

    title: str
    outlet: str | None = None
    paragraphs: tuple[str, ...]
    related: tuple[RelatedItem, ...] = ()
    url: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None
    language: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    word_count: int | None = Field(default=None, ge=0)  # of the body, when parse counted it

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)


class Classification(Frozen):
    """Topic with its probability, and the scores of every label."""

    topic: str
    confidence: float = Field(ge=0.0, le=1.0)
    scores: dict[str, float]
    model_version: str


class ProcessedArticle(Frozen):
    """The stored result for one article."""

    id: str
    submission_id: str
    kind: PayloadKind
    title: str
    outlet: str | None
    paragraphs: tuple[str, ...]
    related: tuple[RelatedItem, ...]
    url: str | None
    authors: tuple[str, ...] = ()
    published: str | None = None
    language: str | None = None
    source: str | None
    client_id: str | None
    topic: str
    confidence: float
    scores: dict[str, float]
    model_version: str
    body_hash: str
    # Near-duplicate fingerprint: used by the store's index, not stored.
    lsh_bands: tuple[int, ...] = Field(default=(), exclude=True)
    sketch: bytes = Field(default=b"", exclude=True)
    received_at: datetime
    ingested_at: datetime
    word_count: int
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)
