"""Throughput, latency and memory of the service, against Celery's own floor
and the pipeline's in-process ceiling, on private Redis servers. Prints a
table and writes a JSON report; asserts nothing.

Phases, all on the same machine, each run ``--repeat`` times in rounds (the
order rotated each round: the VM's speed drifts from minute to minute), the
median run of each reported with every run and each round's ratios:

- ceiling: ``analyze_many()`` (parse, fingerprints, classify) called
  in-process on batches as the worker does, no queue, articles/s on one
  core; and the same plus the store's writes
  (``Store.record_many`` in batches: the near-duplicate lookup is in them).
- floor: a no-op Celery task (bench/floor_app.py), one message per article,
  the service's worker settings and N processes: first push to last run
  (the Redis time of the stream entry the last run added).
- batched floor: the same with one no-op task per message of ``--batch-size``
  articles, the service's own messages: Celery's cost as the service pays
  it. The service against the first says what batching buys; against this
  one, what the pipeline and the store cost on top of Celery.
- max: the service (``newswire worker -c N``) on an empty store, M payloads
  pushed in batches: push rate, first push to last stored (the Redis time
  of the last event), CPU seconds per article (worker processes and
  redis-server), Redis memory per stored article.
- scale (``--prestored K``): the same on a second Redis that the service
  filled with K distinct articles first (its AOF rewritten after the fill:
  that rewrite's cost is measured, it recurs each time the AOF doubles),
  fresh payloads each run.
- latency, after the rounds: a steady offered load of half the max
  throughput, the producer sending what is due every ``--linger`` ms:
  push-to-stored p50/p95/p99 (stored = the Redis time of the article's
  event); once from a freshly rewritten AOF, once with an AOF rewrite a
  quarter of the way in.

    .venv/bin/python bench/throughput.py [--articles 10000] [--workers 2]
        [--dup-rate 0.1] [--html-share 0] [--prestored 200000] [--repeat 3]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import FLOOR_DONE  # noqa: E402
from bench.common import FLOOR_TASK as TASK_NOOP  # noqa: E402
from bench.payloads import Payload, generate  # noqa: E402
from config.embedded import EmbeddedRedis  # noqa: E402
from config.settings import Settings  # noqa: E402
from producer.client import Publisher  # noqa: E402
from worker.contract import BatchMessage  # noqa: E402
from worker.keys import Keys  # noqa: E402
from worker.model import load_model  # noqa: E402
from worker.pipeline.analyze import analyze_many  # noqa: E402
from worker.pipeline.models import ProcessedArticle  # noqa: E402
from worker.store import Store, connect  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
TASK_NOOP_BATCH = f"{TASK_NOOP}_batch"  # bench/floor_app.py's FLOOR_BATCH_TASK


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """A process and all its descendants, the root first (by parent pid: a
    child forked from any thread of its parent is found)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        fields = _proc_stat(int(entry)) if entry.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_cpu(root: int, *, own: bool = True) -> float:
    """CPU seconds (user + system) of a process (unless not ``own``) and all
    its descendants."""
    total = 0.0
    for pid in tree(root)[0 if own else 1 :]:
        fields = _proc_stat(pid)
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def tree_peak_rss(root: int) -> dict[int, int]:
    """Peak resident memory (VmHWM, bytes) of a process and its descendants."""
    peaks: dict[int, int] = {}
    for pid in tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = int(line.split()[1]) * 1024
    return peaks


def redis_cpu(client: Any, *, children: bool = False) -> float:
    """CPU seconds of redis-server's main process, or of its forked
    children (AOF rewrites, snapshots)."""
    info = client.info("cpu")
    if children:
        return float(info["used_cpu_user_children"]) + float(info["used_cpu_sys_children"])
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def aof_rewrites(client: Any) -> int:
    return int(client.info("persistence").get("aof_rewrites", 0))


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a warm shutdown for a worker), then SIGKILL after 60 s."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def machine() -> dict[str, Any]:
    """What a report says of the machine it ran on."""
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


