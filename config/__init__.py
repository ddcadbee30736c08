"""What every newswire process starts from: the one settings object and
where Redis is.

The base layer: ``worker``, ``producer`` and ``newswire`` (the CLI) import
it; it imports nothing of theirs.
"""

from config.resolve import NoRedisConfigured, resolve_redis
from config.settings import Settings, redact_url

__all__ = ["NoRedisConfigured", "Settings", "redact_url", "resolve_redis"]
