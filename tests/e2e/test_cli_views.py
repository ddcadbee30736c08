"""What a new user saw in the terminal views (issue 20): payload text printed
as markup, tracebacks for typos, a misspelt topic listing nothing, a bodiless
JSON record queued only to be dead-lettered, and smaller slips. Each test
drives the real `newswire` command against a real redis-server and worker."""

from __future__ import annotations

import json
import os
import re
import selectors
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT, WorkerProcess, pipe_cli, run_cli
from tests.e2e.test_service import pushed_ids
from worker.pipeline.models import PayloadKind, ProcessedArticle, RelatedItem
from worker.store import Store

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "newswire" / "examples"

HOSTILE_TITLE = "[VIDEO] Bank shares tumble [/] after regulator opens inquiry"
HOSTILE_OUTLET = "[r1] Market [bold]Wire"
HOSTILE_AUTHOR = "[i]Ann Lee"
BODY = [
    "Shares in Harbourside Bank fell by a fifth on Monday after the financial regulator said "
    "it had opened an inquiry into how the lender sold savings products to older customers.",
    "The regulator said it would look at sales made over the past three years and that it "
    "could order the bank to compensate customers who were given misleading information.",
    "The bank said it was cooperating fully with the inquiry and that it did not expect the "
    "review to affect its capital position or its plans to pay a dividend this year.",
]

# Six unrelated stories: one batch of them must come back in arrival order.
STORIES = [
    "The city council voted on Tuesday to turn the old tram depot into a market hall, with "
    "forty stalls for local growers and a covered square for concerts in the winter months.",
    "A rare orchid not seen in the valley for sixty years has been found by a schoolteacher "
    "walking her dog, and botanists have asked visitors to keep to the marked footpaths.",
    "Engineers finished repairs to the northern sea wall two weeks ahead of schedule, after a "
    "dry autumn let crews pour concrete without the delays that storms caused last year.",
    "The regional orchestra announced a season of free lunchtime recitals in libraries and "
    "hospitals, paid for by a bequest from a retired cellist who played with it for decades.",
    "Bakers across the province are paying almost twice as much for flour as they did a year "
    "ago, and several family bakeries say they may close unless wholesale prices fall soon.",
    "A volunteer crew restored the lighthouse keeper's cottage on the headland, which will "
    "open as a small museum of shipwrecks and coastal rescues at the start of next summer.",
]


def push(redis_url: str, *paths: Path) -> list[str]:
    result = run_cli(redis_url, "push", *map(str, paths))
    assert result.returncode == 0, result.stdout + result.stderr
    return pushed_ids(result.stdout)


def push_first_and_copy(
    redis_url: str, store: Store, tmp_path: Path, copy_fields: dict[str, str]
) -> tuple[str, str, Path]:
    """A story, then another outlet's copy of it (same body): their ids and the copy's file."""
    first, copy = tmp_path / "first.json", tmp_path / "copy.json"
    first.write_text(json.dumps({"title": "Bank shares tumble", "source": "Ledger", "body": BODY}))
    copy.write_text(json.dumps({"title": "Bank shares fall", **copy_fields, "body": BODY}))
    [first_id] = push(redis_url, first)
    assert store.wait_for(1)
    [copy_id] = push(redis_url, copy)
    assert store.wait_for(2)
    return first_id, copy_id, copy


def watch_until(
    redis_url: str, done: Callable[[list[str]], bool], timeout: float = 30
) -> list[str]:
    """Lines of `newswire watch --from-start` (the human view) until ``done``."""
    proc = pipe_cli(redis_url, "watch", "--from-start")
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data, lines = b"", []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        try:
            while not done(lines) and time.monotonic() < deadline:
                if selector.select(timeout=0.5):
                    chunk = os.read(fd, 65536)  # unbuffered: select sees every line
                    if not chunk:
                        break  # watch ended
                    data += chunk
                    lines = data.decode(errors="replace").split("\n")[:-1]  # whole lines
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=10)
    assert done(lines), f"watch printed {lines!r}, stderr: {stderr[-2000:]!r}"
    return lines


def stored_article(n: int, **fields: object) -> ProcessedArticle:
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "id": f"{n:016x}",
        "submission_id": f"sub{n:013d}",
        "kind": PayloadKind.HTML,
        "title": f"Title {n}",
        "outlet": "Outlet",
        "paragraphs": ("Body.",),
        "related": (),
        "url": None,
        "source": f"page{n}.html",
        "client_id": None,
        "topic": "other",
        "confidence": 0.9,
        "scores": {"other": 0.9, "sport": 0.1},
        "model_version": "test",
        "body_hash": f"h{n}",
        "received_at": now,
        "ingested_at": now,
        "word_count": 1,
        **fields,
    }
    return ProcessedArticle.model_validate(values)


