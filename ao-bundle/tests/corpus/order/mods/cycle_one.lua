local M = { tag = 'one' }
function M.peer()
  return require('mods.cycle_two')
end
function M.fail()
  local peer = M.peer()
  return peer.explode()
end
return M
