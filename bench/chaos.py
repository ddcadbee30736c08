"""Chaos: push payloads, kill busy workers and restart Redis mid-run, then reconcile.

Starts its own redis-server (append-only, fsync every second) and worker
processes on loopback, pushes payloads with duplicates and junk, then strikes
while the work is under way: each fault waits for its share of the run to be
processed (between 10% and 90%, read from the store's counters) and for a
victim that is busy, a pool process with a batch in flight (its
``batch.started`` logged, none of that batch's articles yet). Faults:
SIGKILLs of worker main processes (with their pool) and of single pool
children, and a Redis restart while every pool process is inside a batch.
A worker that exits by itself is restarted (as a supervisor would:
docker-compose.yml's restart policy).

With ``--broker amqp`` the queue is a private RabbitMQ node's (the store
stays on Redis), and the Redis restart is replaced by a RabbitMQ restart
while every pool process is inside a batch: those batches' acknowledgements
die with the connection, RabbitMQ gives them out again, and they must change
nothing. At the end it checks that

    stored + duplicates + dead-lettered + refused = pushed, 0 stored twice,

and reports each fault (when, whom, which batch) and whether the killed
batches were delivered again. Bounded in time; exits non-zero if anything
was lost or a fault missed its window.

    .venv/bin/python bench/chaos.py [--payloads 5000] [--workers 2] [--broker redis|amqp]

With ``--recovery`` it measures instead how soon the batches of a worker
killed whole come back: two workers at the default heartbeat settings and
visibility timeout, a SIGKILL of the whole process group of one of them
while it has a batch in flight, and the time until every batch it held is
stored by the other (``--rounds`` times; ``--json FILE`` saves the report).

    .venv/bin/python bench/chaos.py --recovery [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.embedded import EmbeddedRedis  # noqa: E402
from config.settings import Settings  # noqa: E402
from producer.client import Publisher  # noqa: E402
from producer.loader import load_paths  # noqa: E402
from worker.keys import Keys  # noqa: E402
from worker.store import Store, connect  # noqa: E402

PREFIX = "chaos"
# Faults strike between these shares of the payloads processed.
WINDOW = (0.1, 0.9)
WORDS = (  # noqa: SIM905 (a sentence reads better than 22 quoted words)
    "council minister harbour league festival market river summit album court rail energy "
    "school budget coach election museum treaty factory storm hospital vote"
).split()
# Long articles need more words than WORDS: drawn from 22 words, two pages
# of a few thousand share enough 3-word runs to look like near copies.
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
_vocab_rng = random.Random(0)
VOCAB = sorted({"".join(_vocab_rng.choices(_SYLLABLES, k=_vocab_rng.choice((2, 3))))
                for _ in range(6000)} | set(WORDS))  # fmt: skip
BUSY_EVENTS_END = ("article.processed", "article.dead_lettered", "batch.requeued",
                   "batch.dead_lettered", "batch.invalid")  # fmt: skip


def _article(rng: random.Random, n: int, paragraphs: int, html: bool) -> str:
    words = WORDS if paragraphs <= 5 else VOCAB
    title = " ".join(w.title() for w in rng.choices(words, k=6))
    body = [
        " ".join(rng.choices(words, k=40)).capitalize() + f" (report {n}-{p})."
        for p in range(paragraphs)
    ]
    if not html:
        return f"{title} - Chaos Gazette\n" + "\n".join(body)
    paras = "\n".join(f"<p>{p}</p>" for p in body)
    return (f"<html><head><title>{title} - Chaos Gazette</title></head><body><article>"
            f"<h1>{title}</h1>\n{paras}\n</article></body></html>")  # fmt: skip


def write_inbox(
    folder: Path, payloads: int, seed: int, paragraphs: int = 5, html: bool = False
) -> dict[str, int]:
    """Files for `payloads` pushes: ~85% articles (text or HTML pages of
    ``paragraphs`` paragraphs), ~10% duplicates, ~5% junk."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {"article": 0, "duplicate": 0, "refused_junk": 0, "worker_junk": 0}
    articles: list[str] = []
    suffix = ".html" if html else ".txt"
    for i in range(payloads):
        roll = rng.random()
        name = folder / f"{i:06d}.txt"
        if roll < 0.10 and articles:
            name.with_suffix(suffix).write_text(rng.choice(articles))  # the same page again
            kinds["duplicate"] += 1
        elif roll < 0.125:
            name.write_bytes(rng.choice([b"", b"\x00\x01\x02binary", b" \n\t \n"]))
            kinds["refused_junk"] += 1  # empty, binary, blank: refused by the producer
        elif roll < 0.15:
            name.write_text(f"Just A Headline Number {i} - Somewhere")  # no body: dead-lettered
            kinds["worker_junk"] += 1
        else:
            text = _article(rng, i, paragraphs, html)
            articles.append(text)
            name.with_suffix(suffix).write_text(text)
            kinds["article"] += 1
    return kinds


