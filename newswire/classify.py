"""Classify texts without Redis or a worker: `newswire classify` and `POST /v1/classify`.

An input is plain text, or a JSON object with a title and a body (``body`` or
one of the body fields the JSON parser knows: ``text``, ``content``, ...);
the model reads ``title + "\\n" + body`` as the worker does. Lines are read
and classified in chunks, so a file of headlines costs a few numpy calls per
thousand lines, not per line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from worker.pipeline.classify import TopicModel
from worker.pipeline.fields import BODY_KEYS, field_key
from worker.pipeline.models import Classification

__all__ = [
    "CHUNK",
    "Refused",
    "classify_lines",
    "classify_records",
    "describe",
    "record_text",
    "result_dict",
]

# Lines classified together: large enough that numpy's cost per call vanishes,
# small enough that the first answers come at once.
CHUNK: Final = 1000


@dataclass(frozen=True, slots=True)
class Refused:
    """An input line that could not be read: its number (from 1) and why."""

    line: int
    reason: str


def _string(value: object) -> str | None:
    """A field's text: a string, or a list of strings (paragraphs) joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)
    return None


def record_text(record: object) -> str:
    """The model's input for one JSON record; ValueError saying what is missing."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    fields = {field_key(k): v for k, v in record.items() if isinstance(k, str)}
    title = _string(fields.get("title")) or ""
    body = next((text for key in BODY_KEYS if (text := _string(fields.get(key))) is not None), "")
    if not (title.strip() or body.strip()):
        raise ValueError("the JSON object has no title, body or text to classify")
    return f"{title}\n{body}" if title and body else title or body


def _line_text(raw: bytes) -> str | None:
    """The model's input for one line (None for a blank line); ValueError why not."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte {exc.start})") from None
    stripped = line.strip()
    if not stripped:
        return None
    if not stripped.startswith("{"):
        return stripped
    try:
        record = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    return record_text(record)


def classify_lines(
    model: TopicModel, lines: Iterable[bytes], chunk: int = CHUNK
) -> Iterator[tuple[int, Classification | Refused]]:
    """Each non-blank line's number (from 1) and its classification, or why it
    was refused, in input order; ``chunk`` lines are classified together."""
    entries: list[tuple[int, str | Refused]] = []
    waiting = 0

    def flush() -> Iterator[tuple[int, Classification | Refused]]:
        texts = [e for _, e in entries if isinstance(e, str)]
        results = iter(model.predict_many(texts) if texts else ())
        for number, entry in entries:
            yield number, entry if isinstance(entry, Refused) else next(results)
        entries.clear()

    for number, raw in enumerate(lines, start=1):
        try:
            text = _line_text(raw)
        except ValueError as exc:
            entries.append((number, Refused(number, str(exc))))
            continue
        if text is None:
            continue
        entries.append((number, text))
        waiting += 1
        if waiting >= chunk:
            yield from flush()
            waiting = 0
    yield from flush()


def describe(result: Classification) -> str:
    """One line for a person: the topic, its probability, the other labels'."""
    others = ", ".join(
        f"{label} {score:.2f}" for label, score in result.scores.items() if label != result.topic
    )
    return f"{result.topic} {result.confidence:.2f} ({others})"


def result_dict(result: Classification) -> dict[str, Any]:
    """What a user reads of one classification (CLI --json, the API)."""
    return {
        "topic": result.topic,
        "confidence": round(result.confidence, 4),
        "scores": result.scores,
        "model_version": result.model_version,
    }


def classify_records(model: TopicModel, records: Sequence[object]) -> list[dict[str, Any]]:
    """Each JSON record's classification; ValueError naming the first unreadable one."""
    texts = []
    for index, record in enumerate(records):
        try:
            texts.append(record_text(record))
        except ValueError as exc:
            raise ValueError(f"item {index}: {exc}" if len(records) > 1 else str(exc)) from None
    return [result_dict(r) for r in model.predict_many(texts)]
