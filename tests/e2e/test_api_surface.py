"""The API's reads beyond articles: stories, dead letters, the event stream
(Server-Sent Events) and `/metrics`, each through a real `newswire serve`,
a real worker and a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import QUEUE, WorkerProcess, run_cli
from tests.e2e.test_api import AUTH, EXAMPLES, TOKEN, post, record, serving
from worker.store import Store

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
