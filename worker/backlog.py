"""How many messages wait in the queue, whichever broker holds it: what
`newswire stats` shows as ``queued_batches`` and what `newswire serve`
compares with NEWSWIRE_MAX_QUEUED."""

from __future__ import annotations

import threading
import time
from typing import Any

from config.settings import Settings
from worker.amqp import AMQP_SCHEMES
from worker.store import connect

__all__ = ["Backlog"]


class Backlog:
    """The queue's length. With RabbitMQ, read at most every ``every``
    seconds: each read opens a connection. A Redis list's length is read
    each time (one LLEN)."""

    def __init__(self, settings: Settings, store_client: Any, *, every: float = 0.0) -> None:
        self.settings = settings
        self.every = every if settings.broker_scheme in AMQP_SCHEMES else 0.0
        self._client: Any = store_client if settings.broker_url is None else None
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._value = 0

    def queued(self) -> int:
        with self._lock:
            if time.monotonic() - self._read_at >= self.every:
                self._value = self._read()
                self._read_at = time.monotonic()
            return self._value

    def _read(self) -> int:
        if self.settings.broker_scheme in AMQP_SCHEMES:
            from kombu.connection import Connection

            url = self.settings.require_broker_url()
            with Connection(url, connect_timeout=5) as conn:  # type: ignore[no-untyped-call]
                try:
                    declared = conn.default_channel.queue_declare(self.settings.queue, passive=True)
                except conn.channel_errors:  # not declared yet: nothing was ever queued
                    return 0
                return int(declared.message_count)
        if self._client is None:  # a Redis broker apart from the store
            self._client = connect(
                self.settings.require_broker_url(), self.settings.sentinel_master
            )
        # kombu keeps a Redis queue as a list named after it
        return int(self._client.llen(self.settings.queue))
