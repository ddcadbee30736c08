"""Realistic payloads for benchmarks, built from the shared BBC corpus."""

from __future__ import annotations

import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BBC = ROOT.parent / "shared" / "corpora" / "bbc-news"
OUTLETS = ["Business Insider", "The Guardian", "Reuters", "Sky News", "Daily Maverick"]


def scraped_pages(n: int, *, seed: int = 7) -> list[str]:
    """n pages in the sample's shape: "Title - Outlet", paragraphs, teasers."""
    if not BBC.is_dir():
        raise SystemExit(f"benchmarks need the shared corpora at {BBC}")
    files = sorted(BBC.glob("*/*.txt"))
    rng = random.Random(seed)
    pages = []
    for i in range(n):
        lines = [
            ln.strip() for ln in files[i % len(files)].read_text(errors="replace").splitlines()
        ]
        title, paragraphs = lines[0], [ln for ln in lines[1:] if ln]
        teasers = []
        for other in rng.sample(files, 3):
            head = other.read_text(errors="replace").splitlines()[0].strip()
            teasers.append(f"{head}\n\nA short teaser about {head.lower()} from elsewhere...")
        if i >= len(files):  # past one pass over the corpus, keep pages distinct
            paragraphs = [*paragraphs, f"Filed by correspondent number {i} for this edition."]
        pages.append(
            f"{title} - {OUTLETS[i % len(OUTLETS)]}\n"
            + "\n".join(paragraphs)
            + "\nYou may also like...\n"
            + "\n".join(teasers)
        )
    return pages


# The no-op task of bench/floor_app.py and the stream it adds an entry to.
FLOOR_TASK = "newswire.bench.noop"
FLOOR_DONE = "bench:floor:done"  # a stream: an entry per no-op task run
