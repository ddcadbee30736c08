"""Listing with a cursor, and retention, against a real redis-server."""

from __future__ import annotations

import time

import pytest
import redis

from config.settings import Settings
from tests.integration.test_store import article
from worker.listing import ArticleFilter, InvalidCursor, Order, Position, decode_cursor
from worker.pipeline.models import ProcessedArticle
from worker.store import Store


def stored_ids(store: Store, client: redis.Redis, order: Order = "desc") -> list[str]:
    return list(client.zrange(store.keys.recent, 0, -1, desc=order == "desc"))


def walk(store: Store, order: Order, limit: int, **kwargs: object) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = store.page(order=order, limit=limit, after=after, **kwargs)  # type: ignore[arg-type]
        seen += [a["id"] for a in page.articles]
        if page.at_end:
            return seen
        assert page.next_cursor is not None
        after = decode_cursor(page.next_cursor)


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_pages_put_together_are_the_index_once(
    store: Store, client: redis.Redis, order: Order
) -> None:
    store.record_many([article(n) for n in range(1, 48)])
    assert walk(store, order, 5) == stored_ids(store, client, order)
    assert len(set(walk(store, order, 5))) == 47


def test_asc_paging_sees_what_is_stored_between_pages(store: Store) -> None:
    store.record_many([article(n) for n in range(1, 11)])
    first = store.page(order="asc", limit=10)
    assert first.next_cursor is not None
    store.record_many([article(n) for n in range(11, 16)])
    rest = store.page(order="asc", limit=10, after=decode_cursor(first.next_cursor))
    assert [a["id"] for a in rest.articles] == [f"{n:016x}" for n in range(11, 16)]
    assert rest.at_end and rest.next_cursor  # caught up: poll from there
    again = store.page(order="asc", limit=10, after=decode_cursor(rest.next_cursor))
    assert again.articles == [] and again.next_cursor == rest.next_cursor


def test_the_store_time_orders_the_index_whatever_the_worker_clock(store: Store) -> None:
    # Analysed earlier, stored later: it lists after what was stored first.
    late = article(2).model_copy(update={"ingested_at": article(1).ingested_at.replace(year=2001)})
    store.record_many([article(1)])
    store.record_many([late])
    assert [a["id"] for a in store.page(order="asc", limit=5).articles] == [
        "0000000000000001",
        "0000000000000002",
    ]


def test_a_server_clock_stepping_back_does_not_reorder_the_index(
    store: Store, client: redis.Redis
) -> None:
    store.record_many([article(1)])
    # As if Redis's clock went back 100 s after storing article 1.
    ahead = client.zscore(store.keys.recent, "0000000000000001") + 100
    client.zadd(store.keys.recent, {"0000000000000001": ahead})
    client.set(store.keys.clock, f"{ahead * 1e6:.0f}")
    store.record_many([article(2)])
    assert [a["id"] for a in store.page(order="asc", limit=5).articles] == [
        "0000000000000001",
        "0000000000000002",
    ]


def _with(a: ProcessedArticle, **fields: object) -> ProcessedArticle:
    return a.model_copy(update=fields)


def test_filters_and_since_until(store: Store, client: redis.Redis) -> None:
    rows = [
        _with(article(1), outlet="Reuters", language="en"),
        _with(article(2), outlet="reuters", language="fr"),
        _with(article(3, topic="geopolitics"), outlet="BBC", language="en"),
        _with(article(4), outlet="BBC", language="en", metadata={"extraction_confidence": 0.3}),
    ]
    store.record_many(rows)

    def ids(**kwargs: object) -> list[str]:
        return [a["id"][-1] for a in store.page(order="asc", **kwargs).articles]  # type: ignore[arg-type]

    assert ids(where=ArticleFilter(outlet="REUTERS")) == ["1", "2"]
    assert ids(where=ArticleFilter(language="en")) == ["1", "3", "4"]
    assert ids(where=ArticleFilter(min_confidence=0.5)) == ["1", "2", "3"]
    assert ids(topic="geopolitics") == ["3"]
    assert ids(topic="sport", where=ArticleFilter(outlet="bbc", language="EN")) == ["4"]
    scores = dict(client.zrange(store.keys.recent, 0, -1, withscores=True))
    second, third = scores["0000000000000002"], scores["0000000000000003"]
    assert ids(since=second, until=third) == ["2", "3"]
    assert ids(since=third + 1) == []


