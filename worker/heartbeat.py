"""Worker heartbeats, and the hand-back of a dead worker's messages.

Each worker's main process (the one holding the broker connection and every
acknowledgement) runs a ``Heartbeat`` thread. Every ``heartbeat_interval`` it
writes, timed by the Redis server's clock, a deadline of now + ``dead_after``
for its instance in ``{p}:workers``; kombu's transport (worker/transport.py)
records the delivery tags the instance takes in ``{p}:held:{instance}``.

After beating, the same thread looks for instances whose deadline has passed
and hands their held messages back to the queue: ``claim.lua`` takes the held
set only if the deadline has still passed at that instant and only once, then
kombu's own restore puts each message back (as its visibility timeout would,
300 s later). A live worker keeps its messages:

- its thread beats whatever its pool processes are doing (a batch longer
  than ``dead_after`` is not a silence);
- a reaper acts only after its own beats have succeeded without a gap for
  ``dead_after``: after a Redis outage, when nobody could beat, every live
  worker beats again before anyone judges the others;
- each worker declares its own ``dead_after`` in its deadline, so workers
  configured differently do not misjudge each other.

A worker cut off from Redis for longer than ``dead_after`` while its process
lives is taken for dead (it cannot acknowledge anything meanwhile either):
its messages are delivered again and their effect stays once, the store's
writes being idempotent. A restore that fails (Redis gone meanwhile) gives
the claim back for the next round; a reaper killed between the claim and
the restore leaves those messages to kombu's visibility timeout.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

import redis
from pydantic import BaseModel, ConfigDict

from config.settings import Settings
from worker.contract import broker_config
from worker.keys import Keys

__all__ = ["Heartbeat", "WorkerBeat", "instance_id", "worker_beats"]

_LUA = resources.files("worker") / "lua"


class WorkerBeat(BaseModel):
    """One worker instance as its heartbeats show it."""

    model_config = ConfigDict(frozen=True)

    instance: str
    node: str  # Celery's node name, newswire-PID@host
    host: str
    pid: int
    last_beat: float  # Unix seconds, by the Redis server's clock
    age: float  # seconds since then
    alive: bool  # its deadline (last beat + its dead_after) has not passed


def instance_id(node: str) -> str:
    """A name for one run of a worker: a restarted container keeps its host
    name and often its pid, so its node name alone could be its dead
    predecessor's."""
    return f"{node}/{secrets.token_hex(4)}"


