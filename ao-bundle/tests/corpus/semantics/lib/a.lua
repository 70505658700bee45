local name = ...
Trace[#Trace + 1] = 'a:load ' .. tostring(name)
local c = require('lib.c')
local M = { name = 'a' }
function M.calc(n)
  local acc = 0
  for k = 1, n do acc = acc + c.weight(k) end
  return acc
end
return M
