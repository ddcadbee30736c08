"""A Redis password with URL delimiters in it works when given apart."""

from __future__ import annotations

from pathlib import Path

from config.embedded import EmbeddedRedis
from config.settings import Settings
from producer.client import Publisher
from worker.contract import RawArticle
from worker.store import Store

PASSWORD = "p@ss/w#rd:%x?&"  # every character a URL would choke on


def test_a_password_with_url_delimiters_reaches_store_and_broker(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis", appendonly=False,
                       extra_args=["--requirepass", PASSWORD]) as server:  # fmt: skip
        settings = Settings(redis_url=server.url, redis_password=PASSWORD, queue="pw",
                            _env_file=None)  # type: ignore[call-arg]  # fmt: skip
        store = Store.from_settings(settings)
        assert store.redis.ping()
        with Publisher(settings) as publisher:  # kombu's connection, the same URL
            publisher.send([RawArticle(kind="text", text="Title - Outlet\nA body.")])
        assert store.redis.llen("pw") == 1
        assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
        store.redis.close()
