"""Nothing lost, nothing stored twice: real processes, real signals."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
import redis

from config.embedded import EmbeddedRedis
from config.settings import Settings
from producer.client import Publisher
from tests.conftest import PREFIX, QUEUE, start_worker
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
    poison = [article(n, "P") for n in range(600)]  # big enough to be caught mid-way
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
        assert store.wait_for(620, timeout=120), worker.log_lines()[-20:]
        stop.set()
        assert len(kills) == max_deliveries
        stats = store.stats()
        assert stats["stored"] == 20  # the other messages kept flowing
        assert stats["dlq:poison_message"] == 600
        [(_entry, letter)] = store.dlq(limit=1)
        assert letter["reason"] == "poison_message"
        assert "delivered 2 times" in letter["message"]
        assert json.loads(letter["payload"])["submission_id"] in {a.submission_id for a in poison}
        assert worker.alive()
    finally:
        stop.set()
        worker.stop()


def test_redis_restart_mid_run_loses_nothing(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis").start()  # append-only, like production
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
        server.stop()  # mid-run: graceful, the append-only file is flushed
        time.sleep(2)
        server = EmbeddedRedis(tmp_path / "redis", port=port).start()
        assert store.wait_for(total, timeout=120), (store.stats(), worker.log_lines()[-30:])
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
        server.stop()


def test_redis_killed_during_a_batch_and_back_later_the_worker_goes_on(tmp_path: Path) -> None:
    # A crash, not a SHUTDOWN: SIGKILL with the append-only file on, then an
    # outage long enough for the worker's connections to give up and restore
    # their unacknowledged messages (that restore used to end the worker with
    # "AttributeError: 'NoneType' object has no attribute 'hostname'").
    server = EmbeddedRedis(tmp_path / "redis").start()
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
        deadline = time.monotonic() + 60
        while not any('"batch.started"' in line for line in worker.log_lines()):
            assert time.monotonic() < deadline, worker.log_lines()[-20:]
            time.sleep(0.005)
        time.sleep(3)
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        time.sleep(12)
        assert worker.alive(), worker.log_lines()[-20:]
        server = EmbeddedRedis(tmp_path / "redis", port=port).start()
        assert store.wait_for(400, timeout=120), (store.stats(), worker.log_lines()[-30:])
        with Publisher(settings) as publisher:
            publisher.send([article(0, "after")])
        assert store.wait_for(401, timeout=60), worker.log_lines()[-30:]
        assert settled(client), (client.hlen("unacked"), client.llen(QUEUE))
        stats = store.stats()
        assert stats["stored"] == 401 and stats.get("duplicates", 0) == 0
        assert worker.alive()
        assert not any("Unrecoverable error" in line for line in worker.log_lines())
    finally:
        worker.stop()
        client.close()
        server.stop()
