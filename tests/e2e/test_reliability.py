"""Nothing lost, nothing stored twice: real processes, real signals."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.chaos import start_redis, stop_redis
from config.settings import Settings
from producer.client import Publisher
from tests.conftest import PREFIX, QUEUE, WorkerProcess, start_worker
from worker.contract import RawArticle
from worker.keys import Keys
from worker.store import Store, connect

pytestmark = pytest.mark.e2e

WORDS = (  # noqa: SIM905 (a sentence reads better than quoted words)
    "reservoir council district farm storm harbour school budget rail market river summer "
    "winter minister court festival league coach museum factory hospital energy vote trial"
).split()


def article(n: int, tag: str = "") -> RawArticle:
    """A distinct article per (tag, n): random words, so no two are near copies."""
    rng = random.Random(f"{tag}{n}")
    body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(40)) + "." for _ in range(3))
    return RawArticle(kind="text", text=f"Report {tag}{n} On District Matters - Water Desk\n{body}")


def slow_page(n: int) -> RawArticle:
    """~2 MB of short lines, the most a page may hold: about a second to
    parse, so that its batch is still running when a test strikes."""
    lines = "\n".join(f"a short line {n} here" for _ in range(95_000))
    return RawArticle(kind="text", text=f"Endless page {n} - Desk\n{lines}")


def events(worker: WorkerProcess, name: str) -> list[dict[str, Any]]:
    """The worker's log lines of event ``name``, parsed."""
    return [
        json.loads(line)
        for line in worker.log_lines()
        if line.startswith("{") and f'"event":"{name}"' in line
    ]