# -- 1. payload text is text, never markup ------------------------------------


def test_titles_outlets_and_teasers_with_brackets_print_as_they_are(
    worker: WorkerProcess, redis_url: str, store: Store, tmp_path: Path
) -> None:
    record = {
        "title": HOSTILE_TITLE,
        "source": HOSTILE_OUTLET,
        "author": HOSTILE_AUTHOR,
        "url": "https://news.example/[a]/bank",
        "body": BODY,
    }
    page = tmp_path / "bank.json"
    page.write_text(json.dumps(record))
    [article_id] = push(redis_url, page)
    assert store.wait_for(1)
    assert store.get(article_id) is not None, run_cli(redis_url, "dlq", "list").stdout

    listed = run_cli(redis_url, "results")
    assert listed.returncode == 0, listed.stderr
    assert HOSTILE_TITLE in listed.stdout and HOSTILE_OUTLET in listed.stdout
    shown = run_cli(redis_url, "show", article_id)
    assert shown.returncode == 0, shown.stderr
    for value in (HOSTILE_TITLE, HOSTILE_OUTLET, HOSTILE_AUTHOR, record["url"]):
        assert value in shown.stdout
    told = run_cli(redis_url, "story", article_id)
    assert told.returncode == 0, told.stderr
    assert HOSTILE_TITLE in told.stdout
    watch_until(redis_url, lambda lines: any(HOSTILE_TITLE in line for line in lines))


# -- 4. a typo gets a sentence, not a traceback -------------------------------


@pytest.mark.parametrize("command", ["show", "replay", "purge"])
def test_a_bogus_dead_letter_entry_is_explained_in_one_line(
    redis_url: str, store: Store, command: str
) -> None:
    result = run_cli(redis_url, "dlq", command, "bogus")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "no dead letter 'bogus'" in line and "newswire dlq list" in line
    assert re.search(r"entries look like \d{13}-0", line), line


def test_a_well_formed_but_missing_dead_letter_points_to_the_list(
    redis_url: str, store: Store
) -> None:
    result = run_cli(redis_url, "dlq", "show", "1-0")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "no dead letter 1-0" in line and "newswire dlq list" in line


# -- 5. topics in any case, with the obvious synonyms --------------------------


def test_topic_is_matched_in_any_case_and_by_synonym_or_refused_with_the_names(
    worker: WorkerProcess, redis_url: str, store: Store
) -> None:
    [article_id] = push(redis_url, EXAMPLES / "sport-city-derby.txt")
    assert store.wait_for(1)
    assert store.get(article_id)["topic"] == "sport"  # type: ignore[index]
    for asked in ("sport", "Sport", "SPORTS", "sports"):
        found = run_cli(redis_url, "results", "--topic", asked, "--json")
        assert found.returncode == 0, found.stderr
        assert [a["id"] for a in json.loads(found.stdout)] == [article_id], asked
    refused = run_cli(redis_url, "results", "--topic", "weather")
    assert refused.returncode == 2
    assert "'weather' is not a topic" in refused.stderr
    for name in ("geopolitics", "sport", "entertainment", "other"):
        assert name in refused.stderr


# -- 6. a bodiless JSON record is refused at push; dead letters say where ------


