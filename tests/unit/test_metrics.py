"""`/metrics` rendering: a pure function from Redis' counters to the text
format, and the histogram fields the workers increment."""

from __future__ import annotations

from newswire.metrics import render, snapshot
from worker.contract import BatchMessage
from worker.histograms import CONFIDENCE, LATENCY, fields_for


def _samples(text: str) -> dict[str, float]:
    return {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_each_observation_counts_in_its_own_bucket_and_render_accumulates() -> None:
    increments, total = fields_for(LATENCY, [0.01, 0.05, 0.07, 2.0, 1000.0])
    assert increments == {
        f"{LATENCY}:0.05": 2,  # an observation on a bound is in that bucket
        f"{LATENCY}:0.1": 1,
        f"{LATENCY}:2.5": 1,
        f"{LATENCY}:+Inf": 1,
        f"{LATENCY}:count": 5,
    }
    assert total == sum([0.01, 0.05, 0.07, 2.0, 1000.0])
    fields = {**{k: float(v) for k, v in increments.items()}, f"{LATENCY}:sum": total}
    m = _samples(render(snapshot({}, fields, queued_messages=0, dead_letters_kept=0)))
    assert m['newswire_push_to_stored_seconds_bucket{le="0.05"}'] == 2
    assert m['newswire_push_to_stored_seconds_bucket{le="0.1"}'] == 3
    assert m['newswire_push_to_stored_seconds_bucket{le="1.0"}'] == 3
    assert m['newswire_push_to_stored_seconds_bucket{le="300.0"}'] == 4
    assert m['newswire_push_to_stored_seconds_bucket{le="+Inf"}'] == 5
    assert m["newswire_push_to_stored_seconds_count"] == 5
    assert m["newswire_extraction_confidence_count"] == 0


def test_outcomes_partition_the_processed_and_labels_are_escaped() -> None:
    stats = {
        "stored": 7,
        "duplicates": 5,
        "near_duplicates": 2,
        "dead_lettered": 3,
        "topic:sport": 4,
        'topic:odd "one"\\\n': 3,
        "dlq:parse_error": 3,
    }
    text = render(snapshot(stats, {}, queued_messages=9, dead_letters_kept=1), live_workers=2)
    m = _samples(text)
    outcomes = {k: v for k, v in m.items() if k.startswith("newswire_articles_total")}
    assert outcomes == {
        'newswire_articles_total{outcome="stored"}': 7,
        'newswire_articles_total{outcome="duplicate"}': 3,
        'newswire_articles_total{outcome="near_duplicate"}': 2,
        'newswire_articles_total{outcome="dead_lettered"}': 3,
    }
    assert m['newswire_articles_by_topic_total{topic="odd \\"one\\"\\\\\\n"}'] == 3
    assert m['newswire_dead_letters_total{reason="parse_error"}'] == 3
    assert m["newswire_queued_messages"] == 9 and m["newswire_live_workers"] == 2
    assert "# TYPE newswire_extraction_confidence histogram" in text
    assert "newswire_live_workers" not in render(
        snapshot({}, {}, queued_messages=0, dead_letters_kept=0)
    )
    assert fields_for(CONFIDENCE, [1.0])[0] == {f"{CONFIDENCE}:1.0": 1, f"{CONFIDENCE}:count": 1}


def test_pushed_at_is_optional_in_the_contract() -> None:
    assert BatchMessage.model_validate({"articles": [{"kind": "text"}]}).pushed_at is None
    sent = BatchMessage.model_validate({"articles": [{"kind": "text"}], "pushed_at": 1.5e9})
    assert sent.pushed_at == 1.5e9
