"""What keeps a message from being lost: every policy in one place.

- **Store retries**: ``with_backoff`` retries a TransientError inside the
  task with full-jitter backoff; past its budget the task hands the message
  back to the queue (``Reject(requeue=True)``). Celery's own retry is not
  used: it republishes to the same Redis, and loses the message when that
  Redis is down.
- **Poison messages**: a message that keeps killing its worker is
  dead-lettered after ``max_deliveries`` (``dead_letter_if_poison``).
- **Whole-message dead letters**: ``dead_letter_message`` keeps every article
  of a message that could not be processed as a whole (time limit, a bug in
  the task), ``rejected_letter`` a message Celery refused to decode.
- **One article's letter**: ``letter`` and ``reason_of`` turn an article that
  failed into its dead letter, keyed so that a redelivery writes it once.

Every write these make is idempotent per delivery key, so running any of
them twice for one message changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from worker.logging import get_logger
from worker.pipeline.errors import PermanentError, TransientError
from worker.pipeline.models import RawArticle
from worker.store import DeadLetter, Store

__all__ = [
    "dead_letter_if_poison",
    "dead_letter_message",
    "item_key",
    "letter",
    "malformed_letter",
    "reason_of",
    "rejected_letter",
    "validation_message",
    "with_backoff",
]

T = TypeVar("T")

log = get_logger("newswire.worker")


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


def dead_letter_if_poison(
    store: Store,
    message: object,
    *,
    deliveries: int,
    max_deliveries: int,
    delivery_id: str,
    reason: str = "poison_message",
) -> bool:
    """Dead-letter a message delivered more than ``max_deliveries`` times
    without finishing (its worker died each time); True if it was.
    ``Store.count_delivery`` counts deliveries and ``finish_delivery`` forgets
    one that ended under control, so only deaths add up. ``reason`` is
    ``delivery_limit`` when RabbitMQ's queue gave up on it (worker.amqp)."""
    if deliveries <= max_deliveries:
        return False
    text = f"delivered {deliveries - 1} times, its worker died each time"
    if reason == "delivery_limit":
        text += " (past the queue's x-delivery-limit, RabbitMQ dead-lettered it)"
    dead_letter_message(store, message, reason, text, delivery_id=delivery_id)
    return True


def item_key(item: object, delivery_id: str, index: int) -> str:
    """The delivery key of one article: its submission id, or for an item too
    broken to carry a valid one, its place in the message. Both are the same
    on every redelivery (a Celery task id survives redelivery)."""
    submission = item.get("submission_id") if isinstance(item, dict) else None
    if isinstance(submission, str) and 8 <= len(submission) <= 64:
        return submission
    return f"{delivery_id}:{index}"


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "message"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def reason_of(exc: Exception) -> tuple[str, str]:
    """The dead-letter reason and message for the exception an article raised."""
    if isinstance(exc, ValidationError):
        return "invalid_payload", validation_message(exc)
    if isinstance(exc, PermanentError):
        return exc.reason, str(exc)
    return "internal_error", f"{type(exc).__name__}: {exc}"  # a bug


def letter(
    item: object, key: str, batch_id: str | None, raw: RawArticle | None, reason: str, message: str
) -> DeadLetter:
    """One payload's dead letter, with the payload as it was received."""
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


def dead_letter_message(
    store: Store, message: object, reason: str, text: str, *, delivery_id: str
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
            letter(item, item_key(item, delivery_id, i), batch_id, None, reason, text)
            for i, item in enumerate(items)
        ]
    else:
        letters = [letter(message, f"msg-{delivery_id}", None, None, reason, text)]
    written = store.dead_letter_many(letters)
    log.error("batch.dead_lettered", batch_id=batch_id, reason=reason, error=text,
              articles=len(letters), new=sum(written))  # fmt: skip
    return sum(written)


def rejected_letter(
    message: Any, exc: BaseException | None, reason: str | None = None
) -> DeadLetter:
    """The dead letter of a message Celery refused (a serializer other than
    JSON, which could run code, a malformed task message, an unknown task):
    its raw bytes, never deserialized."""
    from kombu.exceptions import ContentDisallowed

    body: bytes = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    if reason is None:
        reason = (
            "disallowed_content_type"
            if isinstance(exc, ContentDisallowed)
            else "invalid_task_message"
        )
    return DeadLetter(
        delivery_key="msg-" + hashlib.sha256(body).hexdigest()[:32],
        reason=reason,
        message=f"{type(exc).__name__}: {str(exc)[:300]} (content type {message.content_type})",
        payload=json.dumps(
            {
                "content_type": message.content_type,
                "headers": {k: str(v)[:200] for k, v in (message.headers or {}).items()},
                "body_base64": base64.b64encode(body).decode(),
            }
        ),
    )


def malformed_letter(task_id: str, entry: object) -> DeadLetter:
    """The dead letter of a queue entry that was not a valid message, as
    ``worker.transport`` wrapped it: ``{"raw": ..., "error": ...}``."""
    raw = entry.get("raw") if isinstance(entry, dict) else None
    error = entry.get("error") if isinstance(entry, dict) else None
    return DeadLetter(
        delivery_key=f"msg-{task_id}",
        reason="invalid_task_message",
        message=f"a queue entry that is not a task message: {error or 'malformed'}",
        payload=raw if isinstance(raw, str) else json.dumps(entry, default=str),
    )
