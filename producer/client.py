"""Publish RawArticles to the queue by task name, in batches."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from amqp.exceptions import MessageNacked  # type: ignore[import-untyped]
from celery import Celery
from kombu.exceptions import OperationalError

from config.settings import Settings
from producer.loader import Item, Refusal, load_paths
from worker.contract import TASK_PROCESS_BATCH, BatchMessage, RawArticle, broker_config

__all__ = ["NotConfirmed", "Publisher", "PushReport", "push_paths"]

# Keep one message well under what a Redis list entry comfortably holds.
MAX_BATCH_BYTES = 16 * 1024 * 1024


class NotConfirmed(RuntimeError):
    """RabbitMQ refused a batch (a publisher confirm came back negative)."""


@dataclass
class PushReport:
    queued: list[tuple[str, str]] = field(default_factory=list)  # (source, article id)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    batches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused


class Publisher:
    """A Celery client that knows the contract only, never the task code."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = Celery("newswire-producer", set_as_current=False)
        self.app.conf.update(
            broker_config(
                settings.require_broker_url(),
                queue=settings.queue,
                visibility_timeout=settings.visibility_timeout,
                sentinel_master=settings.sentinel_master,
                max_deliveries=settings.max_deliveries,
            )
        )
        # A "task-sent" event per message, for Flower (NEWSWIRE_TASK_EVENTS).
        self.app.conf.task_send_sent_event = settings.task_events

    def send(self, articles: Sequence[RawArticle]) -> str:
        """Enqueue one batch; returns its id."""
        if len(articles) > self.settings.max_batch_articles:
            raise ValueError(
                f"batch of {len(articles)} is over the limit of {self.settings.max_batch_articles}"
            )
        message = BatchMessage.of(list(articles), pushed_at=time.time())
        try:
            self._send(message)
        except (MessageNacked, OperationalError) as exc:
            # kombu retries a nack as a recoverable error, then raises
            # OperationalError from it.
            if not isinstance(exc, MessageNacked) and not isinstance(exc.__cause__, MessageNacked):
                raise
            raise NotConfirmed(
                f"the broker refused batch {message.batch_id} of {len(articles)} articles "
                "(a negative publisher confirm: the queue is full or the broker is low on "
                "resources); nothing of it was queued"
            ) from exc
        return message.batch_id

    def _send(self, message: BatchMessage) -> None:
        self.app.send_task(
            TASK_PROCESS_BATCH,
            args=[message.model_dump(mode="json")],
            # Celery would otherwise build a truncated repr of the whole batch for
            # the message headers: a third of the producer's CPU, and the long
            # line it logs on errors says less than this one.
            argsrepr=f"[batch {message.batch_id}: {len(message.articles)} articles]",
            kwargsrepr="{}",
            queue=self.settings.queue,
            retry=True,
            retry_policy={"max_retries": 5, "interval_start": 0.2, "interval_step": 0.5},
            # With RabbitMQ (publisher confirms): how long to wait for its
            # ack; without one, send raises and the push reports it.
            confirm_timeout=30,
        )

    def publish(
        self,
        items: Iterable[Item | Refusal],
        *,
        on_item: Callable[[Item | Refusal], None] | None = None,
    ) -> PushReport:
        """Send every item in batches of ``batch_size``; collect refusals."""
        report = PushReport()
        batch: list[Item] = []
        size = 0

        def flush() -> None:
            nonlocal size
            if batch:
                report.batches.append(self.send([i.article for i in batch]))
                report.queued.extend((i.source, i.article.article_id) for i in batch)
                batch.clear()
                size = 0

        for item in items:
            if isinstance(item, Refusal):
                report.refused.append((item.source, item.reason))
            else:
                item_size = item.article.payload_bytes()
                if batch and size + item_size > MAX_BATCH_BYTES:
                    flush()
                batch.append(item)
                size += item_size
                if len(batch) >= self.settings.batch_size:
                    flush()
            if on_item:
                on_item(item)
        flush()
        return report

    def close(self) -> None:
        self.app.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def push_paths(paths: Iterable[str], settings: Settings) -> PushReport:
    """Python API: push files, directories or "-" (stdin) and report."""
    with Publisher(settings) as publisher:
        return publisher.publish(load_paths(paths, max_payload_bytes=settings.max_payload_bytes))
