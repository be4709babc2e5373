#!lua flags=no-writes
--[[
fetch: read a batch of buffered messages in one call (the resync path).

KEYS[i]   message keys
ARGV      none

Returns, for each key in order, the array {topic, key, payload, created} (HMGET; a missing field
or a missing key gives nil entries). Read-only.
]]
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HMGET', KEYS[i], 'topic', 'key', 'payload', 'created')
end
return out
