"""End-to-end throughput through a real Redis and real worker processes.

Starts a private redis-server and `newswire worker -c C`, pushes M scraped
pages (sample-shaped, from the BBC corpus) in batches, and measures the time
from the first push to the last article stored, plus Redis memory per stored
article. Prints figures; asserts nothing. Loopback only, bounded in time.

    .venv/bin/python bench/e2e.py [--articles 4000] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import scraped_pages
from newswire.embedded import EmbeddedRedis
from newswire.settings import Settings
from producer.client import Publisher
from worker.contract import RawArticle
from worker.keys import Keys
from worker.store import Store, connect


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=50)
    args = ap.parse_args()

    pages = scraped_pages(args.articles)
    raws = [RawArticle(kind="text", text=p) for p in pages]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp), appendonly=False) as srv:
        settings = Settings(redis_url=srv.url, batch_size=args.batch_size, _env_file=None)  # type: ignore[call-arg]
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
        env.update(NEWSWIRE_REDIS_URL=srv.url, NEWSWIRE_LOG_LEVEL="WARNING")
        log = Path(tmp) / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "newswire.cli", "worker", "-c", str(args.concurrency)],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        client = connect(srv.url)
        store = Store(client, Keys(settings.key_prefix), replay_ttl=60, events_maxlen=10**6)
        try:
            time.sleep(1)
            # Warm-up: wait for the worker to take a first batch.
            with Publisher(settings) as p:
                p.send([RawArticle(kind="text", text=pages[0] + "\nwarm-up")])
            if not store.wait_for(1, timeout=60):
                raise SystemExit(log.read_text()[-3000:])
            base_mem = client.info("memory")["used_memory"]
            cpu0 = os.times()
            started = time.perf_counter()
            with Publisher(settings) as p:
                for i in range(0, len(raws), args.batch_size):
                    p.send(raws[i : i + args.batch_size])
            pushed = time.perf_counter() - started
            if not store.wait_for(1 + len(raws), timeout=600):
                raise SystemExit("timed out")
            took = time.perf_counter() - started
            stats = store.stats()
            mem = client.info("memory")["used_memory"] - base_mem
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        cpu1 = os.times()
        stored = stats.get("stored", 0)
        body = sum(len(r.text or "") for r in raws) / len(raws)
        print(
            f"{len(raws)} articles (mean {body / 1024:.1f} KB), batch {args.batch_size}, "
            f"{args.concurrency} worker processes, 1 redis-server, {os.cpu_count()} cores"
        )
        print(f"push rate        {len(raws) / pushed:8.0f} articles/s")
        print(f"end to end       {len(raws) / took:8.0f} articles/s ({took:.1f} s)")
        print(
            f"stored {stored}, duplicates {stats.get('duplicates', 0)}, "
            f"dead-lettered {stats.get('dead_lettered', 0)}"
        )
        print(f"redis memory     {mem / max(stored, 1):8.0f} bytes/stored article")
        child_cpu = (cpu1.children_user + cpu1.children_system) - (
            cpu0.children_user + cpu0.children_system
        )
        if child_cpu > 0:
            print(f"worker cpu       {child_cpu / len(raws) * 1e3:8.2f} ms/article")


if __name__ == "__main__":
    main()
