"""The API's reads beyond articles: stories, dead letters, the event stream
(Server-Sent Events) and `/metrics`, each through a real `newswire serve`,
a real worker and a real Redis."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from config.settings import Settings
from tests.conftest import QUEUE, WorkerProcess, run_cli
from tests.e2e.test_api import AUTH, EXAMPLES, TOKEN, post, record, serving
from worker.contract import RawArticle
from worker.store import DeadLetter, Store

pytestmark = pytest.mark.e2e

PAGE = (EXAMPLES / "sport-city-derby.txt").read_text()
# A near copy: the same story with one sentence reworded.
NEAR = PAGE.replace("in a fiercely contested derby", "in a bad-tempered derby played")
assert NEAR != PAGE
GOOD = (
    "Ferry Operator Adds Winter Crossings - Island Herald\n"
    + "The island's ferry operator said it would add two winter crossings a day from December, "
    "after residents asked for earlier boats to reach the mainland hospital and schools.\n" * 2
)


@pytest.fixture(scope="module")
def api(
    redis_url: str, worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server with a token and a keep-alive every half second."""
    env = {"NEWSWIRE_API_TOKEN": TOKEN, "NEWSWIRE_SSE_KEEPALIVE": "0.5"}
    with serving(redis_url, tmp_path_factory.mktemp("surface") / "serve.log", **env) as base:
        yield base


def get(base: str, path: str, **params: str | int) -> httpx.Response:
    return httpx.get(f"{base}{path}", headers=AUTH, params=params, timeout=10)


def samples(text: str) -> dict[str, float]:
    """A Prometheus text exposition's samples: series -> value."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            found[series] = float(value)
    return found


def wait_processed(store: Store, n: int) -> None:
    assert store.wait_for(n, timeout=60), f"{store.processed()} of {n} processed: {store.stats()}"


def test_metrics_equal_the_stats_from_every_api_process(
    api: str, redis_url: str, store: Store, client: redis.Redis, tmp_path: Path
) -> None:
    for body in (PAGE, PAGE, NEAR):  # unique, exact copy, near copy
        answer = post(api, body.encode(), "text/plain")
        assert answer.status_code == 202, answer.text
    records = [record("business-quarterly-earnings.txt"), record("geopolitics-leaders-summit.txt")]
    lines = "\n".join(json.dumps(r) for r in records).encode()
    assert post(api, lines, "application/x-ndjson").status_code == 202
    page = tmp_path / "page.html"
    page.write_bytes((EXAMPLES / "science-deep-sea-survey.html").read_bytes())
    assert run_cli(redis_url, "push", str(page)).returncode == 0  # the CLI's messages too
    client.lpush(QUEUE, "not a message")  # dead-lettered
    wait_processed(store, 7)
    # The key wipe between tests takes the worker's heartbeat until its next beat.
    deadline = time.monotonic() + 30
    while not store.live_workers() and time.monotonic() < deadline:
        time.sleep(0.2)

    stats = get(api, "/v1/stats").json()
    assert stats["stored"] == 4 and stats["duplicates"] == 2 and stats["near_duplicates"] == 1
    with serving(redis_url, tmp_path / "second.log", NEWSWIRE_API_TOKEN=TOKEN) as second:
        texts = [get(base, "/metrics") for base in (api, second)]
    assert all(t.headers["content-type"].startswith("text/plain; version=0.0.4") for t in texts)
    assert texts[0].text == texts[1].text  # any API process: the same figures
    m = samples(texts[0].text)

    assert m['newswire_articles_total{outcome="stored"}'] == stats["stored"]
    assert m['newswire_articles_total{outcome="near_duplicate"}'] == stats["near_duplicates"]
    assert (
        m['newswire_articles_total{outcome="duplicate"}']
        + m['newswire_articles_total{outcome="near_duplicate"}']
        == stats["duplicates"]
    )
    assert m['newswire_articles_total{outcome="dead_lettered"}'] == stats["dead_lettered"] == 1
    topics = {k.removeprefix("topic:"): v for k, v in stats.items() if k.startswith("topic:")}
    assert topics and all(
        m[f'newswire_articles_by_topic_total{{topic="{t}"}}'] == n for t, n in topics.items()
    )
    reasons = {k.removeprefix("dlq:"): v for k, v in stats.items() if k.startswith("dlq:")}
    assert sum(reasons.values()) == stats["dead_lettered"]
    for reason, n in reasons.items():
        assert m[f'newswire_dead_letters_total{{reason="{reason}"}}'] == n
    assert m["newswire_queued_messages"] == stats["queued_batches"] == 0
    assert m["newswire_dead_letters_kept"] == 1
    assert m["newswire_live_workers"] == len(store.live_workers()) == 1

    # Every article written (stored or copy) came in a message with its push time.
    latency = m["newswire_push_to_stored_seconds_count"]
    assert latency == stats["stored"] + stats["duplicates"] == 6
    assert m['newswire_push_to_stored_seconds_bucket{le="+Inf"}'] == latency
    assert 0 < m["newswire_push_to_stored_seconds_sum"] < 60 * latency
    assert m['newswire_push_to_stored_seconds_bucket{le="300.0"}'] == latency
    # One confidence per unique article the extraction judged.
    uniques = store.results(limit=100)
    assert len(uniques) == stats["stored"]
    judged = [a for a in uniques if "extraction_confidence" in a["metadata"]]
    assert judged, uniques
    assert m["newswire_extraction_confidence_count"] == len(judged)
    assert m["newswire_extraction_confidence_sum"] == pytest.approx(
        sum(a["metadata"]["extraction_confidence"] for a in judged)
    )
    buckets = [v for k, v in m.items() if k.startswith("newswire_extraction_confidence_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] == m["newswire_extraction_confidence_count"]


def sse_messages(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The SSE messages of a streamed response: field -> value (a comment
    under ``":"``), one dict per blank-line-terminated message."""
    message: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if message:
                yield message
            message = {}
            continue
        name, _, value = line.partition(":")
        message[name] = value.removeprefix(" ")


