//! The Redis side of the quota: the key of a cycle and the Lua scripts that reserve, rebuild,
//! release and free units atomically.
use super::*;

/// Redis key of a tenant's cycle: a hash with `used` and one `b:<batch>` field per batch
/// (its split, or `x` when refused), which makes reserving idempotent per batch.
pub fn redis_key(tenant_id: Uuid, cycle_start: DateTime<Utc>) -> String {
    format!("gatehouse:quota:{tenant_id}:{}", cycle_start.timestamp())
}

/// Reserves (or recalls the reservation of) a batch. A missing key is not rebuilt from data
/// the caller read earlier (a second loss in between would make it stale): the script first
/// plants a placeholder (`state = rebuilding` with a token) and answers `rebuild`; the caller
/// then reads the database and hands the truth to [`REBUILD_LUA`], which applies it only if
/// the same placeholder is still there. Reservations meanwhile answer `busy` and retry, so
/// nothing is granted while the truth is being read. Every rebuilt key carries an `epoch`
/// (its rebuild's token), answered with each split so [`holds`] can tell whether the key that
/// counted a split is still the live one when the split is recorded.
pub const RESERVE_LUA: &str = r#"
local key = KEYS[1]
local limit = tonumber(ARGV[3])
local allow = tonumber(ARGV[4])
if redis.call('HGET', key, 'state') == 'rebuilding' then return {'busy'} end
-- A missing key, or one without an epoch (written before keys had one), is rebuilt.
if redis.call('HEXISTS', key, 'epoch') == 0 then
  redis.call('DEL', key)
  redis.call('HSET', key, 'state', 'rebuilding', 'token', ARGV[6])
  redis.call('EXPIRE', key, 30)
  return {'rebuild', ARGV[6]}
end
local function split(used, n)
  local left = limit - used
  if left < 0 then left = 0 end
  if n <= left then return n, 0 end
  if allow == 1 then return left, n - left end
  return -1, left
end
local used = tonumber(redis.call('HGET', key, 'used'))
local prior = redis.call('HGET', key, 'b:' .. ARGV[1])
if prior then
  if prior == 'x' then
    local left = limit - used
    if left < 0 then left = 0 end
    return {'exceeded', tostring(left)}
  end
  return {'ok', prior, redis.call('HGET', key, 'epoch') or ''}
end
local f, o = split(used, tonumber(ARGV[2]))
if f < 0 then
  redis.call('HSET', key, 'b:' .. ARGV[1], 'x')
  return {'exceeded', tostring(o)}
end
redis.call('HINCRBY', key, 'used', f + o)
redis.call('HSET', key, 'b:' .. ARGV[1], f .. ':' .. o)
return {'ok', f .. ':' .. o, redis.call('HGET', key, 'epoch') or ''}
"#;

/// Applies the database's truth to a placeholder planted by [`RESERVE_LUA`] (committed
/// splits first, then reserving batches placed oldest first, then `epoch` = the token):
/// ARGV = token, ttl, limit, allow_overage, units given back, then for each non-failed batch
/// of the cycle (oldest first) `id, kind, a, b` where kind `c` is committed with split a:b and
/// kind `p` is still reserving with quantity a (placed in order, as the script would have).
pub const REBUILD_LUA: &str = r#"
local key = KEYS[1]
if redis.call('HGET', key, 'token') ~= ARGV[1] then return 'stale' end
local limit = tonumber(ARGV[3])
local allow = tonumber(ARGV[4])
redis.call('DEL', key)
local used = -tonumber(ARGV[5])
local free = -tonumber(ARGV[5])
-- Committed splits are fixed (answered, billed): all of them count before any batch still
-- reserving is placed, or a reserving batch older than a committed one could be handed
-- free units the committed one already holds. Reserving batches then take the free units
-- committed ones do not hold (a committed overage split taken while a reserving batch held
-- free units in the lost key must not make that batch pay too).
local i = 6
while i < #ARGV do
  if ARGV[i + 1] == 'c' then
    local a, b = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
    redis.call('HSET', key, 'b:' .. ARGV[i], a .. ':' .. b)
    used = used + a + b
    free = free + a
  end
  i = i + 4
end
i = 6
while i < #ARGV do
  local id, kind = ARGV[i], ARGV[i + 1]
  local a = tonumber(ARGV[i + 2])
  if kind ~= 'c' then
    local base = free
    if base < 0 then base = 0 end
    local left = limit - base
    if left < 0 then left = 0 end
    if a <= left then
      redis.call('HSET', key, 'b:' .. id, a .. ':0')
      used = used + a
      free = free + a
    elseif allow == 1 then
      redis.call('HSET', key, 'b:' .. id, left .. ':' .. (a - left))
      used = used + a
      free = free + left
    else
      redis.call('HSET', key, 'b:' .. id, 'x')
    end
  end
  i = i + 4
end
-- Free units still left stay left for the next reservation.
if free < limit and free < used then used = free end
if used < 0 then used = 0 end
redis.call('HSET', key, 'used', used, 'epoch', ARGV[1])
redis.call('EXPIRE', key, tonumber(ARGV[2]))
return 'ok'
"#;

/// The epoch of the live key: the token of the rebuild that made it (empty while a rebuild
/// is under way or the key is gone).
pub const EPOCH_LUA: &str = r#"
return redis.call('HGET', KEYS[1], 'epoch') or ''
"#;

/// Gives back a failed batch's reservation (once).
pub const RELEASE_LUA: &str = r#"
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local prior = redis.call('HGET', key, 'b:' .. ARGV[1])
if (not prior) or prior == 'x' then
  redis.call('HSET', key, 'b:' .. ARGV[1], 'x')
  return 0
end
local sep = string.find(prior, ':')
local n = tonumber(string.sub(prior, 1, sep - 1)) + tonumber(string.sub(prior, sep + 1))
redis.call('HINCRBY', key, 'used', -n)
redis.call('HSET', key, 'b:' .. ARGV[1], 'x')
return n
"#;

/// Frees units in a live key; a missing key is rebuilt from the database later anyway.
pub const FREE_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'used', -tonumber(ARGV[1]))
"#;