# -- a Redis that can be restarted -------------------------------------------


def quiet_port() -> int:
    """A free loopback port below the kernel's ephemeral range. A server
    restarted on its port must find it free: in the ephemeral range, a client
    socket (a worker retrying the dead server, even connecting to itself) may
    hold it by then."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 10_000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port found under {low}")


def start_redis(data_dir: Path, port: int | None = None, *, attempts: int = 6) -> EmbeddedRedis:
    """A private redis-server under ``data_dir``, on ``port`` (a restart) or
    on a quiet port. A port taken before the server's bind is retried:
    another port for a first start, the same one after a pause for a
    restart. EmbeddedRedis returns only a server that is this one, never
    another that answered on the port."""
    for attempt in range(attempts):
        server = EmbeddedRedis(data_dir, port=port or quiet_port())
        try:
            return server.start()
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.25 * (attempt + 1))
    raise AssertionError("unreachable")


def stop_redis(server: EmbeddedRedis) -> None:
    """Stop it now, gracefully: on SIGTERM redis-server flushes the
    append-only file and exits, as on SHUTDOWN. (EmbeddedRedis.stop() sends
    SHUTDOWN through a redis-py client, whose default retries of the closed
    connection then hold it for ~5 s: an outage longer than asked for.)"""
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=30)
    server.stop()  # what is left: the URL file


# -- who is busy: the workers' JSON logs --------------------------------------


@dataclass
class LogWatch:
    """Follows the workers' JSON logs: which pool process has a batch in
    flight (its ``batch.started``, none of its articles or its hand-back
    logged yet), every batch start (with its delivery count) and every
    store retry."""

    offsets: dict[Path, int] = field(default_factory=dict)
    inflight: dict[int, dict[str, Any]] = field(default_factory=dict)  # pid -> batch.started
    starts: list[dict[str, Any]] = field(default_factory=list)
    retries: list[dict[str, Any]] = field(default_factory=list)
    requeues: list[dict[str, Any]] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)  # of batches that finished
    ended: dict[str, float] = field(default_factory=dict)  # task id -> its last end logged

    def poll(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.log")):
            with path.open("rb") as f:
                f.seek(self.offsets.get(path, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written waits
            self.offsets[path] = self.offsets.get(path, 0) + end
            for line in data[:end].splitlines():
                if line.startswith(b"{"):
                    try:
                        self._see(json.loads(line))
                    except ValueError:
                        continue

    def _see(self, e: dict[str, Any]) -> None:
        event = e.get("event")
        if event == "batch.started":
            self.inflight[int(e["pid"])] = e
            self.starts.append(e)
        elif event in BUSY_EVENTS_END:
            if e.get("task_id"):
                self.ended[e["task_id"]] = when(e)
            for pid, started in list(self.inflight.items()):
                if started.get("task_id") == e.get("task_id"):
                    del self.inflight[pid]
                    self.durations.append(when(e) - when(started))
            if event == "batch.requeued":
                self.requeues.append(e)
        elif event == "store.retry":
            self.retries.append(e)

    def busy(self, pids: list[int], margin: float = 0.1) -> dict[int, dict[str, Any]]:
        """Those of ``pids`` with a batch in flight that started so recently
        that it cannot end within ``margin`` seconds, by the shortest batch
        seen so far: a fault strikes the batch, not its last line. (The
        counters that trigger a fault move when a batch is stored, just
        before its articles are logged.)"""
        if not self.durations:
            return {}
        latest = time.time() + margin - min(self.durations)
        return {
            pid: self.inflight[pid]
            for pid in pids
            if pid in self.inflight and when(self.inflight[pid]) > latest
        }

    def deliveries(self, task_id: str) -> list[int]:
        return [int(e["delivery"]) for e in self.starts if e.get("task_id") == task_id]


def when(event: dict[str, Any]) -> float:
    """A log line's time, Unix seconds."""
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (by parent pid: billiard forks a
    replacement pool process from a thread, not from the main one)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


