-- Mirrors mitras' presence, each unless Valkey already holds a newer state of it.
-- KEYS[1] mitras:online   KEYS[2] mitras:deactivated
-- then per mitra i (from 0): KEYS[3+2i] mitra:status-version:<id>   KEYS[4+2i] mitra:heartbeat:<id>
-- ARGV per mitra i, 5 each from ARGV[1+5i]: id, status version (Postgres sequence), online 1/0,
--   active 1/0, heartbeat ISO-8601 to record when going online or "" to leave it.
-- Returns how many states were applied (older ones are skipped).
local applied = 0
local n = (#KEYS - 2) / 2
for i = 0, n - 1 do
  local vkey, hkey = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local id, version, online, active, hb = ARGV[1 + 5 * i], ARGV[2 + 5 * i], ARGV[3 + 5 * i], ARGV[4 + 5 * i], ARGV[5 + 5 * i]
  local current = tonumber(redis.call('GET', vkey) or '0')
  if tonumber(version) >= current then
    applied = applied + 1
    redis.call('SET', vkey, version)
    if active == '1' then
      redis.call('SREM', KEYS[2], id)
    else
      redis.call('SADD', KEYS[2], id)
    end
    if online == '1' and active == '1' then
      redis.call('SADD', KEYS[1], id)
      if hb ~= '' then
        redis.call('SET', hkey, hb)
      end
    else
      redis.call('SREM', KEYS[1], id)
      redis.call('DEL', hkey)
    end
  end
end
return applied
