Trace[#Trace + 1] = 'b:load'
local c = require('.lib.c')
local x = 'b-module'
return {
  name = 'b' .. c.tag,
  shadow = function() local x = x .. '!'; return x end,
}
