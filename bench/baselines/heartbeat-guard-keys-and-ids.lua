-- Baseline for bench/write-behind-bench.mjs: the write-behind script as it was
-- before 2 Dec 2026, with every mitra id sent twice (in its key and in ARGV).
-- Heartbeats of one event-loop tick, in one round trip (contract §3).
-- KEYS[1]    mitras:deactivated
-- KEYS[2..n] mitra:heartbeat:<id> (same order as ARGV[2..n])
-- ARGV[1]    ISO-8601 time of the heartbeat
-- ARGV[2..n] mitra ids
-- Returns one integer per mitra: 1 accepted (heartbeat SET), 0 refused (deactivated).
local out = {}
for i = 2, #KEYS do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then
    out[i - 1] = 0
  else
    redis.call('SET', KEYS[i], ARGV[1])
    out[i - 1] = 1
  end
end
return out
