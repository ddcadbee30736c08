"""Worker heartbeats: `newswire worker --check`, and a dead worker's messages
handed back long before the visibility timeout, never a live worker's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from producer.client import Publisher
from tests.conftest import ROOT, WorkerProcess, run_cli, worker_env
from tests.e2e.test_reliability import article, slow_page
from worker.contract import RawArticle
from worker.store import Store

pytestmark = pytest.mark.e2e

# Quick beats, for the tests that wait for a worker to be found dead.
QUICK = {"NEWSWIRE_HEARTBEAT_INTERVAL": "1", "NEWSWIRE_DEAD_AFTER": "3"}


def start_group_worker(
    redis_url: str, log_path: Path, env: dict[str, str] | None = None, concurrency: int = 1
) -> WorkerProcess:
    """A real `newswire worker` in a process group of its own (its pool
    with it), JSON logs, once it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", "worker", "-c", str(concurrency)],
        env=worker_env(redis_url, NEWSWIRE_LOG_FORMAT="json", **(env or {})),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        start_new_session=True,
    )
    worker = WorkerProcess(proc, log_path)
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError("worker did not start:\n" + "\n".join(worker.log_lines()[-30:]))
        time.sleep(0.1)
    return worker


def at(timestamp: object) -> float:
    """A log line's time, Unix seconds."""
    return datetime.fromisoformat(str(timestamp)).timestamp()


def kill_group(worker: WorkerProcess) -> None:
    """SIGKILL the worker's main process and its whole pool at once."""
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(timeout=30)


def logged(worker: WorkerProcess, event: str) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for line in worker.log_lines()
        if line.startswith("{") and f'"event":"{event}"' in line
    ]


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Workers a test starts; whatever is left of them stopped after."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.alive():
            os.killpg(worker.proc.pid, signal.SIGTERM)
    for worker in started:
        try:
            worker.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait()


def batches(count: int, tag: str) -> list[list[RawArticle]]:
    """Batches of three slow pages (a few seconds to parse) and 20 articles."""
    return [
        [
            *(slow_page(100 * b + n) for n in range(3)),
            *(article(n, f"{tag}{b}-") for n in range(20)),
        ]
        for b in range(count)
    ]


def check(redis_url: str) -> subprocess.CompletedProcess[str]:
    return run_cli(redis_url, "worker", "--check", timeout=30)


def test_worker_check_exits_0_with_a_live_worker_and_1_without_or_after_its_death(
    redis_url: str, client: redis.Redis, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    none = check(redis_url)
    assert none.returncode == 1
    assert none.stdout == ""
    assert len(none.stderr.strip().splitlines()) == 1
    assert "no worker heartbeat from" in none.stderr, none.stderr

    worker = start_group_worker(redis_url, tmp_path / "w.log", QUICK)
    workers.append(worker)
    live = check(redis_url)
    assert live.returncode == 0, live.stderr
    assert len(live.stdout.strip().splitlines()) == 1
    assert f"newswire-{worker.proc.pid}@" in live.stdout  # the worker it found

    kill_group(worker)
    deadline = time.monotonic() + 30
    while (dead := check(redis_url)).returncode == 0:
        assert time.monotonic() < deadline, "still healthy 30 s after the worker was killed"
        time.sleep(0.5)
    assert dead.returncode == 1
    assert len(dead.stderr.strip().splitlines()) == 1
    assert f"newswire-{worker.proc.pid}@" in dead.stderr and "last beat" in dead.stderr


@pytest.mark.timeout(240)
def test_a_sigkilled_workers_batches_are_stored_within_a_minute(
    redis_url: str,
    settings: Settings,
    store: Store,
    client: redis.Redis,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    # Default heartbeats (every 5 s, dead after 20 s) and the default 300 s
    # visibility timeout: only the heartbeats can bring the batch back in time.
    assert settings.visibility_timeout == 300
    doomed = start_group_worker(redis_url, tmp_path / "doomed.log")
    survivor = start_group_worker(redis_url, tmp_path / "survivor.log")
    workers += [doomed, survivor]
    sent = batches(4, "K")
    with Publisher(settings) as publisher:
        for batch in sent:
            publisher.send(batch)
    # Each worker runs one batch at a time: strike the doomed one mid-batch.
    [started] = logged_wait(doomed, "batch.started")
    kill_group(doomed)
    killed_at = time.monotonic()
    assert not logged(doomed, "article.processed"), "the doomed batch ended before the kill"

    wanted = [a for batch in sent for a in batch if "Endless page" not in (a.text or "")]
    deadline = killed_at + 60
    while missing := [a.article_id for a in wanted if store.get(a.article_id) is None]:
        assert time.monotonic() < deadline, (
            f"{len(missing)} articles not stored 60 s after the SIGKILL",
            survivor.log_lines()[-15:],
        )
        time.sleep(0.2)
    # Handed back by the heartbeats, not by kombu's visibility timeout.
    [reaped] = logged(survivor, "worker.reaped")
    assert str(reaped["dead"]).startswith(f"newswire-{doomed.proc.pid}@")
    assert reaped["requeued"] == 1
    again = [e for e in logged(survivor, "batch.started") if e["task_id"] == started["task_id"]]
    assert [e["delivery"] for e in again] == [2]
    total = sum(len(batch) for batch in sent)
    assert store.wait_for(total, timeout=30)
    assert store.processed() == total  # each payload once


def logged_wait(worker: WorkerProcess, event: str, timeout: float = 60) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while not (found := logged(worker, event)):
        assert worker.alive() and time.monotonic() < deadline, worker.log_lines()[-20:]
        time.sleep(0.05)
    return found


@pytest.mark.timeout(240)
def test_a_live_worker_busy_longer_than_dead_after_keeps_its_messages(
    redis_url: str,
    settings: Settings,
    store: Store,
    client: redis.Redis,
    tmp_path: Path,
    workers: list[WorkerProcess],
) -> None:
    # Dead after 3 s; each batch takes longer (four slow pages, 3-5 s): a
    # worker that looked dead while busy would see its batch taken by the
    # other one, and delivered twice.
    first = start_group_worker(redis_url, tmp_path / "first.log", QUICK)
    second = start_group_worker(redis_url, tmp_path / "second.log", QUICK)
    workers += [first, second]
    sent = [
        [*(slow_page(100 * b + n) for n in range(4)), *(article(n, f"L{b}-") for n in range(10))]
        for b in range(6)
    ]
    with Publisher(settings) as publisher:
        for batch in sent:
            publisher.send(batch)
    total = sum(len(batch) for batch in sent)
    assert store.wait_for(total, timeout=180), second.log_lines()[-15:]
    starts = logged(first, "batch.started") + logged(second, "batch.started")
    # Both worked, each batch took longer than dead_after, and each message
    # was delivered once.
    assert logged(first, "batch.started") and logged(second, "batch.started")
    assert len(starts) == len({e["task_id"] for e in starts}) == len(sent)
    done = {
        e["task_id"]: e["timestamp"]
        for e in logged(first, "article.processed") + logged(second, "article.processed")
    }
    took = [at(done[e["task_id"]]) - at(e["timestamp"]) for e in starts]
    assert max(took) > 3, took  # some batch outlasted dead_after
    assert {e["delivery"] for e in starts} == {1}
    assert not logged(first, "worker.reaped") and not logged(second, "worker.reaped")
    # Both still listed as live, each with its own heartbeat.
    assert {b.pid for b in store.live_workers()} >= {first.proc.pid, second.proc.pid}
