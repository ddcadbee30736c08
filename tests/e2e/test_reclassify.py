"""`newswire reclassify` (issue 19), end to end: 300 articles stored by a real
worker, a model trained with `newswire train --jsonl` on a user's own labels,
then reclassify (killed mid-run, then run again), and `results --topic`,
`stats` and every article agree with each other and with the model."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import PREFIX, SHARED, WorkerProcess, needs_shared, pipe_cli, run_cli
from worker.model import load_model
from worker.pipeline.classify import DEFAULT_LABELS, TopicModel
from worker.store import Store

pytestmark = [pytest.mark.e2e, needs_shared()]

BBC = SHARED / "corpora" / "bbc-news"
# The user's own label set: BBC's sections under names of their own.
OWN_LABELS = {
    "business": "business",
    "entertainment": "culture",
    "politics": "politics",
    "sport": "sports",
    "tech": "technology",
}
STORED = 300


def bbc_files(folder: str) -> list[Path]:
    return sorted((BBC / folder).glob("*.txt"))


@pytest.fixture(scope="module")
def own_model(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained by `newswire train --jsonl` on BBC articles that are
    not among the stored ones, labelled with the user's own names."""
    folder = tmp_path_factory.mktemp("own-model")
    data, artifact = folder / "own.jsonl", folder / "own.npz"
    with data.open("w") as out:
        for section, label in OWN_LABELS.items():
            for path in bbc_files(section)[100:200]:
                out.write(json.dumps({"text": path.read_text(errors="replace"), "label": label}))
                out.write("\n")
    done = run_cli(redis_url, "train", "--jsonl", str(data), "--out", str(artifact), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return artifact


def push_until_stored(redis_url: str, store: Store, tmp_path: Path, n: int) -> None:
    """Push BBC articles (the first of each section) until ``n`` are stored:
    the corpus holds some copies, which the worker keeps as duplicates."""
    candidates = [p for i in range(100) for s in OWN_LABELS for p in bbc_files(s)[i : i + 1]]
    sent = 0
    while (stored := store.stats().get("stored", 0)) < n:
        batch = candidates[sent : sent + n - stored]
        assert batch, "the corpus ran out of distinct articles"
        source = tmp_path / f"articles-{sent}.jsonl"
        with source.open("w") as out:
            for path in batch:
                title, _, body = path.read_text(errors="replace").partition("\n")
                record = {
                    "title": title,
                    "body": body.strip(),
                    "url": f"https://bbc.test/{path.parent.name}/{path.name}",
                }
                out.write(json.dumps(record) + "\n")
        pushed = run_cli(redis_url, "push", str(source))
        assert pushed.returncode == 0, pushed.stderr
        sent += len(batch)
        assert store.wait_for(sent, timeout=240)
    assert store.stats()["stored"] == n


def articles(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every stored (unique) article by id."""
    ids = client.zrange(f"{PREFIX}:recent", 0, -1)
    raws = client.mget([f"{PREFIX}:article:{i}" for i in ids])
    return {i: json.loads(r) for i, r in zip(ids, raws, strict=True)}


def topic_counters(stats: dict[str, int]) -> dict[str, int]:
    return {k.removeprefix("topic:"): v for k, v in stats.items() if k.startswith("topic:")}


def assert_consistent(client: redis.Redis, store: Store) -> dict[str, dict[str, Any]]:
    """Each article is in exactly its topic's index, with its ingestion score,
    and the counters count them: true at any point of a run."""
    found = articles(client)
    by_topic = Counter(a["topic"] for a in found.values())
    assert topic_counters(store.stats()) == dict(by_topic)
    recent = dict(client.zrange(f"{PREFIX}:recent", 0, -1, withscores=True))
    indexed = {k.split(":")[-1] for k in client.scan_iter(match=f"{PREFIX}:topic:*")}
    for topic in indexed | set(by_topic):
        index = dict(client.zrange(f"{PREFIX}:topic:{topic}", 0, -1, withscores=True))
        assert set(index) == {i for i, a in found.items() if a["topic"] == topic}, topic
        assert all(index[i] == recent[i] for i in index), topic  # the score kept
    return found


def expected(model: TopicModel, found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the model says of each article's title and body, computed here."""
    texts = [f"{a['title']}\n" + "\n\n".join(a["paragraphs"]) for a in found.values()]
    return {
        i: {
            "topic": c.topic,
            "confidence": c.confidence,
            "scores": c.scores,
            "model_version": c.model_version,
        }
        for i, c in zip(found, model.predict_many(texts), strict=True)
    }


def results_ids(redis_url: str, topic: str) -> set[str]:
    done = run_cli(redis_url, "results", "--topic", topic, "--limit", "10000", "--json")
    assert done.returncode == 0, done.stderr
    return {a["id"] for a in json.loads(done.stdout)}


def cli_stats(redis_url: str) -> dict[str, int]:
    done = run_cli(redis_url, "stats", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def reclassify(redis_url: str, *args: str) -> dict[str, Any]:
    done = run_cli(redis_url, "reclassify", *args, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def kill_mid_run(redis_url: str, client: redis.Redis, model: Path) -> None:
    """Start reclassify and SIGKILL it once its first articles are rewritten:
    Redis pauses writes the moment the test sees the first one, so the
    process dies between two of its pages."""
    watched = [f"topic:{label}" for label in OWN_LABELS.values()]
    proc = pipe_cli(redis_url, "reclassify", "--model", str(model), "--batch", "10")
    try:
        deadline = time.monotonic() + 120
        while not any(client.hmget(f"{PREFIX}:stats", watched)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "reclassify rewrote nothing"
            time.sleep(0.001)
        client.execute_command("CLIENT", "PAUSE", "30000", "WRITE")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_reclassify_with_a_users_own_labels_killed_and_rerun(
    worker: WorkerProcess,
    redis_url: str,
    client: redis.Redis,
    store: Store,
    own_model: Path,
    tmp_path: Path,
) -> None:
    push_until_stored(redis_url, store, tmp_path, STORED)
    before = assert_consistent(client, store)
    assert len(before) == STORED
    shipped, own = load_model(), load_model(own_model)
    assert set(own.labels) == set(OWN_LABELS.values())

    # Killed mid-run: some articles have the new model's answer, the rest
    # the old one, and the store is consistent.
    kill_mid_run(redis_url, client, own_model)
    halfway = assert_consistent(client, store)
    done = sum(a["model_version"] == own.version for a in halfway.values())
    assert 0 < done < STORED, f"{done} of {STORED} rewritten: not killed mid-run"

    # Run again: it finishes the job.
    summary = reclassify(redis_url, "--model", str(own_model))
    assert summary["model_version"] == own.version
    assert summary["examined"] == STORED
    assert summary["reclassified"] == STORED - done
    assert summary["unchanged"] == done
    assert summary["interrupted"] is False
    after = assert_consistent(client, store)
    want = expected(own, before)
    for article_id, article in after.items():
        assert {k: article[k] for k in want[article_id]} == want[article_id], article_id
        # Nothing else of the article changed.
        rest = {k: v for k, v in article.items() if k not in want[article_id]}
        assert rest == {k: v for k, v in before[article_id].items() if k in rest}
        assert set(rest) | set(want[article_id]) == set(before[article_id])

    # What a user reads agrees: results --topic, stats, and each article.
    by_topic = Counter(a["topic"] for a in after.values())
    assert set(by_topic) <= set(OWN_LABELS.values()) and len(by_topic) >= 4
    counters = cli_stats(redis_url)
    assert topic_counters(counters) == dict(by_topic)  # the old topics' counters are gone
    assert counters["stored"] == STORED
    for label in OWN_LABELS.values():
        assert results_ids(redis_url, label) == {i for i, a in after.items() if a["topic"] == label}
    # BBC's own sections: the new model files most stored articles where BBC did.
    agree = sum(a["topic"] == OWN_LABELS[a["url"].split("/")[-2]] for a in after.values())
    assert agree >= 0.8 * STORED

    # A third run finds nothing to do and writes nothing.
    raws = client.mget([f"{PREFIX}:article:{i}" for i in after])
    again = reclassify(redis_url, "--model", str(own_model))
    assert (again["reclassified"], again["unchanged"], again["moved"]) == (0, STORED, {})
    assert client.mget([f"{PREFIX}:article:{i}" for i in after]) == raws

    # Back to the shipped model: every article as the worker stored it.
    back = reclassify(redis_url)
    assert back["model_version"] == shipped.version
    assert back["reclassified"] == STORED
    restored = assert_consistent(client, store)
    assert restored == before
    for topic in DEFAULT_LABELS:
        assert results_ids(redis_url, topic) == {
            i for i, a in before.items() if a["topic"] == topic
        }

    # --topic: only that topic's articles; --since: only the recent ones.
    sport = {i for i, a in before.items() if a["topic"] == "sport"}
    only = reclassify(redis_url, "--model", str(own_model), "--topic", "sports")  # a synonym
    assert only["examined"] == only["reclassified"] == len(sport)
    now = assert_consistent(client, store)
    assert {i for i, a in now.items() if a["model_version"] == own.version} == sport
    later = reclassify(redis_url, "--model", str(own_model), "--since", "2999-01-01")
    assert later["examined"] == 0
    recent = reclassify(redis_url, "--model", str(own_model), "--since", "1h")
    assert recent["examined"] == STORED
    assert recent["reclassified"] == STORED - len(sport)


def test_bad_options_are_one_line(redis_url: str, client: redis.Redis) -> None:
    for args, hint in [
        (("--since", "last tuesday"), "is not a time"),
        (("--topic", "weather"), "is not a topic"),
        (("--model", "/nonexistent/model.npz"), "not found"),
    ]:
        done = run_cli(redis_url, "reclassify", *args)
        assert done.returncode != 0
        assert hint in done.stderr and "Traceback" not in done.stderr, done.stderr
