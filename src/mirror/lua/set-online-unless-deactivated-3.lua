-- Going online, Valkey side: a mitra deactivated meanwhile is never added
-- (an online write racing a deactivation must not leave it in mitras:online).
-- KEYS[1] mitras:online   KEYS[2] mitras:deactivated   KEYS[3] mitra:heartbeat:<id>
-- ARGV[1] mitra id        ARGV[2] ISO-8601 heartbeat
-- Returns 1 when added (or already there), 0 when refused.
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
return 1