def next_events(messages: Iterator[dict[str, str]], n: int) -> list[dict[str, str]]:
    """The next ``n`` events (keep-alive comments skipped), within 30 s."""
    found: list[dict[str, str]] = []
    deadline = time.monotonic() + 30
    while len(found) < n:
        assert time.monotonic() < deadline, f"{len(found)} of {n} events came: {found}"
        message = next(messages)
        if "data" in message:
            found.append(message)
    return found


def events_stream(base: str, **headers: str) -> contextlib.AbstractContextManager[httpx.Response]:
    return httpx.stream(
        "GET", f"{base}/v1/events", headers={**AUTH, **headers}, timeout=httpx.Timeout(10)
    )


def test_events_arrive_as_sse_and_resume_after_last_event_id(
    api: str, store: Store, client: redis.Redis
) -> None:
    pages = [PAGE, GOOD, NEAR]
    with events_stream(api) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = sse_messages(response)
        assert next(messages) == {"retry": "2000"}
        assert next(messages) == {"": "keep-alive"}  # nothing happened yet
        queued = [
            post(api, page.encode(), "text/plain").json()["queued"][0]["id"] for page in pages[:2]
        ]
        first, second = next_events(messages, 2)
    assert [json.loads(e["data"])["id"] for e in (first, second)] == queued
    for event in (first, second):
        data = json.loads(event["data"])
        assert data["entry"] == event["id"] and data["kind"] == "unique" and data["topic"]
    entries = [entry for entry, _ in client.xrange(store.keys.events)]
    assert [first["id"], second["id"]] == entries  # the ids are the stream's

    # Disconnected: the third is pushed meanwhile; resuming after the first
    # gets exactly the second and the third, then what comes next.
    post(api, pages[2].encode(), "text/plain")
    assert store.wait_for(3)
    with events_stream(api, **{"Last-Event-ID": first["id"]}) as response:
        messages = sse_messages(response)
        resumed = next_events(messages, 2)
        assert [e["id"] for e in resumed] == [
            entry for entry, _ in client.xrange(store.keys.events)
        ][1:]
        assert json.loads(resumed[1]["data"])["kind"] == "near_duplicate"
        post(api, b"{nope", "application/json")  # refused: no event
        client.lpush(QUEUE, "not a message")
        [live] = next_events(messages, 1)
    assert json.loads(live["data"])["kind"] == "dead_letter"

    with events_stream(api) as response:  # without Last-Event-ID: from now on
        messages = sse_messages(response)
        next(messages)
        assert next(messages) == {"": "keep-alive"}
    with httpx.stream(
        "GET", f"{api}/v1/events", params={"from_start": "true"}, headers=AUTH, timeout=10
    ) as response:
        every = next_events(sse_messages(response), 4)
    assert [e["id"] for e in every] == [entry for entry, _ in client.xrange(store.keys.events)]
    bad = httpx.get(f"{api}/v1/events", headers={**AUTH, "Last-Event-ID": "yesterday"}, timeout=10)
    assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]


def _blocked_stream_reads(client: redis.Redis) -> int:
    return sum(1 for c in client.client_list() if c["cmd"] == "xread" and "b" in c["flags"])


