-- A worker instance leaving at the end of its process. With nothing held it
-- is removed; with messages still held (a cold stop that could not put them
-- back) its deadline is set in the past, so the next reaper hands them back.
--
-- KEYS[1] {p}:workers   KEYS[2] {p}:held:{i}   KEYS[3] {p}:heartbeat:{i}
-- ARGV[1] instance
local held = redis.call('SCARD', KEYS[2])
if held == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[3])
else
  redis.call('ZADD', KEYS[1], 'XX', 0, ARGV[1])
end
return held
