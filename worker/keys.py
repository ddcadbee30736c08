"""Every Redis key newswire writes, under one configurable prefix (the Lua
script worker/lua/record.lua builds the near-duplicate index keys from
``lsh_prefix`` and ``sketch_prefix``).

The schema, each key with its type and content: docs/architecture.md ("Redis schema").
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

    @property
    def clock(self) -> str:
        return f"{self.prefix}:clock"

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
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    def heartbeat(self, instance: str) -> str:
        return f"{self.prefix}:heartbeat:{instance}"

    def held(self, instance: str) -> str:
        return f"{self.prefix}:held:{instance}"

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
    def histograms(self) -> str:
        return f"{self.prefix}:histograms"
