"""A batch's store writes go to a real Redis in chunks while the rest of the
batch is analysed: results in order, each article stored once, and a chunk
whose reply is lost is written again without storing anything twice."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from newswire.settings import Settings
from worker.pipeline.errors import StoreUnavailable
from worker.pipeline.models import ProcessedArticle, RawArticle
from worker.store import Outcome, Store
from worker.tasks import WRITE_CHUNK, Runtime, handle_batch
from worker.training import DEFAULT_ARTIFACT, load_artifact

WORDS = (  # noqa: SIM905 (a sentence reads better than quoted words)
    "reservoir council district farm storm harbour school budget rail market river summer "
    "winter minister court festival league coach museum factory hospital energy vote trial"
).split()


def page(n: int) -> dict[str, Any]:
    """A distinct text page per n: random words, so no two are near copies."""
    rng = random.Random(f"batch-writes-{n}")
    body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(40)) + "." for _ in range(3))
    return {"kind": "text", "text": f"Report {n} On District Matters - Water Desk\n{body}"}


class LosesOneReply(Store):
    """A real store whose second write reaches Redis but whose reply is lost,
    as when the connection drops right after Redis ran the scripts."""

    calls = 0

    def record_many(self, articles: Sequence[ProcessedArticle]) -> list[Outcome]:
        outcomes = super().record_many(articles)
        type(self).calls += 1
        if type(self).calls == 2:
            raise StoreUnavailable("connection lost before the reply")
        return outcomes


@pytest.fixture(scope="module")
def model() -> Any:
    return load_artifact(DEFAULT_ARTIFACT)


def batch(pages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch_id": uuid.uuid4().hex, "articles": pages}


def test_copies_across_write_chunks_are_found_in_push_order(
    store: Store, settings: Settings, model: Any
) -> None:
    pages = [page(n) for n in range(2 * WRITE_CHUNK + 5)]
    # The first page's story under another headline, two chunks later.
    pages[-1] = {**pages[0], "text": pages[0]["text"].replace("Report 0", "Syndicated")}
    report = handle_batch(
        Runtime(settings, store, model), batch(pages), delivery_id=uuid.uuid4().hex
    )
    assert (report.stored, report.duplicates, report.dead_lettered) == (len(pages) - 1, 1, 0)
    first, copy = (RawArticle.model_validate(p).article_id for p in (pages[0], pages[-1]))
    assert store.get(copy)["duplicate_of"] == first  # type: ignore[index]
    assert store.get(first)["title"] == "Report 0 On District Matters"  # type: ignore[index]


def test_a_lost_reply_is_written_again_and_nothing_is_stored_twice(
    store: Store, settings: Settings, model: Any
) -> None:
    flaky = LosesOneReply(store.redis, store.keys, replay_ttl=3600, events_maxlen=10_000)
    pages = [page(100 + n) for n in range(3 * WRITE_CHUNK)]
    report = handle_batch(
        Runtime(settings, flaky, model), batch(pages), delivery_id=uuid.uuid4().hex, retry_budget=5
    )
    # The second chunk landed before its reply was lost: written again, its
    # articles read back as replays of this very delivery; the rest is new.
    assert (report.stored, report.replayed, report.duplicates) == (
        2 * WRITE_CHUNK,
        WRITE_CHUNK,
        0,
    )
    assert store.stats()["stored"] == len(pages)
    assert store.redis.zcard(store.keys.recent) == len(pages)
