-- Heartbeats of one window, in one round trip (contract §3).
-- KEYS[1]    mitras:deactivated
-- KEYS[2..n] mitra:heartbeat:<id>
-- ARGV[1]    ISO-8601 time of the heartbeat
-- ARGV[2]    length of the heartbeat keys' common part: each mitra id is read
--            off its key from there, so no id travels twice
-- Returns the positions (1 = KEYS[2]) of the mitras refused (deactivated);
-- every other heartbeat was SET. Usually empty: the reply stays small.
local refused = {}
local from = tonumber(ARGV[2]) + 1
for i = 2, #KEYS do
  if redis.call('SISMEMBER', KEYS[1], string.sub(KEYS[i], from)) == 1 then
    refused[#refused + 1] = i - 1
  else
    redis.call('SET', KEYS[i], ARGV[1])
  end
end
return refused
