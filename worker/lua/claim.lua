-- Claim a dead worker instance's unacknowledged messages, atomically: only
-- if its deadline has passed by the server's clock now (it did not beat
-- since the caller looked), and only once (the first claimer removes it).
--
-- KEYS[1] {p}:workers   KEYS[2] {p}:held:{i}
-- ARGV[1] instance
--
-- Returns {1, tag...} when claimed (the caller hands each tag back to its
-- queue), {0} when it is alive or already claimed.
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not deadline then
  return {0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if tonumber(deadline) > now then
  return {0}
end
local tags = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
local out = {1}
for _, tag in ipairs(tags) do
  out[#out + 1] = tag
end
return out
