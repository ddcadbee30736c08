"""bench/chaos.py, shortened: kills of busy processes and a Redis restart,
each in the middle of the run, lose nothing and store nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import WINDOW, run_chaos

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(300)
def test_chaos_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    r = run_chaos(tmp_path, payloads=2000, workers=2, concurrency=1, main_kills=1, child_kills=2,
                  redis_restarts=1, paragraphs=30, batch_size=100, seed=3, budget=150)  # fmt: skip
    faults = r["faults"]
    # Every fault struck while work remained, on a process with a batch in flight.
    assert [f for f in faults if f.get("missed")] == []
    assert sorted(f["fault"] for f in faults) == ["child", "child", "main", "redis"]
    for f in faults:
        assert WINDOW[0] <= f["progress"] <= WINDOW[1], f
        assert f["batches"], f  # busy: at least one batch started and not finished
    kills = [f for f in faults if f["fault"] in ("main", "child")]
    assert len({f["pid"] for f in kills}) == len(kills)  # three different victims
    # Each killed batch came back: delivered again, and counted as such.
    assert all(f["redelivered"] for f in kills), kills
    assert r["redeliveries"] >= sum(len(f["batches"]) for f in kills)
    # The Redis restart caught store writes under way: they were retried.
    [outage] = [f for f in faults if f["fault"] == "redis"]
    assert outage["store_retries"] > 0, outage
    # And the books balance.
    assert r["lost"] == 0
    assert r["stored_twice"] == 0
    assert r["stored"] + r["duplicates"] + r["dead_lettered"] + r["refused"] == r["pushed"]
    # Each generated kind ended where it should.
    assert r["refused"] == r["generated_refused_junk"]
    assert r["dead_lettered"] == r["generated_worker_junk"]
    assert r["duplicates"] == r["generated_duplicate"]
    assert r["stored"] == r["indexed"] == r["generated_article"]
