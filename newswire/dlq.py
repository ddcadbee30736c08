"""Replaying dead letters: after a fix, send their payloads through again.

A replayed payload gets the submission id ``replay-{entry}``: replaying the
same entry twice (or a replay interrupted between publishing and removing the
entry) is a redelivery of one submission, so it changes nothing the second
time. Entries are removed from the dead-letter stream once re-queued; if the
payload fails again, it comes back as a new entry with the new reason.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from producer.client import Publisher
from worker.contract import RawArticle
from worker.store import Store

__all__ = ["ReplayReport", "check_entries", "is_entry_id", "replay"]

# A stream entry id: milliseconds and a sequence number, each under 2**64.
_ENTRY_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")


def is_entry_id(entry: str) -> bool:
    match = _ENTRY_ID.fullmatch(entry)
    return match is not None and all(int(n) < 2**64 for n in match.groups())


def check_entries(entries: Iterable[str]) -> None:
    """Raise ValueError, saying what entry ids look like, if any of
    ``entries`` is not one (Redis would refuse it as "Invalid stream ID")."""
    bad = [e for e in entries if not is_entry_id(e)]
    if bad:
        example = f"{time.time_ns() // 1_000_000}-0"
        raise ValueError(
            f"no dead letter {', '.join(map(repr, bad))}: entries look like {example}; "
            "see `newswire dlq list`"
        )


@dataclass
class ReplayReport:
    replayed: list[tuple[str, str]] = field(default_factory=list)  # (entry, article id)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (entry, why)


def _article(entry: str, fields: dict[str, str]) -> RawArticle:
    if fields.get("truncated"):
        raise ValueError(
            f"the payload ({fields.get('payload_bytes')} bytes) was over the size limit "
            "and is kept truncated"
        )
    payload = json.loads(fields.get("payload", ""))
    if not isinstance(payload, dict) or "kind" not in payload:
        raise ValueError("the payload is a whole message, not one article")
    payload["submission_id"] = f"replay-{entry}"
    return RawArticle.model_validate(payload)


def replay(store: Store, publisher: Publisher, entries: Sequence[str]) -> ReplayReport:
    report = ReplayReport()
    batch: list[tuple[str, RawArticle]] = []

    def flush() -> None:
        if batch:
            publisher.send([a for _, a in batch])
            store.dlq_delete([e for e, _ in batch])
            report.replayed.extend((e, a.article_id) for e, a in batch)
            batch.clear()

    for entry in entries:
        fields = store.dlq_entry(entry) if is_entry_id(entry) else None
        if fields is None:
            report.skipped.append((entry, "no such entry (already replayed or purged?)"))
            continue
        try:
            batch.append((entry, _article(entry, fields)))
        except (ValueError, ValidationError) as exc:
            why = str(exc).splitlines()[0]
            report.skipped.append((entry, f"cannot replay: {why}"))
            continue
        if len(batch) >= publisher.settings.batch_size:
            flush()
    flush()
    return report
