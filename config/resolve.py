"""Settings resolution shared by the CLI and `celery -A worker.app`."""

from __future__ import annotations

from pathlib import Path

from config.embedded import URL_FILE, running_url
from config.settings import Settings

__all__ = ["NoRedisConfigured", "resolve_redis", "where_looked"]


class NoRedisConfigured(RuntimeError):
    pass


def resolve_redis(settings: Settings) -> Settings:
    """Settings with a Redis URL: the configured one, else the private
    server that `newswire worker` started under data_dir (per user, or
    NEWSWIRE_DATA_DIR), whatever the folder this runs in."""
    if settings.redis_url is not None:
        return settings
    url = running_url(settings.data_dir)
    if url is None:
        raise NoRedisConfigured(
            "no Redis configured: set NEWSWIRE_REDIS_URL, or start `newswire worker`, "
            "which runs a private Redis when none is configured "
            f"(looked in {where_looked(settings.data_dir)}; NEWSWIRE_DATA_DIR sets the folder)"
        )
    return settings.with_redis(url)


def where_looked(data_dir: Path) -> str:
    """Where the private Redis was looked for, and what was found there."""
    url_file = data_dir / URL_FILE
    if url_file.exists():
        return f"{url_file}, which names a server that is not running"
    return f"{url_file}, which does not exist"
