"""`newswire push` of a directory holding hostile files, as a user runs it:
each hostile file is refused in one line, the rest is queued, nothing hangs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import QUEUE, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]


def test_hostile_files_are_refused_and_the_rest_is_queued(
    redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "pipe.txt")  # opening it would block forever
    (tmp_path / "zero.txt").symlink_to("/dev/zero")  # reading it never ends
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)  # RecursionError
    (tmp_path / "one.txt").write_text("First Story - Outlet\nThe first body.")
    (tmp_path / "two.json").write_text(json.dumps({"title": "Second", "body": "Body two."}))

    started = time.monotonic()
    result = run_cli(redis_url, "push", "--json", str(tmp_path), timeout=120)
    elapsed = time.monotonic() - started

    assert result.returncode == 1, result.stderr  # 1: something was refused
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert sorted(q["source"] for q in report["queued"]) == [
        str(tmp_path / "one.txt"),
        str(tmp_path / "two.json"),
    ]
    reasons = {Path(r["source"]).name: r["reason"] for r in report["refused"]}
    assert reasons == {
        "deep.json": "JSON nested deeper than 100 levels",
        "pipe.txt": "not a regular file (a FIFO)",
        "zero.txt": "not a regular file (a character device)",
    }
    assert client.llen(QUEUE) == report["batches"] == 1
    assert elapsed < 30
