"""Whatever anyone puts on the queue, the worker goes on and nothing is lost.

Each entry below used to be lost, and the first two ended the worker
("Unrecoverable error", exit code 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from producer.client import Publisher
from tests.conftest import QUEUE, WorkerProcess, run_cli
from worker.contract import RawArticle
from worker.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]

BODY = "A body long enough to be stored as an article by the worker. " * 12


def _envelope(settings: Settings, client: redis.Redis) -> dict[str, object]:
    """A real message as the producer writes it, taken back off a queue no
    worker reads."""
    aside = settings.model_copy(update={"queue": f"{QUEUE}-aside"})
    with Publisher(aside) as publisher:
        publisher.send([RawArticle(kind="text", text=f"Envelope test - Outlet\n{BODY}")])
    raw = client.rpop(aside.queue)
    assert isinstance(raw, str)
    envelope: dict[str, object] = json.loads(raw)
    return envelope


def test_malformed_entries_are_dead_lettered_and_the_worker_goes_on(
    worker: WorkerProcess, settings: Settings, store: Store, client: redis.Redis, tmp_path: Path
) -> None:
    not_json_body = _envelope(settings, client)
    not_json_body["body"] = "this body is not json {"
    unknown_task = _envelope(settings, client)
    headers = unknown_task["headers"]
    assert isinstance(headers, dict)
    headers["task"] = "somebody.elses_task"
    entries = {
        "this is not json": "invalid_task_message",
        '{"articles": [1, 2]}': "invalid_task_message",  # JSON, not an envelope
        "[1, 2, 3]": "invalid_task_message",
        json.dumps(not_json_body): "invalid_task_message",
        json.dumps(unknown_task): "unknown_task",
    }
    for entry in entries:
        client.lpush(QUEUE, entry)

    page = tmp_path / "after.txt"
    page.write_text(f"Pushed after the junk - Outlet\n{BODY}")
    assert run_cli(settings.redis_url_value or "", "push", str(page)).returncode == 0

    assert store.wait_for(len(entries) + 1, timeout=60), store.stats()
    assert worker.alive()
    assert store.stats()["stored"] == 1
    letters = [fields for _, fields in store.dlq(limit=None)]
    assert sorted(f["reason"] for f in letters) == sorted(entries.values())
    kept = {f["payload"] for f in letters if f["reason"] == "invalid_task_message"}
    # Each raw entry is kept as it was (the body-less ones verbatim).
    assert {"this is not json", '{"articles": [1, 2]}', "[1, 2, 3]"} <= kept
    assert client.llen(QUEUE) == 0


def test_the_same_junk_entry_twice_is_one_dead_letter(
    worker: WorkerProcess, store: Store, client: redis.Redis
) -> None:
    client.lpush(QUEUE, "junk, twice")
    assert store.wait_for(1, timeout=30)
    client.lpush(QUEUE, "junk, twice")
    # The second copy is processed (its task id is the same) but writes nothing new.
    marker = "after the second copy"
    client.lpush(QUEUE, marker)
    assert store.wait_for(2, timeout=30)
    payloads = [fields["payload"] for _, fields in store.dlq(limit=None)]
    assert sorted(payloads) == sorted(["junk, twice", marker])
    assert worker.alive()
