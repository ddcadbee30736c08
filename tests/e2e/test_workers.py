"""Several workers on one host: their names, their private Redis, how they stop."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from producer.client import Publisher
from tests.conftest import WorkerProcess, clean_env, start_worker
from tests.e2e.test_reliability import article
from tests.e2e.test_time_limit import slow_page
from worker.store import Store

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "newswire.cli"]


def wait_in_log(worker: WorkerProcess, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log_path.read_text(errors="replace"):
        assert worker.alive() and time.monotonic() < deadline, worker.log_lines()[-30:]
        time.sleep(0.1)


def ctrl_c(worker: WorkerProcess) -> None:
    """SIGINT to the worker's whole process group, as a terminal's Ctrl-C."""
    os.killpg(worker.proc.pid, signal.SIGINT)


def start_private(state: Path, log_path: Path, cwd: Path) -> WorkerProcess:
    """`newswire worker` with no Redis configured, in its own process group."""
    proc = subprocess.Popen(
        [*CLI, "worker", "-c", "1"],
        env=clean_env(NEWSWIRE_DATA_DIR=str(state), NEWSWIRE_LOG_FORMAT="json"),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        start_new_session=True,
    )
    worker = WorkerProcess(proc, log_path)
    wait_in_log(worker, " ready.")
    return worker


def redis_stop(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "redis", "stop"],
        env=clean_env(NEWSWIRE_DATA_DIR=str(state)),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A data folder of its own; its private Redis shut down after."""
    yield tmp_path / "state"
    url_file = tmp_path / "state" / "redis.url"
    if url_file.exists():
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(url_file.read_text().strip()).shutdown(nosave=True)


def test_stopping_the_worker_that_started_the_private_redis_leaves_the_others_working(
    state: Path, tmp_path: Path
) -> None:
    first = start_private(state, tmp_path / "first.log", tmp_path)
    second = start_private(state, tmp_path / "second.log", tmp_path)
    try:
        url = (state / "redis.url").read_text().strip()
        assert "embedded_redis.started" in first.log_path.read_text()
        assert "embedded_redis.started" not in second.log_path.read_text()  # it joined
        settings = Settings(redis_url=url, _env_file=None)
        store = Store.from_settings(settings)
        before = [article(n, "before") for n in range(30)]
        after = [article(n, "after") for n in range(30)]
        with Publisher(settings) as publisher:
            for at in range(0, 30, 5):
                publisher.send(before[at : at + 5])
            ctrl_c(first)  # the one that started Redis, with batches in flight
            first.proc.wait(timeout=60)
            assert second.alive()
            for at in range(0, 30, 5):
                publisher.send(after[at : at + 5])
        assert store.wait_for(60, timeout=60), second.log_lines()[-20:]
        assert all(store.get(a.article_id) for a in before + after)
        assert store.stats()["stored"] == 60

        refused = redis_stop(state)
        assert refused.returncode == 1, refused.stderr
        assert f"use the private Redis at {url}: {ready_name(second)};" in refused.stderr
        os.killpg(second.proc.pid, signal.SIGKILL)  # leaves nothing stale behind
        second.proc.wait(timeout=60)
        store.redis.ping()  # still up: it outlives every worker
        store.redis.close()
        stopped = redis_stop(state)
        assert stopped.returncode == 0, stopped.stderr
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("command", ["push", "stats", "results", "worker"])
def test_a_redis_url_without_a_scheme_stops_every_command_in_one_line(
    command: str, tmp_path: Path
) -> None:
    page = tmp_path / "page.txt"
    page.write_text("A Title - Desk\n" + "Some words of a body. " * 30)
    args = {"push": [str(page)], "worker": ["-c", "1"]}.get(command, [])
    result = subprocess.run(
        [*CLI, command, *args],
        env=clean_env(NEWSWIRE_REDIS_URL="localhost:6379", XDG_STATE_HOME=str(tmp_path)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "NEWSWIRE_REDIS_URL" in lines[0]
    assert "redis://localhost:6379/0" in lines[0]  # what to write instead


def ready_name(worker: WorkerProcess) -> str:
    found = re.search(r"([\w.-]+@[\w.-]+) ready\.", worker.log_path.read_text())
    assert found, worker.log_lines()[-10:]
    return found.group(1)


def test_two_workers_on_one_host_have_names_of_their_own(redis_url: str, tmp_path: Path) -> None:
    first = start_worker(redis_url, tmp_path / "first.log", concurrency=1)
    try:
        second = start_worker(redis_url, tmp_path / "second.log", concurrency=1)
        second.stop()
    finally:
        first.stop()
    names = {ready_name(first), ready_name(second)}
    assert len(names) == 2, names
    for worker in (first, second):
        assert ready_name(worker).startswith(f"newswire-{worker.proc.pid}@")
        assert "DuplicateNodenameWarning" not in worker.log_path.read_text()
        # The start line says how many processes run, not "null".
        [starting] = [line for line in worker.log_lines() if '"worker.starting"' in line]
        assert json.loads(starting)["concurrency"] == 1


def test_a_second_ctrl_c_stops_a_busy_worker_at_once_and_its_batch_is_redelivered(
    redis_url: str, settings: Settings, store: Store, tmp_path: Path
) -> None:
    # The batch takes 3-5 s of its 9; put back when the worker closes, or
    # else after the visibility timeout.
    limits = {
        "NEWSWIRE_VISIBILITY_TIMEOUT": "10",
        "NEWSWIRE_TASK_TIME_LIMIT": "9",
        "NEWSWIRE_RETRY_BACKOFF_MAX": "1",
    }
    batch = [slow_page(n) for n in range(4)]  # ~0.7-1 s each
    busy = start_worker(redis_url, tmp_path / "busy.log", concurrency=1, **limits)
    try:
        with Publisher(settings) as publisher:
            publisher.send(batch)
        wait_in_log(busy, '"batch.started"', timeout=30)
        time.sleep(0.5)
        busy.proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        busy.proc.send_signal(signal.SIGINT)
        second_at = time.monotonic()
        busy.proc.wait(timeout=45)
        took = time.monotonic() - second_at
        assert took < 5, f"{took:.1f}s after the second Ctrl-C"
        assert store.processed() == 0  # stopped mid-batch: nothing of it stored
    finally:
        busy.stop()
    other = start_worker(redis_url, tmp_path / "other.log", concurrency=1, **limits)
    try:
        assert store.wait_for(len(batch), timeout=40), other.log_lines()[-20:]
        assert all(store.get(page.article_id) for page in batch)
    finally:
        other.stop()
