"""Redis adapter: idempotent writes and the read API.

Every write for one payload happens in one Lua script, so it is atomic: the
delivery marker, the exact-dedup claim, the article, its indexes, the event
and the counters land together or not at all. A redelivered message finds its
delivery marker and changes nothing; two workers racing on copies of one story
cannot both claim the body hash.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import orjson
import redis
from redis.sentinel import Sentinel

from config.settings import Settings
from worker.heartbeat import WorkerBeat, worker_beats
from worker.histograms import CONFIDENCE, LATENCY
from worker.histograms import fields_for as histogram_fields
from worker.keys import Keys
from worker.listing import ArticleFilter, Order, Page, Position, decode_cursor
from worker.pipeline.errors import StoreUnavailable
from worker.pipeline.models import ProcessedArticle

__all__ = ["SCAN_BUDGET", "DeadLetter", "Outcome", "Store", "connect"]

_LUA = resources.files("worker") / "lua"
# What one dead letter may hold: its message, and past the payload limit a
# payload's head followed by this marker.
_MESSAGE_MAX_CHARS = 2000
TRUNCATED_MARK = "\n[... truncated by newswire: see payload_bytes and payload_sha256]"
# Index entries one page may read beyond its limit while filtering on what
# no index holds (outlet, language, confidence): a page costs at most this
# many article reads more than it returns.
SCAN_BUDGET = 1000
# A copy's light record: these fields, written as the full record writes them;
# record.lua appends duplicate_of, verdict and similarity.
_LIGHT_FIELDS = {"id", "title", "outlet", "url", "source", "ingested_at"}


class _RecordKeys(NamedTuple):
    """KEYS of record.lua, in order."""

    delivery: str
    exact: str
    article: str
    recent: str
    topic: str
    events: str
    stats: str
    clock: str


class _RecordArgs(NamedTuple):
    """ARGV of record.lua, in order; the band hashes follow ``sketch``."""

    id: str
    article_json: str
    retention: int
    topic: str
    delivery_ttl: int
    events_maxlen: int
    story_prefix: str
    article_prefix: str
    light_record: bytes
    title: str
    dedup_window: int
    lsh_prefix: str
    sketch_prefix: str
    epoch: int
    epochs_back: int
    index_ttl_ms: int
    threshold: float
    id_bytes: bytes
    sketch: bytes


class _DeadLetterKeys(NamedTuple):
    """KEYS of dead_letter.lua, in order."""

    delivery: str
    dlq: str
    events: str
    stats: str


_CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "health_check_interval": 30,
    "retry_on_timeout": True,
}


def connect(
    url: str, sentinel_master: str | None = None, *, timeout: float | None = None
) -> redis.Redis:
    """A client with timeouts, so a dead Redis fails fast instead of hanging
    (``timeout``: seconds for each command and connection, instead of 10 and 5).

    A ``sentinel://`` URL (each sentinel's address, separated by ';', as
    kombu takes it) gives a client of ``sentinel_master``'s current master:
    after a failover its next command finds the promoted replica."""
    options = dict(_CLIENT_OPTIONS)
    if timeout is not None:
        options.update(socket_timeout=timeout, socket_connect_timeout=timeout)
    if url.split("://", 1)[0].lower() != "sentinel":
        return redis.Redis.from_url(url, **options)
    if not sentinel_master:
        raise ValueError("a sentinel:// URL needs the master's name (NEWSWIRE_SENTINEL_MASTER)")
    parts = [urlsplit(u.strip()) for u in url.split(";") if u.strip()]
    db = next((int(p.path.strip("/")) for p in parts if p.path.strip("/").isdigit()), 0)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        [(p.hostname or "localhost", p.port or 26379) for p in parts],
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        sentinel_master,
        db=db,
        username=parts[0].username,
        password=unquote(parts[0].password) if parts[0].password else None,
        **options,
    )
    return client


@dataclass(frozen=True, slots=True)
class Outcome:
    """What storing one article did. ``replay`` means an earlier delivery of
    the same submission already stored it and nothing changed now."""

    article_id: str
    verdict: str  # unique | duplicate | near_duplicate
    canonical_id: str
    similarity: float = 1.0
    replay: bool = False


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A payload the pipeline refused, with why."""

    delivery_key: str  # submission id, or a hash of the raw item when it had none
    reason: str
    message: str
    payload: str  # the raw item as JSON, exactly as received
    batch_id: str | None = None
    article_id: str | None = None
    source: str | None = None


