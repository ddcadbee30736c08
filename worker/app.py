"""The Celery application.

``make_celery(settings)`` builds it; ``app`` (for ``celery -A worker.app``)
is built on first access from the environment, never at import time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from typing import Any

from celery import Celery, signals
from kombu.exceptions import ContentDisallowed

from newswire.runtime import resolve_redis
from newswire.settings import Settings
from worker.contract import TASK_PROCESS_BATCH, broker_config
from worker.keys import Keys
from worker.logging import connect_celery_signals
from worker.store import DeadLetter, Store, connect
from worker.tasks import Runtime, register_tasks

__all__ = ["build_runtime", "make_celery", "worker_config"]


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
        # On SIGTERM, running batches get this long to finish; after it, the
        # worker stops and unacked messages go back to the queue.
        "worker_soft_shutdown_timeout": settings.soft_shutdown_timeout,
        "worker_enable_soft_shutdown_on_idle": True,
        # Recycle pool processes now and then: a slow leak cannot grow forever.
        "worker_max_tasks_per_child": 10_000,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
        "task_routes": {TASK_PROCESS_BATCH: {"queue": settings.queue}},
        "broker_connection_max_retries": None,
    }


def build_runtime(settings: Settings) -> Runtime:
    from worker.training import DEFAULT_ARTIFACT, load_artifact

    url = settings.redis_url_value
    assert url is not None, "resolve_redis() first"
    store = Store(
        connect(url),
        Keys(settings.key_prefix),
        replay_ttl=settings.replay_window,
        events_maxlen=settings.events_maxlen,
        dedup_window=settings.dedup_window,
        near_threshold=settings.near_threshold,
    )
    model = load_artifact(settings.model_path or DEFAULT_ARTIFACT)
    return Runtime(settings=settings, store=store, model=model)


def make_celery(settings: Settings) -> Celery:
    app = Celery("newswire", set_as_current=False)
    app.conf.update(broker_config(settings))
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
                    settings=rt.settings,
                    store=Store(
                        connect(settings.redis_url_value or ""),
                        rt.store.keys,
                        replay_ttl=rt.store.replay_ttl,
                        events_maxlen=rt.store.events_maxlen,
                        dedup_window=rt.store.dedup_window,
                        near_threshold=rt.store.near_threshold,
                    ),
                    model=rt.model,
                )

    @signals.task_rejected.connect(weak=False)
    def _keep_rejected(message: Any = None, exc: BaseException | None = None, **_: Any) -> None:
        # Celery refuses messages in a serializer other than JSON (pickle can
        # run code) and malformed task messages, then drops them. Keep the raw
        # bytes, never deserialized, in the dead-letter stream instead.
        if message is None:
            return
        body: bytes = (
            message.body if isinstance(message.body, bytes) else str(message.body).encode()
        )
        reason = (
            "disallowed_content_type"
            if isinstance(exc, ContentDisallowed)
            else "invalid_task_message"
        )
        letter = DeadLetter(
            delivery_key="msg-" + hashlib.sha256(body).hexdigest()[:32],
            reason=reason,
            message=f"{type(exc).__name__}: {exc} (content type {message.content_type})",
            payload=json.dumps(
                {
                    "content_type": message.content_type,
                    "headers": {k: str(v)[:200] for k, v in (message.headers or {}).items()},
                    "body_base64": base64.b64encode(body).decode(),
                }
            ),
        )
        runtime().store.dead_letter_many([letter])

    connect_celery_signals(settings)
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
