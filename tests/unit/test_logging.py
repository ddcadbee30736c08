"""The worker's log lines: JSON a user can grep and parse, no secrets."""

from __future__ import annotations

import io
import json
import logging

import structlog

from config.settings import Settings
from worker.logging import configure_logging, get_logger

# Like worker.tasks: a module's logger is made at import, before set-up.
_EARLY = get_logger("newswire.early")


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_own_and_library_events_are_one_json_format_with_context() -> None:
    out = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="INFO", _env_file=None), out)
    structlog.contextvars.bind_contextvars(task_id="task-1")
    try:
        log = get_logger("newswire.test").bind(batch_id="b-1")
        log.info("article.processed", article_id="a" * 32, title="Caf\u00e9 \u2019quoted\u2019")
        log.debug("article.noise")  # below the level: not written
        logging.getLogger("celery.test").warning("from %s", "celery")
    finally:
        structlog.contextvars.clear_contextvars()
    own, foreign = _lines(out)
    assert own["event"] == "article.processed" and own["level"] == "info"
    assert own["logger"] == "newswire.test" and own["task_id"] == "task-1"
    assert own["batch_id"] == "b-1" and own["title"] == "Caf\u00e9 \u2019quoted\u2019"
    assert str(own["timestamp"]).endswith("Z")
    assert foreign["event"] == "from celery" and foreign["level"] == "warning"
    assert foreign["logger"] == "celery.test" and foreign["task_id"] == "task-1"


def test_logged_traceback_has_no_local_variables() -> None:
    out = io.StringIO()
    configure_logging(Settings(log_format="json", _env_file=None), out)

    def connect(password: str) -> None:
        raise ConnectionError("refused")

    try:
        connect("s3cret-pass")
    except ConnectionError:
        get_logger("newswire.test").exception("store.failed")
    (line,) = _lines(out)
    assert line["exception"][0]["exc_type"] == "ConnectionError"  # type: ignore[index]
    assert "s3cret-pass" not in out.getvalue()


def test_a_logger_made_before_set_up_writes_the_configured_json() -> None:
    out = io.StringIO()
    configure_logging(Settings(log_format="json", _env_file=None), out)
    _EARLY.info("batch.started", delivery=1)
    (line,) = _lines(out)
    assert line["event"] == "batch.started" and line["logger"] == "newswire.early"
