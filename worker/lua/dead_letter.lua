-- Append one refused payload to the dead-letter stream, once per delivery key.
-- KEYS: delivery, dlq, events, stats
-- ARGV: replay ttl, events maxlen, reason, dlq maxlen, then field/value pairs
--       for the dlq entry
-- The event names the entry, its reason and, when the entry has one, its source.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields, source = {}, nil
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
  if (i - 5) % 2 == 0 and ARGV[i] == 'source' then source = ARGV[i + 1] end
end
local entry = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(fields))
redis.call('HINCRBY', KEYS[4], 'dead_lettered', 1)
redis.call('HINCRBY', KEYS[4], 'dlq:' .. ARGV[3], 1)
redis.call('SET', KEYS[1], 'dead_letter:' .. entry, 'EX', ARGV[1])
local event = {'kind', 'dead_letter', 'id', entry, 'reason', ARGV[3]}
if source then
  event[7], event[8] = 'source', source
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', unpack(event))
return 1