def test_a_json_record_without_a_body_is_refused_with_its_line(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    lines = tmp_path / "records.jsonl"
    lines.write_text(
        json.dumps({"title": "Bank shares tumble", "body": " ".join(BODY)})
        + "\n"
        + json.dumps({"title": "Only a headline", "url": "https://news.example/x"})
        + "\n"
    )
    result = run_cli(redis_url, "push", str(lines))
    assert result.returncode == 1
    assert f"{lines}:2: no article body" in result.stderr
    assert "1 queued in 1 batch(es), 1 refused" in result.stdout


def test_watch_names_the_source_and_entry_of_a_dead_letter(
    worker: WorkerProcess, redis_url: str, store: Store, tmp_path: Path
) -> None:
    page = tmp_path / "bare.txt"
    page.write_text("Only A Headline - Somewhere")
    push(redis_url, page)
    assert store.wait_for(1)
    [entry] = [e["entry"] for e in json.loads(run_cli(redis_url, "dlq", "list", "--json").stdout)]
    lines = watch_until(redis_url, lambda lines: any("dead-letter" in line for line in lines))
    [line] = [line for line in lines if "dead-letter" in line]
    assert "not_an_article" in line and str(page) in line and entry in line


# -- 11. smaller slips ----------------------------------------------------------


def test_a_duplicate_is_shown_with_what_it_has_and_no_none(
    worker: WorkerProcess, redis_url: str, store: Store, tmp_path: Path
) -> None:
    first_id, copy_id, copy = push_first_and_copy(
        redis_url, store, tmp_path, {"source": "Wire/Syndicate"}
    )
    shown = run_cli(redis_url, "show", copy_id)
    assert shown.returncode == 0, shown.stderr
    assert f"is a duplicate of {first_id}" in shown.stdout
    assert "Wire/Syndicate" in shown.stdout and str(copy) in shown.stdout
    assert "None" not in shown.stdout and "url" not in shown.stdout


def test_a_duplicate_record_is_written_like_a_full_record(
    worker: WorkerProcess, redis_url: str, store: Store, client: redis.Redis, tmp_path: Path
) -> None:
    first_id, copy_id, _ = push_first_and_copy(
        redis_url, store, tmp_path, {"url": "https://b.example/x/y"}
    )
    full = client.get(store.keys.article(first_id))
    light = client.get(store.keys.article(copy_id))
    assert isinstance(full, str) and isinstance(light, str)
    assert "\\/" not in light and "https://b.example/x/y" in light
    stamp = r'"ingested_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"'
    assert re.search(stamp, full) and re.search(stamp, light), (full[-200:], light)
    record = json.loads(light)
    assert (record["duplicate_of"], record["verdict"], record["similarity"]) == (
        first_id,
        "duplicate",
        1,
    )


def test_the_same_page_pushed_again_is_shown_as_already_stored(
    worker: WorkerProcess, redis_url: str, store: Store
) -> None:
    page = EXAMPLES / "sport-city-derby.txt"
    [article_id] = push(redis_url, page)
    assert store.wait_for(1)
    push(redis_url, page)
    assert store.wait_for(2)
    lines = watch_until(redis_url, lambda lines: len(lines) >= 2)
    assert f"duplicate of {article_id}" not in lines[1]
    assert article_id in lines[1] and "already stored" in lines[1]


def test_show_prints_authors_and_teasers_without_text_as_titles(
    redis_url: str, store: Store
) -> None:
    store.record_many(
        [
            stored_article(
                7,
                authors=("Ann Lee", "Bo Chen"),
                related=(RelatedItem(title="Lone headline"), RelatedItem(title="T", teaser="x")),
            )
        ]
    )
    shown = run_cli(redis_url, "show", f"{7:016x}")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"authors +Ann Lee, Bo Chen", shown.stdout), shown.stdout
    assert "  - Lone headline\n" in shown.stdout and "Lone headline:" not in shown.stdout
    assert "  - T: x" in shown.stdout


def test_push_says_how_many_hidden_files_it_skipped(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "inbox" / ".cache").mkdir(parents=True)
    (tmp_path / "inbox" / "page.txt").write_text("Ferry Timetable Changes - Herald\n" + BODY[0])
    (tmp_path / "inbox" / ".draft.txt").write_text("Draft - Herald\n" + BODY[1])
    (tmp_path / "inbox" / ".cache" / ".x.json").write_text("{}")
    result = run_cli(redis_url, "push", str(tmp_path / "inbox"))
    assert result.returncode == 0, result.stderr
    assert "1 queued in 1 batch(es), 0 refused, 2 hidden files skipped" in result.stdout


def test_results_list_one_batch_newest_first_in_arrival_order(
    worker: WorkerProcess, redis_url: str, store: Store, tmp_path: Path
) -> None:
    records = tmp_path / "batch.jsonl"
    records.write_text(
        "".join(
            json.dumps({"title": f"Story {n}", "body": body}) + "\n"
            for n, body in enumerate(STORIES)
        )
    )
    ids = push(redis_url, records)
    assert len(ids) == len(STORIES) and sorted(ids) != ids  # ids do not sort by arrival
    assert store.wait_for(len(ids))
    listed = json.loads(run_cli(redis_url, "results", "--json").stdout)
    assert [a["id"] for a in listed] == ids[::-1]
