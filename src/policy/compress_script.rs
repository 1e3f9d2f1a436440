//! The scripts that keep commands on possibly compressed values correct: they look at the
//! stored value's first bytes and either answer from the header (STRLEN), refuse with a clear
//! error, or run the command itself, all in one atomic call. Scripts cannot decompress, so
//! refusing is the correct answer for commands that need the original bytes.

use bytes::Bytes;

/// `EVAL STRLEN_SCRIPT 1 key`: the original length of a compressed value (read from its
/// header's varint), STRLEN's own answer otherwise.
pub const STRLEN_SCRIPT: &str = r#"
local k = KEYS[1]
if redis.call('TYPE', k)['ok'] == 'string' then
  local head = redis.call('GETRANGE', k, 0, 14)
  if string.sub(head, 1, 4) == '\255RSC' then
    local n, scale = 0, 1
    for i = 6, #head do
      local b = string.byte(head, i)
      n = n + (b % 128) * scale
      if b < 128 then return n end
      scale = scale * 128
    end
  end
end
return redis.pcall('STRLEN', k)
"#;

/// Refuses if any of KEYS holds a compressed value; otherwise runs ARGV as the command.
pub const GUARD_SCRIPT: &str = r#"
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i])['ok'] == 'string'
     and redis.call('GETRANGE', KEYS[i], 0, 3) == '\255RSC' then
    return redis.error_reply('ERR value is compressed by redis-sidecar: '
      .. string.upper(ARGV[1]) .. ' is not supported on it')
  end
end
return redis.pcall(unpack(ARGV))
"#;

/// `original` (a command whose `keys` may hold compressed values) as a guarded script call.
pub fn guard(keys: &[Bytes], original: Vec<Bytes>) -> Vec<Bytes> {
    let mut args = Vec::with_capacity(3 + keys.len() + original.len());
    args.push(Bytes::from_static(b"EVAL"));
    args.push(Bytes::from_static(GUARD_SCRIPT.as_bytes()));
    args.push(Bytes::from(keys.len().to_string()));
    args.extend(keys.iter().cloned());
    args.extend(original);
    args
}

/// `EVAL SORT_GUARD_SCRIPT 1 key n pattern... sort-command...`: refuses if any of the `n` key
/// patterns (Redis's substitution: the element replaces the first `*`) names a compressed
/// string for some element of `key`; otherwise runs the SORT. The patterns given are those
/// whose values SORT would compute on or store (BY; GET with STORE), never hash fields.
pub const SORT_GUARD_SCRIPT: &str = r#"
local n = tonumber(ARGV[1])
local t = redis.call('TYPE', KEYS[1])['ok']
local elements = {}
if t == 'list' then elements = redis.call('LRANGE', KEYS[1], 0, -1)
elseif t == 'set' then elements = redis.call('SMEMBERS', KEYS[1])
elseif t == 'zset' then elements = redis.call('ZRANGE', KEYS[1], 0, -1) end
for p = 2, n + 1 do
  local pattern = ARGV[p]
  local star = string.find(pattern, '*', 1, true)
  local head, tail = string.sub(pattern, 1, star - 1), string.sub(pattern, star + 1)
  for _, e in ipairs(elements) do
    local k = head .. e .. tail
    if redis.call('TYPE', k)['ok'] == 'string'
       and redis.call('GETRANGE', k, 0, 3) == '\255RSC' then
      return redis.error_reply("ERR key '" .. k .. "' holds a value compressed by "
        .. "redis-sidecar; SORT cannot sort by it or store it (it would use the compressed "
        .. "bytes): sort by a key outside [compression] keys")
    end
  end
end
return redis.pcall(unpack(ARGV, n + 2))
"#;
