"""The delivery promises at the store's level, on real redis-servers: store
retries through a Redis restart, the replay window's markers, and the keys
of hand-made items across a redelivery."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from bench.chaos import start_redis, stop_redis
from config.embedded import EmbeddedRedis
from config.settings import Settings
from tests.conftest import PREFIX
from worker.contract import BatchMessage
from worker.keys import Keys
from worker.model import load_model
from worker.pipeline.analyze import analyze
from worker.pipeline.classify import TopicModel
from worker.pipeline.errors import StoreUnavailable
from worker.pipeline.models import ProcessedArticle, RawArticle
from worker.reliability import with_backoff
from worker.store import DeadLetter, Store, connect
from worker.tasks import Runtime, handle_batch

WORDS = (  # noqa: SIM905 (a sentence reads better than quoted words)
    "the council said on thursday it would reopen the coastal path between two harbour "
    "towns next month after repairs to a sea wall damaged in winter storms"
).split()


def raw(n: int) -> RawArticle:
    rng = random.Random(n)
    body = "\n".join(" ".join(rng.sample(WORDS, len(WORDS))).capitalize() + "." for _ in range(3))
    return RawArticle(kind="text", text=f"Coastal path {n} to reopen - Harbour Times\n{body}")


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return load_model()


def processed(model: TopicModel, n: int) -> ProcessedArticle:
    return analyze(raw(n), model, now=datetime.now(UTC), max_payload_bytes=10**6)


# -- with_backoff against a Redis that goes away -------------------------------


@pytest.fixture
def private(tmp_path: Path) -> Iterator[list[EmbeddedRedis]]:
    """A redis-server of the test's own, which it may stop and restart (on
    the same port); a list, so that the restarted one is stopped at the end."""
    servers = [start_redis(tmp_path / "redis")]
    yield servers
    for server in servers:
        stop_redis(server)


@pytest.mark.timeout(60)
def test_with_backoff_rides_out_a_redis_restart_within_its_budget(
    private: list[EmbeddedRedis], model: TopicModel, tmp_path: Path
) -> None:
    [server] = private
    store = Store(connect(server.url), Keys(PREFIX), replay_ttl=3600, events_maxlen=1000)
    article = processed(model, 1)
    calls: list[float] = []
    failures: list[BaseException] = []

    def write() -> list[object]:
        calls.append(time.monotonic())
        try:
            return list(store.record_many([article]))
        except StoreUnavailable as exc:
            failures.append(exc)
            raise

    def restart_once_retried() -> None:
        # Back once the writes have failed and been retried: a state, not a
        # guess at how long the retries take.
        deadline = time.monotonic() + 20
        while len(failures) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        private.append(start_redis(tmp_path / "redis", port=server.port))

    stop_redis(server)
    restarter = threading.Thread(target=restart_once_retried)
    restarter.start()
    try:
        [outcome] = with_backoff(write, budget=20, cap=0.5)
    finally:
        restarter.join()
    assert len(failures) >= 2 and len(calls) == len(failures) + 1  # retried, then stored
    assert outcome.verdict == "unique" and not outcome.replay  # type: ignore[attr-defined]
    assert store.get(article.id) is not None
    assert store.stats()["stored"] == 1


@pytest.mark.timeout(30)
def test_with_backoff_gives_up_at_its_budget_with_store_unavailable(
    private: list[EmbeddedRedis], model: TopicModel
) -> None:
    [server] = private
    store = Store(connect(server.url), Keys(PREFIX), replay_ttl=3600, events_maxlen=1000)
    article = processed(model, 2)
    stop_redis(server)  # and not back
    calls = 0

    def write() -> object:
        nonlocal calls
        calls += 1
        return store.record_many([article])

    budget, cap = 1.5, 0.3
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="Redis unavailable while storing"):
        with_backoff(write, budget=budget, cap=cap)
    took = time.monotonic() - started
    assert calls > 2  # it did retry
    # It gives up when the next pause would overrun the budget: never past
    # it, and not more than one pause early.
    assert budget - cap - 0.1 <= took <= budget + 0.5


# -- the replay window ------------------------------------------------------------


def test_delivery_markers_expire_after_the_replay_window(
    settings: Settings, client: redis.Redis, model: TopicModel
) -> None:
    window = 120
    store = Store.from_settings(settings.model_copy(update={"replay_window": window}), client)
    article = processed(model, 3)
    letter = DeadLetter(delivery_key="sub-refused-0001", reason="not_an_article",
                        message="no body", payload="{}")  # fmt: skip
    store.record_many([article])
    store.dead_letter_many([letter])
    store.count_delivery("task-0001")
    keys = [
        store.keys.delivery(article.submission_id),
        store.keys.delivery(letter.delivery_key),
        store.keys.attempts("task-0001"),
    ]
    for key in keys:
        ttl = client.pttl(key)
        # Set to the window when written (a second's slack for this test's
        # own pace), and not kept forever (-1) nor longer than the window.
        assert (window - 1) * 1000 < ttl <= window * 1000, (key, ttl)

    # Within the window a redelivery is a replay: nothing moves.
    [again] = store.record_many([article])
    assert again.replay
    # Past it (the marker gone, as its TTL makes it), the same submission is
    # no longer recognised: counted as a duplicate of the stored article,
    # stored no second time (docs/architecture.md, known limits).
    client.delete(keys[0])
    [late] = store.record_many([article])
    assert (late.replay, late.verdict, late.canonical_id) == (False, "duplicate", article.id)
    stats = store.stats()
    assert (stats["stored"], stats["duplicates"]) == (1, 1)


def test_the_default_replay_window_is_a_week_in_redis(
    store: Store, client: redis.Redis, model: TopicModel
) -> None:
    article = processed(model, 4)
    store.record_many([article])
    week = 7 * 24 * 3600 * 1000
    assert week - 5000 < client.pttl(store.keys.delivery(article.submission_id)) <= week


# -- hand-made messages: items keyed by (task id, position) -------------------


def test_items_without_a_submission_id_are_stored_once_across_a_redelivery(
    settings: Settings, store: Store, client: redis.Redis, model: TopicModel
) -> None:
    runtime = Runtime(settings=settings, store=store, model=model)
    items = [raw(n) for n in range(10, 14)]
    message = json.loads(BatchMessage.of(items).model_dump_json())
    for item in message["articles"]:
        del item["submission_id"]  # hand-made: no producer gave them one
    # An item too broken to carry a valid one: dead-lettered, keyed the same way.
    message["articles"].append({"kind": "text", "text": "", "submission_id": "short"})
    task_id = "5d0c6a1e-hand-made-task"

    first = handle_batch(runtime, message, delivery_id=task_id)
    assert (first.stored, first.dead_lettered, first.replayed) == (4, 1, 0)
    for index in range(5):  # each item's outcome under (task id, position)
        assert client.exists(store.keys.delivery(f"{task_id}:{index}")), index
    stats, letters = store.stats(), store.dlq(limit=None)

    # The same message delivered again (same task id): every item is a
    # replay of its first outcome, nothing new is written.
    again = handle_batch(runtime, message, delivery_id=task_id)
    assert (again.stored, again.duplicates, again.dead_lettered, again.replayed) == (0, 0, 0, 5)
    assert store.stats() == stats
    assert store.dlq(limit=None) == letters
    assert client.zcard(store.keys.recent) == 4

    # Another message with the same items (another task id) is another push:
    # its articles are duplicates of the stored ones, not replays.
    other = handle_batch(runtime, message, delivery_id="another-hand-made-task")
    assert (other.stored, other.duplicates, other.replayed) == (0, 4, 0)
