-- Reseed of heartbeats: never moves one backwards (Valkey's newer value stays).
-- ISO-8601 UTC strings of one format compare like the times they name.
-- KEYS[1..n] mitra:heartbeat:<id>   (n at most a few thousand: unpack's limit)
-- ARGV[1..n] ISO-8601 heartbeat from Postgres
-- Returns how many keys were written.
-- One MGET and one MSET, not a GET and a SET per key: at 100,000 mitras the
-- calls into Valkey were most of this script's time.
local current = redis.call('MGET', unpack(KEYS))
local writes = {}
for i = 1, #KEYS do
  local c = current[i]
  if (not c) or c < ARGV[i] then
    writes[#writes + 1] = KEYS[i]
    writes[#writes + 1] = ARGV[i]
  end
end
if #writes > 0 then
  redis.call('MSET', unpack(writes))
end
return #writes / 2
