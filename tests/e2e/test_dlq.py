"""Dead-letter tooling as a user runs it: list, show, replay, purge."""

from __future__ import annotations

import json
import time

import pytest

from config.settings import Settings
from newswire.dlq import _article as replay_article
from newswire.dlq import replay
from producer.client import Publisher
from tests.conftest import WorkerProcess, run_cli
from worker.contract import RawArticle
from worker.store import DeadLetter, Store

pytestmark = pytest.mark.e2e

GOOD = (
    "Ferry Operator Adds Winter Crossings - Island Herald\n"
    + "The island's ferry operator said it would add two winter crossings a day from December, "
    "after residents asked for earlier boats to reach the mainland hospital and schools.\n" * 2
)


def test_list_show_replay_and_purge(
    worker: WorkerProcess, settings: Settings, store: Store
) -> None:
    url = settings.redis_url_value or ""
    with Publisher(settings) as publisher:
        publisher.send(
            [RawArticle(kind="text", text="Only A Headline - Somewhere", source="bare.txt")]
        )
    # A payload dead-lettered by a bug that has since been fixed.
    fixed = RawArticle(kind="text", text=GOOD, source="fixed.txt")
    store.dead_letter_many([DeadLetter(delivery_key="old-submission", reason="internal_error",
                                       message="KeyError: 'x'", payload=fixed.model_dump_json(),
                                       source="fixed.txt")])  # fmt: skip
    assert store.wait_for(2)

    listed = json.loads(run_cli(url, "dlq", "list", "--json").stdout)
    by_reason = {e["reason"]: e["entry"] for e in listed}
    assert set(by_reason) == {"not_an_article", "internal_error"}
    assert "Only A Headline" in run_cli(url, "dlq", "show", by_reason["not_an_article"]).stdout
    assert run_cli(url, "dlq").stdout.count("internal_error") == 1  # bare `dlq` lists

    replayed = run_cli(url, "dlq", "replay", "--reason", "internal_error")
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed {by_reason['internal_error']} as {fixed.article_id}" in replayed.stdout
    assert store.wait_for(3)
    assert store.get(fixed.article_id)["outlet"] == "Island Herald"  # type: ignore[index]
    again = run_cli(url, "dlq", "replay", by_reason["internal_error"])
    assert again.returncode == 1 and "no such entry" in again.stderr
    assert store.stats()["stored"] == 1

    assert run_cli(url, "dlq", "purge").returncode == 2  # says what to purge
    purged = run_cli(url, "dlq", "purge", "--reason", "not_an_article")
    assert "1 purged" in purged.stdout
    assert json.loads(run_cli(url, "dlq", "list", "--json").stdout) == []


def test_a_replay_interrupted_before_removing_its_entry_changes_nothing_when_rerun(
    worker: WorkerProcess, settings: Settings, store: Store
) -> None:
    fixed = RawArticle(kind="text", text=GOOD.replace("Ferry", "Tram"), source="tram.txt")
    letter = DeadLetter(delivery_key="old-submission-2", reason="internal_error",
                        message="KeyError: 'x'", payload=fixed.model_dump_json())  # fmt: skip
    store.dead_letter_many([letter])
    [(entry, fields)] = store.dlq()
    # The interrupted run got as far as publishing; its entry is still listed.
    with Publisher(settings) as publisher:
        publisher.send([replay_article(entry, fields)])
    assert store.wait_for(2)
    replays_logged = sum('"outcome":"replay"' in line for line in worker.log_lines())

    with Publisher(settings) as publisher:  # the rerun, whole
        report = replay(store, publisher, [entry])
    assert report.replayed == [(entry, fixed.article_id)]
    deadline = time.monotonic() + 30
    while sum('"outcome":"replay"' in line for line in worker.log_lines()) == replays_logged:
        assert time.monotonic() < deadline, "the rerun's delivery was never processed"
        time.sleep(0.05)
    stats = store.stats()
    assert stats["stored"] == 1 and stats.get("duplicates", 0) == 0  # one article, no copy
    assert store.copies(fixed.article_id) == 0
    assert store.dlq() == []
