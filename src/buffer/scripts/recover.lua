#!lua flags=allow-oom
--[[
recover: rebuild the unsynced set from message keys that SCAN found and that have no sync marker
(TargetBuffer.recover reads the markers of a SCAN page with one MGET first).

KEYS[1]            the unsynced set
KEYS[1+i]          candidate i: a message key whose marker was missing

A message is unsynced when it has no marker and no TTL (only marking gives it a TTL, together
with its marker, atomically: a candidate marked since the MGET has a TTL by now). Such keys are
added to the set (one SADD per 1000 keys). Returns the number of keys found unsynced.
Any layout version of the message value (String or Hash): only existence and TTL are read.
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
