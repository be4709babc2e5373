--[[
ack_entries: acknowledges (XACK) and optionally deletes (XDEL) the entries of many streams in one
call: a batch read from 1,000 streams is acknowledged with one command instead of 2,000.

Called by SourceDb.ack (src/source/streams.ts) on a connection of the DB, only once the entries
are safe (Kafka confirmed them, or the target holds them with SOURCE_ACK_MODE=target).

KEYS[i]      the streams (i = 1..n)
ARGV[1]      the consumer group
ARGV[2]      '1': XDEL each entry after its XACK (SOURCE_DELETE_AFTER_ACK); '0': XACK only
ARGV[2 + i]  how many ids stream i has (i = 1..n)
ARGV[3 + n]  the ids, stream after stream, in KEYS order

Returns the number of pending entries acknowledged (the sum of XACK's answers).
Idempotent: an id acknowledged or deleted before is simply not counted again. No flags line on
purpose: runs on Redis 6 as well, and XACK/XDEL only free memory, so it works under maxmemory.
]]
local group = ARGV[1]
local delete = ARGV[2] == '1'
local n = #KEYS
local next_id = 3 + n
local acked = 0
for i = 1, n do
  local count = tonumber(ARGV[2 + i])
  -- unpack() takes a bounded number of values: slices of 1000 ids.
  for first = next_id, next_id + count - 1, 1000 do
    local last = math.min(first + 999, next_id + count - 1)
    acked = acked + redis.call('XACK', KEYS[i], group, unpack(ARGV, first, last))
    if delete then redis.call('XDEL', KEYS[i], unpack(ARGV, first, last)) end
  end
  next_id = next_id + count
end
return acked
