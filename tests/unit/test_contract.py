"""The message contract and the settings, without Redis."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings, redact_url
from worker.contract import BatchMessage, RawArticle, broker_config


def test_same_payload_same_id_and_other_payload_other_id() -> None:
    a = RawArticle(kind="text", text="Title - Outlet\nBody")
    b = RawArticle(kind="text", text="Title - Outlet\nBody", source="elsewhere")
    c = RawArticle(kind="text", text="Title - Outlet\nBody!")
    assert a.article_id == b.article_id
    assert a.article_id != c.article_id
    assert a.submission_id != b.submission_id  # two pushes are two submissions


def test_json_record_id_ignores_key_order() -> None:
    a = RawArticle(kind="json", record={"title": "T", "body": "B"})
    b = RawArticle(kind="json", record={"body": "B", "title": "T"})
    assert a.article_id == b.article_id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "text", "text": "   \n"}, "empty"),
        ({"kind": "text"}, "carries `text`"),
        ({"kind": "json", "text": "x"}, "carries `record`"),
        ({"kind": "json", "record": {}}, "empty"),
        ({"kind": "pdf", "text": "x"}, "kind"),
    ],
)
def test_invalid_payloads_say_why(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RawArticle.model_validate(fields)


def test_batch_message_round_trips_as_json() -> None:
    articles = [RawArticle(kind="text", text=f"T{i}\nbody") for i in range(3)]
    message = BatchMessage.of(articles)
    again = BatchMessage.model_validate_json(message.model_dump_json())
    assert [RawArticle.model_validate(a) for a in again.articles] == articles


def test_settings_refuse_visibility_timeout_below_task_limit() -> None:
    with pytest.raises(ValidationError, match="visibility_timeout"):
        Settings(visibility_timeout=100, task_time_limit=300, _env_file=None)  # type: ignore[call-arg]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWIRE_BATCH_SIZE", "7")
    monkeypatch.setenv("NEWSWIRE_REDIS_URL", "redis://:s3cret@example:6379/2")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.batch_size == 7
    assert "s3cret" not in repr(s)
    assert s.redis_url_value == "redis://:s3cret@example:6379/2"


def test_redact_url_hides_the_password_only() -> None:
    assert redact_url("redis://user:pw@host:6380/1") == "redis://user:***@host:6380/1"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


def test_with_rabbitmq_both_ends_declare_a_quorum_queue_that_dead_letters_poison() -> None:
    conf = broker_config("amqp://guest@rabbit//", queue="news", visibility_timeout=300,
                         max_deliveries=5)  # fmt: skip
    main, dead = conf["task_queues"]
    assert (main.name, dead.name) == ("news", "news.dead")
    args = main.queue_arguments
    assert args["x-queue-type"] == "quorum" and main.durable
    # Five deliveries (four returns), then RabbitMQ dead-letters it into news.dead.
    assert args["x-delivery-limit"] == 4
    assert args["x-dead-letter-exchange"] == dead.exchange.name
    assert args["x-dead-letter-routing-key"] == dead.routing_key == "news.dead"
    assert args["x-dead-letter-strategy"] == "at-least-once"
    assert dead.queue_arguments == {"x-queue-type": "quorum"}
    # A push reports success only once RabbitMQ confirmed the message.
    assert conf["broker_transport_options"]["confirm_publish"] is True
    assert conf["task_default_delivery_mode"] == "persistent"
    assert conf["accept_content"] == ["json"]


def test_with_sentinel_kombu_is_told_the_masters_name() -> None:
    conf = broker_config("sentinel://a:26379;sentinel://b:26379/0", queue="news",
                         visibility_timeout=300, sentinel_master="mymaster")  # fmt: skip
    assert conf["broker_transport_options"]["master_name"] == "mymaster"
    assert "task_queues" not in conf
