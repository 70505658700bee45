Trace[#Trace + 1] = 'c:load (once)'
local weights = setmetatable({}, { __index = function(t, k) local v = k * k % 7; rawset(t, k, v); return v end })
return { tag = '+c', weight = function(k) return weights[k] end }
