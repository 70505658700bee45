-- .utils for ao-local: aos's functional helpers, loaded by utils.rs.
--
-- The chunk receives `nparams(fn)`, the declared parameter count of a Lua
-- function: aos's curry reads it through the debug library, which ao-local
-- processes do not get.
--
-- Where aos walks a table with `pairs` and the order can show (keys, values,
-- find on a non-array), this walks in a fixed order instead: numbers
-- ascending, then strings bytewise, then other keys. `pairs` order changes
-- from run to run, and ao-local replays logs and hashes state.
local nparams = ...

local type, pairs, select, assert, tostring = type, pairs, select, assert, tostring
local mtype = math.type
local smatch, supper, slower, ssub = string.match, string.upper, string.lower, string.sub
local tpack, tunpack, tsort = table.pack, table.unpack, table.sort

local utils = { _version = "0.0.5" }

-- Key order for sorted walks: a strict order within one sort.
local type_rank = { number = 1, string = 2, boolean = 3 }
local function key_before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    return (type_rank[ta] or 4) < (type_rank[tb] or 4)
  end
  if ta == 'number' or ta == 'string' then
    return a < b
  end
  if ta == 'boolean' then
    return not a and b
  end
  -- Tables, functions, ...: no stable order exists; any consistent one will do.
  return tostring(a) < tostring(b)
end

local function sorted_keys(t)
  local keys, n = {}, 0
  for k in pairs(t) do
    n = n + 1
    keys[n] = k
  end
  tsort(keys, key_before)
  return keys, n
end

-- An array: integer keys exactly 1..n with no gaps (the empty table is one).
-- Counted rather than measured with `#`, whose result is unspecified for a
-- table with holes.
local function isArray(t)
  if type(t) ~= 'table' then
    return false
  end
  local count, max = 0, 0
  for k in pairs(t) do
    -- Lua 5.3 stores float keys with integral values as integers.
    if mtype(k) ~= 'integer' or k < 1 then
      return false
    end
    count = count + 1
    if k > max then
      max = k
    end
  end
  return count == max
end
utils.isArray = isArray

-- Calls `fn` once it has `arity` arguments (default: its declared parameter
-- count), collecting them over as many calls as it takes. Arguments are
-- counted with select('#'), so explicit nils hold their place.
local function curry(fn, arity)
  assert(type(fn) == 'function', 'function is required as first argument')
  arity = arity or nparams(fn)
  if arity < 2 then
    return fn
  end
  return function(...)
    local given = select('#', ...)
    if given >= arity then
      return fn(...)
    end
    local held = tpack(...)
    return curry(function(...)
      local args = { tunpack(held, 1, held.n) }
      local more = select('#', ...)
      for i = 1, more do
        args[held.n + i] = (select(i, ...))
      end
      return fn(tunpack(args, 1, held.n + more))
    end, arity - given)
  end
end
utils.curry = curry

function utils.matchesPattern(pattern, value, msg)
  if not pattern then
    return false
  end
  if pattern == '_' then
    return true
  end
  local kind = type(pattern)
  if kind == 'function' then
    return pattern(value, msg) and true or false
  end
  if kind == 'string' then
    -- Lua pattern syntax means a pattern; `-` alone does not, so names such
    -- as 'Credit-Notice' compare exactly (as in aos).
    if smatch(pattern, '[%^%$%(%)%%%.%[%]%*%+%?]') then
      local vkind = type(value)
      if vkind ~= 'string' and vkind ~= 'number' then
        return false
      end
      return smatch(value, pattern) ~= nil
    end
    return value == pattern
  end
  if kind == 'table' then
    -- Any sub-pattern may match: try them in a fixed order, since function
    -- sub-patterns can have effects.
    local keys, n
    if isArray(pattern) then
      n = #pattern
    else
      keys, n = sorted_keys(pattern)
    end
    for i = 1, n do
      local key = i
      if keys then
        key = keys[i]
      end
      if utils.matchesPattern(pattern[key], value, msg) then
        return true
      end
    end
  end
  return false
end

