"""Settings refuse what cannot work, in words a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "redis://:secret@localhost:6379/0",
        "rediss://user:secret@redis.example.com:6380/1",
        "unix:///run/redis/redis.sock?db=0",
    ],
)
def test_the_store_schemes_are_accepted(url: str) -> None:
    assert settings(redis_url=url).redis_url_value == url


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("localhost:6379", "redis://localhost:6379/0"),
        ("127.0.0.1", "redis://"),
        ("secret@redis.example.com:6379", "redis://"),
        ("http://localhost:6379", "'http://' is not a Redis URL"),
        ("amqp://guest@localhost//", "'amqp://' is not a Redis URL"),
    ],
)
def test_a_url_the_store_cannot_use_is_refused_with_what_to_write(url: str, hint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(redis_url=url)
    [error] = caught.value.errors()
    assert error["loc"] == ("redis_url",)
    assert hint in error["msg"]
    assert "redis://, rediss://, unix:// or sentinel://" in error["msg"]
    assert "secret" not in str(caught.value)  # never the password, nor the input


def test_an_empty_url_means_none_is_configured() -> None:
    assert settings(redis_url="").redis_url is None
    assert settings(redis_url="  ").redis_url is None


def test_the_private_redis_lives_in_the_users_state_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NEWSWIRE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert settings().data_dir == tmp_path / "state" / "newswire"
    # The XDG spec: a relative XDG_STATE_HOME is invalid and ignored.
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert settings().data_dir == tmp_path / "home" / ".local" / "state" / "newswire"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert settings().data_dir == tmp_path / "home" / ".local" / "state" / "newswire"
    monkeypatch.setenv("NEWSWIRE_DATA_DIR", str(tmp_path / "mine"))
    assert settings().data_dir == tmp_path / "mine"


@pytest.mark.parametrize("value", [0, 10_000_001])
def test_max_queued_is_bounded(value: int) -> None:
    assert settings().max_queued == 10_000
    with pytest.raises(ValidationError, match="max_queued"):
        settings(max_queued=value)


def test_the_api_token_is_secret_and_empty_means_none() -> None:
    assert settings(api_token="  ").api_token is None
    token = settings(api_token="s3cret-token").api_token
    assert token is not None and token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(settings(api_token="s3cret-token"))


def test_unset_the_broker_is_the_stores_redis() -> None:
    s = settings(redis_url="redis://store:6379/0")
    assert s.broker_url is None
    assert s.require_broker_url() == "redis://store:6379/0"
    assert settings(redis_url="redis://store:6379/0", broker_url="  ").broker_url is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://broker:6379/1",
        "rediss://user:secret@broker:6380/0",
        "amqp://guest:guest@rabbit:5672//",
        "amqps://user:secret@rabbit.example.com:5671/newswire",
    ],
)
def test_the_broker_is_apart_from_the_store(url: str) -> None:
    s = settings(redis_url="redis://store:6379/0", broker_url=url)
    assert s.require_broker_url() == url
    assert s.require_redis_url() == "redis://store:6379/0"  # the store stays where it was


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("rabbit:5672", "write it as amqp://rabbit:5672//"),
        ("http://rabbit:15672", "'http://' is not a broker URL"),
        ("unix:///run/redis.sock", "'unix://' is not a broker URL"),
        ("kafka://secret@broker:9092", "'kafka://' is not a broker URL"),
    ],
)
def test_a_broker_url_newswire_cannot_use_is_refused_in_one_line(url: str, hint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(redis_url="redis://store:6379/0", broker_url=url)
    [error] = caught.value.errors()
    assert error["loc"] == ("broker_url",)
    assert hint in error["msg"]
    assert "redis://, rediss://, sentinel://, amqp:// or amqps://" in error["msg"]
    assert "\n" not in error["msg"]
    assert "secret" not in str(caught.value)


def test_a_sentinel_url_needs_the_masters_name() -> None:
    url = "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379/0"
    for field in ("redis_url", "broker_url"):
        values = {"redis_url": "redis://store:6379/0", field: url}
        with pytest.raises(ValidationError, match="NEWSWIRE_SENTINEL_MASTER"):
            settings(**values)
        assert settings(**values, sentinel_master="mymaster").sentinel_master == "mymaster"


def test_empty_broker_and_master_variables_mean_unset() -> None:
    # As docker-compose.yml passes them when a profile is not used.
    s = settings(redis_url="redis://store:6379/0", broker_url="", sentinel_master="")
    assert s.broker_url is None and s.sentinel_master is None


def test_a_store_behind_sentinel_waits_for_one_replica_by_default() -> None:
    sentinel = "sentinel://10.0.0.1:26379/0"
    assert settings(redis_url="redis://store:6379/0").replicas_to_wait == 0
    assert settings(redis_url=sentinel, sentinel_master="m").replicas_to_wait == 1
    assert settings(redis_url=sentinel, sentinel_master="m", wait_replicas=0).replicas_to_wait == 0
    assert settings(redis_url="redis://store:6379/0", wait_replicas=2).replicas_to_wait == 2
