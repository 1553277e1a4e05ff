-- Reseed of heartbeats: never moves one backwards (Valkey's newer value stays).
-- ISO-8601 UTC strings of one format compare like the times they name.
-- KEYS[1..n] mitra:heartbeat:<id>
-- ARGV[1..n] ISO-8601 heartbeat from Postgres
-- Returns how many keys were written.
local written = 0
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  if (not current) or current < ARGV[i] then
    redis.call('SET', KEYS[i], ARGV[i])
    written = written + 1
  end
end
return written
