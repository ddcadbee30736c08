"""Every Redis key newswire writes, under one configurable prefix (the Lua
script in store.py builds the near-duplicate index keys from the prefixes).

{p}:article:{id}        string  processed article as JSON (or a duplicate's light record)
{p}:topic:{topic}       zset    article id -> ingested time (unique articles only)
{p}:recent              zset    article id -> ingested time (unique articles only)
{p}:dedup:exact:{hash}  string  normalized-body hash -> canonical article id
{p}:lsh:{e}:n           string  documents in epoch e's near-duplicate index
{p}:lsh:{e}:m:{g}       string  buckets of generation g moved into a newer one
{p}:lsh:{e}:{g}:{b}:{n} hash    LSH band bucket of generation g -> doc numbers
{p}:sketch:{e}:{n}      hash    doc number -> MinHash sketch + article id
{p}:story:{id}          zset    copies of canonical article id -> time seen
{p}:delivery:{sub_id}   string  outcome of a submission (makes redelivery a no-op)
{p}:attempts:{task_id}  string  unfinished deliveries of a message (poison detection)
{p}:events              stream  one entry per processed article (what `watch` follows)
{p}:dlq                 stream  rejected payloads with their reason
{p}:stats               hash    counters
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "newswire"

    def article(self, article_id: str) -> str:
        return f"{self.prefix}:article:{article_id}"

    def topic(self, topic: str) -> str:
        return f"{self.prefix}:topic:{topic}"

    @property
    def recent(self) -> str:
        return f"{self.prefix}:recent"

    def exact(self, body_hash: str) -> str:
        return f"{self.prefix}:dedup:exact:{body_hash}"

    @property
    def lsh_prefix(self) -> str:
        return f"{self.prefix}:lsh:"

    @property
    def sketch_prefix(self) -> str:
        return f"{self.prefix}:sketch:"

    def story(self, canonical_id: str) -> str:
        return f"{self.prefix}:story:{canonical_id}"

    def delivery(self, submission_id: str) -> str:
        return f"{self.prefix}:delivery:{submission_id}"

    def attempts(self, task_id: str) -> str:
        return f"{self.prefix}:attempts:{task_id}"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}:dlq"

    @property
    def stats(self) -> str:
        return f"{self.prefix}:stats"

    @property
    def article_pattern(self) -> str:
        return f"{self.prefix}:article:*"
