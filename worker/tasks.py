"""The Celery task: a thin adapter around the pure pipeline and the store.

It validates the message, runs each article through the pipeline on its own,
hands the results to the store in one round trip, and logs one line per
article. Retries of transient failures are Celery's (autoretry_for); the store
makes them safe, since every write is idempotent per submission.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from worker.contract import TASK_PROCESS_BATCH, BatchMessage
from worker.logging import get_logger
from worker.pipeline.analyze import analyze
from worker.pipeline.classify import TopicModel
from worker.pipeline.errors import PermanentError, TransientError
from worker.pipeline.models import ProcessedArticle, RawArticle
from worker.store import DeadLetter, Store

if TYPE_CHECKING:
    from celery import Celery

    from newswire.settings import Settings

__all__ = ["BatchReport", "Runtime", "handle_batch", "register_tasks"]

log = get_logger("newswire.worker")


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a worker process needs, built once per process."""

    settings: Settings
    store: Store
    model: TopicModel


@dataclass(frozen=True, slots=True)
class BatchReport:
    batch_id: str
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    replayed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "replayed": self.replayed,
        }


def _fallback_key(item: Any, batch_id: str) -> str:
    """A stable delivery key for an item too broken to carry its submission id."""
    digest = hashlib.sha256(batch_id.encode())
    digest.update(orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str))
    return "raw-" + digest.hexdigest()[:32]


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "message"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def handle_batch(rt: Runtime, message: Any) -> BatchReport:
    """Process one batch message; never lets one article fail another."""
    try:
        batch = BatchMessage.model_validate(message)
    except ValidationError as exc:
        # Not even a batch: keep the whole message so nothing is lost.
        letter = DeadLetter(
            delivery_key=_fallback_key(message, "message"),
            reason="invalid_message",
            message=_validation_message(exc),
            payload=orjson.dumps(message, default=str).decode(),
        )
        rt.store.dead_letter_many([letter])
        log.warning("batch.invalid", reason=letter.reason, error=letter.message)
        return BatchReport(batch_id="", dead_lettered=1)

    blog = log.bind(batch_id=batch.batch_id)
    now = datetime.now(UTC)
    limit = rt.settings.max_batch_articles
    processed: list[tuple[ProcessedArticle, float]] = []
    letters: list[tuple[DeadLetter, float]] = []

    for index, item in enumerate(batch.articles):
        started = time.perf_counter()
        raw: RawArticle | None = None
        try:
            if index >= limit:
                raise PermanentError(
                    f"batch holds {len(batch.articles)} articles, over the limit of {limit}",
                    reason="batch_too_large",
                )
            raw = RawArticle.model_validate(item)
            article = analyze(
                raw, rt.model, now=now, max_payload_bytes=rt.settings.max_payload_bytes
            )
            processed.append((article, time.perf_counter() - started))
        except SoftTimeLimitExceeded:
            raise
        except ValidationError as exc:
            letters.append(
                (
                    _letter(item, batch.batch_id, raw, "invalid_payload", _validation_message(exc)),
                    time.perf_counter() - started,
                )
            )
        except PermanentError as exc:
            letters.append(
                (
                    _letter(item, batch.batch_id, raw, exc.reason, str(exc)),
                    time.perf_counter() - started,
                )
            )
        except TransientError:
            raise
        except Exception as exc:
            # A bug must not take the batch-mates down: dead-letter this one
            # with the traceback in the log, so it can be fixed and replayed.
            blog.exception("article.crashed", article_id=raw.article_id if raw else None)
            letters.append(
                (
                    _letter(
                        item, batch.batch_id, raw, "internal_error", f"{type(exc).__name__}: {exc}"
                    ),
                    time.perf_counter() - started,
                )
            )

    store_started = time.perf_counter()
    outcomes = rt.store.record_many([a for a, _ in processed])
    written = rt.store.dead_letter_many([d for d, _ in letters])
    store_share = (time.perf_counter() - store_started) / max(len(batch.articles), 1)

    counts = {"stored": 0, "duplicates": 0, "dead_lettered": 0, "replayed": 0}
    for (article, took), outcome in zip(processed, outcomes, strict=True):
        if outcome.replay:
            counts["replayed"] += 1
        elif outcome.verdict == "unique":
            counts["stored"] += 1
        else:
            counts["duplicates"] += 1
        blog.info(
            "article.processed",
            article_id=article.id,
            outcome="replay"
            if outcome.replay
            else ("stored" if outcome.verdict == "unique" else "duplicate"),
            dedup=outcome.verdict,
            duplicate_of=None if outcome.verdict == "unique" else outcome.canonical_id,
            topic=article.topic,
            confidence=round(article.confidence, 3),
            title=article.title[:80],
            duration_ms=round((took + store_share) * 1000, 2),
        )
    for (letter, took), fresh in zip(letters, written, strict=True):
        counts["dead_lettered" if fresh else "replayed"] += 1
        blog.warning(
            "article.dead_lettered",
            article_id=letter.article_id,
            outcome="dead_letter" if fresh else "replay",
            reason=letter.reason,
            error=letter.message,
            duration_ms=round((took + store_share) * 1000, 2),
        )
    return BatchReport(batch_id=batch.batch_id, **counts)


def _letter(
    item: Any, batch_id: str, raw: RawArticle | None, reason: str, message: str
) -> DeadLetter:
    submission = item.get("submission_id") if isinstance(item, dict) else None
    key = (
        submission if isinstance(submission, str) and submission else _fallback_key(item, batch_id)
    )
    source = item.get("source") if isinstance(item, dict) else None
    return DeadLetter(
        delivery_key=key,
        reason=reason,
        message=message,
        payload=orjson.dumps(item, default=str).decode(),
        batch_id=batch_id,
        article_id=raw.article_id if raw else None,
        source=source if isinstance(source, str) else None,
    )


def register_tasks(app: Celery, runtime: Any) -> None:
    """Register the task on ``app``; ``runtime`` builds the process's Runtime lazily."""
    settings: Settings = app.newswire_settings  # type: ignore[attr-defined]

    @app.task(  # type: ignore[untyped-decorator]
        name=TASK_PROCESS_BATCH,
        autoretry_for=(TransientError,),
        retry_backoff=True,
        retry_backoff_max=settings.retry_backoff_max,
        retry_jitter=True,
        max_retries=settings.max_retries,
    )
    def process_batch(*args: Any, **kwargs: Any) -> dict[str, Any]:
        # Any call shape is accepted so that a hand-made message with the
        # wrong arguments is dead-lettered, not dropped by a TypeError.
        message = args[0] if len(args) == 1 and not kwargs else {"args": args, "kwargs": kwargs}
        return handle_batch(runtime(), message).as_dict()
