#!lua
--[[
put_batch: buffer a batch of messages in the target Redis, atomically, skipping the ones already
synced. Used for messages that may have been delivered before (re-read pending entries, claimed
entries); messages read as new are written without the marker check by TargetBuffer.put (fresh).

KEYS[1]            the unsynced set ({prefix}unsynced_keys_set)
KEYS[3i-1]         for message i (i = 1..n): its message key
KEYS[3i]           its marker set (sync markers layout 2, src/buffer/key-format.ts)
KEYS[3i+1]         its layout-1 marker key (a String per message, written by earlier releases)
ARGV[2i-1]         for message i: its value, layout version 2 (src/buffer/message-layout.ts)
ARGV[2i]           its member in the marker set (KeyFormat.marker)

For each message:
  - marker exists (its member in the marker set, or a layout-1 marker)
                       -> already in Kafka: nothing written; status 2
  - otherwise          -> SET value, no TTL (unsynced never expires; SET replaces a version-1
                          hash too), added to the unsynced set; status 0. A message already
                          buffered (a re-read) is written again with the same content.
The set additions are one SADD for the whole batch (fewer calls; same result, the script is
atomic). Returns: the array of statuses, one per message, in order.
No flags: under maxmemory Redis refuses the whole script (OOM) and nothing is written.
]]
local statuses = {}
local unsynced = {}
local n = (#KEYS - 1) / 3
for i = 1, n do
  local msg = KEYS[3 * i - 1]
  if redis.call('SISMEMBER', KEYS[3 * i], ARGV[2 * i]) == 1 or redis.call('EXISTS', KEYS[3 * i + 1]) == 1 then
    statuses[i] = 2
  else
    redis.call('SET', msg, ARGV[2 * i - 1])
    unsynced[#unsynced + 1] = msg
    statuses[i] = 0
  end
end
-- unpack() takes a bounded number of values: add in slices.
for i = 1, #unsynced, 1000 do
  redis.call('SADD', KEYS[1], unpack(unsynced, i, math.min(i + 999, #unsynced)))
end
return statuses
