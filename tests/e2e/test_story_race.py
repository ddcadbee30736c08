"""Copies of one story processed at the same moment by several worker
processes: exactly one becomes canonical, the others point to it."""

from __future__ import annotations

import itertools
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from producer.client import Publisher
from tests.conftest import start_worker
from worker.contract import RawArticle
from worker.store import Store

pytestmark = pytest.mark.e2e

WORDS = (  # noqa: SIM905 (a sentence reads better than quoted words)
    "harbour council budget rail vote festival league storm treaty museum factory coach "
    "school hospital energy river market summit album court minister election season trial"
).split()


def story(rng: random.Random, group: int) -> tuple[str, list[str]]:
    title = f"Story {group}: " + " ".join(rng.choice(WORDS).title() for _ in range(5))
    paragraphs = [" ".join(rng.choice(WORDS) for _ in range(45)) + "." for _ in range(5)]
    return title, paragraphs


def variants(title: str, paragraphs: list[str]) -> list[str]:
    body = "\n".join(paragraphs)
    return [
        f"{title} - First Outlet\n{body}",
        f"{title} - Second Outlet\n{body}",  # exact copy, other outlet
        f"{title} - Third Outlet\nBy A Correspondent\n{body}",  # by-line added
        f"{title} - Fourth Outlet\n" + "\n".join(paragraphs[:4]),  # last paragraph dropped
        f"{title} | Fifth Outlet\n" + "\n".join(paragraphs) + "\nRead more: our coverage.",
    ]


def test_racing_workers_make_one_canonical_per_story(
    redis_url: str, settings: Settings, store: Store, tmp_path: Path
) -> None:
    rng = random.Random(11)
    groups = [variants(*story(rng, g)) for g in range(40)]
    items = [(g, RawArticle(kind="text", text=text)) for g, texts in enumerate(groups)
             for text in texts]  # fmt: skip
    rng.shuffle(items)
    workers = [start_worker(redis_url, tmp_path / f"w{i}.log", concurrency=2) for i in range(3)]
    try:
        with Publisher(settings) as publisher:
            for i in range(0, len(items), 2):  # small messages: spread over 6 processes
                publisher.send([a for _, a in items[i : i + 2]])
        assert store.wait_for(len(items), timeout=120)
    finally:
        for w in workers:
            w.stop()

    canonicals: dict[int, set[str]] = {}
    for g, raw in items:
        record = store.get(raw.article_id)
        assert record is not None
        canonicals.setdefault(g, set()).add(record.get("duplicate_of") or record["id"])
    multi = [g for g, c in canonicals.items() if len(c) != 1]
    assert multi == []  # 0 groups with more than one canonical
    stats = store.stats()
    assert stats["stored"] == 40
    assert stats["duplicates"] == 160
    # They did race: copies of one story were in batches that ran at the same
    # time in different processes (from each batch's start to its last
    # article, by the workers' own log times).
    events = [json.loads(line) for w in workers for line in w.log_lines() if line.startswith("{")]
    spans = batch_spans(events)
    task_of = {e["article_id"]: e["task_id"] for e in events if e["event"] == "article.processed"}
    raced = [
        g
        for g in range(len(groups))
        if any(
            overlap(spans[a], spans[b])
            for a, b in itertools.combinations(
                {task_of[raw.article_id] for h, raw in items if h == g}, 2
            )
        )
    ]
    assert raced, "no two copies of a story were ever processed at the same time"
    print(f"{len(raced)} of {len(groups)} stories had copies processed at the same time")
    assert len({pid for pid, _, _ in spans.values()}) == 6  # all six processes took batches


def batch_spans(events: list[dict[str, Any]]) -> dict[str, tuple[int, float, float]]:
    """Each task's (pid, start, end): its batch.started and its last article line."""
    started = {e["task_id"]: e for e in events if e["event"] == "batch.started"}
    ends: dict[str, float] = {}
    for e in events:
        if e["event"] in ("article.processed", "article.dead_lettered"):
            ends[e["task_id"]] = max(ends.get(e["task_id"], 0.0), when(e))
    return {t: (e["pid"], when(e), ends[t]) for t, e in started.items()}


def overlap(a: tuple[int, float, float], b: tuple[int, float, float]) -> bool:
    """Two batches in different processes, each started before the other ended."""
    return a[0] != b[0] and a[1] < b[2] and b[1] < a[2]


def when(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()
