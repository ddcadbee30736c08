"""The embedded default: with no Redis configured, newswire runs its own."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from config.embedded import EmbeddedRedis
from tests.conftest import ROOT, clean_env

pytestmark = pytest.mark.e2e


def bare_env(data_dir: Path) -> dict[str, str]:
    return clean_env(NEWSWIRE_DATA_DIR=str(data_dir))


def test_the_private_redis_persists_every_second_and_rewrites_only_a_large_log(
    tmp_path: Path,
) -> None:
    with EmbeddedRedis(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        config = (
            client.config_get("append*")
            | client.config_get("auto-aof-*")
            | client.config_get("rdbcompression")
        )
        client.close()
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    # Redis's 64 MB default forked a rewrite every ~4,000 articles of queue
    # traffic on a small store, and each fork stalled the workers for a moment.
    assert int(config["auto-aof-rewrite-min-size"]) == 512 * 2**20
    assert config["auto-aof-rewrite-percentage"] == "100"
    # A rewrite's fork takes a core from the workers: LZF-compressing the
    # articles' JSON was 60% of its CPU (bench: 0.88 -> 0.34 s at 9k stored).
    assert config["rdbcompression"] == "no"


def test_demo_runs_from_nothing_and_cleans_up(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "demo"],
        env=bare_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for topic in ("geopolitics", "sport", "entertainment", "other"):
        assert topic in out
    assert "duplicate of" in out  # the syndicated copy
    assert "private Redis at redis://127.0.0.1:" in out
    port = int(out.split("redis://127.0.0.1:")[1].split("/")[0])
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_connect_timeout=1).ping()  # shut down
    assert (tmp_path / "data" / "demo" / "appendonlydir").is_dir()  # persisted
    assert not (tmp_path / "data" / "demo" / "redis.url").exists()


def test_worker_without_redis_starts_a_private_one_that_push_finds(tmp_path: Path) -> None:
    env = bare_env(tmp_path / "data")
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", "worker", "-c", "1"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert "embedded_redis.started" in log.read_text()
        page = tmp_path / "page.txt"
        page.write_text(
            "Council Votes To Extend Library Hours - Valley Gazette\n"
            + "The town council voted on Monday to keep the central library open until nine "
            "in the evening on weekdays, after a petition signed by two thousand residents.\n" * 3
        )
        pushed = subprocess.run(
            [sys.executable, "-m", "newswire.cli", "push", str(page)],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert pushed.returncode == 0, pushed.stderr
        article_id = pushed.stdout.split()[1]
        for _ in range(100):
            shown = subprocess.run(
                [sys.executable, "-m", "newswire.cli", "show", article_id],
                env=env,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if shown.returncode == 0:
                break
            time.sleep(0.2)
        assert "Valley Gazette" in shown.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert "embedded_redis.stopped" in log.read_text()
    assert not (tmp_path / "data" / "redis.url").exists()
