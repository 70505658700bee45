-- `.utils`: the functional helpers aos programs require, written for ao-local.
-- Every multi-argument function also works curried: utils.map(fn)(t).

local utils = { _version = '0.0.5-ao-local' }

-- Returns fn curried over its first `arity` arguments.
local function curry(fn, arity)
  assert(type(fn) == 'function', 'utils.curry: function expected')
  arity = arity or 2
  if arity < 2 then return fn end
  local function collect(args, n)
    return function(...)
      local all = { table.unpack(args, 1, n) }
      local count = select('#', ...)
      for i = 1, count do all[n + i] = select(i, ...) end
      local total = n + count
      if total >= arity then
        return fn(table.unpack(all, 1, total))
      end
      return collect(all, total)
    end
  end
  return collect({}, 0)
end
utils.curry = curry

function utils.isArray(t)
  if type(t) ~= 'table' then return false end
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= 'integer' or k < 1 then return false end
    n = n + 1
  end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return true
end

local MAGIC = '[%^%$%(%)%%%.%[%]%*%+%-%?]'

function utils.matchesPattern(pattern, value, msg)
  if pattern == '_' then return true end
  local kind = type(pattern)
  if kind == 'function' then return pattern(value, msg) end
  if kind == 'table' then
    for _, p in ipairs(pattern) do
      if utils.matchesPattern(p, value, msg) then return true end
    end
    return false
  end
  if kind == 'string' and type(value) == 'string' and pattern:find(MAGIC) then
    return value:match(pattern) ~= nil
  end
  return pattern == value
end

function utils.matchesSpec(msg, spec)
  local kind = type(spec)
  if kind == 'function' then return spec(msg) end
  if kind == 'string' then return msg.Action == spec end
  if kind == 'table' then
    for key, pattern in pairs(spec) do
      local value = msg[key]
      if value == nil then return false end
      local ok = utils.matchesPattern(pattern, value, msg)
      if not ok or ok == 0 then return false end
    end
    return true
  end
  return false
end

utils.concat = curry(function(a, b)
  assert(type(a) == 'table' and type(b) == 'table', 'utils.concat: tables expected')
  local out = {}
  for _, v in ipairs(a) do out[#out + 1] = v end
  for _, v in ipairs(b) do out[#out + 1] = v end
  return out
end, 2)

utils.reduce = curry(function(fn, initial, t)
  assert(type(fn) == 'function', 'utils.reduce: function expected')
  assert(type(t) == 'table', 'utils.reduce: table expected')
  local acc = initial
  for k, v in ipairs(t) do
    if k == 1 and acc == nil then acc = v else acc = fn(acc, v) end
  end
  return acc
end, 3)

utils.map = curry(function(fn, t)
  assert(type(fn) == 'function', 'utils.map: function expected')
  assert(type(t) == 'table', 'utils.map: table expected')
  local out = {}
  for k, v in ipairs(t) do out[k] = fn(v, k) end
  return out
end, 2)

utils.filter = curry(function(fn, t)
  assert(type(fn) == 'function', 'utils.filter: function expected')
  assert(type(t) == 'table', 'utils.filter: table expected')
  local out = {}
  for _, v in ipairs(t) do
    if fn(v) then out[#out + 1] = v end
  end
  return out
end, 2)

utils.find = curry(function(fn, t)
  assert(type(fn) == 'function', 'utils.find: function expected')
  assert(type(t) == 'table', 'utils.find: table expected')
  for _, v in ipairs(t) do
    if fn(v) then return v end
  end
  return nil
end, 2)

utils.propEq = curry(function(name, value, t)
  assert(type(name) == 'string', 'utils.propEq: property name expected')
  assert(type(t) == 'table', 'utils.propEq: table expected')
  return t[name] == value
end, 3)

function utils.reverse(t)
  assert(type(t) == 'table', 'utils.reverse: table expected')
  local out, n = {}, #t
  for i = n, 1, -1 do out[n - i + 1] = t[i] end
  return out
end

-- compose(f, g, h)(x) == f(g(h(x)))
function utils.compose(...)
  local fns = table.pack(...)
  assert(fns.n > 0, 'utils.compose: at least one function expected')
  return function(...)
    local results = table.pack(...)
    for i = fns.n, 1, -1 do
      results = table.pack(fns[i](table.unpack(results, 1, results.n)))
    end
    return table.unpack(results, 1, results.n)
  end
end

utils.prop = curry(function(name, t)
  assert(type(t) == 'table', 'utils.prop: table expected')
  return t[name]
end, 2)

utils.includes = curry(function(value, t)
  assert(type(t) == 'table', 'utils.includes: table expected')
  for _, v in ipairs(t) do
    if v == value then return true end
  end
  return false
end, 2)

-- keys/values are sorted by key so results do not depend on table layout.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == 'number' or ta == 'string' then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

function utils.keys(t)
  assert(type(t) == 'table', 'utils.keys: table expected')
  return sorted_keys(t)
end

function utils.values(t)
  assert(type(t) == 'table', 'utils.values: table expected')
  local out = {}
  for i, k in ipairs(sorted_keys(t)) do out[i] = t[k] end
  return out
end

return utils
