"""The pure pipeline for payloads: parse, fingerprint, classify."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from worker.pipeline.classify import TopicModel
from worker.pipeline.dedup import Fingerprint, fingerprint, fingerprints
from worker.pipeline.errors import PayloadTooLarge, PermanentError
from worker.pipeline.models import Classification, ParsedArticle, ProcessedArticle, RawArticle
from worker.pipeline.parse import parse
from worker.pipeline.text import word_count

__all__ = ["analyze", "analyze_many"]


def analyze(
    raw: RawArticle, model: TopicModel, *, now: datetime, max_payload_bytes: int
) -> ProcessedArticle:
    """Turn one raw payload into the article to store.

    Raises a ``PermanentError`` for payloads that can never be processed.
    """
    parsed = _parse(raw, max_payload_bytes)
    return _article(raw, parsed, model.predict(_model_input(parsed)), fingerprint(parsed), now)


def analyze_many(
    raws: Sequence[RawArticle],
    model: TopicModel,
    *,
    now: datetime,
    max_payload_bytes: int,
    on_parse: Callable[[int], None] | None = None,
) -> list[ProcessedArticle | PermanentError]:
    """``analyze`` of each payload, the articles classified and fingerprinted
    together (numpy's cost per call paid once for many; the same results).

    A payload that can never be processed gets its ``PermanentError`` in its
    place; any other exception (a bug) propagates. ``on_parse(i)`` is called
    before payload i is parsed, and ``on_parse(len(raws))`` once all are, so
    that a caller interrupted by a time limit knows which payload took the
    time.
    """
    parsed: list[ParsedArticle | PermanentError] = []
    for index, raw in enumerate(raws):
        if on_parse is not None:
            on_parse(index)
        try:
            parsed.append(_parse(raw, max_payload_bytes))
        except PermanentError as exc:
            parsed.append(exc)
    if on_parse is not None:
        on_parse(len(raws))
    articles = [p for p in parsed if isinstance(p, ParsedArticle)]
    classified = iter(model.predict_many([_model_input(p) for p in articles]))
    prints = iter(fingerprints(articles))
    return [
        p
        if isinstance(p, PermanentError)
        else _article(raw, p, next(classified), next(prints), now)
        for raw, p in zip(raws, parsed, strict=True)
    ]


def _parse(raw: RawArticle, max_payload_bytes: int) -> ParsedArticle:
    size = raw.payload_bytes()
    if size > max_payload_bytes:
        raise PayloadTooLarge(f"payload is {size} bytes, over the limit of {max_payload_bytes}")
    return parse(raw)


def _model_input(parsed: ParsedArticle) -> str:
    return f"{parsed.title}\n{parsed.body}"


def _article(
    raw: RawArticle,
    parsed: ParsedArticle,
    classification: Classification,
    prints: Fingerprint,
    now: datetime,
) -> ProcessedArticle:
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
