"""A private redis-server on a port another server took first: the race
between picking a free port and binding it."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from config.embedded import EmbeddedRedis, PortTaken


def test_a_picked_port_taken_before_the_bind_is_given_up_for_another(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "first", appendonly=False) as first:
        second = EmbeddedRedis(tmp_path / "second", appendonly=False)
        second.port = first.port  # another server took the picked port first
        with second:
            assert second.port != first.port
            # The server at the new port is the one this object started, not
            # the one that answered on the old port.
            served = redis.Redis(port=second.port).info("server")["process_id"]
            assert second.process is not None and served == second.process.pid


def test_a_port_asked_for_is_kept_and_a_taken_one_said(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "first", appendonly=False) as first:
        asked = EmbeddedRedis(tmp_path / "second", port=first.port, appendonly=False)
        with pytest.raises(PortTaken, match=f"port {first.port} is taken"):
            asked.start()
