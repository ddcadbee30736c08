"""The Celery task: a thin adapter around the pure pipeline and the store.

It validates the message, runs its articles through the pipeline (one
article's failure never fails another), hands the results to the store in
one round trip, and logs one line per article. Store failures are retried
inside the task with backoff, then the message is handed back to the
queue; every write is idempotent per submission, so a second delivery
changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded, TimeLimitExceeded
from pydantic import ValidationError

from worker.contract import TASK_PROCESS_BATCH, BatchMessage
from worker.logging import get_logger
from worker.pipeline.analyze import analyze, analyze_many
from worker.pipeline.classify import TopicModel
from worker.pipeline.errors import PermanentError, TransientError
from worker.pipeline.models import ProcessedArticle, RawArticle
from worker.store import DeadLetter, Store

if TYPE_CHECKING:
    from celery import Celery

    from newswire.settings import Settings

__all__ = ["BatchReport", "Runtime", "handle_batch", "register_tasks", "with_backoff"]

T = TypeVar("T")

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


def with_backoff(fn: Callable[[], T], *, budget: float, cap: float) -> T:
    """Call ``fn`` until it stops raising TransientError or ``budget`` seconds
    are spent, sleeping with full-jitter exponential backoff in between. The
    message stays unacked meanwhile, so giving up loses nothing: the caller
    hands it back to the queue."""
    deadline = time.monotonic() + budget
    attempt = 0
    while True:
        try:
            return fn()
        except TransientError as exc:
            attempt += 1
            pause = random.uniform(0, min(cap, 0.1 * 2**attempt))
            if time.monotonic() + pause > deadline:
                raise
            log.warning("store.retry", attempt=attempt, pause_s=round(pause, 2), error=str(exc))
            time.sleep(pause)


def _item_key(item: Any, delivery_id: str, index: int) -> str:
    """The delivery key of one article: its submission id, or for an item too
    broken to carry a valid one, its place in the message. Both are the same
    on every redelivery (a Celery task id survives redelivery)."""
    submission = item.get("submission_id") if isinstance(item, dict) else None
    if isinstance(submission, str) and 8 <= len(submission) <= 64:
        return submission
    return f"{delivery_id}:{index}"


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "message"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def dead_letter_message(
    rt: Runtime, message: Any, reason: str, text: str, *, delivery_id: str
) -> int:
    """Dead-letter every article of a message that cannot be processed as a
    whole (poison, time limit, a bug). Articles an earlier delivery already
    stored keep their outcome: their delivery markers make these letters
    no-ops. Returns how many letters were new."""
    items = message.get("articles") if isinstance(message, dict) else None
    batch_id = message.get("batch_id") if isinstance(message, dict) else None
    batch_id = batch_id if isinstance(batch_id, str) else None
    if isinstance(items, list) and items:
        letters = [
            _letter(item, _item_key(item, delivery_id, i), batch_id, None, reason, text)
            for i, item in enumerate(items)
        ]
    else:
        letters = [_letter(message, f"msg-{delivery_id}", None, None, reason, text)]
    written = rt.store.dead_letter_many(letters)
    log.error("batch.dead_lettered", batch_id=batch_id, reason=reason, error=text,
              articles=len(letters), new=sum(written))  # fmt: skip
    return sum(written)


def handle_batch(
    rt: Runtime, message: Any, *, delivery_id: str, retry_budget: float = 0.0
) -> BatchReport:
    """Process one batch message; never lets one article fail another.

    ``delivery_id`` (the Celery task id) is the same on every redelivery of
    the message; it keys the outcome of items that carry no submission id.
    """
    try:
        batch = BatchMessage.model_validate(message)
    except ValidationError as exc:
        # Not even a batch: keep the whole message so nothing is lost.
        letter = _letter(message, f"msg-{delivery_id}", None, None, "invalid_message",
                         _validation_message(exc))  # fmt: skip
        with_backoff(lambda: rt.store.dead_letter_many([letter]), budget=retry_budget,
                     cap=rt.settings.retry_backoff_max)  # fmt: skip
        log.warning("batch.invalid", reason=letter.reason, error=letter.message)
        return BatchReport(batch_id="", dead_lettered=1)

    blog = log.bind(batch_id=batch.batch_id)
    now = datetime.now(UTC)
    limit = rt.settings.max_batch_articles
    started = time.perf_counter()
    # Each item's outcome, at its index: its article or its letter; None
    # until the valid ones have been analysed, together.
    outcomes: list[ProcessedArticle | DeadLetter | None] = []
    valid: list[tuple[int, Any, str, RawArticle]] = []  # (index, item, key, raw)

    for index, item in enumerate(batch.articles):
        key = _item_key(item, delivery_id, index)
        if "submission_id" not in item:
            # Never let the model invent a random one: a redelivery would then
            # look like a new push.
            item = {**item, "submission_id": key}
        try:
            if index >= limit:
                raise PermanentError(
                    f"batch holds {len(batch.articles)} articles, over the limit of {limit}",
                    reason="batch_too_large",
                )
            valid.append((index, item, key, RawArticle.model_validate(item)))
            outcomes.append(None)
            continue
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            if not isinstance(exc, ValidationError | PermanentError):
                blog.exception("article.crashed", article_id=None)  # a bug: keep its traceback
            outcomes.append(_letter(item, key, batch.batch_id, None, *_reason(exc)))

    results = _analyze_all(rt, [raw for *_, raw in valid], now, blog)
    for (index, item, key, raw), result in zip(valid, results, strict=True):
        outcomes[index] = (
            result
            if isinstance(result, ProcessedArticle)
            else _letter(item, key, batch.batch_id, raw, *_reason(result))
        )
    processed = [o for o in outcomes if isinstance(o, ProcessedArticle)]
    letters = [o for o in outcomes if isinstance(o, DeadLetter)]
    # Each article's time is its share of the batch's: they are analysed together.
    share = (time.perf_counter() - started) / max(len(batch.articles), 1)

    store_started = time.perf_counter()
    cap = rt.settings.retry_backoff_max
    stored = with_backoff(lambda: rt.store.record_many(processed), budget=retry_budget, cap=cap)
    written = with_backoff(lambda: rt.store.dead_letter_many(letters), budget=retry_budget, cap=cap)
    share += (time.perf_counter() - store_started) / max(len(batch.articles), 1)
    took_ms = round(share * 1000, 2)

    counts = {"stored": 0, "duplicates": 0, "dead_lettered": 0, "replayed": 0}
    for article, outcome in zip(processed, stored, strict=True):
        kind = (
            "replay" if outcome.replay else "stored" if outcome.verdict == "unique" else "duplicate"
        )
        counts[{"replay": "replayed", "stored": "stored", "duplicate": "duplicates"}[kind]] += 1
        blog.info(
            "article.processed",
            article_id=article.id,
            outcome=kind,
            dedup=outcome.verdict,
            duplicate_of=None if outcome.verdict == "unique" else outcome.canonical_id,
            similarity=None if outcome.verdict == "unique" else outcome.similarity,
            topic=article.topic,
            confidence=round(article.confidence, 3),
            title=article.title[:80],
            duration_ms=took_ms,
        )
    for letter, fresh in zip(letters, written, strict=True):
        counts["dead_lettered" if fresh else "replayed"] += 1
        blog.warning(
            "article.dead_lettered",
            article_id=letter.article_id,
            outcome="dead_letter" if fresh else "replay",
            reason=letter.reason,
            error=letter.message,
            duration_ms=took_ms,
        )
    return BatchReport(batch_id=batch.batch_id, **counts)


def _analyze_all(
    rt: Runtime, raws: list[RawArticle], now: datetime, blog: Any
) -> list[ProcessedArticle | Exception]:
    """The batch's articles analysed together; after a crash (a bug), one by
    one, so that only the article that causes it is dead-lettered."""
    settings = rt.settings
    try:
        return list(
            analyze_many(raws, rt.model, now=now, max_payload_bytes=settings.max_payload_bytes)
        )
    except (SoftTimeLimitExceeded, TransientError):
        raise
    except Exception:
        pass  # the culprit raises again below, alone, and is logged there
    results: list[ProcessedArticle | Exception] = []
    for raw in raws:
        try:
            results.append(
                analyze(raw, rt.model, now=now, max_payload_bytes=settings.max_payload_bytes)
            )
        except (SoftTimeLimitExceeded, TransientError):
            raise
        except PermanentError as exc:
            results.append(exc)
        except Exception as exc:
            # A bug must not take the batch-mates down: dead-letter this one
            # with the traceback in the log, so it can be fixed and replayed.
            blog.exception("article.crashed", article_id=raw.article_id)
            results.append(exc)
    return results


def _reason(exc: Exception) -> tuple[str, str]:
    """The dead-letter reason and message for the exception an article raised."""
    if isinstance(exc, ValidationError):
        return "invalid_payload", _validation_message(exc)
    if isinstance(exc, PermanentError):
        return exc.reason, str(exc)
    return "internal_error", f"{type(exc).__name__}: {exc}"  # a bug


def _letter(
    item: Any, key: str, batch_id: str | None, raw: RawArticle | None, reason: str, message: str
) -> DeadLetter:
    source = item.get("source") if isinstance(item, dict) else None
    return DeadLetter(
        delivery_key=key,
        reason=reason,
        message=message,
        # stdlib json: unlike orjson it takes integers of any size.
        payload=json.dumps(item, default=str, ensure_ascii=False),
        batch_id=batch_id,
        article_id=raw.article_id if raw else None,
        source=source if isinstance(source, str) else None,
    )


def _message(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Any call shape is accepted so that a hand-made message with the wrong
    # arguments is dead-lettered, not dropped by a TypeError.
    return args[0] if len(args) == 1 and not kwargs else {"args": args, "kwargs": kwargs}


def register_tasks(app: Celery, runtime: Any) -> None:
    """Register the task on ``app``; ``runtime`` builds the process's Runtime lazily."""
    settings: Settings = app.newswire_settings  # type: ignore[attr-defined]

    class BatchTask(Task):  # type: ignore[misc]
        def on_failure(
            self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
        ) -> None:
            # Reached for a hard time limit or a bug in the task itself.
            # Celery acks the message next: keep its articles.
            reason = "time_limit" if isinstance(exc, TimeLimitExceeded) else "task_failed"
            dead_letter_message(
                runtime(), _message(args, kwargs), reason, f"{type(exc).__name__}: {exc}",
                delivery_id=task_id,
            )  # fmt: skip

    @app.task(base=BatchTask, bind=True, name=TASK_PROCESS_BATCH)  # type: ignore[untyped-decorator]
    def process_batch(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
        message = _message(args, kwargs)
        rt = runtime()
        batch_id = message.get("batch_id") if isinstance(message, dict) else None
        try:
            # Deliveries that never finished: one that keeps killing its
            # worker is given up after max_deliveries.
            deliveries = rt.store.count_delivery(self.request.id)
            log.info("batch.started", batch_id=batch_id, delivery=deliveries, pid=os.getpid())
            if deliveries > settings.max_deliveries:
                dead_letter_message(
                    rt, message, "poison_message",
                    f"delivered {deliveries - 1} times, its worker died each time",
                    delivery_id=self.request.id,
                )  # fmt: skip
                report = {"batch_id": batch_id, "poison": True}
            else:
                budget = settings.task_time_limit / 2
                report = handle_batch(
                    rt, message, delivery_id=self.request.id, retry_budget=budget
                ).as_dict()
            rt.store.finish_delivery(self.request.id)
        except TransientError as exc:
            # Redis stayed away past the budget. Celery's own retry would have
            # to publish to that same Redis and drops the message when it
            # cannot; handing the message back keeps it.
            with contextlib.suppress(TransientError):
                rt.store.finish_delivery(self.request.id)
            log.warning("batch.requeued", batch_id=batch_id, error=str(exc))
            raise Reject(str(exc), requeue=True) from exc
        return report