def test_a_stream_stops_reading_when_its_client_goes(
    redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    # Keep-alives a minute apart: only the disconnect can end the read.
    with serving(redis_url, tmp_path / "serve.log", NEWSWIRE_SSE_KEEPALIVE="60") as base:
        with events_stream(base) as response:
            # Held: a dropped generator would close the response, disconnecting.
            messages = sse_messages(response)
            assert next(messages) == {"retry": "2000"}
            deadline = time.monotonic() + 20
            while _blocked_stream_reads(client) != 1:
                assert time.monotonic() < deadline, "the stream never blocked on XREAD"
                time.sleep(0.05)
            assert response.is_closed is False
        deadline = time.monotonic() + 20
        while _blocked_stream_reads(client):
            assert time.monotonic() < deadline, "the stream still reads with nobody listening"
            time.sleep(0.05)
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200


def test_stories_and_dead_letters_replay_idempotently_and_purge(
    api: str, settings: Settings, store: Store, client: redis.Redis
) -> None:
    original = post(api, PAGE.encode(), "text/plain").json()["queued"][0]["id"]
    copy = post(api, NEAR.encode(), "text/plain").json()["queued"][0]["id"]
    assert store.wait_for(2)
    for asked in (original, copy):  # either one names the story
        story = get(api, f"/v1/stories/{asked}").json()
        assert story["canonical"]["id"] == original
        assert [c["id"] for c in story["copies"]] == [copy]
    missing = get(api, "/v1/stories/0000000000000000")
    assert missing.status_code == 404 and missing.json()["detail"]

    # A payload dead-lettered by a bug since fixed, and one that is no article.
    fixed = RawArticle(kind="text", text=GOOD, source="fixed.txt")
    store.dead_letter_many([DeadLetter(delivery_key="old-submission", reason="internal_error",
                                       message="KeyError: 'x'", payload=fixed.model_dump_json(),
                                       source="fixed.txt")])  # fmt: skip
    post(api, b"Only A Headline - Somewhere", "text/plain")
    assert store.wait_for(4)
    listed = get(api, "/v1/dlq").json()
    by_reason = {e["reason"]: e["entry"] for e in listed}
    assert set(by_reason) == {"internal_error", "not_an_article"}
    assert [e["entry"] for e in get(api, "/v1/dlq", reason="internal_error").json()] == [
        by_reason["internal_error"]
    ]
    assert len(get(api, "/v1/dlq", limit=1).json()) == 1
    entry = by_reason["internal_error"]
    shown = get(api, f"/v1/dlq/{entry}").json()
    assert shown["entry"] == entry and json.loads(shown["payload"])["text"] == GOOD

    replayed = httpx.post(f"{api}/v1/dlq/{entry}/replay", headers=AUTH, timeout=10)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {
        "replayed": [{"entry": entry, "id": fixed.article_id}],
        "skipped": [],
    }
    assert stored_article(store, fixed.article_id)["outlet"] == "Island Herald"
    again = httpx.post(f"{api}/v1/dlq/{entry}/replay", headers=AUTH, timeout=10)
    assert again.status_code == 404 and "replayed or purged" in again.json()["detail"]
    bulk = httpx.post(f"{api}/v1/dlq/replay", json={"entries": [entry]}, headers=AUTH, timeout=10)
    assert bulk.json() == {
        "replayed": [],
        "skipped": [{"entry": entry, "reason": "no such entry (already replayed or purged?)"}],
    }
    assert get(api, f"/v1/dlq/{entry}").status_code == 404
    assert store.stats()["stored"] == 2  # the replay stored it once

    for selection in ({}, {"all": True, "reason": "x"}, {"entries": ["yesterday"]}, {"all": 1.5}):
        refused = httpx.post(f"{api}/v1/dlq/purge", json=selection, headers=AUTH, timeout=10)
        assert refused.status_code == 422, selection
    assert len(get(api, "/v1/dlq").json()) == 1
    purged = httpx.post(
        f"{api}/v1/dlq/purge", json={"reason": "not_an_article"}, headers=AUTH, timeout=10
    )
    assert purged.json() == {"purged": 1, "missing": 0}
    assert get(api, "/v1/dlq").json() == []
    named = httpx.post(
        f"{api}/v1/dlq/purge",
        json={"entries": [by_reason["not_an_article"]]},
        headers=AUTH,
        timeout=10,
    )
    assert named.json() == {"purged": 0, "missing": 1}
    client.lpush(QUEUE, "not a message")
    assert store.wait_for(6)
    [(last, _)] = store.dlq()
    assert httpx.delete(f"{api}/v1/dlq/{last}", headers=AUTH, timeout=10).status_code == 204
    assert httpx.delete(f"{api}/v1/dlq/{last}", headers=AUTH, timeout=10).status_code == 404
    assert store.dlq() == []


def stored_article(store: Store, article_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while (article := store.get(article_id)) is None:
        assert time.monotonic() < deadline, f"{article_id} was never stored"
        time.sleep(0.05)
    return article


NEW_ROUTES = [
    ("GET", "/v1/stories/0123456789abcdef"),
    ("GET", "/v1/dlq"),
    ("GET", "/v1/dlq/1-0"),
    ("POST", "/v1/dlq/1-0/replay"),
    ("POST", "/v1/dlq/replay"),
    ("POST", "/v1/dlq/purge"),
    ("DELETE", "/v1/dlq/1-0"),
    ("GET", "/v1/events"),
    ("GET", "/metrics"),
]


@pytest.mark.parametrize(("method", "path"), NEW_ROUTES)
def test_each_new_route_needs_the_token(api: str, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.request(
            method, f"{api}{path}", headers=headers, json={"all": True}, timeout=10
        )
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
