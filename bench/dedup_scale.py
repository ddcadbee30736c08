"""Dedup cost and index memory at 10k and at 1M indexed articles.

Loads a private redis-server with synthetic fingerprints (random LSH bands
and sketches, small article records) through the store's own script, then
times storing 2,000 more articles and measures the near-duplicate index's
memory (MEMORY USAGE of every index key) per indexed article.

    .venv/bin/python bench/dedup_scale.py [--sizes 10000,1000000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.embedded import EmbeddedRedis  # noqa: E402
from worker.keys import Keys  # noqa: E402
from worker.pipeline.models import PayloadKind, ProcessedArticle  # noqa: E402
from worker.store import Store, connect  # noqa: E402


def fake(rng: random.Random, n: int) -> ProcessedArticle:
    now = datetime.now(UTC)
    return ProcessedArticle.model_construct(
        id=f"{rng.getrandbits(64):016x}", submission_id=f"s{n:015d}", kind=PayloadKind.TEXT,
        title="t", outlet=None, paragraphs=("b",), related=(), url=None, authors=(),
        published=None, language=None, source=None, client_id=None, topic="other",
        confidence=1.0, scores={}, model_version="x", body_hash=f"{rng.getrandbits(128):032x}",
        received_at=now, ingested_at=now, word_count=1, metadata={},
        lsh_bands=tuple(rng.getrandbits(32) for _ in range(16)),
        sketch=rng.getrandbits(256).to_bytes(32, "big"),
    )  # fmt: skip


def index_bytes(store: Store) -> int:
    total = 0
    for pattern in (f"{store.keys.lsh_prefix}*", f"{store.keys.sketch_prefix}*"):
        keys = list(store.redis.scan_iter(match=pattern, count=10_000))
        for i in range(0, len(keys), 1000):
            pipe = store.redis.pipeline(transaction=False)
            for key in keys[i : i + 1000]:
                pipe.memory_usage(key, samples=0)
            total += sum(x or 0 for x in pipe.execute())
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,1000000")
    args = ap.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp), appendonly=False) as srv:
        store = Store(connect(srv.url), Keys("scale"), replay_ttl=3600, events_maxlen=1000)
        loaded = 0
        print("indexed    dedup ms/article   index bytes/article   load s")
        for size in (int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            while loaded < size:
                batch = [fake(rng, loaded + i) for i in range(min(1000, size - loaded))]
                store.record_many(batch)
                loaded += len(batch)
            load_s = time.perf_counter() - started
            per_article = index_bytes(store) / loaded
            probe = [fake(rng, loaded + i) for i in range(2000)]
            started = time.perf_counter()
            for i in range(0, len(probe), 50):  # batches of 50, as workers store them
                store.record_many(probe[i : i + 50])
            took = (time.perf_counter() - started) / len(probe)
            loaded += len(probe)
            print(f"{loaded:>9,}  {took * 1e3:17.3f}  {per_article:20.0f}  {load_s:7.1f}")


if __name__ == "__main__":
    main()
