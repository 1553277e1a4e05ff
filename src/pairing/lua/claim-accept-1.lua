-- Settles the accept race of one pairing request: the first mitra to call wins.
-- KEYS[1] pairing:winner:<requestId>   ARGV[1] mitra id   ARGV[2] claim lifetime, ms
-- Returns 1 when this mitra holds the win (first, or its own retry), 0 when another does.
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then return 1 end
return 0
