"""Redis adapter: idempotent writes and the read API.

Every write for one payload happens in one Lua script, so it is atomic: the
delivery marker, the exact-dedup claim, the article, its indexes, the event
and the counters land together or not at all. A redelivered message finds its
delivery marker and changes nothing; two workers racing on copies of one story
cannot both claim the body hash.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from worker.keys import Keys
from worker.pipeline.errors import StoreUnavailable
from worker.pipeline.models import ProcessedArticle

__all__ = ["DeadLetter", "Outcome", "Store", "connect"]

# KEYS: delivery, exact, article, recent, topic, events, stats
# ARGV: 1 id, 2 article json, 3 ts, 4 topic, 5 replay ttl, 6 events maxlen,
#       7 story key prefix, 8 article key prefix, 9 duplicate record json,
#       10 title, 11 dedup window (s), 12 lsh key prefix, 13 sketch key prefix,
#       14 epoch, 15 epochs to look back, 16 index key ttl (ms), 17 threshold,
#       18 id as 8 bytes, 19 sketch, 20.. band hashes (none: no near index)
# Near-duplicate index, per epoch e (a quarter of the window): {lsh}{e}:n
# counts the epoch's documents and numbers them (4 bytes). Band b's hash h
# files document d in hash {lsh}{e}:{g}:{b}:{h >> (32 - bits)} field
# h % 2^(32 - bits), a string of 4-byte document numbers. The generation g
# grows with the epoch's count, with 16x more buckets each time (bits 9,
# 13, 17), so buckets hold at most a few dozen entries whether the epoch has 10
# thousand documents or 4 million: small hashes stay listpack-encoded and
# the index costs a few hundred bytes an article at any size. Each document
# filed in generation g also moves one bucket of an older generation into g
# (its entries regrouped by their longer prefix, then the old bucket
# deleted) and counts it in {lsh}{e}:m:{g-1}; once that count reaches the
# older generation's 16 x 2^bits buckets, lookups skip it: they read one
# generation, except while moving. (A count, not the document number: a
# worker of an older version files documents without moving anything.)
# d's sketch and 8-byte id sit in hash {sketch}{e}:{d >> 4} field d. Keys
# expire with their epoch; a bucket or sketch hash has a field '_' from its
# first write on, so the script can tell when a write created it.
_RECORD = """
local prev = redis.call('GET', KEYS[1])
if prev then
  local v, c, sim = string.match(prev, '^([^:]*):([^:]*):?(.*)$')
  return {'replay', v, c, sim ~= '' and sim or '1'}
end
local id = ARGV[1]
local canon = redis.call('GET', KEYS[2])
if not canon and redis.call('EXISTS', KEYS[3]) == 1 then
  canon = id
end
local verdict = 'duplicate'
local similarity = '1'
local epoch, back = tonumber(ARGV[14]), tonumber(ARGV[15])
local lsh, skp = ARGV[12], ARGV[13]
local nbands = #ARGV - 19
local BITS, LAST, MOVED = {9, 13, 17}, {16384, 262144}, {':m:1', ':m:2'}
local function generations(count)
  if count <= LAST[1] then return 1 elseif count <= LAST[2] then return 2 end
  return 3
end
-- Generation g's buckets: 2^bits of them a band. Each document filed in
-- generation g + 1 moves one of them (see the insert), so g is empty once
-- g + 1 has that many documents.
local function buckets_in(g) return 2 ^ BITS[g] * nbands end
-- Band hash h (band numbered from 0) in generation g: the key's tail after
-- the epoch, and the field.
local function name(g, band, h)
  local width = 2 ^ (32 - BITS[g])
  return string.format(':%d:%d:%d', g, band, math.floor(h / width)),
    string.format('%d', h % width)
end
-- Turning a Lua number into a string (sprintf '%.14g', ~0.7 us) was most
-- of the script's own time: an epoch's key prefix is formatted once, and
-- counts and document numbers go to Redis as strings.
local prefixes = {}
local function index_prefix(e)
  local p = prefixes[e]
  if not p then
    p = lsh .. string.format('%d', e)
    prefixes[e] = p
  end
  return p
end
-- A band's bucket and field in generation g are the same in every epoch:
-- formatted once per call, not once per epoch read.
local parts = {}
local function bucket(e, g, b)
  local p = parts[g * 64 + b]
  if not p then
    p = {name(g, b - 1, tonumber(ARGV[19 + b]))}
    parts[g * 64 + b] = p
  end
  return index_prefix(e) .. p[1], p[2]
