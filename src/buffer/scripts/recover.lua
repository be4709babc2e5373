#!lua flags=allow-oom
--[[
recover: rebuild the unsynced set from one page of message keys found by SCAN.

KEYS[1]            the unsynced set
KEYS[2i], KEYS[2i+1]  for candidate i: a message key, its sync-marker key

A message is unsynced when it has no marker and no TTL (only marking gives it a TTL). Such keys
are added to the set (one SADD per 1000 keys). Returns the number of keys found unsynced in this
page.
]]
local found = {}
local n = (#KEYS - 1) / 2
for i = 1, n do
  local msg = KEYS[2 * i]
  if redis.call('EXISTS', KEYS[2 * i + 1]) == 0 and redis.call('PTTL', msg) == -1 then
    found[#found + 1] = msg
  end
end
-- unpack() takes a bounded number of values: add in slices.
for i = 1, #found, 1000 do
  redis.call('SADD', KEYS[1], unpack(found, i, math.min(i + 999, #found)))
end
return #found
