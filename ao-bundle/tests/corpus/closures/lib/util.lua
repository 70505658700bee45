local M = {}

function M.count(...)
  return select('#', ...)
end

function M.last(...)
  local n = select('#', ...)
  return (select(n, ...))
end

function M.middle(...)
  local a, b, c = ...
  return b
end

function M.three()
  return 1, 2, 3
end

function M.fail(why)
  -- The error names this line.
  error('util failed: ' .. why)
end

return M
