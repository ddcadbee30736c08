"""Heartbeats and the hand-back of a dead worker's messages, against a real
redis-server and kombu's real transport (worker.transport), one round at a
time. The end-to-end tests, with real workers and SIGKILLs:
tests/e2e/test_heartbeat.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu import Connection  # type: ignore[attr-defined]
from kombu.exceptions import OperationalError

from config.settings import Settings
from tests.conftest import PREFIX
from worker.heartbeat import Heartbeat, worker_beats
from worker.transport import track_deliveries

QUEUE = "nwtest-heartbeat"
DEAD_AFTER = 0.6


@pytest.fixture
def quick(redis_url: str, tmp_path: Path, client: redis.Redis) -> Iterator[Settings]:
    yield Settings(
        redis_url=redis_url,
        key_prefix=PREFIX,
        queue=QUEUE,
        data_dir=tmp_path,
        heartbeat_interval=0.2,
        dead_after=DEAD_AFTER,
        _env_file=None,
    )
    track_deliveries(None)
    client.delete(QUEUE, "unacked", "unacked_index")


@pytest.fixture
def beats() -> Iterator[list[Heartbeat]]:
    made: list[Heartbeat] = []
    yield made
    for heartbeat in made:
        heartbeat.client.close()


def heartbeat(settings: Settings, made: list[Heartbeat], node: str) -> Heartbeat:
    made.append(Heartbeat(settings, node))
    return made[-1]


def healthy(reaper: Heartbeat) -> None:
    """Beat until the reaper may judge the others (dead_after of beats)."""
    deadline = time.monotonic() + 10
    while not reaper.may_reap():
        assert reaper.beat()
        assert time.monotonic() < deadline
        time.sleep(0.1)


def take_one(settings: Settings, holder: Heartbeat) -> tuple[Any, Any]:
    """A message queued, then taken and not acknowledged by ``holder``'s
    process through the worker's transport: (connection, message)."""
    conn = Connection(settings.require_redis_url(), transport="worker.transport:Transport")  # type: ignore[no-untyped-call]
    queue = conn.SimpleQueue(QUEUE)  # type: ignore[no-untyped-call]
    queue.put({"n": 1})
    track_deliveries(holder.held_key)  # as the holder's main process does, for good
    return conn, queue.get(timeout=5)


def test_a_beat_lists_the_worker_alive_with_its_node_host_and_pid(
    quick: Settings, beats: list[Heartbeat], client: redis.Redis
) -> None:
    hb = heartbeat(quick, beats, "newswire-42@somehost")
    assert hb.beat()
    [beat] = worker_beats(client, hb.keys)
    assert beat.alive and beat.node == "newswire-42@somehost" and beat.instance == hb.instance
    assert beat.age < DEAD_AFTER
    time.sleep(DEAD_AFTER + 0.1)
    [late] = worker_beats(client, hb.keys)
    assert not late.alive and late.age > DEAD_AFTER


def test_a_taken_message_is_held_until_acknowledged(
    quick: Settings, beats: list[Heartbeat], client: redis.Redis
) -> None:
    holder = heartbeat(quick, beats, "newswire-1@a")
    holder.beat()
    conn, message = take_one(quick, holder)
    with conn:
        assert client.smembers(holder.held_key) == {message.delivery_tag}
        assert client.hexists("unacked", message.delivery_tag)
        message.ack()
        assert client.smembers(holder.held_key) == set()
        assert not client.hexists("unacked", message.delivery_tag)


