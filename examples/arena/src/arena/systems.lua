-- Game systems. Each takes the game state and changes it deterministically:
-- entities are visited in ascending id order, never in table order.

local ecs = require('arena.ecs')
local components = require('arena.components')
local config = require('arena.config')

local systems = {}

local function occupant(world, x, y)
  for _, id in ipairs(ecs.query(world, 'position', 'player')) do
    local p = ecs.get(world, id, 'position')
    if p.x == x and p.y == y then return id end
  end
  return nil
end
systems.occupant = occupant

-- The n-th spawn point: walks the arena's cells in a fixed stride so players spread out.
function systems.spawn_point(world, n)
  local cells = config.WIDTH * config.HEIGHT
  for k = 0, cells - 1 do
    local cell = ((n - 1) * 37 + k * 7) % cells
    local x, y = cell % config.WIDTH + 1, cell // config.WIDTH + 1
    if not occupant(world, x, y) then return x, y end
  end
  return nil
end

-- Moves an entity one step. Walking into another player attacks it instead.
-- Returns what happened: "moved", "blocked" (edge), or "hit"/"knockout" with the target id.
function systems.move(world, id, direction)
  local step = components.DIRECTIONS[direction]
  assert(step, 'unknown direction')
  local pos = ecs.get(world, id, 'position')
  local x, y = pos.x + step.dx, pos.y + step.dy
  if x < 1 or y < 1 or x > config.WIDTH or y > config.HEIGHT then
    return 'blocked'
  end
  local target = occupant(world, x, y)
  if target then
    local health = ecs.get(world, target, 'health')
    local score = ecs.get(world, id, 'score')
    health.hp = health.hp - 1
    score.hits = score.hits + 1
    score.points = score.points + config.HIT_POINTS
    if health.hp <= 0 then
      score.knockouts = score.knockouts + 1
      score.points = score.points + config.KO_POINTS
      -- Knocked out: back to a spawn point with full health.
      local sx, sy = systems.spawn_point(world, target)
      local tp = ecs.get(world, target, 'position')
      if sx then tp.x, tp.y = sx, sy end
      health.hp = health.max
      return 'knockout', target
    end
    return 'hit', target
  end
  pos.x, pos.y = x, y
  return 'moved'
end

-- Regeneration: every REGEN_EVERY ticks, each damaged entity heals one point.
function systems.regenerate(world, tick)
  if tick % config.REGEN_EVERY ~= 0 then return 0 end
  local healed = 0
  for _, id in ipairs(ecs.query(world, 'health')) do
    local h = ecs.get(world, id, 'health')
    if h.hp < h.max then
      h.hp = h.hp + 1
      healed = healed + 1
    end
  end
  return healed
end

-- One game tick: the systems in their fixed order.
function systems.tick(game)
  game.tick = game.tick + 1
  local healed = systems.regenerate(game.world, game.tick)
  return { tick = game.tick, healed = healed }
end

return systems