def server_time(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return float(seconds) + micros / 1e6


def worker_beats(client: redis.Redis, keys: Keys) -> list[WorkerBeat]:
    """Every worker instance still listed, alive or not, oldest beat last;
    ``[b for b in worker_beats(...) if b.alive]`` are the live ones."""
    now = server_time(client)
    deadlines = cast(list[tuple[str, float]], client.zrange(keys.workers, 0, -1, withscores=True))
    pipe = client.pipeline(transaction=False)
    for instance, _ in deadlines:
        pipe.hgetall(keys.heartbeat(instance))
    beats = []
    details = cast(list[dict[str, str]], pipe.execute())
    for (instance, deadline), fields in zip(deadlines, details, strict=True):
        node = fields.get("node") or instance.rpartition("/")[0]
        last = float(fields.get("beat") or 0.0)
        beats.append(
            WorkerBeat(
                instance=instance,
                node=node,
                host=fields.get("host") or node.rpartition("@")[2],
                pid=int(fields.get("pid") or 0),
                last_beat=last,
                age=max(0.0, now - last) if last else float("inf"),
                alive=float(deadline) > now,
            )
        )
    return sorted(beats, key=lambda b: b.age)


@dataclass
class _Scripts:
    heartbeat: Any
    claim: Any
    leave: Any

    @classmethod
    def on(cls, client: redis.Redis) -> _Scripts:
        def load(name: str) -> Any:
            return client.register_script((_LUA / name).read_text())

        return cls(load("heartbeat.lua"), load("claim.lua"), load("leave.lua"))


Log = Callable[..., None]


class Heartbeat:
    """The heartbeat and reaper of one worker instance (a thread of its main
    process). ``beat()`` and ``reap()`` are one round each, for tests."""

    def __init__(
        self,
        settings: Settings,
        node: str,
        *,
        log: Log | None = None,
        client: redis.Redis | None = None,
    ) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.node = node
        self.instance = instance_id(node)
        self.held_key = self.keys.held(self.instance)
        self._log = log or (lambda event, **kw: None)
        timeout = max(1.0, settings.heartbeat_interval)
        # Timeouts shorter than a beat: a hung Redis costs a beat, never the
        # thread.
        if client is None:
            from worker.store import connect  # the store imports this module

            client = connect(
                settings.require_redis_url(), settings.sentinel_master, timeout=timeout
            )
        self.client = client
        self._scripts = _Scripts.on(self.client)
        self._started = f"{time.time():.3f}"
        self._beats = 0
        # Monotonic time since which every beat has succeeded in time; None
        # while beats fail. Reaping waits for dead_after of it.
        self._healthy_since: float | None = None
        self._last_ok: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._broker: Any = None  # a kombu connection, for restoring messages

    # -- one round ------------------------------------------------------------

    def beat(self) -> bool:
        """Write one heartbeat; False when Redis could not be reached."""
        retention = max(self.settings.visibility_timeout, 3 * self.settings.dead_after)
        try:
            added, _ = self._scripts.heartbeat(
                keys=[self.keys.workers, self.keys.heartbeat(self.instance), self.held_key],
                args=[
                    self.instance,
                    self.settings.dead_after,
                    int(retention),
                    self.node,
                    socket.gethostname(),
                    os.getpid(),
                    self._started,
                ],
            )
        except redis.RedisError as exc:
            self._healthy_since = self._last_ok = None
            self._log("heartbeat.failed", error=f"{type(exc).__name__}: {exc}")
            return False
        now = time.monotonic()
        late = self._last_ok is not None and now - self._last_ok > self.settings.dead_after / 2
        if self._healthy_since is None or late:
            self._healthy_since = now
        self._last_ok = now
        if int(added) and self._beats:
            # Listed no more: taken for dead (silent past dead_after), or its
            # keys were deleted. What it held may be delivered again.
            self._log("heartbeat.rejoined", instance=self.instance)
        self._beats += 1
        return True

    def may_reap(self) -> bool:
        """Whether this worker has beaten without a gap for dead_after: only
        then is another's silence its own and not a common outage."""
        healthy = self._healthy_since
        return healthy is not None and time.monotonic() - healthy >= self.settings.dead_after

    def reap(self) -> int:
        """Hand back the messages of every instance whose deadline passed;
        the number of messages put back on the queue."""
        now = server_time(self.client)
        dead = cast(list[str], self.client.zrangebyscore(self.keys.workers, "-inf", now))
        restored = 0
        for instance in dead:
            if instance == self.instance:
                continue  # its own lapse: the next beat relists it
            claimed = self._scripts.claim(
                keys=[self.keys.workers, self.keys.held(instance)], args=[instance]
            )
            if not int(claimed[0]):
                continue
            tags = list(claimed[1:])
            try:
                back = self._restore(tags)
            except Exception:
                self._unclaim(instance, tags)
                raise
            restored += back
            self._log("worker.reaped", dead=instance, held=len(tags), requeued=back)
        return restored

    def _unclaim(self, instance: str, tags: list[str]) -> None:
        """Give a claim back after a failed restore (Redis went away): the
        instance listed again as dead, with its tags, for the next round.
        Tags already put back are skipped then, no longer being unacked."""
        if self._broker is not None:
            with contextlib.suppress(Exception):
                self._broker.release()
            self._broker = None
        with contextlib.suppress(redis.RedisError):
            pipe = self.client.pipeline()
            if tags:
                pipe.sadd(self.keys.held(instance), *tags)
            pipe.zadd(self.keys.workers, {instance: 0}, nx=True)
            pipe.execute()

    def _restore(self, tags: list[str]) -> int:
        """Put each tag's message back at the head of its queue, as kombu's
        visibility timeout does (its own code: routing, redelivered flag, one
        WATCH transaction a tag, so a message is put back once)."""
        if not tags:
            return 0
        if self._broker is None:
            from kombu import Connection  # type: ignore[attr-defined]

            conf = broker_config(
                self.settings.require_redis_url(),
                queue=self.settings.queue,
                visibility_timeout=self.settings.visibility_timeout,
                sentinel_master=self.settings.sentinel_master,
            )
            timeout = max(1.0, self.settings.heartbeat_interval)
            # Bounded: a Redis gone now costs this round, never the thread
            # (kombu would retry a connection forever by default).
            options = {
                **conf["broker_transport_options"],
                "max_retries": 1,
                "interval_start": 0,
                "interval_max": 1,
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
            }
            self._broker = Connection(  # type: ignore[no-untyped-call]
                conf["broker_url"], transport_options=options
            )
        channel = self._broker.default_channel
        unacked = channel.unacked_key
        back = 0
        for tag in tags:
            if self.client.hexists(unacked, tag):
                channel.qos.restore_by_tag(tag)
                back += 1
        return back

    def leave(self) -> None:
        """At the end of the process: off the list, or, if it still holds
        messages, marked dead at once so that they are handed back now."""
        try:
            held = self._scripts.leave(
                keys=[self.keys.workers, self.held_key, self.keys.heartbeat(self.instance)],
                args=[self.instance],
            )
        except redis.RedisError as exc:
            self._log("heartbeat.leave_failed", error=f"{type(exc).__name__}: {exc}")
            return
        if int(held):
            self._log("heartbeat.left_holding", held=int(held))

    # -- the thread -----------------------------------------------------------

    def start(self) -> None:
        self.beat()  # listed before the first message is taken
        self._thread = threading.Thread(target=self._run, name="newswire-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = self.settings.heartbeat_interval
        while not self._stop.wait(interval):
            try:
                if self.beat() and self.may_reap():
                    self.reap()
            except Exception as exc:
                self._log("heartbeat.error", error=f"{type(exc).__name__}: {exc}", exc_info=True)

    def stop(self) -> None:
        """Stop beating and leave; for the very end of the process, once no
        message can be acknowledged any more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 2 * self.settings.heartbeat_interval))
        self.leave()
        if self._broker is not None:
            self._broker.release()
        self.client.close()
