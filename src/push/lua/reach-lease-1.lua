-- Renews (or gives up) this process's reachability lease and returns the live processes.
-- KEYS[1] reach:procs (ZSET process id -> lease end, epoch ms)
-- ARGV[1] process id, ARGV[2] lease length in ms, ARGV[3] "1" renew / "0" give up
-- Valkey's own clock scores every lease, so the processes' clocks need not agree.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