@dataclass
class Chaos:
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)  # workers that exited by themselves


def run_chaos(
    workdir: Path,
    *,
    payloads: int = 5000,
    workers: int = 2,
    concurrency: int = 2,
    main_kills: int = 2,
    child_kills: int = 3,
    redis_restarts: int = 1,
    paragraphs: int = 30,
    html: bool = True,
    batch_size: int = 100,
    redis_outage: float = 1.0,
    seed: int = 1,
    budget: float = 600,
    broker: str = "redis",
    broker_restarts: int = 0,
) -> dict[str, Any]:
    rng = random.Random(seed)
    kinds = write_inbox(workdir / "inbox", payloads, seed, paragraphs, html)
    server = start_redis(workdir / "redis")
    port = server.port
    rabbit = None
    if broker == "amqp":
        from tests.brokers import RabbitNode

        rabbit = RabbitNode(workdir / "rabbit").start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env.update(
        PYTHONPATH=str(ROOT), NEWSWIRE_REDIS_URL=server.url, NEWSWIRE_KEY_PREFIX=PREFIX,
        NEWSWIRE_VISIBILITY_TIMEOUT="10", NEWSWIRE_TASK_TIME_LIMIT="6",
        NEWSWIRE_RETRY_BACKOFF_MAX="2", NEWSWIRE_LOG_LEVEL="INFO", NEWSWIRE_LOG_FORMAT="json",
    )  # fmt: skip
    if rabbit is not None:
        env["NEWSWIRE_BROKER_URL"] = rabbit.url
    chaos = Chaos()
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    watch = LogWatch()

    def start_worker(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "newswire.cli", "worker", "-c", str(concurrency)],
            env=env, stdout=(logs / f"worker{i}-{time.monotonic_ns()}.log").open("wb"),
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def supervise() -> None:
        # As docker-compose.yml's `restart: unless-stopped` does. Celery exits
        # by itself when a pool process dies while it is still starting its
        # pool ("Could not start worker processes").
        for i, w in enumerate(chaos.workers):
            if w.poll() is not None:
                chaos.workers[i] = start_worker(i)
                chaos.restarts.append(f"worker {i} (pid {w.pid}) exited ({w.returncode})")

    settings = Settings(redis_url=server.url, key_prefix=PREFIX, batch_size=batch_size,
                        broker_url=rabbit.url if rabbit else None,
                        _env_file=None)  # type: ignore[call-arg]  # fmt: skip
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

        def progress() -> float:
            return store.processed() / max(queued, 1)

        def strike(action: str) -> dict[str, Any] | None:
            """The fault on a busy victim now, or None if there is none yet."""
            nonlocal server
            watch.poll(logs)
            pools = {i: _children(w.pid) for i, w in enumerate(chaos.workers) if w.poll() is None}
            busy = watch.busy([pid for pids in pools.values() for pid in pids])
            if not busy:
                return None
            done = progress()
            fault: dict[str, Any] = {"fault": action, "progress": round(done, 3)}
            if action == "child":
                pid = rng.choice(sorted(busy))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:  # gone since the look: not a victim
                    return None
                watch.inflight.pop(pid)  # dead, whatever its log says
                return {**fault, "pid": pid, "batches": [busy[pid]]}
            if action == "main":
                candidates = [i for i, pids in pools.items() if any(p in busy for p in pids)]
                if candidates:
                    i = rng.choice(candidates)
                    victim = chaos.workers[i]
                    os.killpg(victim.pid, signal.SIGKILL)  # the main process and its pool
                    victim.wait()
                    chaos.workers[i] = start_worker(i)
                    batches = [busy[p] for p in pools[i] if p in busy]
                    for p in pools[i]:
                        watch.inflight.pop(p, None)
                    return {**fault, "pid": victim.pid, "batches": batches}
            if action == "rabbit" and rabbit is not None:
                # With batches in flight (RabbitMQ has no fetch window to
                # avoid, unlike kombu's Redis transport): their
                # acknowledgements will find the connection gone, and
                # RabbitMQ, back, gives the batches out again.
                restart_began = time.monotonic()
                rabbit.stop()
                time.sleep(redis_outage)
                rabbit.start()
                return {**fault, "batches": list(busy.values()),
                        "outage_s": round(time.monotonic() - restart_began, 1)}  # fmt: skip
            if action == "redis":
                # Every pool process inside a batch it will not finish soon,
                # so no worker is fetching: kombu takes a message (BRPOP) and
                # records it as unacked in a second command, and a Redis
                # stopped between the two loses it (docs/architecture.md,
                # known limits); decoding a message of a megabyte between
                # the two widens that window.
                live = [pid for pids in pools.values() for pid in pids]
                if all(pools.values()) and len(busy) == len(live):
                    stop_redis(server)
                    time.sleep(redis_outage)
                    server = start_redis(workdir / "redis", port=port)
                    return {**fault, "batches": list(busy.values())}
            return None

        def havoc() -> None:
            plan = ["main"] * main_kills + ["child"] * child_kills + ["redis"] * redis_restarts
            plan += ["rabbit"] * broker_restarts
            rng.shuffle(plan)
            low, high = WINDOW
            # Evenly spread over the window: fault k of n falls due at the
            # share low + (high - low) * (k + 1) / (n + 1) of the payloads. A
            # fault due but without a victim yet does not hold up the next.
            due = [(low + (high - low) * (k + 1) / (len(plan) + 1), a) for k, a in enumerate(plan)]
            while due and time.monotonic() - started < budget:
                supervise()
                done = progress()
                if done > high:
                    break
                for entry in [d for d in due if d[0] <= done]:
                    fault = strike(entry[1])
                    if fault is not None:
                        fault["retries_before"] = len(watch.retries)
                        fault["at"] = time.time()
                        chaos.faults.append(fault)
                        due.remove(entry)
                time.sleep(0.005)
            for _, action in due:
                chaos.faults.append({"fault": action, "missed": True,
                                     "progress": round(progress(), 3)})  # fmt: skip

        thread = threading.Thread(target=havoc)
        thread.start()
        thread.join()
        while store.processed() < queued and time.monotonic() - started < budget:
            supervise()
            time.sleep(0.25)
        # Late redeliveries must change nothing: wait until none can come (no
        # unacknowledged message left in kombu's hash, nothing queued).
        while not _drained(client, settings.queue, rabbit) and time.monotonic() - started < budget:
            time.sleep(0.1)
        took = time.monotonic() - started
        watch.poll(logs)

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
        for fault in chaos.faults:
            # A killed batch must have been delivered again; after a Redis
            # restart, the workers must have retried a store write.
            if fault["fault"] in ("main", "child") and "batches" in fault:
                fault["redelivered"] = all(
                    any(d > b["delivery"] for d in watch.deliveries(b["task_id"]))
                    for b in fault["batches"]
                )
            elif fault["fault"] == "rabbit" and "batches" in fault:
                # Finished before its acknowledgement was lost: the delivery
                # count starts again, so count the starts.
                fault["redelivered"] = all(
                    len(watch.deliveries(b["task_id"])) > 1 for b in fault["batches"]
                )
            elif fault["fault"] == "redis" and "batches" in fault:
                fault["store_retries"] = len(watch.retries) - fault["retries_before"]
            if "batches" in fault:
                # From the fault to the last of its batches done (stored,
                # dead-lettered or handed back) by a later delivery.
                ends = [watch.ended.get(b["task_id"]) for b in fault["batches"]]
                fault["done_after_s"] = (
                    round(max(e for e in ends if e is not None) - fault["at"], 1)
                    if all(e is not None and e > fault["at"] for e in ends)
                    else None
                )
        result: dict[str, Any] = {
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
            "chaos_events": sum("missed" not in f for f in chaos.faults),
            "missed_faults": sum("missed" in f for f in chaos.faults),
            "redeliveries": sum(e["delivery"] >= 2 for e in watch.starts),
            "store_retries": len(watch.retries),
            "requeued": len(watch.requeues),
            "supervisor_restarts": len(chaos.restarts),
        }
        for name, count in kinds.items():
            result[f"generated_{name}"] = count
        result["faults"] = chaos.faults
        for fault in chaos.faults:
            print("  " + _describe(fault))
        for restart in chaos.restarts:
            print("  " + restart)
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
        stop_redis(server)
        if rabbit is not None:
            rabbit.close()


