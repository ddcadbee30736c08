"""The Celery application.

``make_celery(settings)`` builds it; ``app`` (for ``celery -A worker.app``)
is built on first access from the environment, never at import time.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from celery import Celery, bootsteps, signals

from config.resolve import resolve_redis
from config.settings import Settings
from worker.amqp import AMQP_SCHEMES, dead_queue
from worker.contract import TASK_PROCESS_BATCH, broker_config
from worker.heartbeat import Heartbeat
from worker.logging import connect_celery_signals, get_logger
from worker.reliability import rejected_letter
from worker.store import Store
from worker.tasks import Runtime, register_tasks
from worker.transport import track_deliveries

__all__ = ["build_runtime", "consumed_queues", "make_celery", "worker_config"]


def worker_config(settings: Settings) -> dict[str, Any]:
    """Reliability settings: at-least-once delivery, effects made idempotent
    by the store."""
    return {
        # Ack after the task ran, and give a message back if its worker dies
        # mid-task: with idempotent writes, redelivery is harmless.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": max(1, int(settings.task_time_limit * 0.9)),
        "worker_prefetch_multiplier": settings.prefetch_multiplier,
        "worker_concurrency": settings.concurrency or os.cpu_count() or 1,
        # A cold shutdown (SIGQUIT) gives running batches this long; after it,
        # the worker stops and unacked messages go back to the queue. SIGTERM
        # is a warm shutdown: running batches finish.
        "worker_soft_shutdown_timeout": settings.soft_shutdown_timeout,
        "worker_enable_soft_shutdown_on_idle": True,
        # Recycle pool processes now and then: a slow leak cannot grow forever.
        "worker_max_tasks_per_child": 10_000,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        # Flower's view of tasks (NEWSWIRE_TASK_EVENTS); off, they cost a
        # message on the broker per task state change.
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
        "task_routes": {TASK_PROCESS_BATCH: {"queue": settings.queue}},
        "broker_connection_max_retries": None,
        **_hardened_transport(settings),
    }


def _hardened_transport(settings: Settings) -> dict[str, Any]:
    """kombu's Redis transports with queue entries checked as they are read
    (worker.transport); RabbitMQ checks its own messages' framing."""
    transport = {
        "redis": "worker.transport:Transport",
        "rediss": "worker.transport:Transport",
        "sentinel": "worker.transport:SentinelTransport",
    }.get(settings.broker_scheme)
    return {"broker_transport": transport} if transport else {}


def consumed_queues(settings: Settings) -> list[str]:
    """The queues a worker takes messages from: with RabbitMQ, the
    dead-letter queue too (worker.amqp)."""
    if settings.broker_scheme in AMQP_SCHEMES:
        return [settings.queue, dead_queue(settings.queue)]
    return [settings.queue]


class HeartbeatStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Starts the worker's heartbeat thread in its main process, before the
    consumer takes any message, and records the tags it takes (see
    worker/heartbeat.py). It beats until the process ends, through a warm
    shutdown's last batches: a worker still finishing is not dead."""

    def start(self, worker: Any) -> None:
        settings: Settings = worker.app.newswire_settings
        heartbeat = Heartbeat(
            settings, worker.hostname, log=get_logger("newswire.heartbeat").warning
        )
        # The held sets live beside kombu's unacked hash, which the reaper
        # reads through the store's client: only a broker that is the store's
        # Redis. RabbitMQ hands a dead consumer's messages back by itself; a
        # Redis broker apart falls back to the visibility timeout.
        if settings.broker_url_value == settings.require_redis_url():
            track_deliveries(heartbeat.held_key)
        heartbeat.start()
        pid = os.getpid()

        def leave() -> None:
            if os.getpid() == pid:  # not in a forked pool process
                track_deliveries(None)
                heartbeat.stop()

        atexit.register(leave)


def build_runtime(settings: Settings) -> Runtime:
    from worker.model import load_model

    store = Store.from_settings(settings)
    model = load_model(settings.model_path)
    return Runtime(settings=settings, store=store, model=model)


def make_celery(settings: Settings) -> Celery:
    app = Celery("newswire", set_as_current=False)
    app.conf.update(
        broker_config(
            settings.require_broker_url(),
            queue=settings.queue,
            visibility_timeout=settings.visibility_timeout,
            sentinel_master=settings.sentinel_master,
            max_deliveries=settings.max_deliveries,
        )
    )
    app.conf.update(worker_config(settings))
    app.newswire_settings = settings  # type: ignore[attr-defined]

    lock = threading.Lock()
    built: list[Runtime] = []

    def runtime() -> Runtime:
        # One per process: built lazily so a forked child opens its own
        # connections; the model is loaded in the parent first (worker_init).
        with lock:
            if not built:
                built.append(build_runtime(settings))
            return built[0]

    @signals.worker_process_init.connect(weak=False)
    def _fresh_connections(**_: Any) -> None:
        with lock:
            if built:
                rt = built[0]
                built[0] = Runtime(
                    settings=rt.settings, store=Store.from_settings(settings), model=rt.model
                )

    @signals.task_unknown.connect(weak=False)
    def _keep_unknown(message: Any = None, exc: BaseException | None = None, **_: Any) -> None:
        if message is not None:
            letter = rejected_letter(message, exc, reason="unknown_task")
            runtime().store.dead_letter_many([letter])

    @signals.task_rejected.connect(weak=False)
    def _keep_rejected(message: Any = None, exc: BaseException | None = None, **_: Any) -> None:
        # Celery refuses other serializers than JSON (pickle can run code) and
        # malformed task messages, then drops them: keep them as dead letters.
        if message is not None:
            runtime().store.dead_letter_many([rejected_letter(message, exc)])

    connect_celery_signals(settings)
    app.steps["worker"].add(HeartbeatStep)
    register_tasks(app, runtime)
    # Entry points call it before starting the worker: a missing model fails
    # the start (Celery's signals would only log it), and the parent's copy is
    # shared with forked children.
    app.newswire_runtime = runtime  # type: ignore[attr-defined]
    return app


_app: Celery | None = None


def __getattr__(name: str) -> Any:
    # `celery -A worker.app worker` looks up `app`: build it on demand.
    global _app
    if name in ("app", "celery"):
        if _app is None:
            _app = make_celery(resolve_redis(Settings()))
            _app.newswire_runtime()  # type: ignore[attr-defined]
        return _app
    raise AttributeError(name)
