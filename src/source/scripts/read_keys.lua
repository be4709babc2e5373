--[[
read_keys: the type, expiry and value of each key, each key read atomically.

Called once per capture window and source DB, on a connection of that DB (src/source/keyspace.ts).

KEYS[i]   the keys to read (i = 1..n)
ARGV[1]   the size cap in bytes (KEY_SYNC_MAX_VALUE_BYTES)

Returns, for each key i in order, the array {type, pttl, elements, size, tooLarge, item...}:
  type      TYPE's answer: 'none' (the key is gone), 'string', 'hash', 'list', 'set', 'zset', or
            another type ('stream', module types), which is returned without items
  pttl      PTTL: -1 no expiry, -2 gone, else milliseconds left
  elements  1 for a string; HLEN / LLEN / SCARD / ZCARD for a collection; 0 otherwise
  size      bytes of the items: STRLEN for a string; for a collection the sum of the lengths of
            its fields and values / items / members / members and score texts; -1 when not
            computed because the collection has more elements than the cap
  tooLarge  1 when size > cap or elements > cap; then no items follow
  item...   string: {value}; hash: {field, value, ...}; list: items in order; set: members
            (server order); zset: {member, score, ...} in score order (scores as Redis prints them)
Read-only. No shebang flags line on purpose: it also runs on Redis 6 and on read-only replicas.
]]
local cap = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key).ok
  local pttl = redis.call('PTTL', key)
  local n, size, items = 0, 0, {}
  if t == 'string' then
    n = 1
    size = redis.call('STRLEN', key)
    if size <= cap then items = { redis.call('GET', key) } end
  elseif t == 'hash' or t == 'list' or t == 'set' or t == 'zset' then
    if t == 'hash' then
      n = redis.call('HLEN', key)
    elseif t == 'list' then
      n = redis.call('LLEN', key)
    elseif t == 'set' then
      n = redis.call('SCARD', key)
    else
      n = redis.call('ZCARD', key)
    end
    if n > cap then
      size = -1
    else
      if t == 'hash' then
        items = redis.call('HGETALL', key)
      elseif t == 'list' then
        items = redis.call('LRANGE', key, 0, -1)
      elseif t == 'set' then
        items = redis.call('SMEMBERS', key)
      else
        items = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
      end
      for _, v in ipairs(items) do size = size + #v end
    end
  end
  local tooLarge = 0
  if size < 0 or size > cap then
    tooLarge = 1
    items = {}
  end
  local entry = { t, pttl, n, size, tooLarge }
  for _, v in ipairs(items) do entry[#entry + 1] = v end
  out[i] = entry
end
return out