class Store:
    """Reads and writes of newswire's Redis data."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        replay_ttl: int,
        events_maxlen: int,
        dedup_window: int = 30 * 86400,
        retention: int = 30 * 86400,
        near_threshold: float = 0.5,
        dlq_maxlen: int = 100_000,
        dlq_payload_max_bytes: int = 2_000_000,
        wait_replicas: int = 0,
        wait_timeout: float = 2.0,
    ):
        # With decode_responses=True every reply is str; redis-py's stubs type
        # replies as unions of every shape, so the client is used untyped.
        self.redis: Any = client
        self.keys = keys
        self.replay_ttl = replay_ttl
        self.events_maxlen = events_maxlen
        self.dedup_window = dedup_window
        self.retention = retention
        self.near_threshold = near_threshold
        self.dlq_maxlen = dlq_maxlen
        self.dlq_payload_max_bytes = dlq_payload_max_bytes
        self.wait_replicas = wait_replicas
        self.wait_timeout = wait_timeout
        self._record = client.register_script((_LUA / "record.lua").read_text())
        self._dead_letter = client.register_script((_LUA / "dead_letter.lua").read_text())

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis | None = None) -> Store:
        """The store every entry point uses: keys, windows and limits from
        ``settings``, on ``client`` or a new connection to the configured Redis."""
        return cls(
            client
            if client is not None
            else connect(settings.require_redis_url(), settings.sentinel_master),
            Keys(settings.key_prefix),
            replay_ttl=settings.replay_window,
            events_maxlen=settings.events_maxlen,
            dedup_window=settings.dedup_window,
            retention=settings.retention,
            near_threshold=settings.near_threshold,
            dlq_maxlen=settings.dlq_maxlen,
            # A payload larger than this could never be processed anyway.
            dlq_payload_max_bytes=settings.max_payload_bytes,
            wait_replicas=settings.replicas_to_wait,
            wait_timeout=settings.wait_timeout,
        )

    # -- writes ---------------------------------------------------------------

    def record_many(
        self, articles: Sequence[ProcessedArticle], *, pushed_at: float | None = None
    ) -> list[Outcome]:
        """Store a batch of articles in one round trip, each atomically;
        ``pushed_at`` (the message's push time) feeds the latency histogram."""
        if not articles:
            return []
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        # The near-duplicate index lives in epochs of a quarter window: the
        # current one and the four before cover at least the window, and each
        # epoch's keys expire once it has left it.
        epoch_len = self.dedup_window / 4
        now = time.time()
        epoch = int(now // epoch_len)
        index_ttl_ms = max(1, int(((epoch + 5) * epoch_len - now) * 1000))
        # A submission is remembered no longer than its article is kept.
        delivery_ttl = min(self.replay_ttl, self.retention)
        for a in articles:
            self._record(
                keys=list(
                    _RecordKeys(
                        delivery=k.delivery(a.submission_id),
                        exact=k.exact(a.body_hash),
                        article=k.article(a.id),
                        recent=k.recent,
                        topic=k.topic(a.topic),
                        events=k.events,
                        stats=k.stats,
                        clock=k.clock,
                    )
                ),
                args=[
                    *_RecordArgs(
                        id=a.id,
                        article_json=a.model_dump_json(),
                        retention=self.retention,
                        topic=a.topic,
                        delivery_ttl=delivery_ttl,
                        events_maxlen=self.events_maxlen,
                        story_prefix=k.story(""),
                        article_prefix=k.article(""),
                        light_record=a.model_dump_json(include=_LIGHT_FIELDS).encode(),
                        title=a.title[:200],
                        dedup_window=self.dedup_window,
                        lsh_prefix=k.lsh_prefix,
                        sketch_prefix=k.sketch_prefix,
                        epoch=epoch,
                        epochs_back=4,
                        index_ttl_ms=index_ttl_ms,
                        threshold=self.near_threshold,
                        id_bytes=bytes.fromhex(a.id),
                        sketch=a.sketch,
                    ),
                    *a.lsh_bands,
                ],
                client=pipe,
            )
        replies = self._execute(pipe)
        outcomes = []
        for a, (kind, verdict, canon, similarity) in zip(articles, replies, strict=True):
            outcomes.append(
                Outcome(a.id, verdict, canon, float(similarity), replay=kind == "replay")
            )
        # Stored while the gate had a doubt: counted after the scripts (a crash
        # in between loses a count, never an article; a replay counts nothing).
        in_doubt = sum(
            1
            for a, o in zip(articles, outcomes, strict=True)
            if o.verdict == "unique" and not o.replay and a.metadata.get("extraction_verdict")
        )
        if in_doubt:
            counter = self.redis.pipeline(transaction=False)
            counter.hincrby(k.stats, "extraction_in_doubt", in_doubt)
            self._execute(counter)
        self._observe(articles, outcomes, pushed_at)
        return outcomes

    def _observe(
        self,
        articles: Sequence[ProcessedArticle],
        outcomes: Sequence[Outcome],
        pushed_at: float | None,
    ) -> None:
        """Count the batch in the histograms, as the in-doubt counter is
        counted: after the scripts, nothing for a replay."""
        fresh = [a for a, o in zip(articles, outcomes, strict=True) if not o.replay]
        written = time.time()
        # A producer's clock ahead of the worker's must not make a negative time.
        latencies = [max(0.0, written - pushed_at)] * len(fresh) if pushed_at is not None else []
        confidences = []
        for a, o in zip(articles, outcomes, strict=True):
            confidence = a.metadata.get("extraction_confidence")
            if o.verdict == "unique" and not o.replay and isinstance(confidence, int | float):
                confidences.append(float(confidence))
        pipe = self.redis.pipeline(transaction=False)
        for name, values in ((LATENCY, latencies), (CONFIDENCE, confidences)):
            if values:
                increments, total = histogram_fields(name, values)
                for field, n in increments.items():
                    pipe.hincrby(self.keys.histograms, field, n)
                pipe.hincrbyfloat(self.keys.histograms, f"{name}:sum", total)
        if len(pipe):
            self._execute(pipe)

    def dead_letter_many(self, letters: Sequence[DeadLetter]) -> list[bool]:
        """Append refused payloads to the dead-letter stream; False where an
        earlier delivery already did."""
        if not letters:
            return []
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        now = datetime.now(UTC).isoformat()
        for d in letters:
            fields: list[str] = [
                "reason",
                d.reason,
                "message",
                d.message[:_MESSAGE_MAX_CHARS],
                "at",
                now,
                *self._bounded_payload(d.payload),
            ]
            for name, value in (
                ("batch_id", d.batch_id),
                ("article_id", d.article_id),
                ("source", d.source),
            ):
                if value:
                    fields += [name, value]
            self._dead_letter(
                keys=list(
                    _DeadLetterKeys(
                        delivery=k.delivery(d.delivery_key),
                        dlq=k.dlq,
                        events=k.events,
                        stats=k.stats,
                    )
                ),
                args=[
                    min(self.replay_ttl, self.retention),
                    self.events_maxlen,
                    d.reason,
                    self.dlq_maxlen,
                    *fields,
                ],
                client=pipe,
            )
        return [bool(r) for r in self._execute(pipe)]

    def _bounded_payload(self, payload: str) -> list[str]:
        """The payload's dlq fields: whole when it fits, else its head with a
        marker, its size and its hash (enough to recognise it, not to replay)."""
        data = payload.encode()
        if len(data) <= self.dlq_payload_max_bytes:
            return ["payload", payload]
        head = data[: self.dlq_payload_max_bytes].decode(errors="ignore")
        return [
            "payload",
            head + TRUNCATED_MARK,
            "payload_bytes",
            str(len(data)),
            "payload_sha256",
            hashlib.sha256(data).hexdigest(),
            "truncated",
            "1",
        ]

    def replicate(self) -> None:
        """Return once ``wait_replicas`` replicas hold this client's writes
        (Redis WAIT), so that a batch acknowledged after it survives its
        master's death; StoreUnavailable when fewer have them in time (the
        batch is retried: its writes are idempotent). Nothing to do with
        ``wait_replicas`` 0.

        WAIT counts the writes of the connection it runs on: a worker
        process is single-threaded, and redis-py's pool hands the same
        connection back to it (last in, first out)."""
        if self.wait_replicas <= 0:
            return
        timeout_ms = int(self.wait_timeout * 1000)
        try:
            acked = int(self.redis.execute_command("WAIT", self.wait_replicas, timeout_ms))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"Redis unavailable while replicating: {exc}") from exc
        if acked < self.wait_replicas:
            raise StoreUnavailable(
                f"{acked} of {self.wait_replicas} replica(s) acknowledged the writes "
                f"within {self.wait_timeout}s"
            )

    def dead_lettered(self, delivery_keys: Sequence[str]) -> list[str | None]:
        """For each delivery key, its dead-letter entry if one was written."""
        if not delivery_keys:
            return []
        try:
            markers = self.redis.mget([self.keys.delivery(k) for k in delivery_keys])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"Redis unavailable while reading: {exc}") from exc
        return [
            m.removeprefix("dead_letter:") if m and m.startswith("dead_letter:") else None
            for m in markers
        ]

    def count_delivery(self, task_id: str) -> int:
        """Count one more unfinished delivery of a message; returns the count."""
        key = self.keys.attempts(task_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, self.replay_ttl)
        count, _ = self._execute(pipe)
        return int(count)

    def finish_delivery(self, task_id: str) -> None:
        """The delivery ended under control (done or handed back): forget it."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.keys.attempts(task_id))
        self._execute(pipe)

    @staticmethod
    def _execute(pipe: Any) -> list[Any]:
        try:
            return list(pipe.execute())
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"Redis unavailable while storing: {exc}") from exc

    # -- reads ----------------------------------------------------------------

    def get(self, article_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.article(article_id))
        return orjson.loads(raw) if raw else None

    def get_many(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        raws = self.redis.mget([self.keys.article(i) for i in ids])
        return [orjson.loads(r) for r in raws if r]

    def results(
        self, *, topic: str | None = None, limit: int = 20, min_confidence: float | None = None
    ) -> list[dict[str, Any]]:
        """Newest first, unique articles only; with ``min_confidence``, only
        those whose extraction confidence reaches it."""
        index = self.keys.topic(topic) if topic else self.keys.recent
        if min_confidence is None:
            return self.get_many(self.redis.zrevrange(index, 0, max(limit, 1) - 1))
        found: list[dict[str, Any]] = []
        start, page = 0, max(limit, 100)
        while len(found) < limit:
            ids = self.redis.zrevrange(index, start, start + page - 1)
            if not ids:
                break
            found += [
                a
                for a in self.get_many(ids)
                if a.get("metadata", {}).get("extraction_confidence", 1.0) >= min_confidence
            ]
            start += page
        return found[:limit]

    def page(
        self,
        *,
        topic: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after: Position | None = None,
        order: Order = "desc",
        limit: int = 20,
        where: ArticleFilter | None = None,
    ) -> Page:
        """Unique articles stored between ``since`` and ``until`` (epoch
        seconds, inclusive), newest or oldest first, continuing after
        ``after``. Reads at most ``limit`` + SCAN_BUDGET index entries, so a
        page may hold fewer than ``limit`` articles and still not be the end."""
        where = where or ArticleFilter()
        index = self.keys.topic(topic) if topic else self.keys.recent
        budget = limit + SCAN_BUDGET
        found: list[dict[str, Any]] = []
        position, scanned = after, 0
        while True:
            missing = limit - len(found)
            want = min(missing if where.everything else max(missing, 100), 500, budget - scanned)
            if want <= 0:
                return Page(articles=found, next_cursor=_cursor(position), at_end=False)
            rows, exhausted = self._after(index, since, until, position, order, want)
            raws = self.redis.mget([self.keys.article(i) for i, _ in rows]) if rows else []
            for (article_id, score), raw in zip(rows, raws, strict=True):
                scanned += 1
                position = Position(score=score, id=article_id)
                # An entry whose article expired is trimmed on the next write.
                article = orjson.loads(raw) if raw else None
                if article is not None and where.matches(article):
                    found.append(article)
                    if len(found) == limit:
                        return Page(articles=found, next_cursor=position.cursor(), at_end=False)
            if exhausted:
                # Oldest first, the end moves on as articles are stored: the
                # cursor is where to look again.
                cursor = _cursor(position) if order == "asc" else None
                return Page(articles=found, next_cursor=cursor, at_end=True)

    def _after(
        self,
        index: str,
        since: float | None,
        until: float | None,
        position: Position | None,
        order: Order,
        n: int,
    ) -> tuple[list[tuple[str, float]], bool]:
        """Up to ``n`` entries of ``index`` in ``order`` past ``position``,
        and whether the index has no more. Bounds are scores, so an entry
        stored meanwhile neither shifts nor repeats what comes next."""
        low: float | str = "-inf" if since is None else since
        high: float | str = "+inf" if until is None else until
        if position is not None:  # inclusive: ties at the score are skipped below
            if order == "desc":
                high = position.score if until is None else min(until, position.score)
            else:
                low = position.score if since is None else max(since, position.score)
        num = n if position is None else n + 1  # the position itself comes back
        while True:
            if order == "desc":
                rows = self.redis.zrange(
                    index, high, low, desc=True, byscore=True, offset=0, num=num, withscores=True
                )
            else:
                rows = self.redis.zrange(
                    index, low, high, byscore=True, offset=0, num=num, withscores=True
                )
            fresh = [
                (i, float(s))
                for i, s in rows
                if position is None or not position.seen(float(s), i, order)
            ]
            if len(fresh) >= n or len(rows) < num:
                return fresh[:n], len(rows) < num and len(fresh) <= n
            num += n  # entries sharing the position's score: read past them

    def iter_articles(
        self,
        *,
        topic: str | None = None,
        since: float | None = None,
        until: float | None = None,
        page_size: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Every unique article stored between ``since`` and ``until``,
        oldest first, a page at a time; what is stored after the call began
        is left out, so the iteration ends."""
        index = self.keys.topic(topic) if topic else self.keys.recent
        newest = self.redis.zrange(index, 0, 0, desc=True, withscores=True)
        if not newest:
            return
        end = float(newest[0][1]) if until is None else min(until, float(newest[0][1]))
        after: Position | None = None
        while True:
            page = self.page(
                topic=topic, since=since, until=end, after=after, order="asc", limit=page_size
            )
            yield from page.articles
            if page.at_end or page.next_cursor is None:
                return
            after = decode_cursor(page.next_cursor)

    def story(self, article_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The canonical article of ``article_id``'s story and its copies."""
        article = self.get(article_id)
        if article and article.get("duplicate_of"):
            article = self.get(article["duplicate_of"])
        if article is None:
            return None, []
        copies = self.redis.zrange(self.keys.story(article["id"]), 0, -1)
        return article, self.get_many(copies)

    def copies(self, article_id: str) -> int:
        return int(self.redis.zcard(self.keys.story(article_id)))

    def stats(self) -> dict[str, int]:
        raw = self.redis.hgetall(self.keys.stats)
        return {k: int(v) for k, v in sorted(raw.items())}

    def histograms(self) -> dict[str, float]:
        """The histogram fields the workers counted (worker/histograms.py)."""
        return {k: float(v) for k, v in self.redis.hgetall(self.keys.histograms).items()}

    def dlq(
        self, *, limit: int | None = 20, reason: str | None = None
    ) -> list[tuple[str, dict[str, str]]]:
        """Dead letters, newest first, optionally only those with ``reason``."""
        if reason is None:
            return list(self.redis.xrevrange(self.keys.dlq, count=limit))
        found = [
            (entry, fields)
            for entry, fields in self.redis.xrevrange(self.keys.dlq)
            if fields.get("reason") == reason
        ]
        return found if limit is None else found[:limit]

    def dlq_entry(self, entry: str) -> dict[str, str] | None:
        found = self.redis.xrange(self.keys.dlq, entry, entry)
        return dict(found[0][1]) if found else None

    def dlq_delete(self, entries: Sequence[str]) -> int:
        return int(self.redis.xdel(self.keys.dlq, *entries)) if entries else 0

    def follow(
        self, *, last_id: str = "$", block_ms: int = 1000
    ) -> Iterator[tuple[str, dict[str, str]]]:
        """Events as they arrive, forever (the caller stops iterating).

        "$" is resolved to the newest entry's ID once, before the first read:
        passed to every read until an event came, it would skip whatever was
        added between one read's timeout and the next read."""
        if last_id == "$":
            newest = self.redis.xrevrange(self.keys.events, count=1)
            last_id = newest[0][0] if newest else "0-0"
        while True:
            reply = self.redis.xread({self.keys.events: last_id}, block=block_ms, count=100)
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    yield entry_id, fields

    def live_workers(self) -> list[WorkerBeat]:
        """The worker instances whose heartbeat is fresh (node, host, pid,
        last beat and its age), latest beat first."""
        return [beat for beat in worker_beats(self.redis, self.keys) if beat.alive]

    def processed(self) -> int:
        """Payloads processed so far (stored, duplicate or dead-lettered), as
        the counters say."""
        s = self.stats()
        return s.get("stored", 0) + s.get("duplicates", 0) + s.get("dead_lettered", 0)

    def wait_for(self, n: int, *, timeout: float = 30.0) -> bool:
        """Block until ``n`` payloads have been processed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processed() >= n:
                return True
            time.sleep(0.05)
        return False


def _cursor(position: Position | None) -> str | None:
    return position.cursor() if position is not None else None