def test_a_dead_workers_message_goes_back_to_the_queue_once(
    quick: Settings, beats: list[Heartbeat], client: redis.Redis
) -> None:
    dead = heartbeat(quick, beats, "newswire-1@a")
    reaper = heartbeat(quick, beats, "newswire-2@b")
    dead.beat()
    conn, message = take_one(quick, dead)
    with conn:
        assert client.llen(QUEUE) == 0
        healthy(reaper)  # meanwhile `dead` is silent past its deadline
        assert reaper.reap() == 1
        assert reaper.reap() == 0  # claimed once
        [raw] = client.lrange(QUEUE, 0, -1)
        back = json.loads(raw)
        assert back["properties"]["delivery_tag"] == message.delivery_tag
        assert back["properties"]["delivery_info"]["redelivered"] is True
        assert not client.hexists("unacked", message.delivery_tag)
        assert not client.exists(dead.held_key)
        assert [b.instance for b in worker_beats(client, dead.keys)] == [reaper.instance]


def test_a_live_workers_message_stays_with_it(
    quick: Settings, beats: list[Heartbeat], client: redis.Redis
) -> None:
    live = heartbeat(quick, beats, "newswire-1@a")
    reaper = heartbeat(quick, beats, "newswire-2@b")
    live.beat()
    conn, message = take_one(quick, live)
    with conn:
        deadline = time.monotonic() + 10
        while not reaper.may_reap():
            assert live.beat() and reaper.beat()
            assert reaper.reap() == 0
            assert time.monotonic() < deadline
            time.sleep(0.1)
        live.beat()
        assert reaper.reap() == 0
        assert client.llen(QUEUE) == 0
        assert client.smembers(live.held_key) == {message.delivery_tag}
        assert client.hexists("unacked", message.delivery_tag)


def test_a_reaper_judges_nobody_before_its_own_beats_span_dead_after(
    quick: Settings, beats: list[Heartbeat]
) -> None:
    # After a Redis outage nobody could beat: a reaper back first must not
    # take the others' silence for death.
    reaper = heartbeat(quick, beats, "newswire-2@b")
    assert not reaper.may_reap()
    reaper.beat()
    assert not reaper.may_reap()
    healthy(reaper)
    time.sleep(DEAD_AFTER / 2 + 0.1)  # a gap in its own beats
    reaper.beat()
    assert not reaper.may_reap()


def test_leaving_with_nothing_held_removes_the_worker(
    quick: Settings, beats: list[Heartbeat], client: redis.Redis
) -> None:
    hb = heartbeat(quick, beats, "newswire-1@a")
    hb.beat()
    hb.leave()
    assert worker_beats(client, hb.keys) == []
    assert not client.exists(hb.keys.heartbeat(hb.instance))


def test_leaving_while_holding_marks_the_worker_dead_at_once(
    quick: Settings, beats: list[Heartbeat], client: redis.Redis
) -> None:
    leaving = heartbeat(quick, beats, "newswire-1@a")
    reaper = heartbeat(quick, beats, "newswire-2@b")
    healthy(reaper)
    leaving.beat()
    conn, _ = take_one(quick, leaving)
    with conn:
        leaving.leave()
        [gone] = [b for b in worker_beats(client, leaving.keys) if b.instance == leaving.instance]
        assert not gone.alive
        assert reaper.reap() == 1


def test_a_restore_that_fails_gives_the_claim_back_for_the_next_round(
    quick: Settings, beats: list[Heartbeat], client: redis.Redis
) -> None:
    dead = heartbeat(quick, beats, "newswire-1@a")
    dead.beat()
    conn, _ = take_one(quick, dead)
    with conn:
        # A reaper whose broker connection fails (a port nobody listens on)
        # after the claim went through.
        cut_off = quick.with_redis("redis://127.0.0.1:9/0")
        beats.append(Heartbeat(cut_off, "newswire-2@b", client=client))
        failing = beats[-1]
        healthy(failing)
        with pytest.raises(OperationalError):
            failing.reap()
        [back] = [b for b in worker_beats(client, dead.keys) if b.instance == dead.instance]
        assert not back.alive
        assert client.scard(dead.held_key) == 1
        reaper = heartbeat(quick, beats, "newswire-3@c")
        healthy(reaper)
        assert reaper.reap() == 1
        assert client.llen(QUEUE) == 1
