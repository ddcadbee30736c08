"""bench.chaos.start_redis, which the restart tests use: a port taken at the
moment of a (re)start is retried, and a server is only taken for ours if it
serves our folder."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from bench.chaos import quiet_port, start_redis, stop_redis

pytestmark = pytest.mark.timeout(60)


def ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_quiet_ports_are_outside_the_ephemeral_range() -> None:
    # Where no client socket (a worker retrying a stopped server, even one
    # connecting to itself) can be holding the port when the server restarts.
    low = ephemeral_low()
    assert all(1024 <= quiet_port() < low for _ in range(50))


def test_a_restart_waits_for_its_port_to_be_free_again(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis")
    port = server.port
    stop_redis(server)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    release = threading.Timer(1.0, squatter.close)  # taken for the first attempts
    release.start()
    try:
        again = start_redis(tmp_path / "redis", port=port)
    finally:
        release.join()
    try:
        assert again.port == port  # the same port: clients reconnect to it
    finally:
        stop_redis(again)


def test_another_redis_on_the_port_is_not_taken_for_ours(tmp_path: Path) -> None:
    other = start_redis(tmp_path / "other")
    try:
        # Refused: ours exits at start (the port is taken), and the other
        # one, though it answers, is not taken for ours.
        refused = f"port {other.port} is taken"
        with pytest.raises(RuntimeError, match=refused):
            start_redis(tmp_path / "ours", port=other.port, attempts=2)
        assert other.process is not None and other.process.poll() is None  # left alone
    finally:
        stop_redis(other)
