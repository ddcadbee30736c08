"""Settings resolution shared by the CLI and `celery -A worker.app`."""

from __future__ import annotations

from config.embedded import running_url
from config.settings import Settings

__all__ = ["NoRedisConfigured", "resolve_redis"]


class NoRedisConfigured(RuntimeError):
    pass


def resolve_redis(settings: Settings) -> Settings:
    """Settings with a Redis URL: the configured one, else the embedded
    server that `newswire worker` started under data_dir."""
    if settings.redis_url is not None:
        return settings
    url = running_url(settings.data_dir)
    if url is None:
        raise NoRedisConfigured(
            "no Redis configured: set NEWSWIRE_REDIS_URL, or start `newswire worker`, "
            f"which runs a private Redis under {settings.data_dir}/ when none is configured"
        )
    return settings.with_redis(url)
