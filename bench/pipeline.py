"""In-process pipeline speed: parse, classify and the whole analyze() per
article on one core, without any queue, one article at a time and a batch
of 100 at a time (analyze_many, as the worker runs it). Prints figures;
asserts nothing.

    .venv/bin/python bench/pipeline.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import scraped_pages
from worker.model import load_model
from worker.pipeline.analyze import analyze, analyze_many
from worker.pipeline.models import RawArticle
from worker.pipeline.parse import parse


def per_item(fn: object, items: list[object]) -> float:
    started = time.perf_counter()
    for item in items:
        fn(item)  # type: ignore[operator]
    return (time.perf_counter() - started) / len(items)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    pages = scraped_pages(n)
    raws = [RawArticle(kind="text", text=p) for p in pages]
    model = load_model()
    parsed = [parse(r) for r in raws]
    texts = [f"{p.title}\n{p.body}" for p in parsed]
    now = datetime.now(UTC)

    size = statistics.mean(len(p.encode()) for p in pages)
    t_parse = per_item(parse, raws)
    t_classify = per_item(model.predict, texts)
    t_all = per_item(lambda r: analyze(r, model, now=now, max_payload_bytes=10**8), raws)
    batches = [raws[i : i + 100] for i in range(0, len(raws), 100)]
    t_many = per_item(
        lambda b: analyze_many(b, model, now=now, max_payload_bytes=10**8), batches
    ) / (len(raws) / len(batches))
    print(f"{n} scraped pages from the BBC corpus, mean {size / 1024:.1f} KB")
    print(f"parse     {t_parse * 1e3:7.3f} ms/article  {1 / t_parse:8.0f} articles/s")
    print(f"classify  {t_classify * 1e3:7.3f} ms/article  {1 / t_classify:8.0f} articles/s")
    print(f"analyze   {t_all * 1e3:7.3f} ms/article  {1 / t_all:8.0f} articles/s (one core)")
    print(f"  batches {t_many * 1e3:7.3f} ms/article  {1 / t_many:8.0f} articles/s (analyze_many)")


if __name__ == "__main__":
    main()
