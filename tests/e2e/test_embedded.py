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


@pytest.mark.parametrize("configured", [True, False], ids=["data-dir", "default"])
def test_demo_runs_from_nothing_and_cleans_up(tmp_path: Path, configured: bool) -> None:
    # The demo keeps to its own folder: NEWSWIRE_DATA_DIR/demo, else
    # ./.newswire/demo; never the per-user state folder of `newswire worker`.
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "state"))
    if configured:
        env["NEWSWIRE_DATA_DIR"] = str(tmp_path / "data")
    demo_dir = tmp_path / "data" / "demo" if configured else tmp_path / ".newswire" / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "demo"],
        env=env,
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
    assert (demo_dir / "appendonlydir").is_dir()  # persisted
    assert not (demo_dir / "redis.url").exists()
    assert not (tmp_path / "state").exists()


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_commands_find_the_private_redis_from_any_folder(tmp_path: Path) -> None:
    # No NEWSWIRE_DATA_DIR: the per-user state folder, here under XDG_STATE_HOME.
    state = tmp_path / "state" / "newswire"
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "state"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
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
        page = elsewhere / "page.txt"
        page.write_text(
            "Council Votes To Extend Library Hours - Valley Gazette\n"
            + "The town council voted on Monday to keep the central library open until nine "
            "in the evening on weekdays, after a petition signed by two thousand residents.\n" * 3
        )
        pushed = run(env, elsewhere, "push", str(page))
        assert pushed.returncode == 0, pushed.stderr
        article_id = pushed.stdout.split()[1]
        for _ in range(100):
            shown = run(env, elsewhere, "show", article_id)
            if shown.returncode == 0:
                break
            time.sleep(0.2)
        assert "Valley Gazette" in shown.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # The private Redis outlives the worker that started it, until stopped.
    url = (state / "redis.url").read_text().strip()
    assert "embedded_redis.left_running" in log.read_text()
    status = run(env, elsewhere, "redis", "status")
    assert status.returncode == 0 and url in status.stdout, status.stderr
    stopped = run(env, elsewhere, "redis", "stop")
    assert stopped.returncode == 0, stopped.stderr
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    assert (state / "appendonlydir").is_dir()  # persisted in the one place per user


@pytest.mark.parametrize("configured", [True, False], ids=["data-dir", "default"])
def test_without_a_redis_commands_say_where_they_looked(tmp_path: Path, configured: bool) -> None:
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "state"))
    looked = tmp_path / "state" / "newswire"
    if configured:
        env["NEWSWIRE_DATA_DIR"] = str(tmp_path / "data")
        looked = tmp_path / "data"
    for command in ("stats", "push", "redis"):
        result = run(env, tmp_path, command, *(["-"] if command == "push" else []))
        assert result.returncode == 1, result.stderr
        assert f"{looked / 'redis.url'}" in result.stderr, result.stderr
