"""Redis behind Sentinel as the store and the broker: the master SIGKILLed
mid-run, a replica promoted, nothing acknowledged lost, nothing stored twice."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from config.settings import Settings
from producer.client import Publisher
from tests.brokers import SentinelGroup
from tests.conftest import PREFIX, QUEUE, WorkerProcess, start_worker
from tests.e2e.test_reliability import article, events
from worker.store import Store

pytestmark = pytest.mark.e2e

MASTER = "nwmaster"
LIMITS = {
    "NEWSWIRE_VISIBILITY_TIMEOUT": "10",
    "NEWSWIRE_TASK_TIME_LIMIT": "9",
    "NEWSWIRE_RETRY_BACKOFF_MAX": "1",
}


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path / "sentinel", replicas=2, sentinels=3,
                       master_name=MASTER) as g:  # fmt: skip
        yield g


def sentinel_settings(group: SentinelGroup, tmp_path: Path) -> Settings:
    return Settings(redis_url=group.url(), sentinel_master=MASTER, key_prefix=PREFIX,
                    queue=QUEUE, data_dir=tmp_path, _env_file=None)  # fmt: skip


def sentinel_worker(group: SentinelGroup, log: Path, **env: str) -> WorkerProcess:
    return start_worker(group.url(), log, concurrency=2, NEWSWIRE_SENTINEL_MASTER=MASTER,
                        NEWSWIRE_LOG_FORMAT="json", **LIMITS, **env)  # fmt: skip


def settled(store: Store, n: int, timeout: float) -> bool:
    """Until ``n`` payloads are processed. Reads during the failover may
    fail (the old master's connection, sentinels still voting): read again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if store.processed() >= n:
                return True
        except redis.ConnectionError:
            pass
        time.sleep(0.1)
    return False


def test_the_master_killed_mid_run_loses_nothing_acknowledged_and_stores_nothing_twice(
    group: SentinelGroup, tmp_path: Path
) -> None:
    settings = sentinel_settings(group, tmp_path)
    store = Store.from_settings(settings)
    assert store.wait_replicas == 1  # behind Sentinel: WAIT for one replica by default
    worker = sentinel_worker(group, tmp_path / "worker.log")
    pages = [article(n, "sentinel") for n in range(2400)]
    try:
        with Publisher(settings) as publisher:
            for at in range(0, len(pages), 50):
                publisher.send(pages[at : at + 50])
        # Wait until the first batch is stored, then kill the master.
        deadline = time.monotonic() + 120
        while store.processed() < 1:
            assert time.monotonic() < deadline, worker.log_lines()[-20:]
            time.sleep(0.02)
        before = store.processed()
        old = group.kill_master()
        killed_at = time.monotonic()
        new = group.wait_failover(old)
        assert new != old
        assert len(pages) - before >= 2000  # in flight when the master died
        assert settled(store, len(pages), timeout=180), worker.log_lines()[-30:]
        recovery = time.monotonic() - killed_at
        stats = store.stats()
        assert stats["stored"] == len(pages)
        assert stats.get("duplicates", 0) == 0
        assert all(store.get(p.article_id) for p in pages)  # every article, on the new master
        assert store.redis.zcard(f"{PREFIX}:recent") == len(pages)  # each once
        assert worker.alive()
        print(f"failover: master {old} -> {new}, all stored {recovery:.1f}s after the kill")
    finally:
        worker.stop()
        store.redis.close()


def test_a_batch_is_not_acknowledged_until_a_replica_holds_it(
    group: SentinelGroup, tmp_path: Path
) -> None:
    settings = sentinel_settings(group, tmp_path)
    store = Store.from_settings(settings)
    worker = sentinel_worker(group, tmp_path / "worker.log")
    master = group.master_port()
    replicas = [p for p in group.servers if p != master]
    try:
        for port in replicas:  # both replicas stop acknowledging writes
            group.servers[port].send_signal(signal.SIGSTOP)
        batch = [article(n, "wait") for n in range(5)]
        with Publisher(settings) as publisher:
            publisher.send(batch)
        # Stored on the master, but the worker does not acknowledge it: WAIT
        # got no replica, the store call is retried, then the message requeued.
        deadline = time.monotonic() + 60
        while not any("replica" in str(e.get("error")) for e in events(worker, "store.retry")):
            assert time.monotonic() < deadline, worker.log_lines()[-20:]
            time.sleep(0.1)
        assert events(worker, "article.processed") == []
        for port in replicas:
            group.servers[port].send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 60
        while len(events(worker, "article.processed")) < len(batch):
            assert time.monotonic() < deadline, worker.log_lines()[-20:]
            time.sleep(0.1)
        assert store.stats()["stored"] == len(batch)
    finally:
        for port in replicas:
            if port in group.servers:
                group.servers[port].send_signal(signal.SIGCONT)
        worker.stop()
        store.redis.close()


def test_the_workers_transport_finds_the_master_after_kombu_dropped_its_connection(
    group: SentinelGroup,
) -> None:
    # After a failover kombu restores unacknowledged messages through a
    # channel whose connection details it already dropped (client None):
    # the worker's transport must still find the master, not end the worker.
    from kombu.connection import Connection

    conn = Connection(group.url(), transport="worker.transport:SentinelTransport",  # type: ignore[no-untyped-call]
                      transport_options={"master_name": MASTER})  # fmt: skip
    try:
        channel: Any = conn.default_channel  # kombu's, untyped
        with channel.conn_or_acquire() as client:  # the first pool, through the sentinels
            assert client.ping()
        # What kombu leaves when it restores unacknowledged messages after a
        # lost connection: no connection details, no pool.
        channel.connection.client = None
        channel._pool = None
        with channel.conn_or_acquire() as client:
            assert client.ping()
    finally:
        channel.connection.client = conn
        conn.release()  # type: ignore[no-untyped-call]
