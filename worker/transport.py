"""kombu's Redis transport, made safe for what anyone can push onto the queue.

kombu decodes each queue entry as its JSON envelope while reading it. An
entry that is not JSON, or JSON that is not an envelope, raises there: the
entry is already off the queue and not yet recorded as unacknowledged, so it
is lost, and the error ends the worker ("Unrecoverable error"). Here such an
entry becomes a well-formed message for ``TASK_MALFORMED``, carrying the raw
entry and what is wrong with it; the task dead-letters it through the usual
acknowledged path, so nothing is lost and the worker goes on.

An envelope whose JSON body does not decode is wrapped the same way: Celery
would acknowledge and drop it with a log line.

The worker's app uses this transport (``broker_transport``); producers keep
kombu's own, the wire format being the same.

It also keeps, beside kombu's ``unacked`` hash, the set of delivery tags this
worker process holds (``track_deliveries``), in the same transaction as
kombu's own bookkeeping: when the worker's heartbeats stop, another worker
hands exactly those messages back to the queue (worker/heartbeat.py) instead
of waiting out the visibility timeout.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps
from kombu.utils.url import _parse_url
from redis.sentinel import Sentinel

from worker.contract import TASK_MALFORMED

__all__ = [
    "Channel",
    "QoS",
    "SentinelTransport",
    "Transport",
    "malformed_reason",
    "track_deliveries",
]

# An envelope needs these; kombu's Message reads them unguarded.
_ENVELOPE_FIELDS = ("body", "headers", "properties")


def malformed_reason(raw: str) -> str | None:
    """Why a queue entry is not a message newswire's worker can take, or None."""
    return _decoded(raw)[1]


def _decoded(raw: str) -> tuple[dict[str, Any], None] | tuple[None, str]:
    """The entry's envelope, or why it is not one."""
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON ({type(exc).__name__}: {str(exc)[:120]})"
    why = _envelope_problem(envelope)
    return (envelope, None) if why is None else (None, why)


def _envelope_problem(envelope: object) -> str | None:
    if not isinstance(envelope, dict):
        return f"JSON {type(envelope).__name__}, not a message envelope"
    missing = [f for f in _ENVELOPE_FIELDS if f not in envelope]
    if missing:
        return f"not a message envelope: no {', '.join(missing)}"
    headers, properties = envelope["headers"], envelope["properties"]
    if not isinstance(headers, dict) or not isinstance(properties, dict):
        return "not a message envelope: headers and properties must be objects"
    if not isinstance(properties.get("delivery_info"), dict):
        return "not a message envelope: no properties.delivery_info"
    if envelope.get("content-type") == "application/json":
        body = envelope["body"]
        if properties.get("body_encoding") == "base64":
            return None  # kombu decodes base64 bodies later; Celery checks them
        try:
            json.loads(body)
        except (TypeError, ValueError, RecursionError) as exc:
            return f"message body is not JSON ({type(exc).__name__})"
    return None


def _wrapped(raw: str, queue: str, why: str) -> dict[str, Any]:
    """A TASK_MALFORMED message carrying ``raw``. Its task id comes from the
    bytes, so the same entry pushed twice makes one dead letter."""
    task_id = "malformed-" + hashlib.sha256(raw.encode()).hexdigest()[:32]
    body = [[{"raw": raw, "error": why}], {}, {"callbacks": None, "errbacks": None}]
    return {
        "body": json.dumps(body),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": TASK_MALFORMED,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "timelimit": [None, None],
            "argsrepr": "[malformed queue entry]",
            "kwargsrepr": "{}",
            "eta": None,
            "expires": None,
            "shadow": None,
        },
        "properties": {
            "correlation_id": task_id,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "utf-8",
            "delivery_tag": str(uuid.uuid4()),
        },
    }


# The set this process records its delivery tags in; None: not recorded.
# One worker per process: its main process holds the broker connection and
# every ack, so it is the one that sets it (worker.app's heartbeat step).
_held_key: str | None = None


def track_deliveries(held_key: str | None) -> None:
    """Record from now on every delivery tag taken in ``held_key`` (a set),
    and remove it when acknowledged, rejected or put back."""
    global _held_key
    _held_key = held_key


