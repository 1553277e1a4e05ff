-- Auto-offline, Valkey side: removes from mitras:online only the mitras whose
-- heartbeat is still stale now (one that pinged since the sweep read it stays).
-- KEYS[1]    mitras:online
-- KEYS[2..n] mitra:heartbeat:<id> (same order as ARGV[2..n])
-- ARGV[1]    ISO-8601 threshold: a heartbeat older than this is stale
-- ARGV[2..n] mitra ids
-- Returns the ids removed.
local removed = {}
for i = 2, #KEYS do
  local hb = redis.call('GET', KEYS[i])
  if (not hb) or hb < ARGV[1] then
    if redis.call('SREM', KEYS[1], ARGV[i]) == 1 then
      redis.call('DEL', KEYS[i])
      removed[#removed + 1] = ARGV[i]
    end
  end
end
return removed
