"""The message contract and the settings, without Redis."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings, redact_url
from worker.contract import BatchMessage, RawArticle


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
