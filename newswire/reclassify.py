"""`newswire reclassify`: run the current topic model over stored articles.

Each article is read, classified from its title and body as the worker
classified it, and, where its topic, scores or model version differ, given
the new ones together with its topic indexes and the stats counters, in one
atomic script per article (:mod:`worker.relabel`). Stopped at any point, the
store is consistent; run again, it finishes the job, and articles already
carrying the model's answer are left as they are. So a second run changes
nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from worker.pipeline.classify import TopicModel
from worker.relabel import Relabel, Relabeller, StoredRecord

__all__ = ["PAGE", "Summary", "model_input", "parse_since", "reclassify"]

# Articles read, classified and written per round trip.
PAGE: Final = 200
# Times an article whose record changed under us (a concurrent rewrite) is read again.
_RETRIES: Final = 3
_RELATIVE: Final = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass
class Summary:
    """What a run did (printed as JSON at its end)."""

    model_version: str
    examined: int = 0  # articles read (of the topic asked, with --topic)
    reclassified: int = 0  # given a new topic, scores or model version
    unchanged: int = 0  # already carrying this model's answer
    skipped: int = 0  # vanished, or kept changing, while the run went on
    moved: Counter[str] = field(default_factory=Counter)  # "old -> new" topic: articles
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "examined": self.examined,
            "reclassified": self.reclassified,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "moved": dict(sorted(self.moved.items())),
            "interrupted": self.interrupted,
        }


def parse_since(value: str, now: datetime | None = None) -> float:
    """An ingestion time from ``7d``, ``12h``, ``30m`` (ago) or an ISO date or
    date-time (UTC unless it says otherwise); ValueError with what is accepted."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(value.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return (now - timedelta(**{_UNITS[unit]: amount})).timestamp()
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time: use an ISO date or date-time (2026-11-30, "
            "2026-11-30T08:00:00+01:00) or an age (30m, 12h, 7d, 2w)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def model_input(record: dict[str, Any]) -> str:
    """What the worker classified: the title, a line break, the paragraphs."""
    paragraphs = record.get("paragraphs") or ()
    return f"{record.get('title') or ''}\n" + "\n\n".join(paragraphs)


def _new_record(record: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """The record with ``answer``'s fields, or None when it has them already."""
    if all(record.get(name) == value for name, value in answer.items()):
        return None
    return orjson.dumps({**record, **answer}).decode()


def _relabel_page(
    relabeller: Relabeller,
    model: TopicModel,
    page: Sequence[StoredRecord],
    topic: str | None,
    summary: Summary,
) -> list[str]:
    """Classify and rewrite one page; the ids whose record changed meanwhile."""
    records = []
    for stored in page:
        record = orjson.loads(stored.raw)
        if record.get("duplicate_of") or "paragraphs" not in record:
            continue  # a copy's light record: it has no topic of its own
        if topic is not None and record.get("topic") != topic:
            continue
        records.append((stored, record))
    answers = model.predict_many([model_input(r) for _, r in records]) if records else []
    changes = []
    for (stored, record), answer in zip(records, answers, strict=True):
        new = _new_record(
            record,
            {
                "topic": answer.topic,
                "confidence": answer.confidence,
                "scores": answer.scores,
                "model_version": answer.model_version,
            },
        )
        if new is None:
            summary.unchanged += 1
        else:
            changes.append(Relabel(stored.id, stored.raw, new, record["topic"], answer.topic))
    retry = []
    for change, outcome in zip(changes, relabeller.apply(changes), strict=True):
        if outcome == "changed":
            summary.reclassified += 1
            if change.old_topic != change.new_topic:
                summary.moved[f"{change.old_topic} -> {change.new_topic}"] += 1
        elif outcome == "conflict":
            retry.append(change.id)
        else:
            summary.skipped += 1
    return retry


def reclassify(
    relabeller: Relabeller,
    model: TopicModel,
    *,
    since: float | None = None,
    topic: str | None = None,
    page_size: int = PAGE,
    on_page: Callable[[int], None] = lambda _: None,
) -> Summary:
    """Run ``model`` over the stored articles (ingested from ``since``; of
    ``topic`` only), rewriting those it answers differently; ``on_page`` gets
    the number of articles of each page read. Ctrl-C stops it between
    articles with ``interrupted`` set."""
    summary = Summary(model.version)
    try:
        for page in relabeller.pages(since, page_size):
            before = summary.unchanged + summary.reclassified + summary.skipped
            retry = _relabel_page(relabeller, model, page, topic, summary)
            for _ in range(_RETRIES):
                if not retry:
                    break
                fresh = relabeller.read(retry)
                summary.skipped += len(retry) - len(fresh)
                retry = _relabel_page(relabeller, model, fresh, topic, summary)
            summary.skipped += len(retry)
            summary.examined += summary.unchanged + summary.reclassified + summary.skipped - before
            on_page(len(page))
    except KeyboardInterrupt:
        summary.interrupted = True
    return summary
