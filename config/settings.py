"""The one settings object. Built in entry points, then passed down.

Every field reads from an environment variable with the ``NEWSWIRE_`` prefix
(``NEWSWIRE_REDIS_URL``, ``NEWSWIRE_BATCH_SIZE``, ...) or from a ``.env`` file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BROKER_SCHEMES", "REDIS_SCHEMES", "Settings", "redact_url", "user_state_dir"]

# What the store (redis-py) and the worker's transport (kombu) both take;
# sentinel:// with NEWSWIRE_SENTINEL_MASTER.
REDIS_SCHEMES = ("redis", "rediss", "unix", "sentinel")
# What NEWSWIRE_BROKER_URL takes: a Redis (kombu's transports) or RabbitMQ.
BROKER_SCHEMES = ("redis", "rediss", "sentinel", "amqp", "amqps")


def user_state_dir() -> Path:
    """Where a user's private Redis lives: one place per user, whatever the
    folder a command runs in (XDG: $XDG_STATE_HOME, else ~/.local/state)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    # The spec: a relative path there is invalid and must be ignored.
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "newswire"


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSWIRE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        # Errors name the variable, never its value: a URL carries a password.
        hide_input_in_errors=True,
    )

    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis for the broker and the store. Unset (or empty): the private "
        "Redis that `newswire worker` starts under data_dir.",
    )
    redis_password: SecretStr | None = Field(
        default=None,
        description="A password for NEWSWIRE_REDIS_URL given apart, as it is: any "
        "character works (in the URL, @ / # : must be percent-encoded).",
    )
    key_prefix: str = Field(default="newswire", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    queue: str = Field(default="newswire", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    data_dir: Path = Field(
        default_factory=user_state_dir,
        description="The private Redis's data and URL; per user by default.",
    )

    batch_size: int = Field(default=100, ge=1, le=1000)
    max_batch_articles: int = Field(default=1000, ge=1, le=100_000)
    max_payload_bytes: int = Field(default=2_000_000, ge=1024, le=64 * 1024 * 1024)

    concurrency: int | None = Field(default=None, ge=1, description="Worker processes.")
    prefetch_multiplier: int = Field(default=1, ge=1)
    task_time_limit: int = Field(default=60, ge=2, description="Seconds, hard.")
    visibility_timeout: int = Field(
        default=300, ge=5, description="Seconds before an unacked message is redelivered."
    )
    retry_backoff_max: float = Field(
        default=5.0, gt=0, description="Longest pause between store retries, seconds."
    )
    max_deliveries: int = Field(
        default=5, ge=1, description="Deliveries of a message that keeps killing its worker."
    )
    soft_shutdown_timeout: float = Field(
        default=30.0, ge=0, description="Seconds a cold shutdown (SIGQUIT) lets tasks finish."
    )
    heartbeat_interval: float = Field(
        default=5.0,
        ge=0.2,
        le=60,
        description="Seconds between a worker's heartbeats (its main process writes them).",
    )
    dead_after: float = Field(
        default=20.0,
        gt=0,
        description="Seconds without a heartbeat after which a worker is dead: its "
        "unacknowledged messages go back to the queue, and /readyz stops counting it.",
    )
    task_events: bool = Field(
        default=False,
        description="Celery task events (worker_send_task_events, task_send_sent_event), "
        "for Flower.",
    )

    events_maxlen: int = Field(default=100_000, ge=100, description="Events stream length.")
    dlq_maxlen: int = Field(
        default=100_000, ge=100, description="Dead-letter stream length (oldest trimmed)."
    )
    dedup_window: int = Field(
        default=30 * 86400,
        ge=4,
        description="Seconds a story stays in the dedup indexes; at most the retention.",
    )
    retention: int = Field(
        default=30 * 86400,
        ge=4,
        description="Seconds an article, its copies, its story and its place in the "
        "topic and recent indexes are kept.",
    )
    near_threshold: float = Field(
        default=0.5, gt=0, le=1, description="Estimated Jaccard similarity for a near duplicate."
    )
    replay_window: int = Field(
        default=7 * 24 * 3600, ge=60, description="Seconds a delivery is remembered."
    )

    max_queued: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="Messages the queue may hold before `newswire serve` answers 429.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token every /v1 route of `newswire serve` requires, when set.",
    )
    sse_keepalive: float = Field(
        default=15.0,
        ge=0.1,
        le=300.0,
        description="Seconds without an event after which `GET /v1/events` sends a "
        "keep-alive comment (proxies keep the stream open; a gone client is noticed).",
    )

    model_path: Path | None = Field(default=None, description="Classifier artifact.")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    broker_url: SecretStr | None = Field(
        default=None,
        description="The queue's broker, apart from the store: redis://, rediss://, "
        "sentinel:// (with NEWSWIRE_SENTINEL_MASTER), amqp:// or amqps:// (RabbitMQ). "
        "Unset (or empty): the store's Redis (NEWSWIRE_REDIS_URL) is the broker too.",
    )
    sentinel_master: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="The master name Sentinel watches, for a sentinel:// store or broker URL.",
    )
    wait_replicas: int | None = Field(
        default=None,
        ge=0,
        le=16,
        description="Replicas that must hold a batch's writes (Redis WAIT) before the batch "
        "is acknowledged. Unset: 1 when the store is behind Sentinel, else 0 (no wait).",
    )
    wait_timeout: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Seconds WAIT may take; fewer replicas by then: the batch is retried.",
    )

    @field_validator("redis_url", "api_token", "broker_url", "sentinel_master", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        # Without this, a bare host:port failed later and differently in each
        # command (a ValueError from redis-py, a DNS error from kombu).
        return _checked_url(value, REDIS_SCHEMES, "a Redis URL", "redis://localhost:6379/0")

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked_url(value, BROKER_SCHEMES, "a broker URL", "amqp://localhost:5672//")

    @model_validator(mode="after")
    def _sentinel_named(self) -> Settings:
        # kombu and redis-py both need the master's name; without it each
        # failed later with a message about something else.
        for name, url in (("NEWSWIRE_REDIS_URL", self.redis_url),
                          ("NEWSWIRE_BROKER_URL", self.broker_url)):  # fmt: skip
            sentinel = url is not None and _scheme(url.get_secret_value()) == "sentinel"
            if sentinel and self.sentinel_master is None:
                raise ValueError(
                    f"{name} is a sentinel:// URL: set NEWSWIRE_SENTINEL_MASTER to the "
                    "name of the master the sentinels watch (e.g. mymaster)"
                )
        return self

    @model_validator(mode="after")
    def _timeouts_fit(self) -> Settings:
        # A message is redelivered when unacked for visibility_timeout: a task
        # that may legitimately run longer (store retries included, which
        # happen inside the task) would run twice.
        if self.visibility_timeout <= self.task_time_limit:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout}s) must exceed "
                f"task_time_limit ({self.task_time_limit}s)"
            )
        # A copy found through the dedup index would point at an article that
        # has expired.
        if self.dedup_window > self.retention:
            raise ValueError(
                f"dedup_window ({self.dedup_window}s) must not exceed retention "
                f"({self.retention}s): set NEWSWIRE_DEDUP_WINDOW to at most NEWSWIRE_RETENTION"
            )
        if self.dead_after < round(3 * self.heartbeat_interval, 6):
            # One late or lost beat must not make a live worker look dead.
            raise ValueError(
                f"dead_after ({self.dead_after}s) must be at least 3 heartbeat intervals "
                f"(heartbeat_interval: {self.heartbeat_interval}s)"
            )
        if self.retry_backoff_max >= self.task_time_limit / 2:
            raise ValueError(
                f"retry_backoff_max ({self.retry_backoff_max}s) must stay under half of "
                f"task_time_limit ({self.task_time_limit}s), the budget for store retries"
            )
        return self

    @property
    def redis_url_value(self) -> str | None:
        """The Redis URL, with ``redis_password`` (if set) percent-encoded into it."""
        if self.redis_url is None:
            return None
        url = self.redis_url.get_secret_value()
        if self.redis_password is None:
            return url
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        user = quote(parts.username or "", safe="")
        password = quote(self.redis_password.get_secret_value(), safe="")
        return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))

    def require_redis_url(self) -> str:
        """The Redis URL; a ValueError when none is set (resolve_redis() first)."""
        url = self.redis_url_value
        if url is None:
            raise ValueError("no Redis configured (NEWSWIRE_REDIS_URL)")
        return url

    def with_redis(self, url: str) -> Settings:
        return self.model_copy(update={"redis_url": SecretStr(url)})

    @property
    def broker_url_value(self) -> str | None:
        """The broker's URL: NEWSWIRE_BROKER_URL, else the store's Redis."""
        if self.broker_url is not None:
            return self.broker_url.get_secret_value()
        return self.redis_url_value

    def require_broker_url(self) -> str:
        """The broker's URL; a ValueError when neither it nor a Redis is set."""
        url = self.broker_url_value
        if url is None:
            raise ValueError("no broker configured (NEWSWIRE_BROKER_URL or NEWSWIRE_REDIS_URL)")
        return url

    @property
    def broker_scheme(self) -> str:
        """redis, rediss, unix, sentinel, amqp or amqps."""
        return _scheme(self.require_broker_url())

    @property
    def replicas_to_wait(self) -> int:
        """Replicas a batch's writes wait for (WAIT) before it is acknowledged."""
        if self.wait_replicas is not None:
            return self.wait_replicas
        url = self.redis_url_value
        return 1 if url is not None and _scheme(url) == "sentinel" else 0


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower()


def _checked_url(
    value: SecretStr | None, allowed: tuple[str, ...], what: str, example: str
) -> SecretStr | None:
    """The URL if its scheme is one of ``allowed``; else a one-line error
    saying what to write, ``example`` (scheme://host:port/path) adapted."""
    if value is None:
        return None
    url = value.get_secret_value().strip()
    schemes = ", ".join(f"{s}://" for s in allowed[:-1]) + f" or {allowed[-1]}://"
    scheme, rest = example.split("://", 1)
    port_path = rest.split(":", 1)[1]  # "6379/0"
    path = port_path[port_path.index("/") :]  # "/0"
    if "://" not in url:
        # The value itself only when it cannot hold a password.
        hint = f"{scheme}://HOST:{port_path}"
        if "@" not in url and ":" in url:
            hint = f"{scheme}://{url}" + ("" if "/" in url else path)
        raise ValueError(f"no scheme: write it as {hint} (it must start with {schemes})")
    found = _scheme(url)
    if found not in allowed:
        raise ValueError(
            f"'{found}://' is not {what}: it must start with {schemes}, e.g. {example}"
        )
    return SecretStr(url)
