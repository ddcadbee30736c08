"""RabbitMQ as the broker, the store on Redis: one private RabbitMQ node for
the module, real workers, real SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chaos import run_chaos
from config.settings import Settings
from producer.client import NotConfirmed, Publisher
from tests.brokers import RabbitNode
from tests.conftest import PREFIX, ROOT, WorkerProcess, start_worker, worker_env
from tests.e2e.test_reliability import article, events, slow_page
from worker.store import Store

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not RabbitNode.available(), reason="rabbitmq-server is not installed"),
]


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    with RabbitNode(tmp_path_factory.mktemp("rabbit")) as node:
        yield node


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> str:
    # A queue per test: its arguments (the delivery limit) are fixed when declared.
    return "nw-" + str(request.node.name).removeprefix("test_")[:40]


def amqp_settings(redis_url: str, rabbit: RabbitNode, queue: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, broker_url=rabbit.url, key_prefix=PREFIX, queue=queue,
                    data_dir=tmp_path, _env_file=None)  # fmt: skip


def amqp_worker(
    redis_url: str, rabbit: RabbitNode, queue: str, log: Path, **env: str
) -> WorkerProcess:
    return start_worker(redis_url, log, concurrency=1, NEWSWIRE_BROKER_URL=rabbit.url,
                        NEWSWIRE_QUEUE=queue, NEWSWIRE_LOG_FORMAT="json", **env)  # fmt: skip


def test_pushed_through_rabbitmq_stored_in_redis_in_a_quorum_queue(
    redis_url: str, rabbit: RabbitNode, queue: str, store: Store, tmp_path: Path
) -> None:
    worker = amqp_worker(redis_url, rabbit, queue, tmp_path / "worker.log")
    try:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        pages = [article(n, "amqp") for n in range(12)]
        for n, page in enumerate(pages):
            (inbox / f"{n}.txt").write_text(page.text or "")
        pushed = subprocess.run(
            [sys.executable, "-m", "newswire.cli", "push", "--batch-size", "5", str(inbox)],
            env=worker_env(redis_url, NEWSWIRE_BROKER_URL=rabbit.url, NEWSWIRE_QUEUE=queue),
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        assert store.wait_for(12, timeout=60), worker.log_lines()[-20:]
        assert all(store.get(p.article_id) for p in pages)
        assert store.stats()["stored"] == 12
        # The queue was RabbitMQ's, a durable quorum queue; nothing queued in Redis.
        assert not store.redis.exists(queue)
        listed = rabbit.ctl("list_queues", "-q", "--no-table-headers", "name", "type",
                            "durable", "arguments").stdout  # fmt: skip
        [line] = [x for x in listed.splitlines() if x.split()[:1] == [queue]]
        assert line.split()[1:3] == ["quorum", "true"], line
        assert "x-delivery-limit" in line
        assert rabbit.ready(queue) == 0
    finally:
        worker.stop()


def test_a_push_rabbitmq_refuses_is_reported_not_counted_as_queued(
    redis_url: str, rabbit: RabbitNode, queue: str, tmp_path: Path
) -> None:
    settings = amqp_settings(redis_url, rabbit, queue, tmp_path)
    confirmed: list[str] = []
    with Publisher(settings) as publisher:
        confirmed.append(publisher.send([article(0, "first")]))  # declares the queue
        # A full queue: RabbitMQ refuses (nacks) what comes over its length.
        policy = rabbit.ctl("set_policy", f"cap-{queue}", f"^{queue}$",
                            '{"max-length": 2, "overflow": "reject-publish"}',
                            "--apply-to", "queues")  # fmt: skip
        assert policy.returncode == 0, policy.stderr
        time.sleep(1)  # a policy reaches the queue asynchronously
        with pytest.raises(NotConfirmed, match="the broker refused batch"):  # noqa: PT012
            for n in range(1, 6):
                confirmed.append(publisher.send([article(n, "more")]))
    # What send returned for is in the queue; what it raised for is not.
    assert rabbit.ready(queue) == len(confirmed) < 6
    # And `newswire stats` counts them in RabbitMQ's queue, not in Redis.
    stats = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "stats", "--json"],
        env=worker_env(redis_url, NEWSWIRE_BROKER_URL=rabbit.url, NEWSWIRE_QUEUE=queue),
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["queued_batches"] == len(confirmed)
    # `newswire push` says so in one line and fails, as a user would see it.
    page = tmp_path / "page.txt"
    page.write_text(article(9, "refused").text or "")
    pushed = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "push", str(page)],
        env=worker_env(redis_url, NEWSWIRE_BROKER_URL=rabbit.url, NEWSWIRE_QUEUE=queue),
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert pushed.returncode == 1
    [line] = [x for x in pushed.stderr.splitlines() if x.strip()]
    assert "the broker refused batch" in line and "Traceback" not in pushed.stderr
    rabbit.ctl("clear_policy", f"cap-{queue}")


def test_a_sigkilled_workers_batch_comes_back_at_once_and_is_stored_once(
    redis_url: str, rabbit: RabbitNode, queue: str, store: Store, tmp_path: Path
) -> None:
    settings = amqp_settings(redis_url, rabbit, queue, tmp_path)
    victim = subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", "worker", "-c", "1"],
        env=worker_env(redis_url, NEWSWIRE_BROKER_URL=rabbit.url, NEWSWIRE_QUEUE=queue,
                       NEWSWIRE_LOG_FORMAT="json"),
        stdout=(tmp_path / "victim.log").open("wb"), stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    killed = WorkerProcess(victim, tmp_path / "victim.log")
    batch = [slow_page(n) for n in range(3)] + [article(n, "kill") for n in range(20)]
    other: WorkerProcess | None = None
    try:
        with Publisher(settings) as publisher:
            publisher.send(batch)
        deadline = time.monotonic() + 60
        while '"batch.started"' not in killed.log_path.read_text(errors="replace"):
            assert killed.alive() and time.monotonic() < deadline, killed.log_lines()[-20:]
            time.sleep(0.05)
        os.killpg(victim.pid, signal.SIGKILL)  # the main process and its pool, mid-batch
        victim.wait()
        killed_at = time.monotonic()
        # RabbitMQ gives it back when the connection drops: no visibility timeout.
        while rabbit.ready(queue) != 1:
            assert time.monotonic() - killed_at < 30, "not given back"
            time.sleep(0.2)
        assert store.processed() == 0
        other = amqp_worker(redis_url, rabbit, queue, tmp_path / "other.log")
        assert store.wait_for(len(batch), timeout=30 - (time.monotonic() - killed_at) + 60)
        stats = store.stats()
        assert stats["stored"] == len(batch) and stats.get("duplicates", 0) == 0
        [started] = events(other, "batch.started")
        assert started["delivery"] == 2  # the same message, delivered again
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
        if other is not None:
            other.stop()


def test_a_poison_message_is_dead_lettered_by_the_queues_delivery_limit(
    redis_url: str, rabbit: RabbitNode, queue: str, store: Store, tmp_path: Path
) -> None:
    max_deliveries = 2
    worker = amqp_worker(redis_url, rabbit, queue, tmp_path / "worker.log",
                         NEWSWIRE_MAX_DELIVERIES=str(max_deliveries))  # fmt: skip
    settings = amqp_settings(redis_url, rabbit, queue, tmp_path).model_copy(
        update={"max_deliveries": max_deliveries}
    )
    poison = [slow_page(n) for n in range(3)] + [article(n, "P") for n in range(50)]
    kills: list[int] = []
    stop = threading.Event()

    def killer(batch_id: str) -> None:
        # Every delivery of this batch dies (a parser's segfault, the OOM killer).
        seen: set[int] = set()
        while not stop.is_set():
            for event in events(worker, "batch.started"):
                delivery = int(event["delivery"])
                if event["batch_id"] == batch_id and delivery not in seen:
                    seen.add(delivery)
                    if delivery <= max_deliveries:
                        os.kill(int(event["pid"]), signal.SIGKILL)
                        kills.append(delivery)
            time.sleep(0.02)

    try:
        with Publisher(settings) as publisher:
            poison_id = publisher.send(poison)
            thread = threading.Thread(target=killer, args=(poison_id,), daemon=True)
            thread.start()
            good = [article(n, "G") for n in range(10)]
            for i in range(0, 10, 5):
                publisher.send(good[i : i + 5])
        assert store.wait_for(len(poison) + 10, timeout=120), worker.log_lines()[-20:]
        stop.set()
        assert kills == [1, 2]
        stats = store.stats()
        assert stats["stored"] == 10  # the other messages kept flowing
        assert stats["dlq:delivery_limit"] == len(poison)
        [(_entry, letter)] = store.dlq(limit=1)
        assert letter["reason"] == "delivery_limit"
        assert "x-delivery-limit" in letter["message"]
        assert json.loads(letter["payload"])["submission_id"] in {a.submission_id for a in poison}
        # RabbitMQ moved it to the dead-letter queue, where it was acknowledged.
        assert rabbit.ready(queue) == 0
        assert rabbit.ready(f"{queue}.dead") == 0
        assert worker.alive()
    finally:
        stop.set()
        worker.stop()


@pytest.mark.timeout(400)
def test_chaos_with_rabbitmq_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    r = run_chaos(tmp_path, payloads=1000, workers=2, concurrency=1, main_kills=1, child_kills=1,
                  redis_restarts=0, broker="amqp", broker_restarts=1, paragraphs=30,
                  batch_size=50, seed=5, budget=250)  # fmt: skip
    faults = r["faults"]
    assert [f for f in faults if f.get("missed")] == []
    assert sorted(f["fault"] for f in faults) == ["child", "main", "rabbit"]
    for f in faults:
        assert f["batches"], f  # each struck a batch in flight
        assert f["redelivered"], f  # which came back and was delivered again
        assert f["done_after_s"] is not None and f["done_after_s"] <= 30, f
    assert r["lost"] == 0
    assert r["stored_twice"] == 0
    assert r["stored"] + r["duplicates"] + r["dead_lettered"] + r["refused"] == r["pushed"]
    assert r["stored"] == r["indexed"] == r["generated_article"]
    assert r["duplicates"] == r["generated_duplicate"]


@pytest.mark.parametrize("command", ["push", "worker"])
def test_a_broker_url_without_a_scheme_stops_the_command_in_one_line(
    command: str, tmp_path: Path
) -> None:
    page = tmp_path / "page.txt"
    page.write_text("A Title - Desk\n" + "Some words of a body. " * 30)
    args = {"push": [str(page)], "worker": ["-c", "1"]}[command]
    result = subprocess.run(
        [sys.executable, "-m", "newswire.cli", command, *args],
        env=worker_env("redis://127.0.0.1:1/0", NEWSWIRE_BROKER_URL="rabbit:5672"),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "NEWSWIRE_BROKER_URL" in lines[0]
    assert "amqp://rabbit:5672//" in lines[0]  # what to write instead
