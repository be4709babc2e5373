#!lua flags=allow-oom
--[[
recover: rebuild the unsynced set from message keys that SCAN found.

KEYS[1]            the unsynced set
KEYS[1+i]          candidate i: a message key of the SCAN page

A message is unsynced when it has no TTL: only marking gives it one, together with its marker,
atomically (mark_synced.lua), so a message without a TTL has no marker in any layout. Such keys
are added to the set (one SADD per 1000 keys). Returns the number of keys found unsynced.
Any layout version of the message value (String or Hash), any marker layout: only the TTL is read.
]]
local found = {}
for i = 2, #KEYS do
  if redis.call('PTTL', KEYS[i]) == -1 then
    found[#found + 1] = KEYS[i]
  end
end
for i = 1, #found, 1000 do
  redis.call('SADD', KEYS[1], unpack(found, i, math.min(i + 999, #found)))
end
return #found