def _drained(client: redis.Redis, queue: str, rabbit: Any) -> bool:
    """No message left that could still be delivered: none queued, none
    unacknowledged (kombu's hash in Redis; RabbitMQ's queue counts)."""
    if rabbit is None:
        return not (client.hlen("unacked") or client.llen(queue))
    if rabbit.ready(queue) or rabbit.ready(f"{queue}.dead"):
        return False
    # Unacknowledged ones too: rabbitmqctl's counts, which lag a second.
    time.sleep(2)
    out = rabbit.ctl("list_queues", "-q", "--no-table-headers", "name", "messages").stdout
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}  # fmt: skip
    return counts.get(queue, 0) == 0 and counts.get(f"{queue}.dead", 0) == 0


def _describe(fault: dict[str, Any]) -> str:
    at = f"at {fault['progress']:.0%} processed"
    if fault.get("missed"):
        return f"{fault['fault']}: MISSED, no busy victim before {WINDOW[1]:.0%} ({at})"
    batches = ", ".join(f"batch {b['batch_id'][:8]} delivery {b['delivery']}"
                        for b in fault["batches"])  # fmt: skip
    if fault["fault"] == "rabbit":
        again = "delivered again" if fault["redelivered"] else "NOT delivered again"
        return (f"restarted RabbitMQ {at} ({fault['outage_s']}s), during {batches}: {again}, "
                f"done {fault['done_after_s']}s after")  # fmt: skip
    if fault["fault"] == "redis":
        return (f"restarted Redis {at}, during {batches}: "
                f"{fault['store_retries']} store retries")  # fmt: skip
    what = "worker main process and its pool" if fault["fault"] == "main" else "pool child"
    again = "delivered again" if fault["redelivered"] else "NOT delivered again"
    return (f"SIGKILL {what} {fault['pid']} {at}, busy with {batches}: {again}, "
            f"done {fault['done_after_s']}s after the kill")  # fmt: skip


