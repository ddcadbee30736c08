"""NEWSWIRE_TASK_EVENTS=1: the task events Flower shows, from a real worker
and a real producer, read as Flower reads them (a Celery event receiver)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from config.settings import Settings
from producer.client import Publisher
from tests.conftest import start_worker
from tests.e2e.test_reliability import article
from tests.e2e.test_workers import ready_name

pytestmark = pytest.mark.e2e


@contextmanager
def task_events(redis_url: str) -> Iterator[list[dict[str, Any]]]:
    """Every task event on the broker while the block runs."""
    app = Celery(broker=redis_url, set_as_current=False)
    seen: list[dict[str, Any]] = []
    listening = threading.Event()
    with app.connection() as connection:
        receiver = app.events.Receiver(
            connection, handlers={"*": seen.append}, node_id=f"test-{time.monotonic_ns()}"
        )

        def capture() -> None:
            for _ in receiver.itercapture(limit=None, timeout=None, wakeup=False):
                listening.set()

        thread = threading.Thread(target=capture, daemon=True)
        thread.start()
        assert listening.wait(10)
        try:
            yield seen
        finally:
            receiver.should_stop = True
            thread.join(timeout=10)


@pytest.mark.parametrize("on", [True, False])
def test_task_events_follow_the_setting(
    on: bool, redis_url: str, settings: Settings, tmp_path: Path
) -> None:
    flag = "1" if on else "0"
    worker = start_worker(redis_url, tmp_path / "w.log", concurrency=1, NEWSWIRE_TASK_EVENTS=flag)
    try:
        with task_events(redis_url) as seen:
            with Publisher(settings.model_copy(update={"task_events": on})) as publisher:
                publisher.send([article(n, f"E{flag}-") for n in range(3)])
            deadline = time.monotonic() + (30 if on else 8)
            wanted = {"task-sent", "task-received", "task-started", "task-succeeded"}
            while not wanted <= {e["type"] for e in seen} and time.monotonic() < deadline:
                time.sleep(0.1)
        kinds = {e["type"] for e in seen if e["type"].startswith("task-")}
        if on:
            assert wanted <= kinds, kinds
            node = ready_name(worker)
            assert {e["hostname"] for e in seen if e["type"] == "task-succeeded"} == {node}
        else:
            assert kinds == set(), kinds
    finally:
        worker.stop()
