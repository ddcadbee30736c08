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
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded, TimeLimitExceeded
from pydantic import ValidationError

from worker.amqp import dead_queue
from worker.contract import TASK_MALFORMED, TASK_PROCESS_BATCH, BatchMessage
from worker.logging import get_logger
from worker.pipeline.analyze import analyze, analyze_many
from worker.pipeline.classify import TopicModel
from worker.pipeline.errors import PermanentError, TransientError
from worker.pipeline.models import ProcessedArticle, RawArticle
from worker.reliability import (
    dead_letter_if_poison,
    dead_letter_message,
    item_key,
    letter,
    malformed_letter,
    reason_of,
    validation_message,
    with_backoff,
)
from worker.store import DeadLetter, Store

if TYPE_CHECKING:
    from celery import Celery

    from config.settings import Settings

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


def handle_batch(
    rt: Runtime, message: object, *, delivery_id: str, retry_budget: float = 0.0
) -> BatchReport:
    """Process one batch message; never lets one article fail another.

    ``delivery_id`` (the Celery task id) is the same on every redelivery of
    the message; it keys the outcome of items that carry no submission id.
    """
    try:
        batch = BatchMessage.model_validate(message)
    except ValidationError as exc:
        # Not even a batch: keep the whole message so nothing is lost.
        whole = letter(message, f"msg-{delivery_id}", None, None, "invalid_message",
                       validation_message(exc))  # fmt: skip
        with_backoff(lambda: rt.store.dead_letter_many([whole]), budget=retry_budget,
                     cap=rt.settings.retry_backoff_max)  # fmt: skip
        log.warning("batch.invalid", reason=whole.reason, error=whole.message)
        return BatchReport(batch_id="", dead_lettered=1)

    blog = log.bind(batch_id=batch.batch_id)
    now = datetime.now(UTC)
    limit = rt.settings.max_batch_articles
    started = time.perf_counter()
    # Each item's outcome, at its index: its article or its letter; None
    # until the valid ones have been analysed, together.
    outcomes: list[ProcessedArticle | DeadLetter | None] = []
    valid: list[tuple[int, Any, str, RawArticle]] = []  # (index, item, key, raw)

    for index, item in enumerate(batch.articles[:limit]):
        key = item_key(item, delivery_id, index)
        if "submission_id" not in item:
            # Never let the model invent a random one: a redelivery would then
            # look like a new push.
            item = {**item, "submission_id": key}
        try:
            valid.append((index, item, key, RawArticle.model_validate(item)))
            outcomes.append(None)
            continue
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            if not isinstance(exc, ValidationError | PermanentError):
                blog.exception("article.crashed", article_id=None)  # a bug: keep its traceback
            outcomes.append(letter(item, key, batch.batch_id, None, *reason_of(exc)))
    if len(batch.articles) > limit:
        # One letter for all the items over the limit, not one each: a
        # message of 100,000 items must not make 100,000 entries.
        extra = batch.articles[limit:]
        outcomes.append(
            letter(extra, f"{delivery_id}:over-limit", batch.batch_id, None, "batch_too_large",
                   f"batch holds {len(batch.articles)} articles, over the limit of {limit}: "
                   f"the {len(extra)} after the first {limit} are kept here, unprocessed")
        )  # fmt: skip

    # Items an earlier delivery dead-lettered (one that hit the time limit)
    # are not analysed again: their letter exists, this one is a no-op.
    decided = rt.store.dead_lettered([key for _, _, key, _ in valid])
    for (index, item, key, raw), marker in zip(valid, decided, strict=True):
        if marker is not None:
            earlier = f"dead-lettered by an earlier delivery ({marker})"
            outcomes[index] = letter(
                item, key, batch.batch_id, raw, "already_dead_lettered", earlier
            )
    valid = [v for v, marker in zip(valid, decided, strict=True) if marker is None]

    results = _analyze_all(rt, valid, now, blog, batch.batch_id)
    for (index, item, key, raw), result in zip(valid, results, strict=True):
        outcomes[index] = (
            result
            if isinstance(result, ProcessedArticle)
            else letter(item, key, batch.batch_id, raw, *reason_of(result))
        )
    processed = [o for o in outcomes if isinstance(o, ProcessedArticle)]
    letters = [o for o in outcomes if isinstance(o, DeadLetter)]
    # Each article's time is its share of the batch's: they are analysed together.
    share = (time.perf_counter() - started) / max(len(batch.articles), 1)

    store_started = time.perf_counter()
    cap = rt.settings.retry_backoff_max
    stored = with_backoff(
        lambda: rt.store.record_many(processed, pushed_at=batch.pushed_at),
        budget=retry_budget,
        cap=cap,
    )
    written = with_backoff(lambda: rt.store.dead_letter_many(letters), budget=retry_budget, cap=cap)
    # On replicas before the message is acknowledged (NEWSWIRE_WAIT_REPLICAS).
    with_backoff(rt.store.replicate, budget=retry_budget, cap=cap)
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
    for refused, fresh in zip(letters, written, strict=True):
        counts["dead_lettered" if fresh else "replayed"] += 1
        blog.warning(
            "article.dead_lettered",
            article_id=refused.article_id,
            outcome="dead_letter" if fresh else "replay",
            reason=refused.reason,
            error=refused.message,
            duration_ms=took_ms,
        )
    return BatchReport(batch_id=batch.batch_id, **counts)


