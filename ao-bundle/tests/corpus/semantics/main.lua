-- Exercises the language features a bundler could break, and records what
-- happens in `Trace`; the differential test compares bundled and unbundled runs.
Trace = Trace or {}
local function log(...) Trace[#Trace + 1] = table.concat({ ... }, ' ') end
log('main:start', select('#', ...))

local a = require('lib.a')
local b = require('lib.b')
local again = require('lib.a')
log('same module instance', tostring(a == again))

-- closures and upvalues
local function counter()
  local n = 0
  return function(step) n = n + (step or 1); return n end
end
local c1, c2 = counter(), counter()
c1(); c1(5); c2()
log('closures', c1(0), c2(0))

-- varargs
local function pack(...) return select('#', ...), { ... } end
local count, t = pack(1, nil, 3, nil)
log('varargs', count, #t >= 1 and 'ok' or 'bad')

-- metatables
local Vec = {}
Vec.__index = Vec
Vec.__add = function(p, q) return setmetatable({ x = p.x + q.x }, Vec) end
Vec.__tostring = function(v) return 'Vec(' .. v.x .. ')' end
log('metatables', tostring(setmetatable({ x = 1 }, Vec) + setmetatable({ x = 2 }, Vec)))

-- goto and labels
local i, out = 0, {}
::again::
i = i + 1
if i % 2 == 0 then goto again end
out[#out + 1] = i
if i < 7 then goto again end
log('goto', table.concat(out, ','))

-- string escapes
log('escapes', #'\65\t\x41\u{48}\z
      end', "quote\"s", [==[long ]] string]==])

-- integer / float semantics
log('numbers', 7 // 2, 7 / 2, math.type(2^53), 3 % -2, -7 // 2, 1e15, 0x10, 5 & 3, 1 << 62)

-- shadowing
local x = 'outer'
do local x = 'inner'; log('shadow', x) end
log('shadow', x, b.shadow())

-- `break` followed by statements (Lua 5.3 allows it) and a backtick in a string
local hits = 0
for k = 1, 5 do
  hits = hits + 1
  if k == 2 then break end
end
while true do break; hits = hits + 100 end
log('break', hits, 'tick`s')

-- scoping the renamer must respect: repeat-until sees body locals, `local x = x`
-- reads the outer x, closures capture each loop iteration's variable
local n, seen = 0, {}
repeat
  local step = n + 1
  n = step
until step >= 3
local value = 10
do
  local value = value + 1
  seen[#seen + 1] = value
end
local fns = {}
for k = 1, 3 do fns[k] = function() return k * value end end
for _, f in ipairs(fns) do seen[#seen + 1] = f() end
log('scopes', n, table.concat(seen, ','))

log('main:end', a.name, b.name)

Handlers.add('Trace', 'Trace', function(m) m.reply({ Data = table.concat(Trace, '\n') }) end)
Handlers.add('Calc', 'Calc', function(m) m.reply({ Data = tostring(a.calc(tonumber(m.N))) }) end)
Handlers.add('Step', 'Step', function(m)
  local n = tonumber(m.Tags.N)
  if n == 99 then error('step ' .. n .. ' refused') end
  if n == 98 then return a.calc(nil) end
  log('step', n, a.calc(n))
  m.reply({ Data = tostring(a.calc(n)) })
end)