def test_a_filtered_page_stops_at_its_scan_budget_and_says_go_on(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.store.SCAN_BUDGET", 10)
    store.record_many([article(n) for n in range(1, 34)])
    none_match = ArticleFilter(outlet="nobody")
    page = store.page(limit=5, where=none_match)
    assert page.articles == [] and not page.at_end and page.next_cursor
    # Pages go on to the end, each reading at most limit + budget = 15.
    pages = 1
    while not page.at_end:
        assert page.next_cursor is not None
        page = store.page(limit=5, where=none_match, after=decode_cursor(page.next_cursor))
        pages += 1
    assert pages == 3 and page.next_cursor is None


def test_iter_articles_is_everything_oldest_first_without_a_cap(store: Store) -> None:
    store.record_many([article(n) for n in range(1, 26)])
    got = [a["id"] for a in store.iter_articles(page_size=4)]
    assert got == [f"{n:016x}" for n in range(1, 26)]
    assert [a["id"] for a in store.iter_articles(topic="geopolitics")] == []


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "bm90IGEgY3Vyc29y", "MS41OnNob3J0", Position(score=1.5, id="x" * 16).cursor()],
)
def test_a_cursor_not_written_here_is_refused_with_a_reason(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="not one this service wrote"):
        decode_cursor(cursor)


def test_a_cursor_reads_back_as_its_exact_position() -> None:
    p = Position(score=1764672000.123457, id="00000000000000ab")
    assert decode_cursor(p.cursor()) == p


@pytest.fixture
def short(client: redis.Redis, settings: Settings) -> Store:
    kept = settings.model_copy(update={"retention": 60, "dedup_window": 60})
    return Store.from_settings(kept, client)


def test_everything_an_article_writes_expires_with_the_retention(
    short: Store, client: redis.Redis
) -> None:
    original = article(1, body_hash="same", submission="s-original")
    copy = article(2, body_hash="same", submission="s-copy")
    short.record_many([original, copy])
    k = short.keys
    for key in [
        k.article(original.id),
        k.article(copy.id),  # the light record
        k.story(original.id),
        k.delivery("s-original"),
        k.delivery("s-copy"),
        k.recent,
        k.topic("sport"),
        k.exact("same"),
    ]:
        assert 0 < client.pttl(key) <= 60_000, key


def test_indexes_drop_what_is_past_the_retention_on_the_next_write(
    short: Store, client: redis.Redis
) -> None:
    k = short.keys
    old = time.time() - 61  # stored more than a retention ago
    for key in (k.recent, k.topic("sport"), k.story("0000000000000001")):
        client.zadd(key, {"00000000000000ff": old})
    short.record_many([article(1, body_hash="b1"), article(2, body_hash="b1")])
    assert client.zrange(k.recent, 0, -1) == ["0000000000000001"]
    assert client.zrange(k.topic("sport"), 0, -1) == ["0000000000000001"]
    assert client.zrange(k.story("0000000000000001"), 0, -1) == ["0000000000000002"]


def test_the_write_that_trims_an_index_deletes_the_articles_it_drops(
    short: Store, client: redis.Redis
) -> None:
    # Expired, but Redis's own expiry may not have reclaimed them yet.
    short.record_many([article(1, body_hash="c1"), article(2, body_hash="c1")])
    k = short.keys
    old = time.time() - 61
    client.zadd(k.story("0000000000000001"), {"0000000000000002": old})
    short.record_many([article(4, body_hash="c1")])  # another copy
    assert client.exists(k.article("0000000000000002")) == 0  # the light record
    assert client.exists(k.article("0000000000000004")) == 1
    client.zadd(k.recent, {"0000000000000001": old})
    short.record_many([article(3)])
    assert client.exists(k.article("0000000000000001")) == 0
    assert client.exists(k.article("0000000000000003")) == 1


def test_a_copy_of_an_expired_article_is_stored_as_new(store: Store, client: redis.Redis) -> None:
    store.record_many([article(1, body_hash="same")])
    client.delete(store.keys.article("0000000000000001"))  # as when it expires
    [outcome] = store.record_many([article(2, body_hash="same")])
    assert (outcome.verdict, outcome.canonical_id) == ("unique", "0000000000000002")
    assert store.get("0000000000000002")["title"] == "Title 2"
