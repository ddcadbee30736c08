"""Chaos: push payloads, kill workers and restart Redis, then reconcile.

Starts its own redis-server (append-only, fsync every second) and worker
processes on loopback, pushes payloads with duplicates and junk, SIGKILLs
worker main processes (with their pool) and single pool children several
times, restarts Redis once, restarts a worker that exits by itself (as a
supervisor would: docker-compose.yml's restart policy), and checks at the
end that

    stored + duplicates + dead-lettered + refused = pushed, 0 stored twice.

Bounded in time; prints the counts and exits non-zero if anything was lost.

    .venv/bin/python bench/chaos.py [--payloads 5000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.embedded import EmbeddedRedis  # noqa: E402
from config.settings import Settings  # noqa: E402
from producer.client import Publisher  # noqa: E402
from producer.loader import load_paths  # noqa: E402
from worker.keys import Keys  # noqa: E402
from worker.store import Store, connect  # noqa: E402

PREFIX = "chaos"
WORDS = (  # noqa: SIM905 (a sentence reads better than 22 quoted words)
    "council minister harbour league festival market river summit album court rail energy "
    "school budget coach election museum treaty factory storm hospital vote"
).split()


def _article(rng: random.Random, n: int) -> str:
    title = " ".join(rng.choice(WORDS).title() for _ in range(6))
    paragraphs = [
        " ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + f" (report {n}-{p})."
        for p in range(5)
    ]
    return f"{title} - Chaos Gazette\n" + "\n".join(paragraphs)


def write_inbox(folder: Path, payloads: int, seed: int) -> dict[str, int]:
    """Files for `payloads` pushes: ~85% articles, ~10% duplicates, ~5% junk."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {"article": 0, "duplicate": 0, "refused_junk": 0, "worker_junk": 0}
    articles: list[str] = []
    for i in range(payloads):
        roll = rng.random()
        name = folder / f"{i:06d}.txt"
        if roll < 0.10 and articles:
            name.write_text(rng.choice(articles))  # the same page pushed again
            kinds["duplicate"] += 1
        elif roll < 0.125:
            name.write_bytes(rng.choice([b"", b"\x00\x01\x02binary", b" \n\t \n"]))
            kinds["refused_junk"] += 1  # empty, binary, blank: refused by the producer
        elif roll < 0.15:
            name.write_text(f"Just A Headline Number {i} - Somewhere")  # no body: dead-lettered
            kinds["worker_junk"] += 1
        else:
            text = _article(rng, i)
            articles.append(text)
            name.write_text(text)
            kinds["article"] += 1
    return kinds