def wait_for_event(
    worker: WorkerProcess, name: str, timeout: float = 60, **fields: object
) -> dict[str, Any]:
    """The first log line of event ``name`` with ``fields``, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events(worker, name) if all(e.get(k) == v for k, v in fields.items())]
        if found:
            return found[0]
        assert time.monotonic() < deadline, (name, fields, worker.log_lines()[-20:])
        time.sleep(0.01)


def other_still_busy(lines: list[str]) -> bool | None:
    """After the newest batch start: is the other pool process still inside
    its own latest batch (started, nothing of it logged as processed yet)?
    None when there is no batch start yet."""
    events = [json.loads(line) for line in lines if '"batch.started"' in line
              or '"article.processed"' in line]  # fmt: skip
    starts = [(e["pid"], e["batch_id"]) for e in events if e["event"] == "batch.started"]
    if not starts:
        return None
    done = {e["batch_id"] for e in events if e["event"] == "article.processed"}
    newest_pid = starts[-1][0]
    others = [batch for pid, batch in starts if pid != newest_pid]
    return bool(others) and others[-1] not in done


def settled(client: redis.Redis, timeout: float = 30.0) -> bool:
    """Wait until kombu holds no unacknowledged message and the queue is empty."""
    deadline = time.monotonic() + timeout
    while client.hlen("unacked") or client.llen(QUEUE):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=url, key_prefix=PREFIX, queue=QUEUE, data_dir=tmp_path,
                    _env_file=None)  # type: ignore[call-arg]  # fmt: skip


def test_poison_message_is_dead_lettered_after_bounded_deliveries(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    max_deliveries = 2
    worker = start_worker(redis_url, tmp_path / "worker.log", concurrency=1,
                          NEWSWIRE_MAX_DELIVERIES=str(max_deliveries))  # fmt: skip
    settings = settings_for(redis_url, tmp_path)
    # Slow pages first: each delivery runs for seconds before it could store
    # anything, so the kill lands mid-batch however late the log poll is.
    poison = [slow_page(n) for n in range(3)] + [article(n, "P") for n in range(600)]
    kills: list[int] = []
    stop = threading.Event()

    def killer(batch_id: str) -> None:
        # Stands in for a payload that crashes its process (a segfault in a
        # parser, the OOM killer): every delivery of this batch dies.
        seen: set[int] = set()
        while not stop.is_set():
            for line in worker.log_lines():
                if line.startswith("{") and '"batch.started"' in line:
                    event = json.loads(line)
                    if event["batch_id"] == batch_id and event["delivery"] not in seen:
                        seen.add(event["delivery"])
                        if event["delivery"] <= max_deliveries:
                            os.kill(event["pid"], signal.SIGKILL)
                            kills.append(event["pid"])
            time.sleep(0.01)

    try:
        with Publisher(settings) as publisher:
            poison_id = publisher.send(poison)
            thread = threading.Thread(target=killer, args=(poison_id,), daemon=True)
            thread.start()
            good = [article(n, "G") for n in range(20)]
            for i in range(0, 20, 5):
                publisher.send(good[i : i + 5])
        assert store.wait_for(len(poison) + 20, timeout=120), worker.log_lines()[-20:]
        stop.set()
        assert len(kills) == max_deliveries
        stats = store.stats()
        assert stats["stored"] == 20  # the other messages kept flowing
        assert stats["dlq:poison_message"] == len(poison)  # every kill was mid-batch
        [(_entry, letter)] = store.dlq(limit=1)
        assert letter["reason"] == "poison_message"
        assert "delivered 2 times" in letter["message"]
        assert json.loads(letter["payload"])["submission_id"] in {a.submission_id for a in poison}
        assert worker.alive()
    finally:
        stop.set()
        worker.stop()


def test_redis_restart_mid_run_loses_nothing(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis")  # append-only, like production
    port = server.port
    worker = start_worker(
        server.url, tmp_path / "worker.log", concurrency=2,
        NEWSWIRE_VISIBILITY_TIMEOUT="10", NEWSWIRE_TASK_TIME_LIMIT="5",
        NEWSWIRE_RETRY_BACKOFF_MAX="2",
    )  # fmt: skip
    client = connect(server.url)
    store = Store(client, Keys(PREFIX), replay_ttl=3600, events_maxlen=100_000)
    total, size = 3200, 400
    try:
        with Publisher(settings_for(server.url, tmp_path)) as publisher:
            articles = [article(n) for n in range(total)]
            for i in range(0, total, size):
                publisher.send(articles[i : i + size])
        # Stop Redis while both processes are busy with a batch, the first one
        # stored already. Not while either one is fetching: kombu's Redis
        # transport pops a message (BRPOP) and records it as unacked in a
        # second command, and a Redis that dies between the two loses that
        # message whatever the worker does (see README, "Delivery"). So stop
        # it just after one process starts a batch while the other is still
        # inside its own: neither is fetching.
        deadline = time.monotonic() + 60
        while store.processed() < size:
            assert time.monotonic() < deadline, worker.log_lines()[-20:]
            time.sleep(0.01)
        seen = sum('"batch.started"' in line for line in worker.log_lines())
        while True:
            assert time.monotonic() < deadline, worker.log_lines()[-20:]
            lines = worker.log_lines()
            started = sum('"batch.started"' in line for line in lines)
            if started > seen:
                seen = started
                if other_still_busy(lines):
                    break
            time.sleep(0.002)
        stop_redis(server)  # mid-run: graceful, the append-only file is flushed
        time.sleep(2)  # the outage: under the 2.5 s retry budget
        server = start_redis(tmp_path / "redis", port=port)
        assert store.wait_for(total, timeout=120), (store.stats(), worker.log_lines()[-30:])
        # The outage met store writes under way: retried (or, for a batch
        # that met it before its first write, handed back).
        assert events(worker, "store.retry") or events(worker, "batch.requeued")
        # Every message acknowledged and none waiting: no redelivery can come.
        assert settled(client), (client.hlen("unacked"), client.llen(QUEUE))
        stats = store.stats()
        assert stats["stored"] == total
        assert stats.get("duplicates", 0) == 0 and stats.get("dead_lettered", 0) == 0
        assert client.zcard(store.keys.recent) == total
        kinds = [f["kind"] for _, f in client.xrange(store.keys.events)]
        assert kinds.count("unique") == total
        assert worker.alive()
    finally:
        worker.stop()
        client.close()
        stop_redis(server)


def test_redis_killed_during_a_batch_and_back_later_the_worker_goes_on(tmp_path: Path) -> None:
    # A crash, not a SHUTDOWN: SIGKILL with the append-only file on, then an
    # outage long enough for the worker's connections to give up and restore
    # their unacknowledged messages (that restore used to end the worker with
    # "AttributeError: 'NoneType' object has no attribute 'hostname'").
    server = start_redis(tmp_path / "redis")
    port = server.port
    # Default limits: the batch retries its store writes (for up to half of
    # its 60 s) through the outage and finishes after Redis is back, on a
    # connection the worker has replaced meanwhile.
    worker = start_worker(server.url, tmp_path / "worker.log", concurrency=1)
    client = connect(server.url)
    store = Store(client, Keys(PREFIX), replay_ttl=3600, events_maxlen=100_000)
    settings = settings_for(server.url, tmp_path)
    # ~2 MB pages of short lines: about a second each to analyse, so the
    # batch is still running when Redis comes back.
    slow = [
        RawArticle(kind="text", text=f"Long page {n} - Desk\n" + f"short line {n} here\n" * 100_000)
        for n in range(20)
    ]
    try:
        with Publisher(settings) as publisher:
            publisher.send([article(n, "K") for n in range(380)] + slow)
        wait_for_event(worker, "batch.started")
        # A moment into ~20 s of slow pages: past the reads at the batch's
        # start, far from its writes at the end.
        time.sleep(0.5)
        assert store.processed() == 0  # the batch is in flight, nothing stored
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        # Down until the worker's broker connection has given up and retried
        # (kombu restores unacknowledged messages when it drops one).
        wait_for_event(worker, "consumer: Connection to broker lost. Trying to "
                       "re-establish the connection... (network:ConnectionError)")  # fmt: skip
        deadline = time.monotonic() + 60
        while sum("consumer: Cannot connect" in line for line in worker.log_lines()) < 2:
            assert time.monotonic() < deadline, worker.log_lines()[-20:]
            time.sleep(0.1)
        assert worker.alive(), worker.log_lines()[-20:]
        assert not events(worker, "article.processed")  # the batch still in flight
        server = start_redis(tmp_path / "redis", port=port)
        assert store.wait_for(400, timeout=120), (store.stats(), worker.log_lines()[-30:])
        with Publisher(settings) as publisher:
            publisher.send([article(0, "after")])
        assert store.wait_for(401, timeout=60), worker.log_lines()[-30:]
        assert settled(client), (client.hlen("unacked"), client.llen(QUEUE))
        stats = store.stats()
        assert stats["stored"] == 401 and stats.get("duplicates", 0) == 0
        assert worker.alive()
        assert not any("Unrecoverable error" in line for line in worker.log_lines())
        # The scenario this test is for did happen: the dropped connection
        # restored its unacknowledged message while the batch still ran.
        assert any("unacknowledged message(s)" in line for line in worker.log_lines())
    finally:
        worker.stop()
        client.close()
        stop_redis(server)


def test_a_batch_past_the_hard_time_limit_is_dead_lettered_as_time_limit(
    redis_url: str, store: Store, client: redis.Redis, tmp_path: Path
) -> None:
    # The soft limit (1 s here) is caught per article: only a pool process
    # that cannot run Python when it comes (stuck in one long C call, or
    # stopped) reaches the hard limit (2 s), where Celery kills the process
    # and calls BatchTask.on_failure with TimeLimitExceeded in the main
    # process. SIGSTOP stands in for the stuck call: no payload makes one
    # reliably (a 30 MB body spends ~1.6 s in one numpy call, but what runs
    # before it takes longer).
    limits = {"NEWSWIRE_TASK_TIME_LIMIT": "2", "NEWSWIRE_RETRY_BACKOFF_MAX": "0.5"}
    worker = start_worker(redis_url, tmp_path / "worker.log", concurrency=1, **limits)
    settings = settings_for(redis_url, tmp_path)
    batch = [slow_page(0), *(article(n, "H") for n in range(5))]
    stopped: list[int] = []
    try:
        with Publisher(settings) as publisher:
            batch_id = publisher.send(batch)
        started = wait_for_event(worker, "batch.started", batch_id=batch_id)
        os.kill(started["pid"], signal.SIGSTOP)  # parsing the slow page: well under 1 s in
        stopped.append(started["pid"])
        assert store.wait_for(len(batch), timeout=60), worker.log_lines()[-20:]
        letters = [fields for _, fields in store.dlq(limit=None)]
        assert {f["reason"] for f in letters} == {"time_limit"}
        assert {json.loads(f["payload"])["submission_id"] for f in letters} == {
            a.submission_id for a in batch
        }  # every article of the batch, once
        assert all(f["message"].startswith("TimeLimitExceeded") for f in letters), letters[0]
        assert store.stats().get("stored", 0) == 0
        [dead] = events(worker, "batch.dead_lettered")
        assert (dead["reason"], dead["articles"]) == ("time_limit", len(batch))
        # Acknowledged, not delivered again; the pool replaced the process.
        assert settled(client), (client.hlen("unacked"), client.llen(QUEUE))
        with Publisher(settings) as publisher:
            publisher.send([article(0, "after")])
        assert store.wait_for(len(batch) + 1, timeout=60), worker.log_lines()[-20:]
        assert [e["delivery"] for e in events(worker, "batch.started")] == [1, 1]
        assert worker.alive()
    finally:
        for pid in stopped:  # if the test failed before Celery killed it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.stop()


def test_a_batch_whose_store_stays_down_past_its_budget_is_handed_back_and_stored(
    tmp_path: Path,
) -> None:
    # Time limit 10 s: the store retries get 5 s (pauses of at most 1 s),
    # then the task raises Reject(requeue=True); the message stays
    # unacknowledged and comes back once Redis does.
    server = start_redis(tmp_path / "redis")
    port = server.port
    worker = start_worker(server.url, tmp_path / "worker.log", concurrency=1,
                          NEWSWIRE_TASK_TIME_LIMIT="10", NEWSWIRE_VISIBILITY_TIMEOUT="15",
                          NEWSWIRE_RETRY_BACKOFF_MAX="1")  # fmt: skip
    client = connect(server.url)
    store = Store(client, Keys(PREFIX), replay_ttl=3600, events_maxlen=100_000)
    batch = [slow_page(0), slow_page(1), *(article(n, "R") for n in range(50))]
    try:
        with Publisher(settings_for(server.url, tmp_path)) as publisher:
            batch_id = publisher.send(batch)
        first = wait_for_event(worker, "batch.started", batch_id=batch_id)
        # A moment into ~2 s of slow pages: past the reads at the batch's
        # start, before its writes.
        time.sleep(0.3)
        assert store.processed() == 0
        stop_redis(server)
        # Down until the task has spent its retries and handed the batch back.
        requeued = wait_for_event(worker, "batch.requeued", timeout=60, batch_id=batch_id)
        assert "Redis unavailable" in requeued["error"]
        retries = events(worker, "store.retry")
        assert len(retries) >= 2, retries  # it retried before giving up
        server = start_redis(tmp_path / "redis", port=port)
        assert store.wait_for(len(batch), timeout=90), (store.stats(), worker.log_lines()[-30:])
        again = wait_for_event(worker, "batch.started", batch_id=batch_id, delivery=2)
        assert again["task_id"] == first["task_id"]  # the same message, delivered again
        assert settled(client), (client.hlen("unacked"), client.llen(QUEUE))
        stats = store.stats()
        assert stats["stored"] == len(batch)
        assert stats.get("duplicates", 0) == 0 and stats.get("dead_lettered", 0) == 0
        assert worker.alive()
    finally:
        worker.stop()
        client.close()
        stop_redis(server)
