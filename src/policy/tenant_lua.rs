//! The scripts that stand in for commands that would act on every tenant's keys. A tenant's
//! FLUSHALL, FLUSHDB, DBSIZE and RANDOMKEY become `EVAL script 0 pattern prefix`, so they run
//! the same way on the upstream and on the embedded store (both run Lua), atomically, and see
//! only keys matching `pattern` (the tenant's prefix, glob-escaped, then `*`).
//!
//! Invariant: each script touches only keys that SCAN MATCH `pattern` returned. Cost: each
//! walks the whole keyspace of the database with SCAN (O(all keys), inside one script, so the
//! server does nothing else meanwhile); tenants with millions of keys should not call them
//! often. DBSIZE counts distinct names (SCAN may repeat one).

/// Deletes (UNLINK) every key of the tenant; replies `+OK` as FLUSHALL does.
pub const FLUSH_SCRIPT: &str = "\
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = r[1]
  for i = 1, #r[2], 500 do
    redis.call('UNLINK', unpack(r[2], i, math.min(i + 499, #r[2])))
  end
until cursor == '0'
return redis.status_reply('OK')
";

/// Counts the tenant's keys.
pub const COUNT_SCRIPT: &str = "\
local cursor = '0'
local seen = {}
local n = 0
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    if not seen[k] then seen[k] = true; n = n + 1 end
  end
until cursor == '0'
return n
";

/// One of the tenant's keys, or nil: a few RANDOMKEY draws, then the first SCAN batch that
/// holds any (random among that batch).
pub const RANDOM_SCRIPT: &str = "\
for _ = 1, 16 do
  local k = redis.call('RANDOMKEY')
  if not k then return false end
  if string.sub(k, 1, #ARGV[2]) == ARGV[2] then return k end
end
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = r[1]
  if #r[2] > 0 then return r[2][math.random(#r[2])] end
until cursor == '0'
return false
";
