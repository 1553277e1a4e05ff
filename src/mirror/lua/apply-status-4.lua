-- Mirrors one mitra's presence, unless Valkey already holds a newer state.
-- KEYS[1] mitras:online  KEYS[2] mitras:deactivated  KEYS[3] mitra:status-version:<id>  KEYS[4] mitra:heartbeat:<id>
-- ARGV[1] mitra id  ARGV[2] status version (Postgres sequence)  ARGV[3] online 1/0  ARGV[4] active 1/0
-- ARGV[5] heartbeat ISO-8601 to record when going online, or "" to leave it
-- Returns 1 when applied, 0 when a newer state was already mirrored.
local current = tonumber(redis.call('GET', KEYS[3]) or '0')
local version = tonumber(ARGV[2])
if version < current then
  return 0
end
redis.call('SET', KEYS[3], ARGV[2])
if ARGV[4] == '1' then
  redis.call('SREM', KEYS[2], ARGV[1])
else
  redis.call('SADD', KEYS[2], ARGV[1])
end
if ARGV[3] == '1' and ARGV[4] == '1' then
  redis.call('SADD', KEYS[1], ARGV[1])
  if ARGV[5] ~= '' then
    redis.call('SET', KEYS[4], ARGV[5])
  end
else
  redis.call('SREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[4])
end
return 1
