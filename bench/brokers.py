"""The broker side by side: Redis as the broker against RabbitMQ as the
broker, the store on Redis in both; and how long a Sentinel failover takes.

Throughput: a private redis-server (the store) and a private RabbitMQ node,
``newswire worker -c N`` with the one broker or the other, ``--articles``
payloads of the BBC corpus (10% copies) pushed in batches, first push to the
last article stored (the Redis time of its event). Rounds alternate the
order (the VM's speed drifts); each round's ratio RabbitMQ / Redis is
printed, and the medians. Every run has a key prefix and queue of its own,
so runs never dedup against each other.

Failover (``--failover``): Redis behind Sentinel (a master, two replicas,
three sentinels) as store and broker, the master SIGKILLed once the first
batch of ``--failover-articles`` is stored, the others in flight: the
seconds until a replica is promoted, until the first article is stored
again, until all are; lost, stored twice.

    .venv/bin/python bench/brokers.py [--articles 4000] [--workers 2] [--repeat 3] [--failover]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.payloads import generate  # noqa: E402
from bench.throughput import redis_cpu, stop_process, tree_cpu  # noqa: E402
from config.embedded import EmbeddedRedis  # noqa: E402
from config.settings import Settings  # noqa: E402
from producer.client import Publisher  # noqa: E402
from tests.brokers import RabbitNode, SentinelGroup  # noqa: E402
from worker.contract import RawArticle  # noqa: E402
from worker.keys import Keys  # noqa: E402
from worker.store import Store, connect  # noqa: E402


def start_worker(env: dict[str, str], log: Path, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", "worker", "-c", str(workers)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def wait_processed(store: Store, n: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while store.processed() < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {store.processed()} of {n} processed")
        time.sleep(0.1)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env.update(NEWSWIRE_LOG_FORMAT="json", PYTHONPATH=str(ROOT))
    return env


def one_run(
    broker: str, run: int, raws: list[RawArticle], redis_url: str, rabbit: RabbitNode,
    args: argparse.Namespace, tmp: Path,
) -> dict[str, Any]:  # fmt: skip
    """One timed run of the service with ``broker`` (redis or amqp)."""
    prefix = queue = f"bench-{broker}-{run}"
    extra = {"broker_url": rabbit.url} if broker == "amqp" else {}
    settings = Settings(redis_url=redis_url, key_prefix=prefix, queue=queue, _env_file=None,
                        **extra)  # type: ignore[arg-type]  # fmt: skip
    env = base_env()
    env.update(NEWSWIRE_REDIS_URL=redis_url, NEWSWIRE_KEY_PREFIX=prefix, NEWSWIRE_QUEUE=queue)
    if broker == "amqp":
        env["NEWSWIRE_BROKER_URL"] = rabbit.url
    client: Any = connect(redis_url)  # untyped replies, as in the Store
    store = Store(client, Keys(prefix), replay_ttl=3600, events_maxlen=10**7)
    worker = start_worker(env, tmp / f"{queue}.log", args.workers)
    try:
        with Publisher(settings) as pub:
            pub.send([generate(1, seed=99, start=10**9 + run)[0].article])  # warm-up
            wait_processed(store, 1, 120)
            mem0 = client.info("memory")["used_memory"]
            assert rabbit.process is not None
            rcpu0, qcpu0 = redis_cpu(client), tree_cpu(rabbit.process.pid)
            started = time.time()
            for at in range(0, len(raws), args.batch_size):
                pub.send(raws[at : at + args.batch_size])
            pushed = time.time() - started
        wait_processed(store, len(raws) + 1)
        ((entry, _),) = client.xrevrange(store.keys.events, count=1)
        took = int(entry.split("-")[0]) / 1000 - started
        stored = store.stats().get("stored", 0) - 1
        mem = client.info("memory")["used_memory"] - mem0
        n = len(raws)
        rcpu, qcpu = redis_cpu(client) - rcpu0, tree_cpu(rabbit.process.pid) - qcpu0
        return {"broker": broker, "throughput": len(raws) / took, "seconds": took,
                "push_rate": len(raws) / pushed, "stored": stored,
                "redis_bytes_per_stored": mem / max(stored, 1),
                "redis_cpu_ms_per_article": rcpu / n * 1e3,
                "rabbitmq_cpu_ms_per_article": qcpu / n * 1e3 * (broker == "amqp")}  # fmt: skip
    finally:
        stop_process(worker)
        client.close()


def side_by_side(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    raws = [p.article for p in generate(args.articles, seed=3)]
    runs: list[dict[str, Any]] = []
    ratios: list[float] = []
    with EmbeddedRedis(tmp / "redis", appendonly=True) as srv, RabbitNode(tmp / "rabbit") as rabbit:
        for rnd in range(args.repeat):
            order = ["redis", "amqp"] if rnd % 2 == 0 else ["amqp", "redis"]
            this = {b: one_run(b, rnd, raws, srv.url, rabbit, args, tmp) for b in order}
            for b in order:
                r = this[b]
                runs.append(r)
                kib = r["redis_bytes_per_stored"] / 1024
                print(f"  round {rnd + 1} {b:<5}  {r['throughput']:7.1f} articles/s  "
                      f"({r['seconds']:.1f} s; push {r['push_rate']:.0f}/s; "
                      f"{kib:.1f} KiB Redis per stored; CPU per article: Redis "
                      f"{r['redis_cpu_ms_per_article']:.3f} ms, RabbitMQ "
                      f"{r['rabbitmq_cpu_ms_per_article']:.3f} ms)")  # fmt: skip
            ratio = this["amqp"]["throughput"] / this["redis"]["throughput"]
            ratios.append(ratio)
            print(f"  round {rnd + 1} ratio RabbitMQ / Redis: {ratio:.2f}")
        backlog = queued_memory(raws, srv.url, rabbit, args)
    med = {
        b: statistics.median(r["throughput"] for r in runs if r["broker"] == b)
        for b in ("redis", "amqp")
    }
    return {"median_redis": med["redis"], "median_amqp": med["amqp"],
            "ratio_of_medians": med["amqp"] / med["redis"], "round_ratios": ratios,
            **backlog}  # fmt: skip


def queued_memory(
    raws: list[RawArticle], redis_url: str, rabbit: RabbitNode, args: argparse.Namespace
) -> dict[str, float]:
    """Broker memory per article waiting in the queue (no worker running):
    Redis's used_memory, RabbitMQ's Erlang VM total, before and after."""
    found: dict[str, float] = {}
    client = connect(redis_url)
    try:
        for broker in ("redis", "amqp"):
            queue = f"backlog-{broker}"
            extra = {"broker_url": rabbit.url} if broker == "amqp" else {}
            settings = Settings(redis_url=redis_url, queue=queue, _env_file=None,
                                **extra)  # type: ignore[arg-type]  # fmt: skip

            def memory(broker: str = broker) -> int:
                if broker == "redis":
                    return int(client.info("memory")["used_memory"])
                out = rabbit.ctl("eval", "erlang:memory(total).").stdout.strip()
                return int(out)

            with Publisher(settings) as pub:
                pub.send(raws[:1])  # declares the queue
                time.sleep(2)
                before = memory()
                for at in range(1, len(raws), args.batch_size):
                    pub.send(raws[at : at + args.batch_size])
            time.sleep(3)  # RabbitMQ's memory settles
            found[f"{broker}_queued_bytes_per_article"] = (memory() - before) / (len(raws) - 1)
            if broker == "redis":
                client.delete(queue)
            else:
                rabbit.ctl("delete_queue", queue)
    finally:
        client.close()
    return found


def failover(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    master = "nwbench"
    raws = [p.article for p in generate(args.failover_articles, seed=11, dup_rate=0.0)]
    with SentinelGroup(tmp / "sentinel", replicas=2, sentinels=3, master_name=master) as group:
        url = group.url()
        settings = Settings(redis_url=url, sentinel_master=master, key_prefix="fo", queue="fo",
                            _env_file=None)  # fmt: skip
        env = base_env()
        env.update(NEWSWIRE_REDIS_URL=url, NEWSWIRE_SENTINEL_MASTER=master,
                   NEWSWIRE_KEY_PREFIX="fo", NEWSWIRE_QUEUE="fo",
                   NEWSWIRE_VISIBILITY_TIMEOUT="10", NEWSWIRE_TASK_TIME_LIMIT="9",
                   NEWSWIRE_RETRY_BACKOFF_MAX="1")  # fmt: skip
        store = Store.from_settings(settings)
        worker = start_worker(env, tmp / "failover.log", args.workers)
        try:
            with Publisher(settings) as pub:
                for at in range(0, len(raws), args.batch_size):
                    pub.send(raws[at : at + args.batch_size])
            wait_processed(store, 1)  # under way: the first batch stored, the rest in flight
            before = store.processed()
            old = group.kill_master()
            killed = time.monotonic()
            group.wait_failover(old)
            promoted = time.monotonic() - killed
            while True:
                try:
                    if store.processed() > before:
                        break
                except redis.RedisError:  # the old master's connection, until the new one
                    pass
                time.sleep(0.05)
            resumed = time.monotonic() - killed
            wait_processed(store, len(raws), 600)
            done = time.monotonic() - killed
            stats = store.stats()
            keys = store.redis.scan_iter(match="fo:article:*", count=1000)
            records = [json.loads(store.redis.get(k)) for k in keys]
            hashes = [r["body_hash"] for r in records if "duplicate_of" not in r]
            return {"articles": len(raws), "in_flight_at_kill": len(raws) - before,
                    "promoted_s": round(promoted, 1), "first_stored_again_s": round(resumed, 1),
                    "all_stored_s": round(done, 1), "stored": stats.get("stored", 0),
                    "duplicates": stats.get("duplicates", 0),
                    "lost": len(raws) - stats.get("stored", 0) - stats.get("duplicates", 0),
                    "stored_twice": len(hashes) - len(set(hashes))}  # fmt: skip
        finally:
            stop_process(worker)
            store.redis.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--failover", action="store_true", help="also the Sentinel failover run")
    ap.add_argument("--failover-articles", type=int, default=2100)
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_throughput:
            print(f"throughput, {args.articles} payloads, {args.workers} worker processes, "
                  f"batches of {args.batch_size}:")  # fmt: skip
            r = side_by_side(args, Path(tmp))
            print(f"median: Redis {r['median_redis']:.1f}/s, RabbitMQ {r['median_amqp']:.1f}/s, "
                  f"RabbitMQ / Redis {r['ratio_of_medians']:.2f} (rounds: "
                  f"{', '.join(f'{x:.2f}' for x in r['round_ratios'])})")  # fmt: skip
            print(f"queued, no worker: {r['redis_queued_bytes_per_article']:.0f} B per article "
                  f"in Redis, {r['amqp_queued_bytes_per_article']:.0f} B in RabbitMQ")  # fmt: skip
        if args.failover:
            f = failover(args, Path(tmp))
            print("sentinel failover: " + ", ".join(f"{k} {v}" for k, v in f.items()))


if __name__ == "__main__":
    main()
