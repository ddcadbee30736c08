"""Redis memory under retention: level after one window, the same after five.

A scaled clock: a retention of a few tens of seconds stands for 30 days.
Steady ingest of distinct BBC-composite pages (10% exact or near copies)
through the real store path (analyze_many(), then the store's Lua script)
into a private redis-server, for five retention windows. Prints Redis
`used_memory` and the key counts after one window and after five; with
everything expiring or trimmed, the second should be within 1.2x of the
first.

The events stream is bounded by length, not time: it is scaled to a tenth
of a window's articles here (400 entries at the defaults), as its default
100,000 holds a few hours of 1M articles a day.

    .venv/bin/python bench/retention.py [--retention 20] [--rate 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.payloads import generate  # noqa: E402
from config.embedded import EmbeddedRedis  # noqa: E402
from worker.keys import Keys  # noqa: E402
from worker.model import load_model  # noqa: E402
from worker.pipeline.analyze import analyze_many  # noqa: E402
from worker.pipeline.models import ProcessedArticle  # noqa: E402
from worker.store import Store, connect  # noqa: E402

PREFIX = "ret"
BATCH = 20


def snapshot(client: Any, label: str, elapsed: float) -> dict[str, Any]:
    """Memory and keys, ingest paused. ``used_memory`` is what Redis holds,
    expired keys it has not reclaimed yet included (its active expiry
    leaves up to about a tenth of the keys with a TTL in memory);
    ``used_memory_live`` is read after a SCAN, which deletes every expired
    key it meets."""
    held = int(client.info("memory")["used_memory"])
    kinds: Counter[str] = Counter()
    for key in client.scan_iter(match=f"{PREFIX}:*", count=5000):
        kinds[key.split(":")[1]] += 1
    live = int(client.info("memory")["used_memory"])
    stats = client.memory_stats()
    overhead = {
        k: stats[k]
        for k in (
            "startup.allocated",
            "clients.normal",
            "overhead.hashtable.main",
            "overhead.hashtable.expires",
            "lua.caches",
            "overhead.total",
            "dataset.bytes",
        )
        if k in stats
    }
    return {
        "at": label,
        "memory_stats": overhead,
        "elapsed_s": round(elapsed, 1),
        "used_memory": held,
        "used_memory_live": live,
        "keys": int(client.dbsize()),
        "keys_by_kind": dict(sorted(kinds.items())),
        "recent_zcard": int(client.zcard(f"{PREFIX}:recent")),
        "events_xlen": int(client.xlen(f"{PREFIX}:events")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--retention", type=int, default=20, help="seconds (the scaled 30 days)")
    ap.add_argument("--rate", type=int, default=200, help="articles a second")
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the report here")
    ap.add_argument(
        "--expire-effort",
        type=int,
        default=1,
        help="Redis's active-expire-effort (1-10; 1, its default, tolerates the most "
        "expired keys in memory)",
    )
    args = ap.parse_args()

    total = args.rate * args.retention * args.windows
    print(f"generating {total} payloads ...", flush=True)
    payloads = [p.article for p in generate(total, dup_rate=0.1, seed=11)]
    model = load_model()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp), appendonly=False) as srv:
        client = connect(srv.url)
        client.config_set("active-expire-effort", args.expire_effort)
        store = Store(
            client,
            Keys(PREFIX),
            replay_ttl=args.retention,
            events_maxlen=max(100, args.rate * args.retention // 10),
            dedup_window=args.retention,
            retention=args.retention,
        )
        snapshots = []
        start = time.monotonic()
        sent = 0
        marks = {1: "after 1 window", args.windows: f"after {args.windows} windows"}
        while sent < total:
            due = int((time.monotonic() - start) * args.rate)  # steady: catch up to the clock
            if sent >= due:
                time.sleep(BATCH / args.rate / 4)
                continue
            batch = payloads[sent : sent + BATCH]
            now = datetime.now(UTC)
            done = analyze_many(batch, model, now=now, max_payload_bytes=10**8)
            store.record_many([a for a in done if isinstance(a, ProcessedArticle)])
            sent += len(batch)
            window = sent // (args.rate * args.retention)
            if window in marks and sent % (args.rate * args.retention) < BATCH:
                paused = time.monotonic()
                snap = snapshot(client, marks.pop(window), paused - start)
                snapshots.append(snap)
                print(json.dumps(snap), flush=True)
                start += time.monotonic() - paused  # the pause is not ingest time
        behind = time.monotonic() - start - total / args.rate
        first, last = snapshots[0], snapshots[-1]
        ratio = last["used_memory"] / first["used_memory"]
        live = last["used_memory_live"] / first["used_memory_live"]
        report = {
            "retention_s": args.retention,
            "rate_per_s": args.rate,
            "windows": args.windows,
            "articles": total,
            "stored": store.stats().get("stored", 0),
            "fell_behind_s": round(max(behind, 0.0), 1),
            "snapshots": snapshots,
            "expire_effort": args.expire_effort,
            "used_memory_ratio": round(ratio, 3),
            "used_memory_live_ratio": round(live, 3),
        }
        client.close()
    print(
        f"used_memory after 1 window {first['used_memory'] / 1e6:.1f} MB, after "
        f"{args.windows} {last['used_memory'] / 1e6:.1f} MB: {ratio:.2f}x; expired keys "
        f"reclaimed: {first['used_memory_live'] / 1e6:.1f} -> "
        f"{last['used_memory_live'] / 1e6:.1f} MB: {live:.2f}x; live keys {first['keys']} -> "
        f"{last['keys']}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report: {args.json}")


if __name__ == "__main__":
    main()