class QoS(kombu_redis.QoS):  # type: ignore[misc]
    # kombu 5.x's append, with the tag added to the held set in the same
    # MULTI as the unacked hash and index.
    def append(self, message: Any, delivery_tag: str) -> None:
        delivery = message.delivery_info
        exchange, routing_key = delivery["exchange"], delivery["routing_key"]
        held = _held_key
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time.time()}).hset(
                self.unacked_key, delivery_tag, dumps([message._raw, exchange, routing_key])
            )
            if held is not None:
                pipe.sadd(held, delivery_tag)
            pipe.execute()
            virtual.QoS.append(self, message, delivery_tag)

    # Every path that drops a tag from the unacked hash and index (ack,
    # reject, restore) goes through here.
    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        pipe = super()._remove_from_indices(delivery_tag, pipe)
        held = _held_key
        return pipe if held is None else pipe.srem(held, delivery_tag)


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    QoS = QoS

    def _checked(self, item: bytes | str, queue: str) -> dict[str, Any]:
        raw = item.decode("utf-8", "backslashreplace") if isinstance(item, bytes) else item
        envelope, why = _decoded(raw)
        return envelope if envelope is not None else _wrapped(raw, queue, why or "malformed")

    # kombu 5.x's _brpop_read and _get, with the entry checked where they
    # decode it.
    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if dest__item:
                dest, item = dest__item
                dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
                self._queue_cycle.rotate(dest)
                self.connection._deliver(self._checked(item, dest), dest)
                return True
            raise Empty()
        finally:
            self._in_poll = None  # type: ignore[assignment]  # kombu types it bool
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                if item:
                    self._maybe_update_queues_expire(client, queue)
                    return self._checked(item, queue)
            self._maybe_update_queues_expire(client, queue)
            raise Empty()

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        # Restoring unacknowledged messages after a lost connection can run
        # once kombu has dropped the connection's details
        # (AttributeError: 'NoneType' object has no attribute 'hostname'):
        # the details of this channel's first connection still hold.
        saved: dict[bool, dict[str, Any]] = self.__dict__.setdefault("_newswire_connparams", {})
        if self.connection.client is None and asynchronous in saved:
            return dict(saved[asynchronous])
        params: dict[str, Any] = super()._connparams(asynchronous)
        saved[asynchronous] = dict(params)
        return params


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):  # type: ignore[misc]
    """The same checks, on a Redis found through Sentinel."""

    def _sentinel_managed_pool(self, asynchronous: bool = False) -> Any:
        # kombu 5.x's, with the sentinels' addresses kept from the first
        # connection: after a failover, restoring unacknowledged messages runs
        # once kombu has dropped the connection's details and ended the
        # worker ("Unrecoverable error: AttributeError: 'NoneType' object has
        # no attribute 'alt'"), as _connparams did for a plain Redis.
        client = self.connection.client
        if client is not None:
            self.__dict__["_newswire_alt"] = list(client.alt)
        alternates: list[str] = self.__dict__.get("_newswire_alt", [])
        connparams = self._connparams(asynchronous)
        params = {k: v for k, v in connparams.items() if k not in ("host", "port")}
        sentinels = [
            (url.hostname, url.port or self.connection.default_port)
            for url in map(_parse_url, alternates)
            if url.scheme == "sentinel"
        ] or [(connparams["host"], connparams["port"])]
        manager = Sentinel(  # type: ignore[no-untyped-call]
            sentinels,
            min_other_sentinels=getattr(self, "min_other_sentinels", 0),
            sentinel_kwargs=getattr(self, "sentinel_kwargs", None),
            **params,
        )
        # Kept so that kombu closes its connections to the sentinels.
        if asynchronous:
            self._async_sentinel_manager = manager
        else:
            self._sentinel_manager = manager
        master_name = getattr(self, "master_name", None)
        if master_name is None:
            raise ValueError("'master_name' transport option must be specified.")
        auth = {k: params[k] for k in ("username", "password") if k in params}
        return manager.master_for(master_name, redis.Redis, **auth).connection_pool  # type: ignore[no-untyped-call]


class SentinelTransport(kombu_redis.SentinelTransport):  # type: ignore[misc]
    Channel = SentinelChannel
