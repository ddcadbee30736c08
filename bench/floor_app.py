"""Celery's own floor for bench/throughput.py: a task that does nothing but
note that it ran, one message per article, on the service's worker settings.

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
app.conf.task_routes = {FLOOR_TASK: {"queue": settings.queue}}

_client: list[redis.Redis] = []


@app.task(name=FLOOR_TASK)  # type: ignore[untyped-decorator]
def noop(article: dict[str, Any]) -> None:
    # The only work: one XADD, so the benchmark can count the runs and read
    # when the last one ran (the entry ID is Redis's clock), as it reads the
    # service's events.
    if not _client:
        _client.append(redis.Redis.from_url(settings.redis_url_value or ""))
    _client[0].xadd(FLOOR_DONE, {"n": 1})
