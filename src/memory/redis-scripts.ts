/**
 * Lua scripts of the Redis backend. Each entry is a hash `{ v: canonical JSON, u: updatedAt,
 * e?: expiresAt }` whose TTL Redis enforces with PEXPIRE; a script runs atomically, so `cas` and
 * `incr` need no WATCH loop and cost one round trip.
 */

/** KEYS[1]; ARGV: value, updatedAt, ttlMs (0 = none), expiresAt. */
export const SET_SCRIPT = `
redis.call('DEL', KEYS[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'u', ARGV[2], 'e', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'u', ARGV[2])
end
return 1
`;

/**
 * KEYS[1]; ARGV: mustNotExist ('1' | '0'), expected, next, updatedAt, ttlMs (0 = none), expiresAt.
 * Returns { 1, next } on success, { 0, current | false } on mismatch.
 */
export const CAS_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '1' then
  if cur then return {0, cur} end
elseif (not cur) or cur ~= ARGV[2] then
  return {0, cur}
end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[5]) > 0 then
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'u', ARGV[4], 'e', ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'u', ARGV[4])
end
return {1, ARGV[3]}
`;

/**
 * KEYS[1]; ARGV: amount, updatedAt. Keeps the TTL (HSET does not touch it). Returns the new value
 * as JSON text; integers below 2^53 print without exponent, other numbers with 17 significant
 * digits, which JSON.parse reads back exactly.
 */
export const INCR_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'v')
local n = 0
if cur then
  n = tonumber(cur)
  if n == nil or string.find(cur, '^[-0-9]') == nil then
    return redis.error_reply('NOT_A_NUMBER')
  end
end
n = n + tonumber(ARGV[1])
if n ~= n or n == math.huge or n == -math.huge then
  return redis.error_reply('OVERFLOW')
end
local s
if n == math.floor(n) and math.abs(n) < 9007199254740992 then
  s = string.format('%.0f', n)
else
  s = string.format('%.17g', n)
end
redis.call('HSET', KEYS[1], 'v', s, 'u', ARGV[2])
return s
`;
