"""RabbitMQ's side of the queue: a durable quorum queue that counts
deliveries, and where it sends what exceeds them.

The queue ``<queue>`` (a quorum queue: replicated, persistent) returns a
message whose consumer went away (a worker killed, its connection dropped)
at once, and counts those returns. Past ``x-delivery-limit`` RabbitMQ
dead-letters the message (at least once) through the exchange
``<queue>.dlx`` into the quorum queue ``<queue>.dead``, which the workers
consume too: there the task writes it into newswire's dead-letter stream
with reason ``delivery_limit`` (worker.tasks), or processes it when its
returns were hand-backs under control (the store was away) rather than
deaths.

Imported by the contract, so by producers too: both ends must declare the
queue with the same arguments (RabbitMQ refuses a redeclaration that differs).
"""

from __future__ import annotations

from typing import Any

from kombu.entity import Exchange, Queue

__all__ = ["AMQP_SCHEMES", "amqp_queues", "dead_queue", "queue_arguments"]

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def dead_queue(queue: str) -> str:
    """The quorum queue RabbitMQ dead-letters ``queue``'s messages into."""
    return f"{queue}.dead"


def queue_arguments(queue: str, delivery_limit: int) -> dict[str, object]:
    return {
        "x-queue-type": "quorum",
        # Returns (consumer gone, or a requeue) before RabbitMQ gives up on a
        # message; then it is dead-lettered, not dropped.
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": f"{queue}.dlx",
        "x-dead-letter-routing-key": dead_queue(queue),
        # At-least-once dead-lettering (RabbitMQ >= 3.10) needs
        # reject-publish overflow; no length limit is set, so it never rejects.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def amqp_queues(queue: str, delivery_limit: int) -> list[Any]:
    """The task queue and its dead-letter queue, as Celery declares them."""
    # kombu's entities are untyped.
    return [
        Queue(  # type: ignore[no-untyped-call]
            queue,
            Exchange(queue, type="direct", durable=True),  # type: ignore[no-untyped-call]
            routing_key=queue,
            durable=True,
            queue_arguments=queue_arguments(queue, delivery_limit),
        ),
        Queue(  # type: ignore[no-untyped-call]
            dead_queue(queue),
            Exchange(f"{queue}.dlx", type="direct", durable=True),  # type: ignore[no-untyped-call]
            routing_key=dead_queue(queue),
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        ),
    ]
