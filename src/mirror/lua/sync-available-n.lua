-- Recomputes mitras' membership of the available sorted set from the mirrored keys:
-- a member iff online, not deactivated and capacity below max. The score is
-- capacity * 1e13 + the epoch ms of its last pairing offer (least loaded first, then
-- longest since its last offer); 1e13 ms is ~300 years, so the two never mix.
-- Heartbeat freshness is not part of membership: the pick script checks it per candidate.
-- KEYS[1] mitras:online  KEYS[2] mitras:deactivated  KEYS[3] the sorted set to write
-- KEYS[4] mitras:last-offered (hash)
-- then per mitra i (from 0): KEYS[5+2i] mitra:capacity:<id>  KEYS[6+2i] mitra:max:<id>
-- ARGV[1+i]: mitra id. Returns how many are members after the call.
local members = 0
for i = 0, #ARGV - 1 do
  local id = ARGV[1 + i]
  local cap = tonumber(redis.call('GET', KEYS[5 + 2 * i]) or '0')
  local max = tonumber(redis.call('GET', KEYS[6 + 2 * i]) or '1')
  if redis.call('SISMEMBER', KEYS[1], id) == 1 and redis.call('SISMEMBER', KEYS[2], id) == 0 and cap < max then
    local last = tonumber(redis.call('HGET', KEYS[4], id) or '0')
    redis.call('ZADD', KEYS[3], cap * 1e13 + last, id)
    members = members + 1
  else
    redis.call('ZREM', KEYS[3], id)
  end
end
return members
