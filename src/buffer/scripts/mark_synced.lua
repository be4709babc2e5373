#!lua flags=allow-oom
--[[
mark_synced: record that Kafka confirmed a batch of messages, atomically (sync markers layout 2,
src/buffer/key-format.ts).

KEYS[1]              the unsynced set
KEYS[1+j], j=1..S    marker set j ({prefix}synced:{topic}:w{window}:..., KeyFormat.marker)
KEYS[1+S+i]          message key i (i = 1..n)
ARGV[1]              TARGET_REDIS_TIME_TO_LIVE, seconds: a message expires this long from now
ARGV[2]              TARGET_REDIS_SYNC_TTL, seconds: lifetime of the markers written now
ARGV[3]              S, the number of marker sets
ARGV[3+j]            how many members go to marker set j
ARGV[4+S..]          the members (KeyFormat.marker), set 1's first, then set 2's, ... (n in all)

Per message: EXPIRE message ttl (its TTL starts only now). Per marker set: one SADD of its ids
and EXPIRE sync_ttl (renewed by every batch, so a marker lives at least sync_ttl). One SREM of
all message keys from the unsynced set. A caller sends at most 1000 messages per call (unpack()
takes a bounded number of values). Returns the number of messages marked.
allow-oom: marking frees memory soon after (TTL), so it must work while the buffer is full.
]]
local sets = tonumber(ARGV[3])
local first = 2 + sets
for i = first, #KEYS do
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
local at = 4 + sets
for j = 1, sets do
  local c = tonumber(ARGV[3 + j])
  redis.call('SADD', KEYS[1 + j], unpack(ARGV, at, at + c - 1))
  redis.call('EXPIRE', KEYS[1 + j], ARGV[2])
  at = at + c
end
if #KEYS >= first then
  redis.call('SREM', KEYS[1], unpack(KEYS, first, #KEYS))
end
return #KEYS - first + 1
