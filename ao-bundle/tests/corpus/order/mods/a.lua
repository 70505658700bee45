trace('a:start')
local b = require('mods.b')
trace('a:end')
return { name = ..., b = b }
