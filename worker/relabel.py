"""Redis adapter of `newswire reclassify`: read stored articles page by page,
and give each a new classification atomically (``worker/lua/reclassify.lua``).

No key of its own: the articles, their topic indexes, ``recent`` and the
stats hash, named by :class:`worker.keys.Keys`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from importlib import resources
from typing import Any, NamedTuple

from worker.keys import Keys

__all__ = ["Relabel", "Relabeller", "StoredRecord"]

_SCRIPT = (resources.files("worker") / "lua" / "reclassify.lua").read_text()


class StoredRecord(NamedTuple):
    """An article's id and its record as stored (JSON text)."""

    id: str
    raw: str


class Relabel(NamedTuple):
    """A new record for an article, and the record it replaces as read."""

    id: str
    read: str  # the record the new one was computed from
    record: str
    old_topic: str
    new_topic: str


class Relabeller:
    """Pages of stored articles in store order, and atomic rewrites."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self.redis: Any = client
        self.keys = keys
        self._script = client.register_script(_SCRIPT)

    def count(self, since: float | None) -> int:
        """Unique articles ingested at or after ``since`` (all: None)."""
        return int(self.redis.zcount(self.keys.recent, _low(since), "+inf"))

    def pages(self, since: float | None, size: int) -> Iterator[list[StoredRecord]]:
        """The unique articles ingested at or after ``since``, oldest first,
        ``size`` at a time. Pages follow the index's scores, not ranks, so
        articles stored or removed meanwhile shift nothing."""
        low, at_low = _low(since), 0  # at_low: ids already read with score low
        while True:
            found = self.redis.zrange(
                self.keys.recent,
                low,
                "+inf",
                byscore=True,
                offset=at_low,
                num=size,
                withscores=True,
            )
            if not found:
                return
            yield self.read([member for member, _ in found])
            last = found[-1][1]
            same = sum(1 for _, score in found if score == last)
            at_low = at_low + same if repr(last) == low else same
            low = repr(last)

    def read(self, ids: Sequence[str]) -> list[StoredRecord]:
        """The records of ``ids`` that exist, in order."""
        if not ids:
            return []
        raws = self.redis.mget([self.keys.article(i) for i in ids])
        return [StoredRecord(i, r) for i, r in zip(ids, raws, strict=True) if r]

    def apply(self, changes: Sequence[Relabel]) -> list[str]:
        """Each change applied atomically, in one round trip: 'changed', or
        'conflict' (the record changed since it was read) or 'missing'."""
        if not changes:
            return []
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        for c in changes:
            self._script(
                keys=[
                    k.article(c.id),
                    k.topic(c.old_topic),
                    k.topic(c.new_topic),
                    k.recent,
                    k.stats,
                ],
                args=[
                    hashlib.sha1(c.read.encode()).hexdigest(),
                    c.record,
                    c.id,
                    c.old_topic,
                    c.new_topic,
                ],
                client=pipe,
            )
        return [str(r) for r in pipe.execute()]


def _low(since: float | None) -> str:
    return "-inf" if since is None else repr(since)
