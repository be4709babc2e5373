#!lua flags=no-writes
--[[
fetch: read a batch of buffered messages in one call (the resync path).

KEYS[i]   message keys
ARGV      none

Returns, for each key in order: the String value (layout version 2), or for a version-1 Hash the
array {topic, key, payload, created} (HMGET), or nil for a missing key. Decoded by
src/buffer/message-layout.ts. Read-only.
]]
local out = {}
for i = 1, #KEYS do
  local v = redis.pcall('GET', KEYS[i])
  if type(v) == 'table' and v.err then
    out[i] = redis.call('HMGET', KEYS[i], 'topic', 'key', 'payload', 'created')
  else
    out[i] = v
  end
end
return out
