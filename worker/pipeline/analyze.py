"""The pure pipeline for one payload: parse, fingerprint, classify."""

from __future__ import annotations

from datetime import datetime

from worker.pipeline.classify import TopicModel
from worker.pipeline.dedup import fingerprint
from worker.pipeline.errors import PayloadTooLarge
from worker.pipeline.models import ProcessedArticle, RawArticle
from worker.pipeline.parse import parse
from worker.pipeline.text import word_count

__all__ = ["analyze"]


def analyze(
    raw: RawArticle, model: TopicModel, *, now: datetime, max_payload_bytes: int
) -> ProcessedArticle:
    """Turn one raw payload into the article to store.

    Raises a ``PermanentError`` for payloads that can never be processed.
    """
    size = raw.payload_bytes()
    if size > max_payload_bytes:
        raise PayloadTooLarge(f"payload is {size} bytes, over the limit of {max_payload_bytes}")
    parsed = parse(raw)
    classification = model.predict(f"{parsed.title}\n{parsed.body}")
    prints = fingerprint(parsed)
    return ProcessedArticle(
        id=raw.article_id,
        submission_id=raw.submission_id,
        kind=raw.kind,
        title=parsed.title,
        outlet=parsed.outlet,
        paragraphs=parsed.paragraphs,
        related=parsed.related,
        url=parsed.url,
        authors=parsed.authors,
        published=parsed.published,
        language=parsed.language,
        source=raw.source,
        client_id=raw.client_id,
        topic=classification.topic,
        confidence=classification.confidence,
        scores=classification.scores,
        model_version=classification.model_version,
        body_hash=prints.body_hash,
        lsh_bands=prints.bands,
        sketch=prints.sketch,
        received_at=raw.received_at,
        ingested_at=now,
        word_count=word_count(parsed.body) if parsed.word_count is None else parsed.word_count,
        metadata=dict(parsed.metadata),
    )
