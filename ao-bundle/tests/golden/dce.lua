-- bundled by ao-bundle 0.1.0: 2 modules; entries: main
for _, name in ipairs({"main", "mods.tools"}) do package.loaded[name] = nil end
package.preload["main"] = function(...)
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

local unused_call = effect('call kept')




local used = 'used'
local one, two, three = 1, effect('middle'), 3
local kept = 'kept'
out('locals', used, kept, one + three, table.concat(Effects, ','))

-- Constant conditions, code after return, break and goto.
do out('else taken') end
do out('always') end
for i = 1, 3 do
  if i == 2 then goto continue end
  out('loop', i)
  goto continue
  
  ::continue::
end
while true do do break end;  end
local function early(x)
  do return x * 2 end
  
end
out('early', early(21))

-- Defines.




local mode = "shard" == 'shard' and 'shard' or 'full'
out('mode', mode, false)

-- A local _ENV is used by every global access under it.
local function with_env()
  local _ENV = { x = 'from env' }
  return x
end
out('env', with_env())
local shadow = 'outer'
do  end
out('shadow', shadow)

-- Removing a statement must not join the call before it with a `(` after it.
out('before paren')
;
(function() out('paren call') end)()

Handlers.add('Step', 'Step', function(m)
  local n = tonumber(m.Tags.N)
  local unused_here = n * 2
  if n == 99 then require('mods.tools').check(n) end
  if n == 98 then return m.Tags.Missing.x end
  out('step', n, require('mods.tools').double(n))
  m.reply({ Data = Out[#Out] })
end)
end
package.preload["mods.tools"] = function(...)
local M = {}


function M.double(n)
  
  return n * 2
end

function M.check(n)
  if n > 50 then
    error('check failed for ' .. n)
  end
end

return M
end
require("main")
