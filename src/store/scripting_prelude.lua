-- The script sandbox (see scripting_lua.rs): run once per Lua state with
-- (real globals, empty proxy, errmsg).
local real, proxy, errmsg = ...
local rawpcall, rawpairs, rawnext, rawget_, rawset_ = real.pcall, real.pairs, real.next, real.rawget, real.rawset
local rawsetmt, rawgetmt, rawloadstring, rawtype, rawerror, rawtostring =
  real.setmetatable, real.getmetatable, real.loadstring, real.type, real.error, real.tostring
local concat, rawload = real.table.concat, real.load
local readonly = rawsetmt({}, {__mode = 'k'})
local function ro_error() rawerror('Attempt to modify a readonly table', 2) end
local function protect(t)
  local p = {}
  readonly[p] = t
  rawsetmt(p, {__index = t, __newindex = ro_error, __metatable = false})
  return p
end
for _, name in real.ipairs({'string', 'math', 'table', 'coroutine', 'redis'}) do
  real[name] = protect(real[name])
end
local smt = rawgetmt('')
smt.__index = real.string
smt.__metatable = protect(smt)
readonly[proxy] = real
rawsetmt(proxy, {
  __index = function(_, k)
    local v = real[k]
    if v == nil then
      rawerror("Script attempted to access nonexistent global variable '" .. rawtostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = ro_error,
  __metatable = false,
})
real._G = proxy
real.pairs = function(t)
  local r = readonly[t]
  if r then return rawnext, r, nil end
  return rawpairs(t)
end
real.next = function(t, k) return rawnext(readonly[t] or t, k) end
real.rawget = function(t, k) return rawget_(readonly[t] or t, k) end
real.rawset = function(t, k, v)
  if readonly[t] then rawerror('Attempt to modify a readonly table', 0) end
  return rawset_(t, k, v)
end
real.setmetatable = function(t, m)
  if readonly[t] then rawerror('Attempt to modify a readonly table', 0) end
  return rawsetmt(t, m)
end
local function fix(ok, ...)
  if ok then return ok, ... end
  local e = ...
  local ty = rawtype(e)
  if ty == 'table' then
    local m = e.err
    if rawtype(m) == 'string' or rawtype(m) == 'number' then e = m end
  elseif ty == 'userdata' then
    e = errmsg(e)
  end
  return false, e
end
real.pcall = function(...) return fix(rawpcall(...)) end
real.loadstring = function(s, name)
  if rawtype(s) == 'string' and s:byte(1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  return rawloadstring(s, name)
end
real.load = function(f, name)
  if rawtype(f) ~= 'function' then return rawload(f, name) end
  local parts = {}
  while true do
    local piece = f()
    if piece == nil or piece == '' then break end
    parts[#parts + 1] = piece
  end
  return real.loadstring(concat(parts), name or '=(load)')
end
