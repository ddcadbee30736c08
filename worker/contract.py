"""The message contract shared by producer and worker.

The producer imports this module only: it enqueues ``TASK_PROCESS_BATCH`` by
name with a JSON body built from ``BatchMessage``; it never imports task code.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from worker.amqp import AMQP_SCHEMES, amqp_queues
from worker.pipeline.fields import BODY_KEYS as JSON_BODY_KEYS
from worker.pipeline.fields import field_key as json_field_key
from worker.pipeline.models import PayloadKind, RawArticle

__all__ = [
    "JSON_BODY_KEYS",
    "TASK_MALFORMED",
    "TASK_PROCESS_BATCH",
    "BatchMessage",
    "PayloadKind",
    "RawArticle",
    "broker_config",
    "json_field_key",
]

TASK_PROCESS_BATCH = "newswire.process_batch"
# The worker's own: a queue entry that was not a valid message, wrapped by
# worker.transport so that it is dead-lettered instead of lost.
TASK_MALFORMED = "newswire.dead_letter_malformed"


# The field names the worker reads a JSON record's body from, and how it
# compares a record's names with them, re-exported from the parser so that a
# producer can refuse a record without a body before queueing it. Imported on
# first use: the parse package loads every parser and the language model
# (about 0.7 s), which a producer of text and HTML pages never needs.
class BatchMessage(BaseModel):
    """The body of one ``process_batch`` task.

    ``articles`` is left as raw JSON objects on purpose: the worker validates
    each one on its own, so one malformed item is dead-lettered without
    failing its batch-mates.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=64)
    articles: list[dict[str, JsonValue]] = Field(min_length=1)
    # When the producer sent it (Unix seconds): the start of the push-to-stored
    # latency the worker counts. Optional: a message without it is processed
    # the same and simply not counted.
    pushed_at: float | None = Field(default=None, allow_inf_nan=False)

    @classmethod
    def of(cls, articles: list[RawArticle], *, pushed_at: float | None = None) -> BatchMessage:
        return cls(
            articles=[a.model_dump(mode="json", exclude_none=True) for a in articles],
            pushed_at=pushed_at,
        )


def broker_config(
    url: str,
    *,
    queue: str,
    visibility_timeout: int,
    sentinel_master: str | None = None,
    max_deliveries: int = 5,
) -> dict[str, Any]:
    """The Celery settings both ends must agree on: broker, queue, JSON only.

    ``url`` is a Redis (redis://, rediss://, sentinel:// with
    ``sentinel_master``) or RabbitMQ (amqp://, amqps://). A message whose
    worker died ``max_deliveries`` times is dead-lettered. Plain values, not
    the settings object: the contract is a leaf that both sides import."""
    common = {
        "broker_url": url,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": queue,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
    }
    if url.split("://", 1)[0].lower() in AMQP_SCHEMES:
        return {
            **common,
            # A durable quorum queue that counts deliveries (worker.amqp).
            # Returned max_deliveries times: the next delivery is from the
            # dead-letter queue, where the task writes its dead letter.
            "task_queues": amqp_queues(queue, delivery_limit=max(0, max_deliveries - 1)),
            "task_default_exchange": queue,
            "task_default_routing_key": queue,
            # Publisher confirms: a send returns once RabbitMQ has the message
            # (persistent, on a quorum queue: on a majority of its nodes), and
            # raises when RabbitMQ refuses it.
            "broker_transport_options": {"confirm_publish": True},
            "task_default_delivery_mode": "persistent",
        }
    sentinel = {"master_name": sentinel_master} if sentinel_master else {}
    return {
        **common,
        "broker_transport_options": {
            **sentinel,
            "visibility_timeout": visibility_timeout,
            # Check for abandoned messages every 5 s (not every 100 s, kombu's
            # default interval x throttle); they come back once unacked for
            # visibility_timeout.
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            # The JSON body as it is, not base64 in the JSON envelope (kombu's
            # default): a quarter less to encode, store, copy and decode at
            # every hop. Each message names its encoding, so queued base64
            # messages still decode.
            "body_encoding": "utf-8",
        },
    }
