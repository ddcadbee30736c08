"""The reclassify script on a real redis-server: a rewrite lands whole or not
at all, only over the record that was classified, and keeps the index score."""

from __future__ import annotations

import json

import redis

from tests.conftest import PREFIX
from worker.keys import Keys
from worker.relabel import Relabel, Relabeller

KEYS = Keys(PREFIX)


def seed(client: redis.Redis, article_id: str, topic: str, score: float) -> str:
    record = json.dumps({"id": article_id, "topic": topic, "title": "t", "paragraphs": ["b"]})
    client.set(KEYS.article(article_id), record)
    client.zadd(KEYS.recent, {article_id: score})
    client.zadd(KEYS.topic(topic), {article_id: score})
    client.hincrby(KEYS.stats, f"topic:{topic}", 1)
    return record


def test_a_rewrite_moves_the_index_entry_with_its_score_and_the_counters(
    client: redis.Redis,
) -> None:
    read = seed(client, "a1", "sport", 1700000000.123456)
    seed(client, "a2", "sport", 1700000001.0)
    new = read.replace('"sport"', '"culture"')
    assert Relabeller(client, KEYS).apply([Relabel("a1", read, new, "sport", "culture")]) == [
        "changed"
    ]
    assert client.get(KEYS.article("a1")) == new
    assert client.zscore(KEYS.topic("culture"), "a1") == 1700000000.123456
    assert client.zscore(KEYS.topic("sport"), "a1") is None
    assert client.hgetall(KEYS.stats) == {"topic:sport": "1", "topic:culture": "1"}


def test_a_record_changed_since_it_was_read_is_left_alone(client: redis.Redis) -> None:
    read = seed(client, "b1", "sport", 1.0)
    newer = read.replace('"t"', '"edited"')
    client.set(KEYS.article("b1"), newer)  # changed after the read
    relabeller = Relabeller(client, KEYS)
    stale = Relabel("b1", read, read.replace('"sport"', '"other"'), "sport", "other")
    assert relabeller.apply([stale]) == ["conflict"]
    assert client.get(KEYS.article("b1")) == newer
    assert client.zscore(KEYS.topic("sport"), "b1") == 1.0
    assert not client.exists(KEYS.topic("other"))
    assert client.hgetall(KEYS.stats) == {"topic:sport": "1"}
    gone = Relabel("b9", read, read, "sport", "other")
    assert relabeller.apply([gone]) == ["missing"]


def test_the_last_article_of_a_topic_takes_its_counter_with_it(client: redis.Redis) -> None:
    read = seed(client, "c1", "sport", 1.0)
    Relabeller(client, KEYS).apply([Relabel("c1", read, read, "sport", "other")])
    assert client.hgetall(KEYS.stats) == {"topic:other": "1"}
    assert [r.id for page in Relabeller(client, KEYS).pages(None, 1) for r in page] == ["c1"]


def test_pages_read_every_article_once_even_with_equal_scores(client: redis.Redis) -> None:
    scores = {f"d{i}": float(i // 3) for i in range(10)}  # groups of three share a score
    for article_id, score in scores.items():
        seed(client, article_id, "other", score)
    relabeller = Relabeller(client, KEYS)
    for size in (1, 2, 4, 100):
        read = [r.id for page in relabeller.pages(None, size) for r in page]
        assert sorted(read) == sorted(scores), size
        assert len(read) == len(scores)
    since = [r.id for page in relabeller.pages(2.0, 2) for r in page]
    assert sorted(since) == sorted(i for i, s in scores.items() if s >= 2.0)
    assert relabeller.count(2.0) == len(since)