function utils.matchesSpec(msg, spec)
  local kind = type(spec)
  if kind == 'function' then
    -- The raw result: Handlers reads -1/0/1, 'continue', 'break' from it.
    return spec(msg)
  end
  if kind == 'table' then
    local tags = msg.Tags
    if type(tags) ~= 'table' then
      tags = nil
    end
    for key, pattern in pairs(spec) do
      -- As in aos, a key may be a field of the message or one of its tags.
      local value = msg[key]
      local tag = tags and tags[key]
      if not value and not tag then
        return false
      end
      local matched = (value ~= nil and utils.matchesPattern(pattern, value, msg))
        or (tag ~= nil and utils.matchesPattern(pattern, tag, msg))
      if not matched then
        return false
      end
    end
    return true
  end
  if kind == 'string' then
    return msg.Action == spec
  end
  return false
end

function utils.capitalize(str)
  if type(str) ~= 'string' or str == '' then
    return str
  end
  return supper(ssub(str, 1, 1)) .. slower(ssub(str, 2))
end

utils.concat = curry(function(a, b)
  assert(type(a) == 'table', 'first argument should be a table that is an array')
  assert(type(b) == 'table', 'second argument should be a table that is an array')
  assert(isArray(a), 'first argument should be a table')
  assert(isArray(b), 'second argument should be a table')
  local result, na = {}, #a
  for i = 1, na do
    result[i] = a[i]
  end
  for i = 1, #b do
    result[na + i] = b[i]
  end
  return result
end, 2)

-- As in aos, a nil accumulator takes the next element instead of calling fn,
-- so reduce(fn, nil, t) folds from the first element.
utils.reduce = curry(function(fn, initial, t)
  assert(type(fn) == 'function', 'first argument should be a function that accepts (result, value, key)')
  assert(type(t) == 'table' and isArray(t), 'third argument should be a table that is an array')
  local result = initial
  for i = 1, #t do
    if result == nil then
      result = t[i]
    else
      result = fn(result, t[i], i)
    end
  end
  return result
end, 3)

utils.map = curry(function(fn, data)
  assert(type(fn) == 'function', 'first argument should be a unary function')
  assert(type(data) == 'table' and isArray(data), 'second argument should be an Array')
  local result = {}
  for i = 1, #data do
    result[i] = fn(data[i], i)
  end
  return result
end, 2)

utils.filter = curry(function(fn, data)
  assert(type(fn) == 'function', 'first argument should be a unary function')
  assert(type(data) == 'table' and isArray(data), 'second argument should be an Array')
  local result, n = {}, 0
  for i = 1, #data do
    local v = data[i]
    if fn(v) then
      n = n + 1
      result[n] = v
    end
  end
  return result
end, 2)

utils.find = curry(function(fn, t)
  assert(type(fn) == 'function', 'first argument should be a unary function')
  assert(type(t) == 'table', 'second argument should be a table that is an array')
  local keys, n
  if isArray(t) then
    n = #t
  else
    keys, n = sorted_keys(t)
  end
  for i = 1, n do
    local key = i
    if keys then
      key = keys[i]
    end
    local v = t[key]
    if fn(v) then
      return v
    end
  end
  return nil
end, 2)

utils.propEq = curry(function(propName, value, object)
  assert(type(propName) == 'string', 'first argument should be a string')
  assert(type(value) == 'string', 'second argument should be a string')
  assert(type(object) == 'table', 'third argument should be a table<object>')
  return object[propName] == value
end, 3)

function utils.reverse(data)
  assert(type(data) == 'table' and isArray(data), 'argument needs to be a table that is an array')
  local result, n = {}, #data
  for i = 1, n do
    result[n - i + 1] = data[i]
  end
  return result
end

-- compose(f, g, h)(v) is f(g(h(v))): the last function runs first.
utils.compose = curry(function(...)
  local fns = tpack(...)
  for i = 1, fns.n do
    assert(type(fns[i]) == 'function', 'each argument needs to be a function')
  end
  return function(v)
    local result = v
    for i = fns.n, 1, -1 do
      result = fns[i](result)
    end
    return result
  end
end, 2)

utils.prop = curry(function(propName, object)
  return object[propName]
end, 2)

utils.includes = curry(function(val, t)
  assert(type(t) == 'table', 'argument needs to be a table')
  assert(isArray(t), 'argument should be a table that is an array')
  for i = 1, #t do
    if t[i] == val then
      return true
    end
  end
  return false
end, 2)

function utils.keys(t)
  assert(type(t) == 'table', 'argument needs to be a table')
  return (sorted_keys(t))
end

function utils.values(t)
  assert(type(t) == 'table', 'argument needs to be a table')
  local keys, n = sorted_keys(t)
  local values = {}
  for i = 1, n do
    values[i] = t[keys[i]]
  end
  return values
end

return utils
