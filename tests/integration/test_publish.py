"""What the producer puts on the queue, read back from a real redis-server."""

from __future__ import annotations

import json

import redis

from config.settings import Settings
from producer.client import Publisher
from worker.contract import TASK_PROCESS_BATCH, RawArticle


def test_a_batch_message_names_itself_in_a_line_and_carries_every_article(
    settings: Settings, client: redis.Redis
) -> None:
    articles = [
        RawArticle(kind="text", text=f"Title {i} - Outlet\n" + "A sentence of the body. " * 150)
        for i in range(50)
    ]
    with Publisher(settings) as publisher:
        batch_id = publisher.send(articles)

    (raw,) = client.lrange(settings.queue, 0, -1)
    envelope = json.loads(raw)
    headers = envelope["headers"]
    assert headers["task"] == TASK_PROCESS_BATCH
    # What `celery inspect` and events show for the task: one short line, not
    # a truncated repr of 50 articles.
    assert headers["argsrepr"] == f"[batch {batch_id}: 50 articles]"
    args, kwargs, _ = json.loads(envelope["body"])
    assert kwargs == {}
    assert args[0]["batch_id"] == batch_id
    assert [a["text"] for a in args[0]["articles"]] == [a.text for a in articles]
