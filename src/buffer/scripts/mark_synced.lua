#!lua flags=allow-oom
--[[
mark_synced: record that Kafka confirmed a batch of messages, atomically.

KEYS[1]            the unsynced set
KEYS[2i], KEYS[2i+1]  for message i: its message key, its sync-marker key
ARGV[1]            TARGET_REDIS_TIME_TO_LIVE, seconds: the message expires this long from now
ARGV[2]            TARGET_REDIS_SYNC_TTL, seconds: lifetime of the marker
ARGV[3]            now, epoch milliseconds (the marker's value)

For each message: SET marker = now EX sync_ttl; EXPIRE message ttl (its TTL starts only now);
removed from the unsynced set (one SREM for the whole batch: fewer calls, same result, the
script is atomic). Returns the number of messages marked.
allow-oom: marking frees memory soon after (TTL), so it must work while the buffer is full.
]]
local n = (#KEYS - 1) / 2
local synced = {}
for i = 1, n do
  local msg = KEYS[2 * i]
  redis.call('SET', KEYS[2 * i + 1], ARGV[3], 'EX', ARGV[2])
  redis.call('EXPIRE', msg, ARGV[1])
  synced[i] = msg
end
-- unpack() takes a bounded number of values: remove in slices.
for i = 1, n, 1000 do
  redis.call('SREM', KEYS[1], unpack(synced, i, math.min(i + 999, n)))
end
return n
