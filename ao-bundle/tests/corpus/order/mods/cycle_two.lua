local M = { tag = 'two' }
function M.peer()
  return require('mods.cycle_one')
end
function M.explode()
  error('exploded in cycle_two')
end
return M