# -- recovery of a worker killed whole ---------------------------------------


def run_recovery(
    workdir: Path,
    *,
    rounds: int = 3,
    batches: int = 8,
    batch_size: int = 100,
    concurrency: int = 2,
    paragraphs: int = 30,
    seed: int = 1,
    budget: float = 240,
) -> dict[str, Any]:
    """Time from a SIGKILL of a busy worker's whole process group to every
    message it held stored by the other worker, at the default heartbeat
    settings and the default 300 s visibility timeout, ``rounds`` times."""
    from worker.heartbeat import worker_beats

    runs = []
    for n in range(rounds):
        folder = workdir / f"round{n}"
        write_inbox(folder / "inbox", batches * batch_size, seed + n, paragraphs, html=True)
        server = start_redis(folder / "redis")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
        env.update(PYTHONPATH=str(ROOT), NEWSWIRE_REDIS_URL=server.url, NEWSWIRE_KEY_PREFIX=PREFIX,
                   NEWSWIRE_LOG_FORMAT="json")  # fmt: skip
        logs = folder / "logs"
        logs.mkdir()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "newswire.cli", "worker", "-c", str(concurrency)],
                env=env,
                stdout=(logs / f"worker{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            for i in range(2)
        ]
        client = connect(server.url)
        store = Store(client, Keys(PREFIX), replay_ttl=3600, events_maxlen=10**7)
        settings = Settings(redis_url=server.url, key_prefix=PREFIX, batch_size=batch_size,
                            _env_file=None)  # type: ignore[call-arg]  # fmt: skip
        watch = LogWatch()
        try:
            while sum(b.alive for b in worker_beats(client, store.keys)) < 2:
                time.sleep(0.1)
            with Publisher(settings) as publisher:
                report = publisher.publish(
                    load_paths(
                        [str(folder / "inbox")], max_payload_bytes=settings.max_payload_bytes
                    )
                )
            victim = procs[0]
            started = time.monotonic()
            while not watch.busy(_children(victim.pid)):
                if time.monotonic() - started > budget:
                    raise SystemExit("the victim never had a batch in flight")
                watch.poll(logs)
                time.sleep(0.005)
            # What it holds: its instance's held set (the batches running and
            # any reserved ahead), by task id.
            [mine] = [b for b in worker_beats(client, store.keys) if b.pid == victim.pid]
            tags = client.smembers(store.keys.held(mine.instance))
            held = []
            for tag in tags:
                raw = client.hget("unacked", tag)
                if raw is not None:
                    held.append(json.loads(raw)[0]["headers"]["id"])
            os.killpg(victim.pid, signal.SIGKILL)
            killed = time.time()
            victim.wait()
            while store.processed() < len(report.queued):
                if time.monotonic() - started > budget:
                    raise SystemExit(
                        f"{store.processed()} of {len(report.queued)} payloads processed "
                        f"after {budget} s; unacked: {client.hlen('unacked')}, queued: "
                        f"{client.llen(settings.queue)}; logs in {logs}"
                    )
                time.sleep(0.1)
            survivor = [json.loads(line) for line in (logs / "worker1.log").read_text().splitlines()
                        if line.startswith("{")]  # fmt: skip
            reaped = [when(e) for e in survivor if e.get("event") == "worker.reaped"]
            ends: dict[str, float] = {}
            for e in survivor:
                if e.get("task_id") in held and e.get("event") in BUSY_EVENTS_END:
                    ends.setdefault(e["task_id"], when(e))
            runs.append({
                "held": len(held),
                "handed_back_s": round(min(reaped) - killed, 1) if reaped else None,
                "all_stored_s": round(max(ends.values()) - killed, 1)
                if len(ends) == len(held) else None,
            })  # fmt: skip
            print(f"  round {n + 1}: SIGKILL of a worker holding {len(held)} batches: handed "
                  f"back after {runs[-1]['handed_back_s']} s, all stored after "
                  f"{runs[-1]['all_stored_s']} s")  # fmt: skip
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
            client.close()
            stop_redis(server)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    stored = [r["all_stored_s"] for r in runs if r["all_stored_s"] is not None]
    return {
        "heartbeat_interval_s": defaults.heartbeat_interval,
        "dead_after_s": defaults.dead_after,
        "visibility_timeout_s": defaults.visibility_timeout,
        "workers": 2,
        "concurrency": concurrency,
        "batch_size": batch_size,
        "rounds": runs,
        "all_stored_s_max": max(stored) if stored else None,
    }


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--payloads", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--paragraphs", type=int, default=30, help="per article (~260 B each)")
    ap.add_argument("--text", action="store_true", help="text pages, not HTML (10x faster)")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--recovery",
        action="store_true",
        help="instead: time from a SIGKILL of a busy worker to its batches stored",
    )
    ap.add_argument("--rounds", type=int, default=3, help="with --recovery")
    ap.add_argument("--json", type=Path, help="with --recovery: write the report there")
    ap.add_argument(
        "--broker",
        choices=["redis", "amqp"],
        default="redis",
        help="amqp: a private RabbitMQ node is the broker, restarted mid-run",
    )
    args = ap.parse_args()
    if args.recovery:
        with tempfile.TemporaryDirectory() as tmp:
            report = run_recovery(Path(tmp), rounds=args.rounds, concurrency=args.concurrency,
                                  batch_size=args.batch_size, seed=args.seed)  # fmt: skip
        print(json.dumps(report, indent=2))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        sys.exit(0 if report["all_stored_s_max"] is not None else 1)
    amqp = args.broker == "amqp"
    with tempfile.TemporaryDirectory() as tmp:
        r = run_chaos(Path(tmp), payloads=args.payloads, workers=args.workers,
                      concurrency=args.concurrency, paragraphs=args.paragraphs, html=not args.text,
                      batch_size=args.batch_size, seed=args.seed, broker=args.broker,
                      redis_restarts=int(not amqp), broker_restarts=int(amqp))  # fmt: skip
    faults = r.pop("faults")
    width = max(map(len, r))
    for name, value in r.items():
        print(f"{name:<{width}}  {value}")
    ok = r["lost"] == 0 and r["stored_twice"] == 0
    ok = ok and r["stored"] + r["duplicates"] + r["dead_lettered"] + r["refused"] == r["pushed"]
    struck = r["missed_faults"] == 0 and all(f.get("redelivered", True) for f in faults)
    print("reconciled: stored + duplicates + dead-lettered + refused = pushed; 0 stored twice"
          if ok else "NOT RECONCILED")  # fmt: skip
    print("every fault struck a busy process mid-run" if struck else "SOME FAULTS MISSED")
    sys.exit(0 if ok and struck else 1)


if __name__ == "__main__":
    main()
