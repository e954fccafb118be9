-- Rubra's Lua sandbox, run once when the engine starts (chunk "=rubra": frames of this
-- chunk are skipped when an error is attributed to a script line).
-- H is the real global table, rt the table of Rust helpers; P, returned, becomes the
-- environment of every script: an empty proxy, so that no global can be created or
-- replaced (Redis 7.0 makes the globals and the library tables read-only).
local H, rt = ...
local error, type, tostring, tonumber, select, setmetatable, setfenv, getfenv =
  error, type, tostring, tonumber, select, setmetatable, setfenv, getfenv
local lua_pcall, lua_loadstring, lua_load, lua_rawset = pcall, loadstring, load, rawset

local protected = setmetatable({}, { __mode = 'k' })
-- Each read-only proxy's table: next, pairs, ipairs and rawget see through the proxy, as
-- Redis's read-only tables (a flag on the table itself) show their contents.
local underlying = setmetatable({}, { __mode = 'k' })
local function ro() error("Attempt to modify a readonly table", 2) end
local function readonly(t)
  local p = setmetatable({}, { __index = t, __newindex = ro, __metatable = false })
  protected[p] = true
  underlying[p] = t
  return p
end
local function fail(msg) error({ err = msg }) end

H.dofile, H.loadfile, H.print, H.module, H.require = nil, nil, nil, nil, nil

H.math.random = rt.random
H.math.randomseed = rt.randomseed

