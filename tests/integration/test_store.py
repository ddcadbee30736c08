"""The Redis adapter against a real redis-server."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime

import pytest
import redis

from worker.keys import Keys
from worker.pipeline.models import PayloadKind, ProcessedArticle
from worker.store import TRUNCATED_MARK, DeadLetter, Store


def article(
    n: int, *, body_hash: str | None = None, submission: str | None = None, topic: str = "sport"
) -> ProcessedArticle:
    now = datetime.now(UTC)
    return ProcessedArticle(
        id=f"{n:016x}",
        submission_id=submission or f"sub{n:013d}",
        kind=PayloadKind.TEXT,
        title=f"Title {n}",
        outlet="Outlet",
        paragraphs=("Body.",),
        related=(),
        url=None,
        source=f"file{n}.txt",
        client_id=None,
        topic=topic,
        confidence=0.9,
        scores={"sport": 0.9, "other": 0.1},
        model_version="test",
        body_hash=body_hash or f"h{n}",
        received_at=now,
        ingested_at=now,
        word_count=1,
    )


def test_unique_article_is_stored_and_indexed(store: Store) -> None:
    [outcome] = store.record_many([article(1)])
    assert (outcome.verdict, outcome.canonical_id, outcome.replay) == (
        "unique",
        "0000000000000001",
        False,
    )
    assert store.get("0000000000000001")["title"] == "Title 1"
    assert [a["id"] for a in store.results(topic="sport")] == ["0000000000000001"]
    assert store.results(topic="geopolitics") == []
    assert store.stats() == {"stored": 1, "topic:sport": 1}


def test_redelivery_changes_nothing(store: Store, client: redis.Redis) -> None:
    store.record_many([article(1)])
    events_before = client.xlen(store.keys.events)
    [again] = store.record_many([article(1)])  # same submission id: a redelivery
    assert again.replay and again.verdict == "unique"
    assert store.stats() == {"stored": 1, "topic:sport": 1}
    assert client.xlen(store.keys.events) == events_before


def test_second_push_of_same_body_is_a_duplicate(store: Store) -> None:
    first, second = store.record_many([article(1, body_hash="same"), article(2, body_hash="same")])
    assert first.verdict == "unique"
    assert (second.verdict, second.canonical_id) == ("duplicate", first.article_id)
    light = store.get(second.article_id)
    assert light is not None and light["duplicate_of"] == first.article_id
    assert [a["id"] for a in store.results()] == [first.article_id]  # not listed twice
    canonical, copies = store.story(second.article_id)
    assert canonical is not None and canonical["id"] == first.article_id
    assert [c["id"] for c in copies] == [second.article_id]
    assert store.stats()["duplicates"] == 1


def test_same_payload_pushed_twice_is_a_duplicate_of_itself(store: Store) -> None:
    store.record_many([article(1, submission="first-push")])
    [again] = store.record_many([article(1, submission="second-push")])
    assert (again.verdict, again.canonical_id, again.replay) == (
        "duplicate",
        "0000000000000001",
        False,
    )
    assert store.stats() == {"duplicates": 1, "stored": 1, "topic:sport": 1}


def test_racing_writers_store_one_copy_per_story(store: Store, redis_url: str) -> None:
    from worker.keys import Keys
    from worker.store import connect

    groups, writers = 50, 4
    outcomes: list[list[str]] = [[] for _ in range(writers)]
    barrier = threading.Barrier(writers)

    def write(w: int) -> None:
        s = Store(connect(redis_url), Keys(store.keys.prefix), replay_ttl=60, events_maxlen=1000)
        barrier.wait()
        for g in range(groups):
            [o] = s.record_many([article(g * writers + w, body_hash=f"story{g}")])
            outcomes[w].append(o.verdict)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(v == "unique" for o in outcomes for v in o) == groups
    assert store.stats()["stored"] == groups
    assert store.stats()["duplicates"] == groups * (writers - 1)


def test_dead_letters_keep_payload_and_reason_once(store: Store) -> None:
    letter = DeadLetter(
        delivery_key="sub-x",
        reason="not_an_article",
        message="no body",
        payload='{"kind": "text", "text": "x"}',
        batch_id="b1",
    )
    assert store.dead_letter_many([letter]) == [True]
    assert store.dead_letter_many([letter]) == [False]  # redelivered: not twice
    [(_entry, fields)] = store.dlq()
    assert fields["reason"] == "not_an_article"
    assert fields["payload"] == '{"kind": "text", "text": "x"}'
    assert store.stats() == {"dead_lettered": 1, "dlq:not_an_article": 1}


def test_follow_misses_no_event_stored_between_two_reads(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `newswire watch` follows from "now". An article stored after one
    # blocking read timed out and before the next must still be shown.
    store.record_many([article(1)])  # history: not followed
    real_xread = store.redis.xread
    reads: list[object] = []

    def xread(streams: dict[str, str], **kwargs: object) -> object:
        reply = real_xread(streams, **kwargs)  # the real server answers
        reads.append(reply)
        if len(reads) == 1:
            assert not reply, "nothing new yet"
            store.record_many([article(2)])  # lands between two reads
        if len(reads) > 5:
            raise AssertionError("follow is still waiting past the stored article")
        return reply

    monkeypatch.setattr(store.redis, "xread", xread)
    _entry, fields = next(store.follow(block_ms=10))
    assert fields["id"] == "0000000000000002"


def test_a_dead_letter_is_bounded_and_the_stream_trimmed(client: redis.Redis) -> None:
    store = Store(client, Keys("nwtest"), replay_ttl=60, events_maxlen=1000,
                  dlq_maxlen=100, dlq_payload_max_bytes=10_000)  # fmt: skip
    huge = "x" * 1_000_000
    [fresh] = store.dead_letter_many(
        [
            DeadLetter(
                delivery_key="huge-0001",
                reason="payload_too_large",
                message="m" * 10**5,
                payload=huge,
            )
        ]
    )
    assert fresh
    [(_, fields)] = store.dlq()
    assert len(fields["payload"].encode()) < 10_200 and fields["payload"].startswith("xxx")
    assert fields["payload"].endswith(TRUNCATED_MARK)
    assert fields["payload_bytes"] == "1000000" and fields["truncated"] == "1"
    assert fields["payload_sha256"] == hashlib.sha256(huge.encode()).hexdigest()
    assert len(fields["message"]) <= 2000
    assert client.memory_usage(store.keys.dlq) < 100_000
    store.dead_letter_many(
        [
            DeadLetter(delivery_key=f"small-{n:04}", reason="r", message="m", payload="{}")
            for n in range(1000)
        ]
    )
    # Trimmed to about dlq_maxlen (whole stream nodes of 100 entries at a time).
    assert client.xlen(store.keys.dlq) <= 200


def test_pages_stored_in_doubt_are_counted_and_filtered_out_by_confidence(store: Store) -> None:
    sure = article(1).model_copy(update={"metadata": {"extraction_confidence": 0.9}})
    doubt = {"extraction_confidence": 0.3, "extraction_verdict": "index_page"}
    unsure = article(2).model_copy(update={"metadata": doubt})
    store.record_many([sure, unsure])
    store.record_many([unsure])  # redelivered: counted once
    assert store.stats()["extraction_in_doubt"] == 1
    assert [a["id"] for a in store.results(min_confidence=0.5)] == [sure.id]
    assert {a["id"] for a in store.results(min_confidence=0.2)} == {sure.id, unsure.id}
    assert len(store.results()) == 2
