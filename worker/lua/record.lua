-- Store one processed article, atomically and idempotently.
-- KEYS: delivery, exact, article, recent, topic, events, stats, clock
-- ARGV: 1 id, 2 article json, 3 retention (s), 4 topic, 5 delivery ttl (s),
--       6 events maxlen,
--       7 story key prefix, 8 article key prefix, 9 duplicate record json
--       (an object: duplicate_of, verdict and similarity are appended to it),
--       10 title, 11 dedup window (s), 12 lsh key prefix, 13 sketch key prefix,
--       14 epoch, 15 epochs to look back, 16 index key ttl (ms), 17 threshold,
--       18 id as 8 bytes, 19 sketch, 20.. band hashes (none: no near index)
-- Near-duplicate index, per epoch e (a quarter of the window): {lsh}{e}:n
-- counts the epoch's documents and numbers them (4 bytes). Band b's hash h
-- files document d in hash {lsh}{e}:{g}:{b}:{h >> (32 - bits)} field
-- h % 2^(32 - bits), a string of 4-byte document numbers. The generation g
-- grows with the epoch's count, with 16x more buckets each time (bits 9,
-- 13, 17), so buckets hold at most a few dozen entries whether the epoch has 10
-- thousand documents or 4 million: small hashes stay listpack-encoded and
-- the index costs a few hundred bytes an article at any size. Each document
-- filed in generation g also moves one bucket of an older generation into g
-- (its entries regrouped by their longer prefix, then the old bucket
-- deleted) and counts it in {lsh}{e}:m:{g-1}; once that count reaches the
-- older generation's 16 x 2^bits buckets, lookups skip it: they read one
-- generation, except while moving. (A count, not the document number: a
-- worker of an older version files documents without moving anything.)
-- d's sketch and 8-byte id sit in hash {sketch}{e}:{d >> 4} field d. Keys
-- expire with their epoch; a bucket or sketch hash has a field '_' from its
-- first write on, so the script can tell when a write created it.
-- Retention: the article, a copy's light record and a story expire after
-- ARGV[3] seconds; the recent, topic and story sets lose members older than
-- that on each write, and expire whole after that long without one.
-- Index scores are the store time, from Redis's clock, in seconds with
-- microseconds: {clock} keeps the last one given, and each article gets at
-- least a microsecond more, so what is stored later always scores higher
-- (whichever worker stores it, whatever its clock or a step of the server's)
-- and a reader paging oldest first never has an article land behind it.
local prev = redis.call('GET', KEYS[1])
if prev then
  local v, c, sim = string.match(prev, '^([^:]*):([^:]*):?(.*)$')
  return {'replay', v, c, sim ~= '' and sim or '1'}
end
local id = ARGV[1]
local retention = tonumber(ARGV[3])
local function store_time()
  local now = redis.call('TIME')
  local us = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local last = tonumber(redis.call('GET', KEYS[8]) or '0')
  if us <= last then us = last + 1 end
  redis.call('SET', KEYS[8], string.format('%.0f', us))
  local s = math.floor(us / 1000000)
  local frac = us - s * 1000000
  return string.format('%d.%06d', s, frac), string.format('(%d.%06d', s - retention, frac)
end
-- Add a member to an index set scored by store time, drop what is past the
-- retention and keep the set no longer than its newest member. With
-- reclaim, the articles dropped are deleted too: they have just expired,
-- and Redis's own expiry would leave some of them in memory for a while.
local function index(key, score, cutoff, member, reclaim)
  redis.call('ZADD', key, score, member)
  if reclaim then
    local gone = redis.call('ZRANGEBYSCORE', key, '-inf', cutoff, 'LIMIT', 0, 100)
    for i = 1, #gone do redis.call('DEL', ARGV[8] .. gone[i]) end
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  redis.call('EXPIRE', key, retention)
end
-- An exact or near copy is of an article still kept: the dedup indexes may
-- outlive it (near-duplicate epochs by up to a quarter window).
local function kept(article_id)
  return redis.call('EXISTS', ARGV[8] .. article_id) == 1
end
local canon = redis.call('GET', KEYS[2])
if canon and not kept(canon) then canon = false end
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
                    local found = string.format(string.rep('%02x', 8),
                      string.byte(other, slen + 1, slen + 8))
                    if kept(found) then
                      best = sim
                      canon = found
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
end
if not canon then
  verdict = 'unique'
  canon = id
  redis.call('SET', KEYS[2], id, 'EX', ARGV[11])
  redis.call('SET', KEYS[3], ARGV[2], 'EX', retention)
  local score, cutoff = store_time()
  index(KEYS[4], score, cutoff, id, true)
  index(KEYS[5], score, cutoff, id, false)
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
    -- Appended as text, not through cjson, which would write '/' as '\/':
    -- the record stays byte for byte as the worker wrote it.
    local record = string.sub(ARGV[9], 1, -2) .. ',"duplicate_of":"' .. canon ..
      '","verdict":"' .. verdict .. '","similarity":' .. similarity .. '}'
    if redis.call('SET', ARGV[8] .. id, record, 'NX', 'EX', retention) then
      local score, cutoff = store_time()
      index(ARGV[7] .. canon, score, cutoff, id, true)
    end
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
