"""Listing stored articles a page at a time: the cursor and the filters.

Pure: ``worker.store.Store.page`` reads the index; this says where a page
stops, how a client continues from it, and which articles a filter keeps.

An index (``{p}:recent``, ``{p}:topic:{topic}``) is scored by store time,
which record.lua keeps strictly increasing, so a position in it is a
(score, id) pair that later writes cannot move: the cursor carries the last
position a page read, encoded so clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ArticleFilter",
    "InvalidCursor",
    "Order",
    "Page",
    "Position",
    "decode_cursor",
    "epoch_seconds",
]

Order = Literal["desc", "asc"]
_ID = re.compile(r"[0-9a-f]{16}")


def epoch_seconds(when: datetime | None) -> float | None:
    """A time as index scores hold it; a time without a zone is UTC."""
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


class InvalidCursor(ValueError):
    """A cursor this service did not write (or a damaged one)."""


class Position(BaseModel):
    """A place in an index: the store-time score and the id found there."""

    model_config = ConfigDict(frozen=True)

    score: float
    id: str

    def cursor(self) -> str:
        # repr() of a float reads back as the same float: no article at the
        # boundary is lost or repeated to rounding.
        raw = f"{self.score!r}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def seen(self, score: float, article_id: str, order: Order) -> bool:
        """Whether (score, article_id) is at or before this position when
        reading in ``order`` (Redis orders equal scores by member)."""
        if order == "desc":
            return score > self.score or (score == self.score and article_id >= self.id)
        return score < self.score or (score == self.score and article_id <= self.id)


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; InvalidCursor with the reason otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor is not one this service wrote (not base64url)") from None
    score, _, article_id = raw.partition(":")
    try:
        value = float(score)
    except ValueError:
        raise InvalidCursor("cursor is not one this service wrote (no position)") from None
    if not math.isfinite(value) or not _ID.fullmatch(article_id):
        raise InvalidCursor("cursor is not one this service wrote (no position)")
    return Position(score=value, id=article_id)


class ArticleFilter(BaseModel):
    """What the indexes cannot select: checked on each article read."""

    model_config = ConfigDict(frozen=True)

    outlet: str | None = None
    language: str | None = None
    min_confidence: float | None = Field(default=None, ge=0, le=1)

    @property
    def everything(self) -> bool:
        return self.outlet is None and self.language is None and self.min_confidence is None

    def matches(self, article: dict[str, Any]) -> bool:
        if self.outlet is not None and (article.get("outlet") or "").casefold() != (
            self.outlet.casefold()
        ):
            return False
        if self.language is not None and (article.get("language") or "").lower() != (
            self.language.lower()
        ):
            return False
        if self.min_confidence is not None:
            confidence = (article.get("metadata") or {}).get("extraction_confidence", 1.0)
            if confidence < self.min_confidence:
                return False
        return True


class Page(BaseModel):
    """One page of a listing.

    ``next_cursor`` continues after the last article read (kept or not);
    ``at_end`` says the read reached the end of the index: newest first,
    there is nothing older (and ``next_cursor`` is None); oldest first, the
    reader has caught up and ``next_cursor`` is where to poll from."""

    articles: list[dict[str, Any]]
    next_cursor: str | None
    at_end: bool
