"""The one settings object. Built in entry points, then passed down.

Every field reads from an environment variable with the ``NEWSWIRE_`` prefix
(``NEWSWIRE_REDIS_URL``, ``NEWSWIRE_BATCH_SIZE``, ...) or from a ``.env`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "redact_url"]


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
        env_prefix="NEWSWIRE_", env_file=".env", extra="ignore", frozen=True
    )

    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis for the broker and the store. Unset: the embedded Redis "
        "that `newswire worker`/`demo` start under data_dir.",
    )
    key_prefix: str = Field(default="newswire", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    queue: str = Field(default="newswire", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    data_dir: Path = Field(default=Path(".newswire"), description="Embedded Redis data.")

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
        default=30.0, ge=0, description="Seconds a stopping worker lets running tasks finish."
    )

    events_maxlen: int = Field(default=100_000, ge=100, description="Events stream length.")
    dlq_maxlen: int = Field(
        default=100_000, ge=100, description="Dead-letter stream length (oldest trimmed)."
    )
    dedup_window: int = Field(
        default=30 * 86400, ge=4, description="Seconds a story stays in the dedup indexes."
    )
    near_threshold: float = Field(
        default=0.5, gt=0, le=1, description="Estimated Jaccard similarity for a near duplicate."
    )
    replay_window: int = Field(
        default=7 * 24 * 3600, ge=60, description="Seconds a delivery is remembered."
    )

    model_path: Path | None = Field(default=None, description="Classifier artifact.")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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
        if self.retry_backoff_max >= self.task_time_limit / 2:
            raise ValueError(
                f"retry_backoff_max ({self.retry_backoff_max}s) must stay under half of "
                f"task_time_limit ({self.task_time_limit}s), the budget for store retries"
            )
        return self

    @property
    def redis_url_value(self) -> str | None:
        return self.redis_url.get_secret_value() if self.redis_url else None

    def require_redis_url(self) -> str:
        """The Redis URL; a ValueError when none is set (resolve_redis() first)."""
        url = self.redis_url_value
        if url is None:
            raise ValueError("no Redis configured (NEWSWIRE_REDIS_URL)")
        return url

    def with_redis(self, url: str) -> Settings:
        return self.model_copy(update={"redis_url": SecretStr(url)})
