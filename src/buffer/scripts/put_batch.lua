#!lua
--[[
put_batch: buffer a batch of messages in the target Redis, atomically.

KEYS[1]            the unsynced set ({prefix}unsynced_keys_set)
KEYS[2i], KEYS[2i+1]  for message i (i = 1..n): its message key, its sync-marker key
ARGV[1]            now, epoch milliseconds (stored as `created`)
ARGV[3i-1], ARGV[3i], ARGV[3i+1]  for message i: topic, Kafka record key, payload

For each message:
  - marker exists      -> already in Kafka: nothing written; status 2
  - otherwise          -> HSET topic/key/payload/created, no TTL (unsynced never expires),
                          added to the unsynced set; status 0. A message already buffered (a
                          re-read) is written again with the same content: one call per message
                          instead of an EXISTS check too (Lua calls are most of this script's cost).
The set additions are one SADD for the whole batch (fewer calls; same result, the script is
atomic). Returns: the array of statuses, one per message, in order.
No flags: under maxmemory Redis refuses the whole script (OOM) and nothing is written.
]]
local statuses = {}
local unsynced = {}
local n = (#KEYS - 1) / 2
for i = 1, n do
  local msg = KEYS[2 * i]
  local marker = KEYS[2 * i + 1]
  if redis.call('EXISTS', marker) == 1 then
    statuses[i] = 2
  else
    redis.call('HSET', msg, 'topic', ARGV[3 * i - 1], 'key', ARGV[3 * i], 'payload', ARGV[3 * i + 1], 'created', ARGV[1])
    unsynced[#unsynced + 1] = msg
    statuses[i] = 0
  end
end
-- unpack() takes a bounded number of values: add in slices.
for i = 1, #unsynced, 1000 do
  redis.call('SADD', KEYS[1], unpack(unsynced, i, math.min(i + 999, #unsynced)))
end
return statuses
