"""Celery's own floor for bench/throughput.py: tasks that do nothing but note
that they ran, on the service's worker settings. Two floors:

- ``noop``: one message per article;
- ``noop_batch``: one message per batch, the service's own message (the same
  body, ``{"batch_id", "articles": [...]}``, so the same bytes to move and
  decode), which is what the service's end-to-end rate compares with.

    NEWSWIRE_REDIS_URL=... celery -A bench.floor_app worker -c 2 -Q <queue>
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery

from bench.common import FLOOR_DONE, FLOOR_TASK
from config.settings import Settings
from worker.app import worker_config
from worker.contract import broker_config

settings = Settings()
app = Celery("newswire-floor", set_as_current=False)
app.conf.update(
    broker_config(
        settings.require_redis_url(),
        queue=settings.queue,
        visibility_timeout=settings.visibility_timeout,
    )
)
app.conf.update(worker_config(settings))
# Named after FLOOR_TASK (bench/throughput.py derives the same name).
FLOOR_BATCH_TASK = f"{FLOOR_TASK}_batch"
app.conf.task_routes = {
    FLOOR_TASK: {"queue": settings.queue},
    FLOOR_BATCH_TASK: {"queue": settings.queue},
}

_client: list[redis.Redis] = []


@app.task(name=FLOOR_TASK)  # type: ignore[untyped-decorator]
def noop(article: dict[str, Any]) -> None:
    # The only work: one XADD, so the benchmark can count the runs and read
    # when the last one ran (the entry ID is Redis's clock), as it reads the
    # service's events.
    _done(1)


@app.task(name=FLOOR_BATCH_TASK)  # type: ignore[untyped-decorator]
def noop_batch(message: dict[str, Any]) -> None:
    # One XADD per message, whatever it holds: the cost Celery adds per
    # message, spread over its articles as the service's is.
    _done(len(message["articles"]))


def _done(articles: int) -> None:
    if not _client:
        _client.append(redis.Redis.from_url(settings.redis_url_value or ""))
    _client[0].xadd(FLOOR_DONE, {"n": articles})