class Bench:
    def __init__(self, args: argparse.Namespace, srv: EmbeddedRedis, tmp: Path) -> None:
        self.args = args
        self.srv = srv
        self.tmp = tmp
        self.client = connect(srv.url)
        self.settings = Settings(  # type: ignore[call-arg]
            redis_url=srv.url, batch_size=args.batch_size, _env_file=None
        )
        self.store = Store(self.client, Keys(self.settings.key_prefix), replay_ttl=3600,
                           events_maxlen=self.settings.events_maxlen)  # fmt: skip
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
        self.env.update(NEWSWIRE_REDIS_URL=srv.url, NEWSWIRE_LOG_FORMAT="json",
                        PYTHONPATH=str(ROOT))  # fmt: skip

    # -- processes ----------------------------------------------------------

    def start(self, argv: list[str], name: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, *argv], env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
            cwd=ROOT,
        )  # fmt: skip

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        stop_process(proc)

    def wait_until(self, check: Any, n: int, what: str, timeout: float = 1800) -> None:
        """Poll until check() >= n. Slowly: a poll costs the bench and Redis
        CPU and wakes a process on a core the workers use (every 5 ms took
        ~4% of this 2-core machine). Phases that are timed read when their
        last article finished from Redis (:meth:`last_event_at`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check() >= n:
                return
            time.sleep(0.1)
        raise SystemExit(f"timed out waiting for {what}: {check()} of {n}")

    def last_event_at(self, stream: str) -> float:
        """Unix time of the newest entry of ``stream``: its ID is the Redis
        clock's millisecond when the service stored (or the no-op task ran)."""
        ((entry, _),) = self.client.xrevrange(stream, count=1)
        return int(entry.split("-")[0]) / 1000

    # -- phases ---------------------------------------------------------------

    def ceiling(self, payloads: list[Payload]) -> dict[str, float]:
        model = load_model()
        raws = [p.article for p in payloads[: self.args.ceiling_articles]]
        now = datetime.now(UTC)
        b = self.args.batch_size

        def batches() -> Iterator[list[ProcessedArticle]]:
            # As the worker runs it: a batch at a time (classified together).
            for i in range(0, len(raws), b):
                done = analyze_many(raws[i : i + b], model, now=now, max_payload_bytes=10**8)
                yield [a for a in done if isinstance(a, ProcessedArticle)]

        analyze_many(raws[:50], model, now=now, max_payload_bytes=10**8)
        cpu0, t0 = time.process_time(), time.perf_counter()
        out = [a for batch in batches() for a in batch]
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        store = Store(self.client, Keys("bench-ceiling"), replay_ttl=3600, events_maxlen=10**6)
        t1 = time.perf_counter()
        for batch in batches():
            store.record_many(batch)
        with_store = time.perf_counter() - t1
        for key in self.client.scan_iter("bench-ceiling:*", count=1000):
            self.client.unlink(key)
        return {
            "articles": len(out),
            "pipeline_per_core": len(raws) / cpu,
            "pipeline_wall": len(raws) / wall,
            "pipeline_plus_store": len(raws) / with_store,
        }

    def floor(self, payloads: list[Payload], *, batched: bool = False) -> dict[str, float]:
        """No-op tasks: one per article, or (``batched``) one per message of
        ``--batch-size`` articles, built as the producer builds the service's."""
        queue = "bench-floor"
        worker = self.start(
            ["-m", "celery", "-A", "bench.floor_app", "--quiet", "worker", "-c",
             str(self.args.workers), "-Q", queue, "--without-mingle", "--without-gossip",
             "--loglevel", "WARNING"],
            "floor", NEWSWIRE_QUEUE=queue,
        )  # fmt: skip
        try:
            settings = self.settings.model_copy(update={"queue": queue})
            self.client.delete(FLOOR_DONE)

            def runs() -> int:
                return int(self.client.xlen(FLOOR_DONE))

            bodies = [p.article.model_dump(mode="json", exclude_none=True) for p in payloads]
            task, messages = TASK_NOOP, bodies
            if batched:
                b = self.args.batch_size
                task = TASK_NOOP_BATCH
                messages = [
                    BatchMessage.of([p.article for p in payloads[i : i + b]]).model_dump(
                        mode="json"
                    )
                    for i in range(0, len(payloads), b)
                ]
            # As Publisher.send: no repr of a whole batch in the headers.
            reprs = {"argsrepr": "[batch]", "kwargsrepr": "{}"} if batched else {}
            with Publisher(settings) as pub:
                pub.app.send_task(task, args=[messages[0]], queue=queue, **reprs)
                self.wait_until(runs, 1, "floor warm-up", 60)
                cpu0 = tree_cpu(worker.pid) + redis_cpu(self.client)
                started = time.time()
                for message in messages:
                    pub.app.send_task(task, args=[message], queue=queue, **reprs)
                pushed = time.time() - started
            self.wait_until(runs, 1 + len(messages), "floor tasks")
            done = self.last_event_at(FLOOR_DONE)
            cpu = tree_cpu(worker.pid) + redis_cpu(self.client) - cpu0
        finally:
            self.stop(worker)
        return {
            "articles": len(bodies),
            "messages": len(messages),
            "push_rate": len(bodies) / pushed,
            "throughput": len(bodies) / (done - started),
            "cpu_ms_per_article": cpu / len(bodies) * 1e3,
        }

    @contextlib.contextmanager
    def service(self) -> Iterator[subprocess.Popen[bytes]]:
        """``newswire worker -c N`` on this Redis, warmed up by one article."""
        worker = self.start(["-m", "newswire.cli", "worker", "-c", str(self.args.workers)],
                            "service")  # fmt: skip
        try:
            warm = generate(1, seed=99, start=10**9)[0].article
            before = self.store.processed()
            with Publisher(self.settings) as pub:
                pub.send([warm])
            self.wait_until(self.store.processed, before + 1, "service warm-up", 120)
            yield worker
        finally:
            self.stop(worker)

    def max_phase(self, worker: subprocess.Popen[bytes], payloads: list[Payload]) -> dict[str, Any]:
        raws = [p.article for p in payloads]
        b = self.args.batch_size
        before_stats = self.store.stats()
        before = self.store.processed()
        mem0 = self.client.info("memory")["used_memory"]
        cpu0, rcpu0, own0 = tree_cpu(worker.pid), redis_cpu(self.client), time.process_time()
        pool0 = tree_cpu(worker.pid, own=False)
        fork0, rewrites0 = redis_cpu(self.client, children=True), aof_rewrites(self.client)
        aof0 = self.client.info("persistence")["aof_current_size"]
        started = time.time()
        with Publisher(self.settings) as pub:
            for i in range(0, len(raws), b):
                pub.send(raws[i : i + b])
        pushed = time.time() - started
        self.wait_until(self.store.processed, before + len(raws), "articles")
        done = self.last_event_at(self.store.keys.events)
        took = done - started
        wcpu, rcpu = tree_cpu(worker.pid) - cpu0, redis_cpu(self.client) - rcpu0
        pool = tree_cpu(worker.pid, own=False) - pool0
        fork = redis_cpu(self.client, children=True) - fork0
        rewrites = aof_rewrites(self.client) - rewrites0
        aof_growth = self.client.info("persistence")["aof_current_size"] - aof0
        own = time.process_time() - own0
        stats = self.store.stats()
        peaks = tree_peak_rss(worker.pid)
        stored = stats.get("stored", 0) - before_stats.get("stored", 0)
        mem = self.client.info("memory")["used_memory"] - mem0
        bodies = [p.body_bytes for p in payloads if p.kind == "original"]
        n = len(raws)
        return {
            "articles": n,
            "push_rate": n / pushed,
            "throughput": n / took,
            "seconds": took,
            "stored": stored,
            "duplicates": stats.get("duplicates", 0) - before_stats.get("duplicates", 0),
            "near_duplicates": stats.get("near_duplicates", 0)
            - before_stats.get("near_duplicates", 0),
            "dead_lettered": stats.get("dead_lettered", 0) - before_stats.get("dead_lettered", 0),
            "expected_copies": sum(p.kind != "original" for p in payloads),
            "worker_cpu_ms_per_article": wcpu / n * 1e3,
            "pool_cpu_ms_per_article": pool / n * 1e3,
            "redis_cpu_ms_per_article": rcpu / n * 1e3,
            "redis_fork_cpu_ms_per_article": fork / n * 1e3,
            "aof_rewrites": rewrites,
            # Meaningful only without a rewrite in between (it resets the size).
            "aof_bytes_per_article": None if rewrites else aof_growth / len(raws),
            "producer_cpu_ms_per_article": own / n * 1e3,
            "redis_bytes_per_stored": mem / max(stored, 1),
            "worker_peak_rss_mb": {str(p): round(v / 2**20, 1) for p, v in peaks.items()},
            "mean_body_bytes": statistics.mean(bodies) if bodies else 0.0,
            "mean_payload_bytes": statistics.mean(len(r.text or "") for r in raws),
        }

    def latency_phase(
        self, rate: float, payloads: list[Payload], *, rewrite_after: float | None = None
    ) -> dict[str, Any]:
        """Offer ``rate`` articles/s: every tick, send what is due as one batch.
        With ``rewrite_after``, Redis is told to rewrite its AOF that many
        seconds in, as it does by itself every few hundred MB of growth."""
        raws = [p.article for p in payloads]
        linger = self.args.linger / 1000
        before = self.store.processed()
        rewrites = aof_rewrites(self.client)
        rewrite = None
        if rewrite_after is not None:
            rewrite = threading.Timer(rewrite_after, self.client.bgrewriteaof)
            rewrite.start()
        sent_at: dict[str, float] = {}
        started = time.time()
        i = 0
        with Publisher(self.settings) as pub:
            while i < len(raws):
                due = min(len(raws), int((time.time() - started) * rate) + 1)
                while i < due:
                    batch = raws[i : min(due, i + self.args.batch_size)]
                    now = time.time()
                    pub.send(batch)
                    for r in batch:
                        sent_at[r.article_id] = now
                    i += len(batch)
                time.sleep(max(0.0, linger - (time.time() - now)))
        offered = len(raws) / (time.time() - started)
        self.wait_until(self.store.processed, before + len(raws), "latency articles")
        if rewrite is not None:
            rewrite.join()
        stored_at: dict[str, float] = {}
        for entry, fields in self.client.xrange(self.store.keys.events, min="-", max="+"):
            if fields.get("id") in sent_at:
                stored_at.setdefault(fields["id"], int(entry.split("-")[0]) / 1000)
        lat = [(stored_at[a] - t) * 1000 for a, t in sent_at.items() if a in stored_at]
        return {
            "articles": len(raws),
            "offered_rate": offered,
            "measured": len(lat),
            "linger_ms": self.args.linger,
            "p50_ms": percentile(lat, 0.50),
            "p95_ms": percentile(lat, 0.95),
            "p99_ms": percentile(lat, 0.99),
            "max_ms": max(lat),
            # A rewrite takes a core for seconds: the backlog shows in p95/p99.
            "aof_rewrites": aof_rewrites(self.client) - rewrites,
        }

    def clear_store(self) -> None:
        """Delete the service's keys (synchronously: memory figures follow)."""
        keys = list(self.client.scan_iter(f"{self.store.keys.prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            self.client.delete(*keys[i : i + 1000])

    def rewrite_aof(self) -> dict[str, float]:
        """Rewrite the AOF now and wait for it. Redis rewrites it whenever it
        has doubled since the last rewrite, a fork that re-writes the whole
        dataset on one core: with 200k articles stored, several seconds that
        would land in a 10k-article measurement or not, by luck. The scale
        phase starts on a fresh AOF instead, and this cost is reported apart,
        with how often it recurs."""

        def persistence() -> dict[str, Any]:
            info: dict[str, Any] = self.client.info("persistence")
            return info

        while persistence()["aof_rewrite_in_progress"]:
            time.sleep(0.1)
        before, fork0, t0 = (
            aof_rewrites(self.client),
            redis_cpu(self.client, children=True),
            time.perf_counter(),
        )
        self.client.bgrewriteaof()
        while aof_rewrites(self.client) == before or persistence()["aof_rewrite_in_progress"]:
            time.sleep(0.1)
        base = float(persistence()["aof_base_size"])
        config = self.client.config_get("auto-aof-rewrite-*")
        percentage = float(config["auto-aof-rewrite-percentage"])
        # Redis rewrites once the AOF is this much bigger than its base.
        growth = max(base * percentage / 100, float(config["auto-aof-rewrite-min-size"]) - base)
        return {
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": redis_cpu(self.client, children=True) - fork0,
            "aof_base_bytes": base,
            "growth_before_next_bytes": growth,
        }

    def fill(self, n: int, start: int) -> dict[str, float]:
        """Push n distinct articles at full speed (the store grows by n)."""
        chunk = 20_000
        before, t0 = self.store.processed(), time.perf_counter()
        with Publisher(self.settings) as pub:
            for s in range(0, n, chunk):
                part = generate(min(chunk, n - s), dup_rate=0.0, start=start + s, seed=3)
                for i in range(0, len(part), self.args.batch_size):
                    pub.send([p.article for p in part[i : i + self.args.batch_size]])
        self.wait_until(self.store.processed, before + n, "prefill", 7200)
        return {"articles": n, "throughput": n / (time.perf_counter() - t0)}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the upper one of an even count)."""
    return sorted(runs, key=_rate)[len(runs) // 2]


def rounds(
    bench: Bench, full: Bench | None, payloads: list[Payload], gen: dict[str, Any], skip: set[str]
) -> dict[str, Any]:
    """Run the ceiling, the floor, the service on an empty store and (with a
    prestored server) on the full one, --repeat rounds of each, in a rotated
    order: the VM's speed drifts by 10-20% from minute to minute, and phases
    run one after the other would compare minutes, not code. Each timed run
    has its own warmed-up workers, and none has an AOF rewrite in it (their
    cost is reported apart): the empty store's Redis rewrites before each
    run, the full one's once after its fill. The median run of each phase
    is reported with all runs, and each round's own ratios."""
    phases: dict[str, Callable[[int], dict[str, Any]]] = {
        "ceiling": lambda i: bench.ceiling(payloads),
    }
    if "floor" not in skip:
        phases["floor"] = lambda i: fresh_aof(bench, bench.floor, payloads)
    if "floor_batched" not in skip:
        phases["floor_batched"] = lambda i: fresh_aof(
            bench, lambda: bench.floor(payloads, batched=True)
        )

    def empty(i: int) -> dict[str, Any]:
        bench.clear_store()
        with bench.service() as worker:
            return fresh_aof(bench, bench.max_phase, worker, payloads)

    phases["max"] = empty
    if full is not None:

        def scaled(i: int) -> dict[str, Any]:
            fresh = generate(len(payloads), start=(3 + i) * 10**6, **gen)
            stored = full.store.stats().get("stored", 0)  # grows by each run's articles
            # Its AOF was rewritten after the fill: the next rewrite is ~70k
            # articles away (rewriting 1 GB before each run would load the
            # disk for the phases after it).
            with full.service() as worker:
                return {**full.max_phase(worker, fresh), "already_stored": stored}

        phases["scaled"] = scaled
    names = list(phases)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    per_round = []
    for i in range(bench.args.repeat):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            runs[name].append(phases[name](i))
        per_round.append(round_ratios({name: runs[name][-1] for name in names}, bench.args.workers))
    out: dict[str, Any] = {"rounds": per_round}
    for name in names:
        out[name] = _median(runs[name])
        out[f"{name}_runs"] = [_rate(run) for run in runs[name]]
    return out


def fresh_aof(bench: Bench, phase: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    bench.rewrite_aof()
    return phase(*args)


def _rate(run: dict[str, Any]) -> float:
    return float(run["throughput"] if "throughput" in run else run["pipeline_per_core"])


def round_ratios(r: dict[str, dict[str, Any]], workers: int) -> dict[str, float]:
    """One round's rates and the issue's ratios between them."""
    out = {name: _rate(run) for name, run in r.items()}
    m = out["max"]
    out["x_floor"] = m / out["floor"] if "floor" in out else float("nan")
    out["x_floor_batched"] = m / out["floor_batched"] if "floor_batched" in out else float("nan")
    out["x_ceiling"] = m / (out["ceiling"] * workers)
    out["x_ceiling_with_store"] = m / (r["ceiling"]["pipeline_plus_store"] * workers)
    if "scaled" in out:
        out["scale_loss"] = 1 - out["scaled"] / m
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=10_000, help="payloads per max phase")
    ap.add_argument("--workers", type=int, default=2, help="worker processes")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--dup-rate", type=float, default=0.1)
    ap.add_argument("--html-share", type=float, default=0.0)
    ap.add_argument("--body-bytes", type=int, default=3600, help="target body size")
    ap.add_argument("--ceiling-articles", type=int, default=2000)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--linger", type=float, default=20.0, help="producer tick, ms")
    ap.add_argument("--prestored", type=int, default=0, help="scale phase: articles to add")
    ap.add_argument("--repeat", type=int, default=3, help="max-phase runs (median reported)")
    ap.add_argument("--skip", default="", help="phases to skip: floor,floor_batched,latency")
    ap.add_argument("--json", type=Path, default=Path("throughput-report.json"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    gen: dict[str, Any] = {
        "dup_rate": args.dup_rate,
        "html_share": args.html_share,
        "body_bytes": args.body_bytes,
    }
    payloads = generate(args.articles, **gen)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {k: v for k, v in vars(args).items() if k != "json"},
    }
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bench = Bench(args, stack.enter_context(EmbeddedRedis(tmp / "empty")), tmp)
        report["redis"] = bench.client.info("server")["redis_version"]
        # With --prestored, a second private Redis holds that many articles
        # and the scale runs use it, interleaved with the empty-store runs.
        full = None
        if args.prestored:
            full = Bench(args, stack.enter_context(EmbeddedRedis(tmp / "prestored")), tmp)
            with full.service():
                report["prefill"] = full.fill(args.prestored, start=10**7)
            report["aof_rewrite"] = full.rewrite_aof()
        report.update(rounds(bench, full, payloads, gen, skip))
        medians = {k: report[k] for k in ("ceiling", "floor", "floor_batched", "max", "scaled")
                   if k in report}  # fmt: skip
        report["ratios"] = round_ratios(medians, args.workers)
        if "latency" not in skip:
            rate = report["max"]["throughput"] / 2
            n = max(100, int(rate * args.latency_seconds))
            with bench.service():
                # Redis rewrites the AOF every few hundred MB of growth (~30k
                # articles here), and whether one lands in a 20 s window is
                # luck: measure from a fresh AOF (no rewrite of its own in
                # the window), then again with a rewrite 1/4 of the way in.
                bench.rewrite_aof()
                fresh = generate(n, start=2 * 10**6, **gen)
                report["latency"] = bench.latency_phase(rate, fresh)
                fresh = generate(n, start=2 * 10**6 + n, **gen)
                report["latency_rewrite"] = bench.latency_phase(
                    rate, fresh, rewrite_after=args.latency_seconds / 4
                )
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nreport written to {args.json}")


def print_table(r: dict[str, Any]) -> None:
    c, m = r["config"], r["max"]
    n = c["workers"]
    print(
        f"\n{c['articles']} payloads, mean {m['mean_payload_bytes'] / 1024:.1f} KB "
        f"(body {m['mean_body_bytes'] / 1024:.1f} KB), duplicates {c['dup_rate']:.0%}, "
        f"HTML {c['html_share']:.0%}, batch {c['batch_size']}, {n} worker processes, "
        f"{r['machine']['cpus']} cores, redis {r['redis']}; each row the median of "
        f"{c['repeat']} runs, run in rounds (below)"
    )

    def runs(name: str) -> str:
        return "runs " + ", ".join(f"{t:,.0f}" for t in r.get(f"{name}_runs", []))

    ceil = r["ceiling"]["pipeline_per_core"]
    phases = ("ceiling", "floor", "floor_batched", "max", "scaled")
    ratio = round_ratios({k: r[k] for k in phases if k in r}, n)
    rows = [
        ("ceiling: pipeline in-process, one core", f"{ceil:,.0f} /s ({runs('ceiling')})"),
        ("ceiling: + store writes, no queue", f"{r['ceiling']['pipeline_plus_store']:,.0f} /s"),
    ]
    if "floor" in r:
        f = r["floor"]
        rows.append(
            ("floor: no-op Celery task per article", f"{f['throughput']:,.0f} /s ({runs('floor')})")
        )
    if "floor_batched" in r:
        fb = r["floor_batched"]
        rows.append(
            (
                f"batched floor: no-op task per {c['batch_size']} articles",
                f"{fb['throughput']:,.0f} /s ({runs('floor_batched')})",
            )
        )
    rows += [
        ("push rate", f"{m['push_rate']:,.0f} /s"),
        ("end to end (first push to last stored)", f"{m['throughput']:,.0f} /s ({runs('max')})"),
    ]
    if "floor" in r:
        rows.append(("  x floor (target >= 2)", f"{ratio['x_floor']:.2f}"))
    if "floor_batched" in r:
        rows.append(("  x batched floor", f"{ratio['x_floor_batched']:.2f}"))
    rows.append((f"  / (ceiling x {n}) (target >= 0.6)", f"{ratio['x_ceiling']:.2f}"))
    rows.append((f"  / (ceiling with store x {n})", f"{ratio['x_ceiling_with_store']:.2f}"))
    rows += [
        (
            "worker CPU per article",
            f"{m['worker_cpu_ms_per_article']:.2f} ms "
            f"(pool processes {m['pool_cpu_ms_per_article']:.2f} ms)",
        ),
        (
            "redis CPU per article",
            f"{m['redis_cpu_ms_per_article']:.2f} ms "
            f"(+ {m['redis_fork_cpu_ms_per_article']:.2f} ms in {m['aof_rewrites']} AOF rewrites)",
        ),
        ("producer CPU per article", f"{m['producer_cpu_ms_per_article']:.2f} ms"),
        (
            "worker processes' peak memory",
            ", ".join(f"{v:.0f} MB" for v in m["worker_peak_rss_mb"].values()) + " (parent first)",
        ),
        (
            "outcome",
            f"stored {m['stored']}, duplicates {m['duplicates']} "
            f"(near {m['near_duplicates']}; {m['expected_copies']} generated), "
            f"dead-lettered {m['dead_lettered']}",
        ),
        (
            "redis memory per stored article",
            f"{m['redis_bytes_per_stored']:,.0f} B (bound 1.5 x body + 1 KB = "
            f"{1.5 * m['mean_body_bytes'] + 1024:,.0f} B)",
        ),
    ]
    if "scaled" in r:
        s = r["scaled"]
        rows.append(
            (
                f"end to end with {s['already_stored']:,} stored",
                f"{s['throughput']:,.0f} /s ({runs('scaled')}): "
                f"{ratio['scale_loss']:+.0%} loss (target <= 10%); per article: redis CPU "
                f"{s['redis_cpu_ms_per_article']:.2f} ms, "
                f"pool {s['pool_cpu_ms_per_article']:.2f} ms",
            )
        )
        rows.append(("  prefill rate", f"{r['prefill']['throughput']:,.0f} /s"))
        rw, per = r["aof_rewrite"], s["aof_bytes_per_article"]
        every = rw["growth_before_next_bytes"] / per if per else float("nan")
        rows.append(
            (
                "  an AOF rewrite at that size",
                f"{rw['cpu_seconds']:.1f} s CPU, {rw['seconds']:.1f} s; "
                f"every ~{every:,.0f} articles: {rw['cpu_seconds'] / every * 1e3:.2f} ms each",
            )
        )
    for key, what in (
        ("latency", "latency at"),
        ("latency_rewrite", "  the same, AOF rewrite in it:"),
    ):
        if key not in r:
            continue
        lat = r[key]
        rows.append(
            (
                f"{what} {lat['offered_rate']:,.0f}/s offered",
                f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, "
                f"p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms (target p99 <= 250); "
                f"{lat['aof_rewrites']} AOF rewrites",
            )
        )
    for i, rd in enumerate(r.get("rounds", []), 1):
        rows.append(
            (
                f"round {i}: end to end {rd['max']:,.0f} /s",
                f"x floor {rd['x_floor']:.2f}, x batched floor {rd['x_floor_batched']:.2f}, "
                f"/ (ceiling x {n}) {rd['x_ceiling']:.2f} "
                f"({rd['x_ceiling_with_store']:.2f} with store)"
                + (
                    f", loss with the store full {rd['scale_loss']:+.0%}"
                    if "scale_loss" in rd
                    else ""
                ),
            )
        )
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


if __name__ == "__main__":
    main()
