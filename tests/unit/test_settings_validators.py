"""Every validator of config.settings.Settings: the value just past each bound
is refused with a message naming the field, the bound itself is accepted."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from config.settings import Settings


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings read NEWSWIRE_* variables: only the values given here count.
    import os

    for name in list(os.environ):
        if name.startswith("NEWSWIRE_"):
            monkeypatch.delenv(name)


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


# -- _timeouts_fit ------------------------------------------------------------


def test_visibility_timeout_equal_to_the_task_time_limit_is_refused() -> None:
    # Equal is not enough: a batch that runs its full time would be handed
    # to a second worker while the first still holds it.
    with pytest.raises(
        ValidationError, match=r"visibility_timeout \(60s\) must exceed task_time_limit \(60s\)"
    ):
        settings(visibility_timeout=60, task_time_limit=60)


def test_visibility_timeout_below_the_task_time_limit_is_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"visibility_timeout \(100s\) must exceed task_time_limit \(300s\)"
    ):
        settings(visibility_timeout=100, task_time_limit=300)


def test_visibility_timeout_just_over_the_task_time_limit_is_accepted() -> None:
    s = settings(visibility_timeout=61, task_time_limit=60)
    assert (s.visibility_timeout, s.task_time_limit) == (61, 60)


def test_retry_backoff_max_of_half_the_task_time_limit_is_refused() -> None:
    # The store retries get half the time limit: a single pause that long
    # would spend the whole budget.
    with pytest.raises(
        ValidationError,
        match=r"retry_backoff_max \(5\.0s\) must stay under half of task_time_limit \(10s\)",
    ):
        settings(task_time_limit=10, visibility_timeout=20, retry_backoff_max=5.0)


def test_retry_backoff_max_over_half_the_task_time_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"retry_backoff_max \(30\.0s\) must stay under half"):
        settings(retry_backoff_max=30.0)  # default task_time_limit 60


def test_retry_backoff_max_just_under_half_the_task_time_limit_is_accepted() -> None:
    assert settings(task_time_limit=10, visibility_timeout=20, retry_backoff_max=4.99)


def test_the_defaults_fit_together() -> None:
    s = settings()
    assert s.visibility_timeout > s.task_time_limit
    assert s.retry_backoff_max < s.task_time_limit / 2
    assert s.dedup_window <= s.retention
    # A dead worker's messages are back within 30 s: its deadline, then a
    # reaper's next beat.
    assert s.dead_after + s.heartbeat_interval <= 30


def test_a_dedup_window_longer_than_the_retention_is_refused() -> None:
    # A copy would be matched to an original that has expired.
    with pytest.raises(
        ValidationError, match=r"dedup_window \(101s\) must not exceed retention \(100s\)"
    ):
        settings(retention=100, dedup_window=101)
    assert settings(retention=100, dedup_window=100).dedup_window == 100


def test_a_retention_under_four_seconds_is_refused() -> None:
    with pytest.raises(ValidationError, match=rf"retention\n  Input should be {GE} 4"):
        settings(retention=3, dedup_window=4)
    assert settings(retention=4, dedup_window=4).retention == 4


def test_dead_after_under_three_heartbeats_is_refused() -> None:
    # One late beat must not make a live worker look dead.
    with pytest.raises(
        ValidationError,
        match=r"dead_after \(2.9s\) must be at least 3 heartbeat intervals "
        r"\(heartbeat_interval: 1.0s\)",
    ):
        settings(heartbeat_interval=1, dead_after=2.9)
    assert settings(heartbeat_interval=0.2, dead_after=0.6).dead_after == 0.6


def test_task_events_turn_on_both_kinds_of_celery_events() -> None:
    from worker.app import worker_config

    on = worker_config(settings(task_events=True, redis_url="redis://localhost:6379/0"))
    off = worker_config(settings(redis_url="redis://localhost:6379/0"))
    assert on["worker_send_task_events"] is on["task_send_sent_event"] is True
    assert off["worker_send_task_events"] is off["task_send_sent_event"] is False


# -- field bounds -------------------------------------------------------------

GE = "greater than or equal to"
LE = "less than or equal to"
GT = "greater than"

# (field, refused value, words of the message, accepted value at the bound);
# the time fields move together so that _timeouts_fit is not what refuses.
BOUNDS: list[tuple[str, object, str, object]] = [
    ("batch_size", 0, f"{GE} 1", 1),
    ("batch_size", 1001, f"{LE} 1000", 1000),
    ("max_batch_articles", 0, f"{GE} 1", 1),
    ("max_batch_articles", 100_001, f"{LE} 100000", 100_000),
    ("max_payload_bytes", 1023, f"{GE} 1024", 1024),
    ("max_payload_bytes", 64 * 1024 * 1024 + 1, f"{LE} 67108864", 64 * 1024 * 1024),
    ("concurrency", 0, f"{GE} 1", 1),
    ("prefetch_multiplier", 0, f"{GE} 1", 1),
    ("max_deliveries", 0, f"{GE} 1", 1),
    ("soft_shutdown_timeout", -0.5, f"{GE} 0", 0),
    ("events_maxlen", 99, f"{GE} 100", 100),
    ("dlq_maxlen", 99, f"{GE} 100", 100),
    ("dedup_window", 3, f"{GE} 4", 4),
    ("near_threshold", 0, f"{GT} 0", 0.01),
    ("near_threshold", 1.01, f"{LE} 1", 1),
    ("replay_window", 59, f"{GE} 60", 60),
    ("retry_backoff_max", 0, f"{GT} 0", 0.01),
    ("heartbeat_interval", 0.19, f"{GE} 0.2", 0.2),
]


@pytest.mark.parametrize(("field", "bad", "message", "good"), BOUNDS)
def test_a_value_past_a_bound_is_refused_and_the_bound_accepted(
    field: str, bad: object, message: str, good: object
) -> None:
    with pytest.raises(ValidationError, match=rf"{field}\n  Input should be {message}") as caught:
        settings(**{field: bad})
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]
    assert getattr(settings(**{field: good}), field) == good


def test_task_time_limit_under_two_seconds_is_refused() -> None:
    # Its soft limit is 90% of it and at least 1 s: under 2 s the soft and
    # the hard limit would be the same second.
    with pytest.raises(ValidationError, match=rf"task_time_limit\n  Input should be {GE} 2"):
        settings(task_time_limit=1, visibility_timeout=5, retry_backoff_max=0.1)
    assert settings(task_time_limit=2, visibility_timeout=5, retry_backoff_max=0.5)


def test_visibility_timeout_under_five_seconds_is_refused() -> None:
    with pytest.raises(ValidationError, match=rf"visibility_timeout\n  Input should be {GE} 5"):
        settings(task_time_limit=2, visibility_timeout=4, retry_backoff_max=0.5)
    assert settings(task_time_limit=2, visibility_timeout=5, retry_backoff_max=0.5)


@pytest.mark.parametrize("field", ["key_prefix", "queue"])
@pytest.mark.parametrize(
    "bad",
    ["", "has space", "a:b", "a*", "{braces}", "x" * 65, "caf\u00e9", "new\nline"],
)
def test_names_outside_the_key_pattern_are_refused(field: str, bad: str) -> None:
    # A ':' or '*' in the prefix would let SCAN patterns and key names of
    # two deployments overlap; the queue name is a Redis key too.
    pattern = re.escape("^[A-Za-z0-9_.-]{1,64}$")
    message = rf"{field}\n  String should match pattern '{pattern}'"
    with pytest.raises(ValidationError, match=message):
        settings(**{field: bad})


@pytest.mark.parametrize("field", ["key_prefix", "queue"])
@pytest.mark.parametrize("good", ["newswire", "a", "x" * 64, "prod-1.eu_west"])
def test_names_inside_the_key_pattern_are_accepted(field: str, good: str) -> None:
    assert getattr(settings(**{field: good}), field) == good


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        ("log_format", "xml", "Input should be 'auto', 'json' or 'console'"),
        ("log_level", "TRACE", "Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("batch_size", "many", "Input should be a valid integer"),
    ],
)
def test_values_of_the_wrong_kind_are_refused(field: str, bad: object, message: str) -> None:
    with pytest.raises(ValidationError, match=rf"{field}\n  {re.escape(message)}"):
        settings(**{field: bad})


def test_errors_never_echo_the_input() -> None:
    # hide_input_in_errors: a refused value may be a secret pasted in the
    # wrong variable.
    with pytest.raises(ValidationError, match="key_prefix") as caught:
        settings(key_prefix="hunter2:secret")
    assert "hunter2" not in str(caught.value)


def test_settings_are_frozen() -> None:
    s = settings()
    with pytest.raises(ValidationError, match="Instance is frozen"):
        s.batch_size = 5  # type: ignore[misc]
