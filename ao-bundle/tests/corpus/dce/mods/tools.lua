local M = {}
local function unused_private() return 'never called' end

function M.double(n)
  local unused = { n }
  return n * 2
end

function M.check(n)
  if n > 50 then
    error('check failed for ' .. n)
  end
end

return M
