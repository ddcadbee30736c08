"""Stopping a worker in the middle of a batch loses nothing: SIGTERM lets the
batch finish and exits 0; SIGQUIT gives it NEWSWIRE_SOFT_SHUTDOWN_TIMEOUT
seconds, then hands what is unfinished back to the queue."""

from __future__ import annotations

import json
import random
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from config.settings import Settings
from producer.client import Publisher
from tests.conftest import QUEUE, WorkerProcess, start_worker
from worker.contract import RawArticle
from worker.store import Store

pytestmark = pytest.mark.e2e

WORDS = ("harbour", "council", "storm", "rail", "budget", "river", "school", "court", "vote")


def normal_page(n: int) -> RawArticle:
    rng = random.Random(f"shutdown{n}")
    body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(40)) + "." for _ in range(4))
    return RawArticle(kind="text", text=f"Ordinary report {n} on the harbour - Desk\n{body}")


def slow_page(n: int) -> RawArticle:
    # ~2 MB of short lines: about a second to parse.
    lines = "\n".join(f"a short line {n} here" for _ in range(95_000))
    return RawArticle(kind="text", text=f"Endless page {n} - Desk\n{lines}")


def batch_of_seconds(pages: int, tag: int = 0) -> list[RawArticle]:
    """A batch that runs for about ``pages`` seconds."""
    return [slow_page(tag * 100 + n) for n in range(pages)] + [
        normal_page(tag * 100 + n) for n in range(20)
    ]


def logged(worker: WorkerProcess, name: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in worker.log_lines()
        if line.startswith("{") and f'"event":"{name}"' in line
    ]


def at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def started_batch(worker: WorkerProcess, batch_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in logged(worker, "batch.started") if e["batch_id"] == batch_id]
        if found:
            return found[0]
        assert time.monotonic() < deadline, worker.log_lines()[-20:]
        time.sleep(0.01)


def test_sigterm_mid_batch_finishes_the_batch_then_exits_0(
    redis_url: str, settings: Settings, store: Store, client: redis.Redis, tmp_path: Path
) -> None:
    worker = start_worker(redis_url, tmp_path / "worker.log", concurrency=1)
    batch = batch_of_seconds(3)
    try:
        with Publisher(settings) as publisher:
            batch_id = publisher.send(batch)
        started_batch(worker, batch_id)
        assert store.processed() == 0  # in flight: ~3 s of slow pages ahead
        worker.proc.send_signal(signal.SIGTERM)
        signalled = time.time()
        assert worker.proc.wait(timeout=60) == 0, worker.log_lines()[-20:]
        exited = time.time()
    finally:
        worker.stop()
    # Stored before the worker went, by this delivery, and acknowledged.
    stats = store.stats()
    assert stats["stored"] == len(batch), stats
    processed = logged(worker, "article.processed")
    assert len(processed) == len(batch)
    assert signalled < min(at(e) for e in processed) and max(at(e) for e in processed) < exited
    assert [e["delivery"] for e in logged(worker, "batch.started")] == [1]
    assert client.hlen("unacked") == 0 and client.llen(QUEUE) == 0


def test_sigquit_gives_running_batches_the_soft_shutdown_timeout(
    redis_url: str, settings: Settings, store: Store, client: redis.Redis, tmp_path: Path
) -> None:
    # A cold shutdown (SIGQUIT, or SIGTERM remapped to it) lets running
    # batches run for NEWSWIRE_SOFT_SHUTDOWN_TIMEOUT seconds: one that ends
    # in time is stored and acknowledged.
    worker = start_worker(redis_url, tmp_path / "worker.log", concurrency=1,
                          NEWSWIRE_SOFT_SHUTDOWN_TIMEOUT="5")  # fmt: skip
    batch = batch_of_seconds(2)
    try:
        with Publisher(settings) as publisher:
            batch_id = publisher.send(batch)
        started_batch(worker, batch_id)
        assert store.processed() == 0
        worker.proc.send_signal(signal.SIGQUIT)
        worker.proc.wait(timeout=60)
    finally:
        worker.stop()
    assert store.stats()["stored"] == len(batch), worker.log_lines()[-20:]
    assert client.hlen("unacked") == 0 and client.llen(QUEUE) == 0


def test_a_batch_longer_than_the_soft_shutdown_timeout_goes_back_to_the_queue(
    redis_url: str, settings: Settings, store: Store, tmp_path: Path
) -> None:
    worker = start_worker(redis_url, tmp_path / "first.log", concurrency=1,
                          NEWSWIRE_SOFT_SHUTDOWN_TIMEOUT="1")  # fmt: skip
    batch = batch_of_seconds(4)
    try:
        with Publisher(settings) as publisher:
            batch_id = publisher.send(batch)
        first = started_batch(worker, batch_id)
        worker.proc.send_signal(signal.SIGQUIT)
        worker.proc.wait(timeout=60)
    finally:
        worker.stop()
    assert store.processed() == 0  # cut short: nothing of it stored
    # Handed back, not lost: the next worker takes it from the start.
    successor = start_worker(redis_url, tmp_path / "second.log", concurrency=1)
    try:
        assert store.wait_for(len(batch), timeout=60), successor.log_lines()[-20:]
        again = started_batch(successor, batch_id)
        assert again["task_id"] == first["task_id"]
    finally:
        successor.stop()
    assert store.stats()["stored"] == len(batch)
