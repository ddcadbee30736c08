"""The whole path as a user drives it: `newswire push`, a real worker process,
`newswire show/results/stats/dlq/watch` against a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.settings import Settings
from producer.client import Publisher
from tests.conftest import (
    ROOT,
    SAMPLE,
    WorkerProcess,
    clean_env,
    needs_shared,
    pipe_cli,
    run_cli,
    worker_env,
)
from worker.contract import TASK_PROCESS_BATCH, RawArticle
from worker.store import Store

pytestmark = pytest.mark.e2e

TEASER_TITLES = [
    "Diddy's Legal Troubles & Racketeering Trial",
    "Thomas Partey Faces Rape & Sexual Assault Charges",
    "Nigeria Universities Changes Admission Policies",
    "Ghana's Economic Reforms & Gold Sector Initiatives",
    "WAFCON 2024 African Women's Football Tournament",
    "Emergence & Dynamics of Nigeria's ADC Coalition",
    "Demise of Olubadan of Ibadanland",
    "Death of Nigerian Goalkeeping Legend Peter Rufai",
]

ARTICLE = "\n".join(
    [
        "Harbour Board Approves New Ferry Timetable - Coastline Courier",
        "The harbour board approved a new ferry timetable on Tuesday after a month of "
        "consultation with residents.",
        "Boats will now leave every forty minutes at peak times, the board said, and the "
        "last crossing moves to midnight.",
        "Commuters had complained that the old schedule left them waiting in the cold for "
        "up to an hour in winter.",
        "The operator said the change needs two extra crew members per shift, to be hired "
        "before the spring season.",
    ]
)

OTHER_ARTICLE = "\n".join(
    [
        "Library Extends Weekend Opening - Valley Gazette",
        "The central library will open on Sundays from next month, the council said, after "
        "a survey found that most residents could only visit at weekends.",
        "Volunteers from the reading club will help staff run the extra hours, and the "
        "children's section will host storytelling sessions every Sunday morning.",
    ]
)


def pushed_ids(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("queued ")]


def test_sample_page_is_parsed_classified_and_stored(
    worker: WorkerProcess, redis_url: str, store: Store
) -> None:
    pushed = run_cli(redis_url, "push", str(SAMPLE))
    assert pushed.returncode == 0, pushed.stderr
    [article_id] = pushed_ids(pushed.stdout)
    assert store.wait_for(1), worker.log_lines()[-20:]

    shown = run_cli(redis_url, "show", article_id, "--json")
    assert shown.returncode == 0, shown.stderr
    article = json.loads(shown.stdout)
    assert article["title"] == "Kim Jong Un Says He'll \"Unconditionally Support\" Russia's War"
    assert article["outlet"] == "Business Insider"
    body = "\n".join(article["paragraphs"])
    assert body.startswith("North Korean leader Kim Jong Un said on Sunday")
    assert body.endswith("technological assistance for its space and arms programs.")
    for leaked in [*TEASER_TITLES, "You may also like", "Music mogul", "Super Falcons"]:
        assert leaked not in body
    assert [r["title"] for r in article["related"]] == TEASER_TITLES
    assert article["related"][0]["teaser"].startswith("Music mogul Sean 'Diddy' Combs")
    assert article["topic"] == "geopolitics"
    assert set(article["scores"]) == {"geopolitics", "sport", "entertainment", "other"}

    human = run_cli(redis_url, "show", article_id)
    assert "Business Insider" in human.stdout and "geopolitics" in human.stdout

    # The same page again: nothing new stored, reported as a duplicate.
    again = run_cli(redis_url, "push", str(SAMPLE))
    assert pushed_ids(again.stdout) == [article_id]
    assert store.wait_for(2)
    stats = json.loads(run_cli(redis_url, "stats", "--json").stdout)
    assert stats["stored"] == 1 and stats["duplicates"] == 1
    listed = json.loads(run_cli(redis_url, "results", "--json").stdout)
    assert [a["id"] for a in listed] == [article_id]
    last = store.redis.xrevrange(store.keys.events, count=1)[0][1]
    assert (last["kind"], last["canonical"]) == ("duplicate", article_id)


def test_refused_inputs_name_the_file_and_reason(
    worker: WorkerProcess, redis_url: str, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(os.urandom(4096))
    (tmp_path / "huge.txt").write_bytes(b"news " * 2_000_000)
    (tmp_path / "good.txt").write_text(ARTICLE)
    result = run_cli(redis_url, "push", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path / 'empty.txt'}: empty file" in result.stderr
    assert f"{tmp_path / 'binary.txt'}: binary content" in result.stderr
    assert f"{tmp_path / 'huge.txt'}: 10.0 MB is over the 2.0 MB limit" in result.stderr
    assert "1 queued in 1 batch(es), 3 refused" in result.stdout
    assert store.wait_for(1)
    assert store.stats()["stored"] == 1
    assert worker.alive()


def test_one_bad_article_never_fails_its_batch_mates(
    worker: WorkerProcess, settings: Settings, store: Store
) -> None:
    good = RawArticle(kind="text", text=ARTICLE, source="good.txt")
    title_only = RawArticle(kind="text", text="Just A Headline - Some Outlet", source="bare.txt")
    other = RawArticle(kind="text", text=OTHER_ARTICLE, source="other.txt")
    with Publisher(settings) as publisher:
        publisher.send([good, title_only, other])
        # A message that is not even a batch, sent by hand.
        publisher.app.send_task(
            TASK_PROCESS_BATCH, args=[{"articles": "junk"}], queue=settings.queue
        )
    assert store.wait_for(4)
    assert store.stats()["stored"] == 2
    letters = {f["reason"]: f for _, f in store.dlq()}
    assert set(letters) == {"not_an_article", "invalid_message"}
    assert (
        json.loads(letters["not_an_article"]["payload"])["text"] == "Just A Headline - Some Outlet"
    )
    assert letters["not_an_article"]["source"] == "bare.txt"
    assert worker.alive()

    listed = run_cli(settings.redis_url_value or "", "dlq", "list", "--json")
    assert {e["reason"] for e in json.loads(listed.stdout)} == set(letters)


def test_worker_logs_one_json_line_per_article_with_context(
    worker: WorkerProcess, settings: Settings, store: Store
) -> None:
    article = RawArticle(kind="text", text=ARTICLE.replace("Tuesday", "Monday"))
    with Publisher(settings) as publisher:
        publisher.send([article])
    assert store.wait_for(1)
    lines = [e for e in worker.json_logs() if e.get("article_id") == article.article_id]
    [line] = [e for e in lines if e["event"] == "article.processed"]
    assert line["task_id"] and line["batch_id"]
    assert line["topic"] in {"geopolitics", "sport", "entertainment", "other"}
    assert line["dedup"] == "unique" and isinstance(line["duration_ms"], float)
    assert 0 <= line["confidence"] <= 1
    # Celery's own lines come through the same JSON renderer.
    assert any(e.get("logger", "").startswith("celery") for e in worker.json_logs())


def test_results_by_topic_and_watch_follows_new_articles(
    worker: WorkerProcess, redis_url: str, store: Store, tmp_path: Path
) -> None:
    watch = pipe_cli(redis_url, "watch", "--json")
    try:
        # Push once watch is reading: it follows from when it started, and on
        # a slow machine its start-up can take longer than push + processing.
        deadline = time.monotonic() + 60
        while not any(c.get("cmd") == "xread" for c in store.redis.client_list()):
            assert watch.poll() is None, watch.communicate()[1]
            assert time.monotonic() < deadline, "watch never started reading"
            time.sleep(0.05)
        page = tmp_path / "ferry.txt"
        page.write_text(ARTICLE.replace("Tuesday", "Friday"))
        [article_id] = pushed_ids(run_cli(redis_url, "push", str(page)).stdout)
        assert watch.stdout is not None
        event = json.loads(watch.stdout.readline())
        assert event["id"] == article_id and event["kind"] == "unique"
    finally:
        watch.terminate()
        watch.wait(timeout=10)
    topic = store.get(article_id)["topic"]  # type: ignore[index]
    listed = json.loads(run_cli(redis_url, "results", "--topic", topic, "--json").stdout)
    assert [a["id"] for a in listed] == [article_id]
    elsewhere = {"geopolitics", "sport", "entertainment", "other"} - {topic}
    for t in elsewhere:
        assert json.loads(run_cli(redis_url, "results", "--topic", t, "--json").stdout) == []


def test_read_commands_explain_a_missing_redis(tmp_path: Path) -> None:
    env = clean_env(NEWSWIRE_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "stats"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "no Redis configured: set NEWSWIRE_REDIS_URL" in result.stderr


@needs_shared()
def test_syndicated_copy_joins_the_story_of_the_first(
    worker: WorkerProcess, redis_url: str, store: Store, tmp_path: Path
) -> None:
    original = SAMPLE.read_text()
    headline, _, rest = original.partition("\n")
    copy = tmp_path / "copy.txt"
    copy.write_text(headline.replace("Business Insider", "Yahoo News") + "\n" + rest)
    [first] = pushed_ids(run_cli(redis_url, "push", str(SAMPLE)).stdout)
    assert store.wait_for(1)
    [second] = pushed_ids(run_cli(redis_url, "push", str(copy)).stdout)
    assert store.wait_for(2)
    assert first != second

    shown = run_cli(redis_url, "show", second)
    assert f"is a duplicate of {first}" in shown.stdout
    assert "Yahoo News" in shown.stdout
    # Another outlet's edited copy: a by-line added, the last paragraph cut.
    paragraphs = rest.split("You may also like")[0].strip().splitlines()
    edited = tmp_path / "edited.txt"
    edited.write_text(
        headline.replace("Business Insider", "The Wire") + "\nBy Staff Reporter\n"
        + "\n".join(paragraphs[:-1])
    )  # fmt: skip
    [third] = pushed_ids(run_cli(redis_url, "push", str(edited)).stdout)
    assert store.wait_for(3)

    group = json.loads(run_cli(redis_url, "story", second, "--json").stdout)
    assert group["canonical"]["id"] == first
    copies = {c["id"]: c for c in group["copies"]}
    assert (copies[second]["outlet"], copies[second]["verdict"]) == ("Yahoo News", "duplicate")
    assert (copies[third]["outlet"], copies[third]["verdict"]) == ("The Wire", "near_duplicate")
    assert 0.5 <= copies[third]["similarity"] < 1
    table = run_cli(redis_url, "story", first).stdout
    assert "near copy" in table and "exact copy" in table
    assert "copies" in run_cli(redis_url, "show", first).stdout
    assert store.stats()["stored"] == 1


def test_worker_refuses_to_start_without_its_model(redis_url: str, tmp_path: Path) -> None:
    env = worker_env(redis_url, NEWSWIRE_MODEL_PATH=str(tmp_path / "missing.npz"))
    result = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "worker", "-c", "1"],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode != 0
    assert "missing.npz" in result.stdout + result.stderr
