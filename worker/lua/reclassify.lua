-- Give one stored article a new classification, atomically (newswire reclassify).
-- KEYS: 1 article, 2 old topic index, 3 new topic index, 4 recent, 5 stats
-- ARGV: 1 sha1 of the record as the caller read it, 2 the new record,
--       3 id, 4 old topic, 5 new topic
-- The record is replaced only if it is still the one the caller classified
-- (else 'conflict': read it again); a vanished one is 'missing'. A topic
-- change moves the id between the topic indexes with the score it has (its
-- store time, as the worker wrote it: never recomputed here) and moves
-- one count between the stats hash's topic counters; a counter that reaches
-- zero is removed, as if that topic had never been stored.
local current = redis.call('GET', KEYS[1])
if not current then return 'missing' end
if redis.sha1hex(current) ~= ARGV[1] then return 'conflict' end
if ARGV[4] ~= ARGV[5] then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[3]) or redis.call('ZSCORE', KEYS[4], ARGV[3])
  if score then
    redis.call('ZREM', KEYS[2], ARGV[3])
    redis.call('ZADD', KEYS[3], score, ARGV[3])
    -- A topic index the workers never wrote (a user's own label) expires
    -- with the recent index, as theirs do (retention).
    local ttl = redis.call('PTTL', KEYS[4])
    if ttl > 0 and redis.call('PTTL', KEYS[3]) == -1 then
      redis.call('PEXPIRE', KEYS[3], ttl)
    end
  end
  local old = 'topic:' .. ARGV[4]
  if redis.call('HINCRBY', KEYS[5], old, -1) == 0 then redis.call('HDEL', KEYS[5], old) end
  redis.call('HINCRBY', KEYS[5], 'topic:' .. ARGV[5], 1)
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 'changed'