class TimeLimitIsolated(Exception):
    """The batch hit its soft time limit; the article that was taking the
    time is dead-lettered, and the message goes back to the queue for the
    others."""


def _analyze_all(
    rt: Runtime,
    valid: list[tuple[int, Any, str, RawArticle]],
    now: datetime,
    blog: Any,
    batch_id: str,
) -> list[ProcessedArticle | Exception]:
    """The batch's articles analysed together; after a crash (a bug), one by
    one, so that only the article that causes it is dead-lettered. At the
    soft time limit, the article whose parse took longest is dead-lettered as
    ``time_limit`` and TimeLimitIsolated raised."""
    max_bytes = rt.settings.max_payload_bytes
    raws = [raw for *_, raw in valid]
    starts: dict[int, float] = {}  # when each article's parse began

    def on_parse(index: int) -> None:
        starts[index] = time.perf_counter()

    try:
        try:
            return list(
                analyze_many(
                    raws, rt.model, now=now, max_payload_bytes=max_bytes, on_parse=on_parse
                )
            )
        except (SoftTimeLimitExceeded, TransientError):
            raise
        except Exception:
            pass  # the culprit raises again below, alone, and is logged there
        results: list[ProcessedArticle | Exception] = []
        starts.clear()
        for i, raw in enumerate(raws):
            on_parse(i)
            try:
                results.append(analyze(raw, rt.model, now=now, max_payload_bytes=max_bytes))
                on_parse(i + 1)
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
    except SoftTimeLimitExceeded:
        _, item, key, raw = valid[_slowest(starts, len(valid))]
        culprit = letter(item, key, batch_id, raw, "time_limit",
                         f"processing it took longer than the task's time limit "
                         f"({rt.settings.task_time_limit}s with its batch); its "
                         f"{len(valid) - 1} batch-mates are processed without it")  # fmt: skip
        rt.store.dead_letter_many([culprit])
        blog.warning("article.dead_lettered", article_id=raw.article_id, outcome="dead_letter",
                     reason="time_limit", error=culprit.message)  # fmt: skip
        raise TimeLimitIsolated(culprit.message) from None


def _slowest(starts: dict[int, float], count: int) -> int:
    """The article whose parse took longest (one still being parsed counts
    until now): the one a time limit is blamed on. Parsing is where an
    article's own content can take unbounded time; classification and
    fingerprints grow with its size, as its parse did. ``starts`` maps each
    article's index to when its parse began, and ``count`` (past the last
    index) to when the last parse ended."""
    order = sorted(starts, key=starts.__getitem__)
    ends = [starts[i] for i in order[1:]] + [time.perf_counter()]
    took = {i: end - starts[i] for i, end in zip(order, ends, strict=True) if i < count}
    return max(took, key=took.__getitem__, default=0)


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
                runtime().store, _message(args, kwargs), reason, f"{type(exc).__name__}: {exc}",
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
            # From RabbitMQ's dead-letter queue: past the queue's delivery
            # limit. Its worker died each time (a poison message) or it was
            # handed back under control (the store was away): then it is
            # processed as any other.
            dead_queued = (self.request.delivery_info or {}).get("routing_key") == dead_queue(
                settings.queue
            )
            if dead_letter_if_poison(
                rt.store, message, deliveries=deliveries,
                max_deliveries=settings.max_deliveries, delivery_id=self.request.id,
                reason="delivery_limit" if dead_queued else "poison_message",
            ):  # fmt: skip
                report = {"batch_id": batch_id, "poison": True}
            else:
                budget = settings.task_time_limit / 2
                report = handle_batch(
                    rt, message, delivery_id=self.request.id, retry_budget=budget
                ).as_dict()
            rt.store.finish_delivery(self.request.id)
        except TimeLimitIsolated as exc:
            rt.store.finish_delivery(self.request.id)
            log.warning("batch.requeued", batch_id=batch_id, error=str(exc))
            raise Reject(str(exc), requeue=True) from exc
        except TransientError as exc:
            # Redis stayed away past the budget. Celery's own retry would have
            # to publish to that same Redis and drops the message when it
            # cannot; handing the message back keeps it.
            with contextlib.suppress(TransientError):
                rt.store.finish_delivery(self.request.id)
            log.warning("batch.requeued", batch_id=batch_id, error=str(exc))
            raise Reject(str(exc), requeue=True) from exc
        return report

    @app.task(bind=True, name=TASK_MALFORMED)  # type: ignore[untyped-decorator]
    def dead_letter_malformed(self: Task, *args: Any, **kwargs: Any) -> None:
        # A queue entry worker.transport could not take as a message.
        entry = _message(args, kwargs)
        store = runtime().store
        budget, cap = settings.task_time_limit / 2, settings.retry_backoff_max
        letter = malformed_letter(self.request.id, entry)
        try:
            with_backoff(lambda: store.dead_letter_many([letter]), budget=budget, cap=cap)
        except TransientError as exc:
            raise Reject(str(exc), requeue=True) from exc
        log.warning("message.dead_lettered", reason=letter.reason, error=letter.message)
