"""`GET /v1/events`: the events stream (what `newswire watch` follows) as
Server-Sent Events.

Each event's SSE ``id`` is its Redis stream entry id, so a client that
reconnects with ``Last-Event-ID`` gets exactly the events after it. Reads use
redis.asyncio with a blocking ``XREAD``: waiting for events holds no thread
and never blocks the event loop; a comment goes out when nothing came for a
while, so proxies keep the connection open and a vanished client is noticed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import redis

__all__ = ["KEEPALIVE", "RETRY_MS", "format_event", "start_id", "stream_events"]

KEEPALIVE = b": keep-alive\n\n"
# How long a client waits before reconnecting (an EventSource honours it).
RETRY_MS = 2000


def format_event(entry: str, fields: Mapping[str, str]) -> bytes:
    """One SSE message: ``id`` the entry, ``data`` the event as one JSON line
    (``entry`` and the stream's fields, as `newswire watch --json` prints)."""
    data = orjson.dumps({"entry": entry, **fields})  # escapes CR and LF: one line
    return b"id: " + entry.encode() + b"\ndata: " + data + b"\n\n"


async def start_id(client: Any, stream: str, last_event_id: str | None) -> str:
    """Where reading starts: after ``last_event_id``, else after the newest
    event now (resolved once, so nothing added between reads is skipped)."""
    if last_event_id is not None:
        return last_event_id
    newest = await client.xrevrange(stream, count=1)
    return str(newest[0][0]) if newest else "0-0"


async def stream_events(
    client: Any,
    stream: str,
    last_id: str,
    *,
    keepalive_ms: int,
) -> AsyncIterator[bytes]:
    """Events after ``last_id`` as they arrive, forever: the server cancels
    the iteration (and with it the pending read) when the client goes."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    while True:
        try:
            reply = await client.xread({stream: last_id}, block=keepalive_ms, count=100)
        except redis.RedisError:
            # The headers are gone: end the stream; the client reconnects
            # after RETRY_MS with Last-Event-ID and loses nothing.
            return
        if not reply:
            yield KEEPALIVE
            continue
        for _stream, entries in reply:
            for entry, fields in entries:
                last_id = entry
                yield format_event(entry, fields)
