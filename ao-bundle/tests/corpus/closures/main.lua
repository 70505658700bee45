-- Closures, upvalues, varargs, methods and recursion.
Out = Out or {}
local function out(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  Out[#Out + 1] = table.concat(t, ' ')
end
local util = require('lib.util')
local Counter = require('lib.counter')

local counter = Counter.new(10)
counter:inc()
counter:inc(5)
out('counter', counter:get(), Counter.count)

-- each loop iteration has its own variables
local functions = {}
for i = 1, 3 do
  local j = i * 10
  functions[#functions + 1] = function() j = j + 1; return i, j end
end
out('iter', functions[1](), functions[1](), functions[3]())
local k, whiles = 0, {}
while k < 3 do
  k = k + 1
  local captured = k
  whiles[k] = function() return captured end
end
out('while', whiles[1](), whiles[2](), whiles[3]())

-- varargs and adjustment
out('select', select('#'), select('#', nil, nil), select(2, 'a', 'b', 'c'), select(-1, 'x', 'y'))
out('pack', util.count(nil, 2, nil), util.last(1, 2, 3), util.middle(1, 2, 3))
out('unpack', table.unpack({ 1, 2, 3 }, 2))
local all = { util.three() }
local first = { util.three(), 'x' }
out('adjust', #all, #first, (util.three()))

local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
out('fib', fib(15))
local function loop(n, acc)
  if n == 0 then return acc end
  return loop(n - 1, acc + n)
end
out('tail calls', loop(10000, 0))
local word = 'Hello'
out('methods', word:upper(), ('x'):rep(3, ','), #word, word:sub(-3))

Handlers.add('Step', 'Step', function(m)
  local n = tonumber(m.Tags.N)
  if n == 99 then util.fail('deliberately') end
  if n == 98 then
    local missing = nil
    return missing.field
  end
  out('step', n, counter:inc(n), util.count(table.unpack({ n, n }, 1, 3)))
  m.reply({ Data = Out[#Out] })
end)
