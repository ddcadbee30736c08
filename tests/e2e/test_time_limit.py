"""A batch that runs into its time limit loses only the article taking the time.

Before: every article of the batch was dead-lettered as ``task_failed``
(SoftTimeLimitExceeded), and replaying them failed the same way.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from producer.client import Publisher
from tests.conftest import start_worker
from worker.contract import RawArticle
from worker.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]

WORDS = ("harbour", "council", "storm", "rail", "budget", "river", "school", "court", "vote")


def normal_page(n: int) -> RawArticle:
    rng = random.Random(n)
    body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(40)) + "." for _ in range(4))
    return RawArticle(kind="text", text=f"Ordinary report {n} on the harbour - Desk\n{body}")


def slow_page(n: int) -> RawArticle:
    # ~2 MB of short lines: most of a second to parse, the most a page may hold.
    lines = "\n".join(f"a short line {n} here" for _ in range(95_000))
    return RawArticle(kind="text", text=f"Endless page {n} - Desk\n{lines}")


def test_slow_articles_are_isolated_and_their_batch_mates_stored(
    redis_url: str, store: Store, settings: Settings, client: redis.Redis, tmp_path: Path
) -> None:
    # Soft limit 1 s, hard limit 2 s: four slow pages cannot all fit in one.
    limits = {"NEWSWIRE_TASK_TIME_LIMIT": "2", "NEWSWIRE_RETRY_BACKOFF_MAX": "0.5"}
    worker = start_worker(redis_url, tmp_path / "worker.log", concurrency=1, **limits)
    normal = [normal_page(n) for n in range(5)]
    slow = [slow_page(n) for n in range(4)]
    batch = [normal[0], slow[0], normal[1], slow[1], normal[2], slow[2], normal[3], slow[3]]
    batch.append(normal[4])
    try:
        with Publisher(settings) as publisher:
            publisher.send(batch)
        assert store.wait_for(len(batch), timeout=120), worker.log_lines()[-20:]
        for page in normal:
            assert store.get(page.article_id) is not None, page.article_id
        letters = [fields for _, fields in store.dlq(limit=None)]
        assert letters, "four slow pages fit in a 1 s soft limit: the test needs slower ones"
        assert {f["reason"] for f in letters} == {"time_limit"}
        assert {f["article_id"] for f in letters} <= {p.article_id for p in slow}
        for page in slow:  # each slow page is stored or dead-lettered, once
            assert (store.get(page.article_id) is None) == (
                page.article_id in {f["article_id"] for f in letters}
            )
        assert "batch-mates are processed without it" in letters[0]["message"]
        assert json.loads(letters[0]["payload"])["text"].startswith("Endless page")
        assert worker.alive()
        assert client.llen(settings.queue) == 0
    finally:
        worker.stop()
