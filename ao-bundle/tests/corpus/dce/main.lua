-- Dead code of every kind beside live code with effects; run with
-- DEBUG = false and TARGET = 'shard'.
Out = Out or {}
local function out(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  Out[#Out + 1] = table.concat(t, ' ')
end
local Effects = {}
local function effect(name)
  Effects[#Effects + 1] = name
  return name
end

-- Unused locals: pure ones go, ones with effects stay.
local unused_pure = { 1, 2, 3, nested = { 'x' }, [4] = 'four' }
local unused_call = effect('call kept')
local unused_fn = function() return require('mods.only_dead') end
local function unused_helper() return unused_pure end
local function helper_a() return 1 end
local function helper_b() return helper_a() end
local used = 'used'
local one, two, three = 1, effect('middle'), 3
local kept, dropped = 'kept', 'dropped'
out('locals', used, kept, one + three, table.concat(Effects, ','))

-- Constant conditions, code after return, break and goto.
if false then out('never') elseif nil then out('never either') else out('else taken') end
if true then out('always') end
for i = 1, 3 do
  if i == 2 then goto continue end
  out('loop', i)
  goto continue
  out('dead after goto')
  ::continue::
end
while true do break; out('dead after break') end
local function early(x)
  do return x * 2 end
  out('dead after return')
end
out('early', early(21))

-- Defines.
if DEBUG then
  require('mods.debug_tools').install()
  out('debug on')
end
local mode = TARGET == 'shard' and 'shard' or 'full'
out('mode', mode, DEBUG)

-- A local _ENV is used by every global access under it.
local function with_env()
  local _ENV = { x = 'from env' }
  return x
end
out('env', with_env())
local shadow = 'outer'
do local shadow = 'inner, unused' end
out('shadow', shadow)

-- Removing a statement must not join the call before it with a `(` after it.
out('before paren')
local removed_before_paren = {}
(function() out('paren call') end)()

Handlers.add('Step', 'Step', function(m)
  local n = tonumber(m.Tags.N)
  local unused_here = n * 2
  if n == 99 then require('mods.tools').check(n) end
  if n == 98 then return m.Tags.Missing.x end
  out('step', n, require('mods.tools').double(n))
  m.reply({ Data = Out[#Out] })
end)
