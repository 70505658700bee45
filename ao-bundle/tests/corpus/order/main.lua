-- Module side effects: order, laziness, nil and false modules, a module that
-- fails to load and is retried, the module name argument, deferred cycles.
Out = Out or {}
Trace = {}
local function out(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  Out[#Out + 1] = table.concat(t, ' ')
end
local function without_position(err)
  return (tostring(err):gsub('^.-:%d+: ', ''))
end
function trace(what) Trace[#Trace + 1] = what end

trace('main:start')
local a = require('mods.a')
trace('main:after a')
local lazy = function() return require('mods.lazy') end
trace('main:before lazy')
out('lazy first', lazy().value)
out('lazy again', lazy().value, require('mods.lazy') == lazy())
out('nil module', require('mods.nothing'), package.loaded['mods.nothing'])
out('false module', require('mods.falsy'))
local ok, err = pcall(require, 'mods.broken')
out('broken', ok, without_position(err))
local ok2, err2 = pcall(require, 'mods.broken')
out('broken again', ok2, type(err2), Broken)
out('name argument', a.name, require('mods.b').name)
out('deferred cycle', require('mods.cycle_one').peer().tag, require('mods.cycle_two').peer().tag)
trace('main:end')
out('trace', table.concat(Trace, ' '))

Handlers.add('Step', 'Step', function(m)
  local n = tonumber(m.Tags.N)
  if n == 99 then require('mods.cycle_one').fail() end
  if n == 98 then return require('mods.lazy').value.missing.x end
  trace('step ' .. n)
  out('step', n, table.concat(Trace, ' ', #Trace - 1))
  m.reply({ Data = Out[#Out] })
end)
local has_optional, optional = pcall(require, 'mods.not_in_the_project')
out('optional missing', has_optional)
