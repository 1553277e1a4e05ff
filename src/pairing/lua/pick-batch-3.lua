-- Picks the next batch of a pairing request from the head of the available set and
-- marks each picked mitra as just offered. Cost is O(batch) plus whatever stale or
-- excluded mitras sit ahead of them (bounded by ARGV[5]), never O(online).
-- KEYS[1] mitras:available (sorted set, score capacity * 1e13 + last offer ms)
-- KEYS[2] mitras:last-offered (hash id -> last offer ms)
-- KEYS[3] mirror:seeded (the reseed's sentinel: without it the set may be empty for want of a reseed)
-- ARGV[1] batch size  ARGV[2] now, epoch ms  ARGV[3] heartbeat threshold (ISO-8601; fresher is later)
-- ARGV[4] heartbeat key prefix (the key of mitra X is prefix .. X; same hash slot as KEYS)
-- ARGV[5] most members to look at  ARGV[6..] mitras never to offer again (already offered for this request)
-- Returns the picked ids, least loaded first, then longest since their last offer.
if redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('NOTSEEDED the mirror is not seeded') end
local want, now, threshold, hbPrefix, maxScan = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local excluded = {}
for i = 6, #ARGV do excluded[ARGV[i]] = true end
local picked, caps = {}, {}
local offset, page = 0, 64
while #picked < want and offset < maxScan do
  local rows = redis.call('ZRANGE', KEYS[1], offset, offset + page - 1, 'WITHSCORES')
  if #rows == 0 then break end
  for j = 1, #rows, 2 do
    local id = rows[j]
    if not excluded[id] then
      local hb = redis.call('GET', hbPrefix .. id)
      if hb and hb > threshold then
        picked[#picked + 1] = id
        caps[#caps + 1] = math.floor(tonumber(rows[j + 1]) / 1e13)
        if #picked >= want then break end
      end
    end
  end
  offset = offset + page
end
-- Re-scored after the scan so the pages above were read from one ordering.
for i, id in ipairs(picked) do
  redis.call('HSET', KEYS[2], id, now)
  redis.call('ZADD', KEYS[1], caps[i] * 1e13 + now, id)
end
return picked