local redis = {}
-- redis.call / redis.pcall are Rust functions set for each run (a C function keeps the
-- calling script's frame even in `return redis.call(...)`, so errors name its line).
redis.call = function()
  fail('ERR redis.call/pcall can only be called inside a script invocation')
end
redis.pcall = redis.call
rt.outside = redis.call
redis.setresp, redis.set_repl, redis.acl_check_cmd = rt.setresp, rt.set_repl, rt.acl_check_cmd
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.sha1hex = rt.sha1hex
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  -- Redis reads the text as a C string: it ends at a NUL byte.
  local nul = e:find('\0', 1, true)
  if nul then e = e:sub(1, nul - 1) end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  local sp = e:find(' ', 1, true)
  local code, msg
  if sp then code, msg = e:sub(2, sp - 1), e:sub(sp + 1) else code, msg = 'ERR', e:sub(2) end
  msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return { err = code .. ' ' .. msg }
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  return { ok = s }
end
redis.log = rt.log
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = rt.version
redis.REDIS_VERSION_NUM = rt.version_num
-- Only a library's top level (FUNCTION LOAD) has register_function: in scripts and in
-- functions run by FCALL, Redis's `redis` table has no such field.
local register_function = function(...)
  local f = rt.register
  if f == nil then fail('ERR redis.register_function can only be called on FUNCTION LOAD command') end
  local ok, r = f(...)
  if not ok then error(r) end
end
H.redis = redis

-- Redis 7's pcall: an error raised as a table {err=...} is returned as its message.
local errmsg = rt.errmsg
local function unwrap(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'userdata' then
    local m = errmsg(e)
    if m ~= nil then e = m end
  elseif type(e) == 'table' then
    local m = e.err
    if type(m) == 'string' or type(m) == 'number' then e = m end
  end
  return false, e
end
-- An error a Rust library function raises gets, at the moment it is raised, the place
-- of the script line that called it (luaL_error's luaL_where), as a C library's error
-- does: the message a pcall returns reads "user_script:N: bad argument ...".
-- A C function pcall calls itself has no script line above it: its errors stay bare.
local placed, is_c, lua_xpcall, unpack = rt.placed, rt.is_c, xpcall, unpack
H.pcall = function(f, ...)
  if type(f) ~= 'function' or is_c(f) then return unwrap(lua_pcall(f, ...)) end
  local n, args = select('#', ...), { ... }
  return unwrap(lua_xpcall(function() return f(unpack(args, 1, n)) end, placed))
end
-- Redis's xpcall is Lua's: its message handler sees what was raised. Rust functions
-- raise userdata errors, so the handler is given what Redis's would have raised instead
-- (redis.call's error table, a library function's placed message).
local as_raised = rt.as_raised
H.xpcall = function(...)
  local f, h = ...
  if select('#', ...) < 2 then error("bad argument #2 to 'xpcall' (value expected)", 2) end
  if type(h) ~= 'function' then return lua_xpcall(f, h) end
  return lua_xpcall(f, function(e) return h(as_raised(e)) end)
end

local P = setmetatable({}, { __index = H, __newindex = ro, __metatable = false })
protected[P] = true
underlying[P] = H
H.rawset = function(t, k, v)
  if protected[t] then error("Attempt to modify a readonly table", 0) end
  return lua_rawset(t, k, v)
end
-- Redis's Lua only parses source text: a precompiled (binary) chunk fails to load.
local string_byte = string.byte
H.loadstring = function(chunk, ...)
  if type(chunk) == 'string' and string_byte(chunk, 1) == 27 then
    return nil, "[string \"?\"]:1: unexpected symbol near '<\\27>'"
  end
  local f, e = lua_loadstring(chunk, ...)
  if f then setfenv(f, P) end
  return f, e
end
H.load = function(...)
  local f, e = lua_load(...)
  if f then setfenv(f, P) end
  return f, e
end
-- Redis's readonly tables refuse a new metatable the way its Lua does (a C function's
-- error: no script line in front).
local lua_setmetatable = setmetatable
H.setmetatable = function(t, ...)
  if protected[t] then error("Attempt to modify a readonly table", 0) end
  return lua_setmetatable(t, ...)
end
-- Redis 7.0's sandbox has no getfenv, setfenv or newproxy (the prelude keeps its own).
H.getfenv, H.setfenv, H.newproxy = nil, nil, nil
for _, name in ipairs({ 'string', 'math', 'table', 'coroutine', 'redis', 'bit', 'cjson',
                        'struct', 'cmsgpack' }) do
  if type(H[name]) == 'table' then H[name] = readonly(H[name]) end
end
-- next, pairs, ipairs and rawget see through the proxies, and getmetatable answers as
-- Redis's sandbox does (script/views.rs): the globals' metatable is a read-only table
-- whose __index raises the nonexistent-global error, a library table has none (Redis's
-- protection is a flag, no metatable), strings' is read-only with `string` as __index.
local globals_mt = readonly({ __index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end })
H.next, H.pairs, H.ipairs, H.rawget, H.getmetatable =
  rt.views(underlying, P, globals_mt, readonly({ __index = H.string }))
-- FUNCTION LOAD runs a library's top level with only register_function, log and the
-- version in reach (Redis's library API); its functions later see the full globals.
local function missing(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local load_redis = setmetatable({
  register_function = register_function, log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}, { __index = missing })
local load_api = setmetatable({ redis = readonly(load_redis) }, { __index = missing })
-- Functions run with Redis's function engine's `redis` table: the EVAL one without the
-- debugger's breakpoint / debug and replicate_commands (only EVAL's engine has those).
local eval_only = { breakpoint = true, debug = true, replicate_commands = true }
local fn_redis = readonly(setmetatable({}, { __index = function(_, k)
  if eval_only[k] then return nil end
  return redis[k]
end }))
local fn_globals = setmetatable({ redis = fn_redis, cjson = readonly(rt.fn_cjson) },
                                { __index = H })
local lib_mt = { __index = fn_globals, __newindex = ro, __metatable = false }
local LE = setmetatable({}, lib_mt)
protected[LE] = true
rt.lib_env = LE
rt.lib_loading = function(on)
  if on then lib_mt.__index = load_api else lib_mt.__index = fn_globals end
end
H._G = P
setmetatable(H, { __index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end })
setfenv(0, P)
local xpcall = xpcall
rt.raw_pcall = lua_pcall
rt.run_fn = function(f, h, keys, args) return xpcall(function() return f(keys, args) end, h) end
return P, redis
