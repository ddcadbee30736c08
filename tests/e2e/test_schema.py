"""The Redis schema in docs/architecture.md is what a real worker writes.

tests/unit/test_docs.py holds the table against worker/keys.py; this holds it
against the data: every key under the prefix after a real run matches a row,
with the row's type, and the documented value shapes are the real ones.
"""

from __future__ import annotations

import re

import pytest
import redis

from tests.conftest import PREFIX, QUEUE, SAMPLE, WorkerProcess, run_cli
from tests.unit.test_docs import ARCHITECTURE, schema_rows
from worker.store import Store

pytestmark = pytest.mark.e2e


def _regex(documented: str) -> re.Pattern[str]:
    """A documented key as a regex over real keys of this test run."""
    key = documented.replace("{p}", PREFIX, 1)
    if not documented.startswith("{p}"):  # kombu's keys name the default queue
        key = key.replace("newswire", QUEUE)
    parts = re.split(r"\{[^{}]*\}", key)
    return re.compile("[^:]+".join(re.escape(part) for part in parts))


def test_every_key_a_worker_writes_is_documented_with_its_type(
    worker: WorkerProcess, store: Store, client: redis.Redis, redis_url: str
) -> None:
    assert run_cli(redis_url, "push", str(SAMPLE)).returncode == 0
    assert run_cli(redis_url, "push", str(SAMPLE)).returncode == 0  # a copy
    client.lpush(QUEUE, "not a message")  # a dead letter
    assert store.wait_for(3, timeout=60)

    rows = [(_regex(key), kind) for key, kind, _ in schema_rows(ARCHITECTURE.read_text())]
    seen = set()
    for key in client.scan_iter(match=f"{PREFIX}:*", count=1000):
        matches = [kind for regex, kind in rows if regex.fullmatch(key)]
        assert matches, f"{key} is written but not documented"
        assert client.type(key) in matches, f"{key} is a {client.type(key)}, documented {matches}"
        seen.add(key.split(":")[1])
    assert {"article", "recent", "topic", "dedup", "delivery", "events", "dlq", "stats"} <= seen

    deliveries = [client.get(k) for k in client.scan_iter(match=f"{PREFIX}:delivery:*")]
    documented = re.compile(
        r"(unique|duplicate|near_duplicate):[0-9a-f]{16}:[0-9.]+|dead_letter:\d+-\d+"
    )
    assert deliveries and all(documented.fullmatch(v) for v in deliveries), deliveries

    events = [fields for _, fields in client.xrange(store.keys.events)]
    kinds = {e["kind"] for e in events}
    assert kinds == {"unique", "duplicate", "dead_letter"}
    for event in events:
        if event["kind"] == "dead_letter":
            assert {"kind", "id", "reason"} <= set(event)
            assert client.xrange(store.keys.dlq, event["id"], event["id"])  # id: the dlq entry
        else:
            assert set(event) == {"kind", "id", "canonical", "similarity", "topic", "title"}