@dataclass
class Chaos:
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)  # workers that exited by themselves


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def run_chaos(
    workdir: Path,
    *,
    payloads: int = 5000,
    workers: int = 2,
    concurrency: int = 2,
    main_kills: int = 2,
    child_kills: int = 3,
    seed: int = 1,
    budget: float = 600,
) -> dict[str, int]:
    rng = random.Random(seed)
    kinds = write_inbox(workdir / "inbox", payloads, seed)
    server = EmbeddedRedis(workdir / "redis").start()
    port = server.port
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env.update(
        PYTHONPATH=str(ROOT), NEWSWIRE_REDIS_URL=server.url, NEWSWIRE_KEY_PREFIX=PREFIX,
        NEWSWIRE_VISIBILITY_TIMEOUT="10", NEWSWIRE_TASK_TIME_LIMIT="6",
        NEWSWIRE_RETRY_BACKOFF_MAX="2", NEWSWIRE_LOG_LEVEL="WARNING",
    )  # fmt: skip
    chaos = Chaos()
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)

    def start_worker(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "newswire.cli", "worker", "-c", str(concurrency)],
            env=env, stdout=(logs / f"worker{i}-{time.monotonic_ns()}.log").open("wb"),
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def supervise() -> None:
        # As docker-compose.yml's `restart: unless-stopped` does. Celery exits
        # by itself when a pool process dies while it is still starting its
        # pool ("Could not start worker processes"), which a child kill soon
        # after a worker (re)start can cause.
        for i, w in enumerate(chaos.workers):
            if w.poll() is not None:
                chaos.workers[i] = start_worker(i)
                chaos.restarts.append(f"worker {i} (pid {w.pid}) exited ({w.returncode})")

    settings = Settings(redis_url=server.url, key_prefix=PREFIX, _env_file=None)  # type: ignore[call-arg]
    client = connect(server.url)
    store = Store(client, Keys(PREFIX), replay_ttl=3600, events_maxlen=10**7)
    started = time.monotonic()
    try:
        chaos.workers = [start_worker(i) for i in range(workers)]
        with Publisher(settings) as publisher:
            report = publisher.publish(
                load_paths([str(workdir / "inbox")], max_payload_bytes=settings.max_payload_bytes)
            )
        queued = len(report.queued)

        def havoc() -> None:
            nonlocal server
            plan = ["main"] * main_kills + ["child"] * child_kills + ["redis"]
            rng.shuffle(plan)
            for action in plan:
                # Strike while work remains, at an uneven pace.
                time.sleep(rng.uniform(0.3, 1.2))
                supervise()
                if action == "main":
                    i = rng.randrange(len(chaos.workers))
                    victim = chaos.workers[i]
                    os.killpg(victim.pid, signal.SIGKILL)  # the main process and its pool
                    victim.wait()
                    chaos.workers[i] = start_worker(i)
                    chaos.events.append(f"SIGKILL worker {i} (pid {victim.pid}) and its pool")
                elif action == "child":
                    for _ in range(50):  # a freshly restarted worker may have no pool yet
                        pids = [c for w in chaos.workers for c in _children(w.pid)]
                        if pids:
                            pid = rng.choice(pids)
                            os.kill(pid, signal.SIGKILL)
                            chaos.events.append(f"SIGKILL pool child {pid}")
                            break
                        time.sleep(0.1)
                else:
                    server.stop()
                    time.sleep(1)
                    server = EmbeddedRedis(workdir / "redis", port=port).start()
                    chaos.events.append("restarted Redis")

        thread = threading.Thread(target=havoc)
        thread.start()
        thread.join()
        while store.processed() < queued and time.monotonic() - started < budget:
            supervise()
            time.sleep(0.25)
        # Late redeliveries must change nothing: wait until none can come (no
        # unacknowledged message left in kombu's hash, nothing queued).
        while (
            client.hlen("unacked") or client.llen(settings.queue)
        ) and time.monotonic() - started < budget:
            time.sleep(0.1)
        took = time.monotonic() - started

        stats = store.stats()
        full = 0
        hashes: set[str] = set()
        for key in client.scan_iter(match=f"{PREFIX}:article:*", count=1000):
            record = json.loads(client.get(key))
            if "duplicate_of" not in record:
                full += 1
                hashes.add(record["body_hash"])
        settled = sum(1 for _ in client.scan_iter(match=f"{PREFIX}:delivery:*", count=1000))
        stored, dups, dead = (stats.get(k, 0) for k in ("stored", "duplicates", "dead_lettered"))
        result = {
            "pushed": payloads,
            "refused": len(report.refused),
            "queued": queued,
            "stored": stored,
            "duplicates": dups,
            "dead_lettered": dead,
            "settled_submissions": settled,
            "lost": queued - (stored + dups + dead),
            "stored_twice": full - len(hashes),
            "indexed": int(client.zcard(f"{PREFIX}:recent")),
            "seconds": round(took, 1),
        }
        result["chaos_events"] = len(chaos.events)
        result["supervisor_restarts"] = len(chaos.restarts)
        for name, count in kinds.items():
            result[f"generated_{name}"] = count
        for event in chaos.events + chaos.restarts:
            print("  " + event)
        return result
    finally:
        for w in chaos.workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        for w in chaos.workers:
            try:
                w.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
        client.close()
        server.stop()


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--payloads", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = run_chaos(Path(tmp), payloads=args.payloads, workers=args.workers,
                      concurrency=args.concurrency, seed=args.seed)  # fmt: skip
    width = max(map(len, r))
    for name, value in r.items():
        print(f"{name:<{width}}  {value}")
    ok = r["lost"] == 0 and r["stored_twice"] == 0
    ok = ok and r["stored"] + r["duplicates"] + r["dead_lettered"] + r["refused"] == r["pushed"]
    print("reconciled: stored + duplicates + dead-lettered + refused = pushed; 0 stored twice"
          if ok else "NOT RECONCILED")  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
