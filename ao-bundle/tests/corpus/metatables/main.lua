-- Metatables, metamethods, _ENV and proxies.
Out = Out or {}
local function out(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  Out[#Out + 1] = table.concat(t, ' ')
end

local V = {}
function V.new(x) return setmetatable({ x = x }, V) end
V.__add = function(a, b) return V.new(a.x + b.x) end
V.__eq = function(a, b) return a.x == b.x end
V.__lt = function(a, b) return a.x < b.x end
V.__le = function(a, b) return a.x <= b.x end
V.__concat = function(a, b) return tostring(a) .. '&' .. tostring(b) end
V.__len = function(a) return a.x end
V.__unm = function(a) return V.new(-a.x) end
V.__call = function(self, y) return self.x * y end
V.__tostring = function(a) return 'V' .. a.x end
V.__index = function(t, k)
  if k == 'double' then return rawget(t, 'x') * 2 end
  return V[k]
end
local a, b = V.new(1), V.new(2)
out('operators', tostring(a + b), a == V.new(1), a < b, b <= a, a .. b, #b, tostring(-a), a(10), b.double)

local log = {}
local proxy = setmetatable({}, { __newindex = function(t, k, v) log[#log + 1] = k; rawset(t, k, v) end })
proxy.x = 1
proxy.x = 2
proxy.y = 3
out('newindex', table.concat(log, ','), proxy.x)

local function sandboxed()
  local _ENV = { tostring = tostring }
  z = 5
  return tostring(z), _ENV.z
end
out('env', sandboxed(), z)

-- Reading a missing global runs __index: an unused local bound to one still counts.
local reads = 0
setmetatable(_G, { __index = function(_, k) reads = reads + 1; return nil end })
local missing = UNDEFINED_GLOBAL
local also_missing = ANOTHER_ONE
setmetatable(_G, nil)
out('global reads', reads)

out('raw', rawequal(a, V.new(1)), rawlen({ 1, 2 }), rawget(a, 'double'))

local Base = {}
Base.__index = Base
function Base.new(n) return setmetatable({ n = n }, Base) end
function Base:name() return 'base' .. self.n end
local Derived = setmetatable({}, { __index = Base })
Derived.__index = Derived
function Derived.new(n) return setmetatable(Base.new(n), Derived) end
function Derived:name() return 'derived/' .. Base.name(self) end
out('inherit', Derived.new(3):name(), Base.new(4):name())

Handlers.add('Step', 'Step', function(m)
  local n = tonumber(m.Tags.N)
  local v = V.new(n)
  if n == 99 then error(setmetatable({}, { __tostring = function() return 'object error' end })) end
  if n == 98 then return v < 1 end
  out('step', n, tostring(v + a), v(2), #v, v.double)
  m.reply({ Data = Out[#Out] })
end)
