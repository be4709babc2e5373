#!lua flags=allow-oom
--[[
recover: rebuild the unsynced set from one page of message keys found by SCAN.

KEYS[1]            the unsynced set
KEYS[2i], KEYS[2i+1]  for candidate i: a message key, its sync-marker key

A message is unsynced when it has no marker and no TTL (only marking gives it a TTL). Such keys
are added to the set (one SADD per 1000 keys). Returns the number of keys found unsynced in this
page. The markers are read with one MGET per 1000 candidates (an EXISTS per key cost a script
call each); PTTL, which has no multi-key form, is asked only for the keys without a marker.
Any layout version of the message value (String or Hash): only existence and TTL are read.
]]
local n = (#KEYS - 1) / 2
local found = {}
local markers = {}
-- unpack() takes a bounded number of values: work in slices of 1000 candidates.
for first = 1, n, 1000 do
  local last = math.min(first + 999, n)
  for i = first, last do
    markers[i - first + 1] = KEYS[2 * i + 1]
  end
  local synced = redis.call('MGET', unpack(markers, 1, last - first + 1))
  for i = first, last do
    local msg = KEYS[2 * i]
    if not synced[i - first + 1] and redis.call('PTTL', msg) == -1 then
      found[#found + 1] = msg
    end
  end
end
for i = 1, #found, 1000 do
  redis.call('SADD', KEYS[1], unpack(found, i, math.min(i + 999, #found)))
end
return #found
