"""bench/chaos.py, shortened: kills and a Redis restart lose nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import run_chaos

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(400)
def test_chaos_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    r = run_chaos(tmp_path, payloads=800, workers=2, concurrency=1, main_kills=1, child_kills=2,
                  seed=3, budget=240)  # fmt: skip
    assert r["chaos_events"] == 4  # 1 worker + pool, 2 pool children, 1 Redis restart
    assert r["lost"] == 0
    assert r["stored_twice"] == 0
    assert r["stored"] + r["duplicates"] + r["dead_lettered"] + r["refused"] == r["pushed"]
    # Each generated kind ended where it should.
    assert r["refused"] == r["generated_refused_junk"]
    assert r["dead_lettered"] == r["generated_worker_junk"]
    assert r["duplicates"] == r["generated_duplicate"]
    assert r["stored"] == r["indexed"] == r["generated_article"]