end
-- Set a field of an index hash, a bucket or a sketch hash (ids: the field's
-- value as read, false when absent). A hash new to the index gets the marker
-- '_' and its epoch's expiry: a new field comes with the marker, and HSET
-- adding both means a new hash.
local function put(key, field, ids, value)
  if ids then
    redis.call('HSET', key, field, value)
  elseif redis.call('HSET', key, field, value, '_', '') == 2 then
    redis.call('PEXPIRE', key, ARGV[16])
  end
end
local function doc_number(bin)
  local a, b, c, d = string.byte(bin, 1, 4)
  return ((a * 256 + b) * 256 + c) * 256 + d
end
local function sketch_key(e, doc)
  return string.format('%s%d:%d', skp, e, math.floor(doc / 16))
end
local slen = #ARGV[19]
local current = {}  -- this epoch's buckets as read, reused by the insert
if not canon and nbands > 0 then
  -- Near duplicates: candidates share a band; keep the most similar sketch.
  local sketch, best, seen = ARGV[19], tonumber(ARGV[17]), {}
  -- Per epoch: its document count and how many buckets of generations 1
  -- and 2 have been moved into the next one.
  local counters = {}
  for e = epoch - back, epoch do
    local p = index_prefix(e)
    counters[#counters + 1] = p .. ':n'
    counters[#counters + 1] = p .. MOVED[1]
    counters[#counters + 1] = p .. MOVED[2]
  end
  local counts = redis.call('MGET', unpack(counters))
  for e = epoch - back, epoch do
    local at = (e - epoch + back) * 3
    local count = tonumber(counts[at + 1] or '0')
    local moved = {tonumber(counts[at + 2] or '0'), tonumber(counts[at + 3] or '0')}
    -- The generation this article would join, if it is new.
    local joins = e == epoch and generations(count + 1) or 0
    if count > 0 then
      for g = 1, generations(count) do
        for b = 1, (g < 3 and moved[g] >= buckets_in(g)) and 0 or nbands do
          local key, field = bucket(e, g, b)
          local ids = redis.call('HGET', key, field)
          if g == joins then current[g * 64 + b] = ids end
          if ids then
            for i = 1, #ids, 4 do
              local doc = doc_number(string.sub(ids, i, i + 3))
              local ref = e * 4294967296 + doc
              if not seen[ref] then
                seen[ref] = true
                local other = redis.call('HGET', sketch_key(e, doc), string.format('%d', doc))
                if other then
                  local same = 0
                  for j = 1, slen do
                    if string.byte(sketch, j) == string.byte(other, j) then same = same + 1 end
                  end
                  local sim = (same / slen - 1 / 256) / (1 - 1 / 256)
                  if sim >= best then
                    best = sim
                    canon = string.format(string.rep('%02x', 8),
                      string.byte(other, slen + 1, slen + 8))
                    similarity = string.format('%.3f', sim)
                    verdict = 'near_duplicate'
                  end
                end
              end
            end
          end
        end
      end
    end
  end
end
if not canon then
  verdict = 'unique'
  canon = id
  redis.call('SET', KEYS[2], id, 'EX', ARGV[11])
  redis.call('SET', KEYS[3], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[3], id)
  redis.call('ZADD', KEYS[5], ARGV[3], id)
  redis.call('HINCRBY', KEYS[7], 'stored', '1')
  redis.call('HINCRBY', KEYS[7], 'topic:' .. ARGV[4], '1')
  if nbands > 0 then
    local counter = index_prefix(epoch) .. ':n'
    local doc = redis.call('INCR', counter)
    if doc == 1 then redis.call('PEXPIRE', counter, ARGV[16]) end
    local g = generations(doc)
    local bin = string.char(math.floor(doc / 16777216) % 256, math.floor(doc / 65536) % 256,
      math.floor(doc / 256) % 256, doc % 256)
    for b = 1, nbands do
      local key, field = bucket(epoch, g, b)
      local ids = current[g * 64 + b]
      if ids == nil then ids = redis.call('HGET', key, field) end
      put(key, field, ids, (ids or '') .. bin)
    end
    -- Move the next bucket of the oldest generation not yet moved into this
    -- one, its older entries first, as a lookup reading both would see them.
    local prev, step = nil, nil
    for pg = 1, g - 1 do
      local done = tonumber(redis.call('GET', index_prefix(epoch) .. MOVED[pg]) or '0')
      if done < buckets_in(pg) then
        prev, step = pg, done
        break
      end
    end
    if prev then
      local mkey = index_prefix(epoch) .. MOVED[prev]
      if redis.call('INCR', mkey) == 1 then redis.call('PEXPIRE', mkey, ARGV[16]) end
      local band, base = step % nbands, math.floor(step / nbands) * 2 ^ (32 - BITS[prev])
      local old = index_prefix(epoch) .. name(prev, band, base)
      local entries = redis.call('HGETALL', old)
      for i = 1, #entries, 2 do
        if entries[i] ~= '_' then
          local tail, field = name(g, band, base + tonumber(entries[i]))
          local key = index_prefix(epoch) .. tail
          local ids = redis.call('HGET', key, field)
          put(key, field, ids, entries[i + 1] .. (ids or ''))
        end
      end
      if #entries > 0 then redis.call('DEL', old) end
    end
    -- A new field: the sketch hash gets its expiry from whichever of its
    -- documents comes first (numbers can be skipped).
    put(sketch_key(epoch, doc), string.format('%d', doc), false, ARGV[19] .. ARGV[18])
  end
else
  if canon ~= id then
    local record = cjson.decode(ARGV[9])
    record['duplicate_of'] = canon
    record['verdict'] = verdict
    record['similarity'] = tonumber(similarity)
    redis.call('SET', ARGV[8] .. id, cjson.encode(record), 'NX')
    redis.call('ZADD', ARGV[7] .. canon, 'NX', ARGV[3], id)
  end
  redis.call('HINCRBY', KEYS[7], 'duplicates', '1')
  if verdict == 'near_duplicate' then
    redis.call('HINCRBY', KEYS[7], 'near_duplicates', '1')
  end
end
redis.call('SET', KEYS[1], verdict .. ':' .. canon .. ':' .. similarity, 'EX', ARGV[5])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', 'kind', verdict, 'id', id,
  'canonical', canon, 'similarity', similarity, 'topic', ARGV[4], 'title', ARGV[10])
return {verdict, verdict, canon, similarity}
"""

# KEYS: delivery, dlq, events, stats
# ARGV: replay ttl, events maxlen, reason, then field/value pairs for the dlq entry
_DEAD_LETTER = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local entry = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('HINCRBY', KEYS[4], 'dead_lettered', 1)
redis.call('HINCRBY', KEYS[4], 'dlq:' .. ARGV[3], 1)
redis.call('SET', KEYS[1], 'dead_letter:' .. entry, 'EX', ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*',
  'kind', 'dead_letter', 'id', entry, 'reason', ARGV[3])
return 1
"""


def connect(url: str) -> redis.Redis:
    """A client with timeouts, so a dead Redis fails fast instead of hanging."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry_on_timeout=True,
    )


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
        near_threshold: float = 0.5,
    ):
        # With decode_responses=True every reply is str; redis-py's stubs type
        # replies as unions of every shape, so the client is used untyped.
        self.redis: Any = client
        self.keys = keys
        self.replay_ttl = replay_ttl
        self.events_maxlen = events_maxlen
        self.dedup_window = dedup_window
        self.near_threshold = near_threshold
        self._record = client.register_script(_RECORD)
        self._dead_letter = client.register_script(_DEAD_LETTER)

    # -- writes ---------------------------------------------------------------

    def record_many(self, articles: Sequence[ProcessedArticle]) -> list[Outcome]:
        """Store a batch of articles in one round trip, each atomically."""
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
        for a in articles:
            light = orjson.dumps(
                {
                    "id": a.id,
                    "title": a.title,
                    "outlet": a.outlet,
                    "url": a.url,
                    "source": a.source,
                    "ingested_at": a.ingested_at.isoformat(),
                }
            )
            self._record(
                keys=[
                    k.delivery(a.submission_id),
                    k.exact(a.body_hash),
                    k.article(a.id),
                    k.recent,
                    k.topic(a.topic),
                    k.events,
                    k.stats,
                ],
                args=[
                    a.id,
                    a.model_dump_json(),
                    a.ingested_at.timestamp(),
                    a.topic,
                    self.replay_ttl,
                    self.events_maxlen,
                    k.story(""),
                    k.article(""),
                    light,
                    a.title[:200],
                    self.dedup_window,
                    k.lsh_prefix,
                    k.sketch_prefix,
                    epoch,
                    4,
                    index_ttl_ms,
                    self.near_threshold,
                    bytes.fromhex(a.id),
                    a.sketch,
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
        return outcomes

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
                d.message,
                "at",
                now,
                "payload",
                d.payload,
            ]
            for name, value in (
                ("batch_id", d.batch_id),
                ("article_id", d.article_id),
                ("source", d.source),
            ):
                if value:
                    fields += [name, value]
            self._dead_letter(
                keys=[k.delivery(d.delivery_key), k.dlq, k.events, k.stats],
                args=[self.replay_ttl, self.events_maxlen, d.reason, *fields],
                client=pipe,
            )
        return [bool(r) for r in self._execute(pipe)]

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

    def results(self, *, topic: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first, unique articles only."""
        index = self.keys.topic(topic) if topic else self.keys.recent
        ids = self.redis.zrevrange(index, 0, max(limit, 1) - 1)
        return self.get_many(ids)

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
