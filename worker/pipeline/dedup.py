"""Dedup fingerprints: pure functions of the parsed article."""

from __future__ import annotations

import hashlib

from worker.pipeline.models import ParsedArticle
from worker.pipeline.text import normalize_for_hash

__all__ = ["body_hash"]


def body_hash(parsed: ParsedArticle) -> str:
    """Hash of the normalized body: copies that differ only in title, outlet,
    case, punctuation or whitespace get the same hash."""
    return hashlib.sha256(normalize_for_hash(parsed.body).encode()).hexdigest()[:32]
