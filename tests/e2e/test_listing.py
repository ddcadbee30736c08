"""`GET /v1/articles`, `results --cursor` and `export` through a real
`newswire serve`, a real worker (with a retention set) and Redis."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import WorkerProcess, run_cli, start_worker
from tests.e2e.test_api import AUTH, TOKEN, serving
from worker.store import Store

pytestmark = pytest.mark.e2e

RETENTION = 3600
TOTAL = 1000


@pytest.fixture(scope="module")
def kept_worker(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    env = {"NEWSWIRE_RETENTION": str(RETENTION), "NEWSWIRE_DEDUP_WINDOW": str(RETENTION)}
    w = start_worker(redis_url, tmp_path_factory.mktemp("worker") / "worker.log", **env)
    yield w
    w.stop()


@pytest.fixture(scope="module")
def api(
    redis_url: str, kept_worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("api") / "serve.log"
    with serving(redis_url, log, NEWSWIRE_API_TOKEN=TOKEN) as base:
        yield base


_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


def body(rng: random.Random, words: int) -> str:
    """Prose no other body shares a phrase with: no copy, no near copy."""
    vocabulary = ["".join(rng.choices(_SYLLABLES, k=3)) for _ in range(words)]
    sentences = [" ".join(vocabulary[i : i + 10]).capitalize() + "." for i in range(0, words, 10)]
    return " ".join(sentences)


def records(n: int, seed: int, **fields: str) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [{"title": f"Dispatch {seed}-{i}", "body": body(rng, 160), **fields} for i in range(n)]


def post(base: str, rows: list[dict[str, Any]]) -> list[str]:
    response = httpx.post(
        f"{base}/v1/articles",
        content=json.dumps(rows).encode(),
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    return [q["id"] for q in response.json()["queued"]]


def listing(base: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{base}/v1/articles", params=params, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def ids(base: str, **params: Any) -> set[str]:
    return {a["id"] for a in listing(base, limit=1000, **params)["articles"]}


def settle(store: Store, n: int) -> None:
    assert store.wait_for(n, timeout=120), store.stats()


def test_articles_are_read_back_by_each_filter(api: str, store: Store, client: redis.Redis) -> None:
    rng = random.Random(1)
    long_en = records(3, 1, source="Harbour Gazette", language="en-GB")
    short_fr = [{"title": "Brève", "body": body(rng, 40), "source": "Le Quai", "language": "fr"}]
    first = post(api, long_en + short_fr)
    settle(store, 4)
    between = time.time()
    time.sleep(0.05)  # store times are microseconds: keep them apart from `between`
    later = post(api, records(2, 2, source="Le Quai", language="fr"))
    settle(store, 6)
    every = set(first + later)
    assert ids(api) == every

    assert ids(api, outlet="harbour gazette") == set(first[:3])
    assert ids(api, outlet="Le Quai", language="fr") == {first[3], *later}
    assert ids(api, language="en") == set(first[:3])
    # The short body's extraction confidence is under 1; the others' are 1.
    assert ids(api, min_confidence=0.9) == every - {first[3]}
    assert ids(api, since=between) == set(later)
    assert ids(api, until=between) == set(first)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 2)) + "Z"  # ISO 8601
    assert ids(api, since=stamp) == set() and ids(api, until=stamp) == every
    topics = {store.get(i)["topic"] for i in every}  # type: ignore[index]
    for topic in topics:
        expected = {i for i in every if store.get(i)["topic"] == topic}  # type: ignore[index]
        assert ids(api, topic=topic.upper()) == expected

    # Retention: what the worker wrote expires, a copy and its story too.
    copy = post(api, [{**long_en[0], "source": "Another Desk"}])
    settle(store, 7)
    [(canonical, _)] = client.zrange(store.keys.story(first[0]), 0, -1, withscores=True)
    assert canonical == copy[0]
    k = store.keys
    for key in (k.article(first[0]), k.article(copy[0]), k.story(first[0]), k.recent):
        assert 0 < client.ttl(key) <= RETENTION, key
    deliveries = list(client.scan_iter(match=k.delivery("*")))
    assert deliveries and all(0 < client.ttl(d) <= RETENTION for d in deliveries)


def test_a_cursor_not_ours_is_refused_with_a_reason(api: str, redis_url: str) -> None:
    for cursor in ("not-a-cursor", "MS41OnNob3J0", "%%%"):
        response = httpx.get(
            f"{api}/v1/articles", params={"cursor": cursor}, headers=AUTH, timeout=10
        )
        assert response.status_code == 422, response.text
        assert "cursor" in response.json()["detail"]
    refused = run_cli(redis_url, "results", "--cursor", "not-a-cursor")
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "--cursor" in refused.stderr


def _walk_desc(base: str, client: redis.Redis, store: Store, done: threading.Event) -> int:
    """Newest-first walks, again and again while articles are stored: each
    must hold, once, everything stored before it began. Returns the walks."""
    walks = 0
    while not done.is_set() or walks == 0:
        seen: list[str] = []
        cursor = None
        top: float | None = None
        while True:
            params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
            page = listing(base, **params)
            if top is None and page["articles"]:
                top = client.zscore(store.keys.recent, page["articles"][0]["id"])
            seen += [a["id"] for a in page["articles"]]
            if page["at_end"]:
                break
            cursor = page["next_cursor"]
        assert len(seen) == len(set(seen)), "a newest-first walk repeated an article"
        if top is not None:
            snapshot = client.zrangebyscore(store.keys.recent, "-inf", top)
            assert set(snapshot) == set(seen), (
                f"a newest-first walk missed {len(set(snapshot) - set(seen))} articles "
                "stored before it began"
            )
        walks += 1
    return walks


def _tail_asc(base: str, done: threading.Event) -> list[str]:
    """Oldest first, following the cursor until the writes are over and it
    has caught up."""
    seen: list[str] = []
    cursor = None
    while True:
        finished = done.is_set()
        params = {"limit": 25, "order": "asc", **({"cursor": cursor} if cursor else {})}
        page = listing(base, **params)
        seen += [a["id"] for a in page["articles"]]
        cursor = page["next_cursor"] or cursor
        if page["at_end"] and finished:
            return seen
        if page["at_end"]:
            time.sleep(0.02)


def test_cursor_paging_over_1000_articles_being_stored_misses_and_repeats_nothing(
    api: str, store: Store, client: redis.Redis, redis_url: str
) -> None:
    done = threading.Event()

    def write() -> list[str]:
        # Big and small batches in turn: a worker process still analysing a
        # big one stores it after the other process stored a small one
        # analysed later.
        queued: list[str] = []
        try:
            for pair in range(TOTAL // 50):
                queued += post(api, records(45, 1000 + pair))
                queued += post(api, records(5, 2000 + pair))
            settle(store, TOTAL)
        finally:
            done.set()
        return queued

    with ThreadPoolExecutor(3) as pool:
        writer = pool.submit(write)
        desc = pool.submit(_walk_desc, api, client, store, done)
        asc = pool.submit(_tail_asc, api, done)
        queued, walks, tailed = writer.result(), desc.result(), asc.result()

    stored = client.zrange(store.keys.recent, 0, -1)
    assert store.stats()["stored"] == TOTAL == len(set(queued)) == len(stored)
    assert len(tailed) == len(set(tailed)), "oldest-first paging repeated an article"
    assert tailed == stored, f"oldest-first paging missed {len(set(stored) - set(tailed))}"
    assert walks >= 2

    # export: all of it, oldest first, past any page limit.
    exported = run_cli(redis_url, "export")
    assert exported.returncode == 0, exported.stderr
    assert [json.loads(line)["id"] for line in exported.stdout.splitlines()] == stored
    topic = store.get(stored[0])["topic"]  # type: ignore[index]
    by_topic = run_cli(redis_url, "export", "--topic", topic, "--since", "2000-01-01")
    assert [json.loads(line)["id"] for line in by_topic.stdout.splitlines()] == list(
        client.zrange(store.keys.topic(topic), 0, -1)
    )

    # results: a page, its cursor on stderr, the next page from it.
    first = run_cli(redis_url, "results", "--limit", "7", "--json")
    cursor = first.stderr.strip().rsplit(" ", 1)[-1]
    second = run_cli(redis_url, "results", "--limit", "7", "--json", "--cursor", cursor)
    assert second.returncode == 0, second.stderr
    pages = [a["id"] for a in json.loads(first.stdout) + json.loads(second.stdout)]
    assert pages == stored[::-1][:14]


def test_export_reads_since_and_until_and_refuses_a_bad_time(
    api: str, store: Store, client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    first = post(api, records(3, 7))
    settle(store, 3)
    between = time.time()
    time.sleep(0.05)
    later = post(api, records(2, 8))
    settle(store, 5)
    since = run_cli(redis_url, "export", "--since", str(between))
    assert [json.loads(line)["id"] for line in since.stdout.splitlines()] == later
    until = run_cli(redis_url, "export", "--until", str(between))
    assert {json.loads(line)["id"] for line in until.stdout.splitlines()} == set(first)
    bad = run_cli(redis_url, "export", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "not a time" in bad.stderr
