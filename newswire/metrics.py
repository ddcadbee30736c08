"""`/metrics`: the counters in Prometheus' text format, from Redis alone.

Every figure is read from what Redis holds (the stats hash, the histogram
counts the workers add, the queue's length), never from this process's
memory: any API process answers the same, whatever worker process did the
work. ``render`` is a pure function of a ``Snapshot``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

from worker.histograms import CONFIDENCE, HISTOGRAMS, LATENCY, bound_label

__all__ = ["CONTENT_TYPE", "Histogram", "Snapshot", "render", "snapshot"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram(BaseModel):
    """Cumulative buckets (upper bound -> observations at or under it)."""

    buckets: list[tuple[float, int]]
    count: int = 0
    sum: float = 0.0


class Snapshot(BaseModel):
    """What `/metrics` shows, as read from Redis at one moment."""

    stored: int = 0
    duplicates: int = 0  # exact and near, as the stats hash counts them
    near_duplicates: int = 0
    dead_lettered: int = 0
    extraction_in_doubt: int = 0
    topics: dict[str, int] = Field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = Field(default_factory=dict)
    queued_messages: int = 0
    dead_letters_kept: int = 0
    latency: Histogram
    confidence: Histogram


def _histogram(name: str, fields: Mapping[str, float]) -> Histogram:
    running, buckets = 0, []
    for bound in HISTOGRAMS[name]:
        running += int(fields.get(f"{name}:{bound_label(bound)}", 0))
        buckets.append((bound, running))
    return Histogram(
        buckets=buckets,
        count=int(fields.get(f"{name}:count", 0)),
        sum=fields.get(f"{name}:sum", 0.0),
    )


def snapshot(
    stats: Mapping[str, int],
    histograms: Mapping[str, float],
    *,
    queued_messages: int,
    dead_letters_kept: int,
) -> Snapshot:
    """The snapshot of the stats hash, the histogram hash and two lengths."""
    return Snapshot(
        stored=stats.get("stored", 0),
        duplicates=stats.get("duplicates", 0),
        near_duplicates=stats.get("near_duplicates", 0),
        dead_lettered=stats.get("dead_lettered", 0),
        extraction_in_doubt=stats.get("extraction_in_doubt", 0),
        topics={k[6:]: v for k, v in stats.items() if k.startswith("topic:")},
        dead_letter_reasons={k[4:]: v for k, v in stats.items() if k.startswith("dlq:")},
        queued_messages=queued_messages,
        dead_letters_kept=dead_letters_kept,
        latency=_histogram(LATENCY, histograms),
        confidence=_histogram(CONFIDENCE, histograms),
    )


def _label(value: str) -> str:
    """A label value escaped as the text format wants it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def _family(
    name: str, kind: str, doc: str, samples: list[tuple[str, Mapping[str, str], float]]
) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} {kind}"]
    for suffix, labels, value in samples:
        rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        series = f"{name}{suffix}{{{rendered}}}" if rendered else f"{name}{suffix}"
        lines.append(f"{series} {_number(value)}")
    return lines


def _histogram_family(name: str, doc: str, h: Histogram) -> list[str]:
    samples: list[tuple[str, Mapping[str, str], float]] = [
        ("_bucket", {"le": bound_label(bound)}, n) for bound, n in h.buckets
    ]
    samples += [("_bucket", {"le": "+Inf"}, h.count), ("_sum", {}, h.sum), ("_count", {}, h.count)]
    return _family(name, "histogram", doc, samples)


def render(s: Snapshot, *, live_workers: int | None = None) -> str:
    """The text exposition of ``s``; ``live_workers``, when known, as a gauge."""
    exact = s.duplicates - s.near_duplicates
    outcomes = {
        "stored": s.stored,
        "duplicate": exact,
        "near_duplicate": s.near_duplicates,
        "dead_lettered": s.dead_lettered,
    }
    lines = _family(
        "newswire_articles_total",
        "counter",
        "Payloads processed, by outcome: stored (unique), duplicate (exact copy), "
        "near_duplicate, dead_lettered; they add up to every payload processed.",
        [("", {"outcome": k}, v) for k, v in outcomes.items()],
    )
    lines += _family(
        "newswire_articles_by_topic_total",
        "counter",
        "Unique articles stored, by topic.",
        [("", {"topic": t}, n) for t, n in sorted(s.topics.items())],
    )
    lines += _family(
        "newswire_dead_letters_total",
        "counter",
        "Payloads dead-lettered, by reason.",
        [("", {"reason": r}, n) for r, n in sorted(s.dead_letter_reasons.items())],
    )
    lines += _family(
        "newswire_extraction_in_doubt_total",
        "counter",
        "Unique articles stored while the extraction gate had a doubt.",
        [("", {}, s.extraction_in_doubt)],
    )
    lines += _family(
        "newswire_queued_messages",
        "gauge",
        "Messages (batches) waiting in the Celery queue.",
        [("", {}, s.queued_messages)],
    )
    lines += _family(
        "newswire_dead_letters_kept",
        "gauge",
        "Entries in the dead-letter stream (not yet replayed, purged or trimmed).",
        [("", {}, s.dead_letters_kept)],
    )
    lines += _histogram_family(
        f"newswire_{LATENCY}",
        "Seconds from the producer sending a message to a worker writing its articles "
        "(stored or copies; messages that carry their push time).",
        s.latency,
    )
    lines += _histogram_family(
        f"newswire_{CONFIDENCE}",
        "The extraction's confidence in the body it took, per unique article stored from a page.",
        s.confidence,
    )
    if live_workers is not None:
        lines += _family(
            "newswire_live_workers",
            "gauge",
            "Worker processes with a fresh heartbeat.",
            [("", {}, live_workers)],
        )
    return "\n".join(lines) + "\n"
