"""structlog setup, shared by the CLI and the worker, and Celery's hooks.

JSON lines when stdout is not a terminal, readable coloured lines when it is.
Standard-library loggers (Celery, kombu, redis) go through the same
processors, so a worker's output is one format from top to bottom.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from celery import signals
from structlog.typing import FilteringBoundLogger

from config.settings import Settings

__all__ = ["configure_logging", "connect_celery_signals", "get_logger"]

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not stream.isatty()
    )
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    # Tracebacks as data, without local variables: they may hold secrets.
    exc_processors: list[Any] = (
        [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        ]
        if use_json
        else []
    )
    if use_json:
        # newswire's own events (one per article) skip the standard library:
        # rendered straight to the stream with orjson, a line costs a
        # quarter of the stdlib route.
        structlog.configure(
            processors=[
                *_SHARED,
                structlog.processors.StackInfoRenderer(),
                *exc_processors,
                renderer,
            ],
            logger_factory=lambda *args: _NamedWriteLogger(stream, *args),
            wrapper_class=structlog.make_filtering_bound_logger(settings.log_level),
            cache_logger_on_first_use=True,
        )
    else:
        structlog.configure(
            processors=[
                *_SHARED,
                structlog.processors.StackInfoRenderer(),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    # Standard-library loggers (Celery, kombu, redis) in the same format.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exc_processors,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Python warnings (Celery's root-privileges warning, say) would otherwise
    # go to stderr as plain text, breaking a JSON log stream.
    logging.captureWarnings(True)
    # Extraction libraries warn about every page they discard; the worker
    # already logs the outcome of each article once.
    for name in ("trafilatura", "htmldate", "courlan", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _json(event: dict[str, Any], **_: Any) -> str:
    # Values orjson does not know (exceptions, paths) are logged as str.
    return orjson.dumps(event, default=str).decode()


def get_logger(name: str) -> FilteringBoundLogger:
    # A lazy proxy: modules get their logger at import, before configure_logging.
    return structlog.get_logger(name)  # type: ignore[no-any-return]


class _NamedWriteLogger(structlog.WriteLogger):
    """A WriteLogger with the ``name`` that add_logger_name reads."""

    def __init__(self, file: TextIO, name: str = "") -> None:
        super().__init__(file)
        self.name = name


def connect_celery_signals(settings: Settings) -> None:
    """Route Celery's logging through structlog and bind the task id."""

    @signals.setup_logging.connect(weak=False)
    def _setup_logging(**_: Any) -> None:
        configure_logging(settings)

    @signals.task_prerun.connect(weak=False)
    def _bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(task_id=task_id, task=getattr(task, "name", None))

    @signals.task_postrun.connect(weak=False)
    def _unbind_task(**_: Any) -> None:
        structlog.contextvars.clear_contextvars()
