-- One heartbeat of a worker instance, timed by the Redis server's clock so
-- that workers on hosts whose clocks differ agree on who is late.
--
-- KEYS[1] {p}:workers          zset: instance -> deadline (last beat + its dead_after)
-- KEYS[2] {p}:heartbeat:{i}    hash: what `newswire worker --check` and /readyz show
-- KEYS[3] {p}:held:{i}         set: the instance's unacknowledged delivery tags
-- ARGV: instance, dead_after, retention (TTL, s), node, host, pid, started
--
-- Returns {added, now}: added is 1 when the instance was not in the zset
-- (its first beat, or it had been taken for dead: see heartbeat.py).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local dead_after = tonumber(ARGV[2])
local retention = tonumber(ARGV[3])
local added = redis.call('ZADD', KEYS[1], now + dead_after, ARGV[1])
redis.call('HSET', KEYS[2],
    'node', ARGV[4], 'host', ARGV[5], 'pid', ARGV[6], 'started', ARGV[7],
    'beat', string.format('%.3f', now), 'dead_after', ARGV[2])
-- Every key expires by itself once nobody beats: nothing of a dead worker stays.
redis.call('EXPIRE', KEYS[1], retention)
redis.call('EXPIRE', KEYS[2], retention)
redis.call('EXPIRE', KEYS[3], retention)
return {added, string.format('%.3f', now)}
