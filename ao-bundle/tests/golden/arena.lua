-- bundled by ao-bundle 0.1.0: 5 modules; entries: main
for _, name in ipairs({"arena.components", "arena.config", "arena.ecs", "arena.systems", "main"}) do package.loaded[name] = nil end
package.preload["arena.components"] = function(...)
-- Component constructors: each checks its fields, so bad data fails where it is made.

local components = {}

function components.position(x, y)
  assert(math.type(x) == 'integer' and math.type(y) == 'integer', 'position: integer x and y expected')
  return { x = x, y = y }
end

function components.health(hp, max)
  assert(math.type(hp) == 'integer' and math.type(max) == 'integer' and hp <= max, 'health: hp <= max expected')
  return { hp = hp, max = max }
end

function components.player(wallet, name)
  assert(type(wallet) == 'string' and #wallet > 0, 'player: wallet expected')
  return { wallet = wallet, name = name or wallet:sub(1, 8) }
end

function components.score(points)
  return { points = points or 0, hits = 0, knockouts = 0 }
end

-- Direction name -> step.
components.DIRECTIONS = {
  N = { dx = 0, dy = -1 },
  S = { dx = 0, dy = 1 },
  E = { dx = 1, dy = 0 },
  W = { dx = -1, dy = 0 },
}

return components
end
package.preload["arena.config"] = function(...)
-- Arena rules, in one place so a target build can override them.
return {
  WIDTH = 12,
  HEIGHT = 12,
  MAX_PLAYERS = 64,
  START_HP = 5,
  MAX_HP = 5,
  -- Ticks between two regeneration points.
  REGEN_EVERY = 3,
  -- Points for landing a hit and for a knock-out.
  HIT_POINTS = 1,
  KO_POINTS = 5,
}
end
package.preload["arena.ecs"] = function(...)
-- A small entity-component-system world.
--
-- Entities are integers that pack a slot index and a generation, so an id of a
-- despawned entity never aliases the entity that later reuses its slot.
-- Components live in one store per component name (id -> value). Queries
-- return ids sorted, so systems never depend on table iteration order.
-- Functions take the world as their first argument (no methods), so a hot
-- reload of this module applies to worlds created by the old code.

local ecs = {}

local SLOT_BITS = 20
local SLOT_MASK = (1 << SLOT_BITS) - 1

function ecs.new()
  return { generations = {}, free = {}, alive = {}, stores = {}, count = 0 }
end

function ecs.slot(id) return id & SLOT_MASK end
function ecs.generation(id) return id >> SLOT_BITS end

function ecs.spawn(world)
  local slot = table.remove(world.free)
  if not slot then
    slot = #world.generations + 1
    world.generations[slot] = 0
  end
  local id = (world.generations[slot] << SLOT_BITS) | slot
  world.alive[id] = true
  world.count = world.count + 1
  return id
end

function ecs.is_alive(world, id)
  return world.alive[id] == true
end

function ecs.despawn(world, id)
  if not world.alive[id] then return false end
  world.alive[id] = nil
  for _, store in pairs(world.stores) do store[id] = nil end
  local slot = ecs.slot(id)
  world.generations[slot] = world.generations[slot] + 1
  table.insert(world.free, slot)
  world.count = world.count - 1
  return true
end

function ecs.set(world, id, name, value)
  assert(world.alive[id], 'ecs.set: entity ' .. tostring(id) .. ' is not alive')
  local store = world.stores[name]
  if not store then
    store = {}
    world.stores[name] = store
  end
  store[id] = value
  return value
end

function ecs.get(world, id, name)
  local store = world.stores[name]
  return store and store[id]
end

function ecs.remove(world, id, name)
  local store = world.stores[name]
  if store then store[id] = nil end
end

-- Ids of the entities that have every named component, ascending.
function ecs.query(world, ...)
  local names = { ... }
  local first = world.stores[names[1]]
  local ids = {}
  if not first then return ids end
  for id in pairs(first) do
    local ok = true
    for i = 2, #names do
      local store = world.stores[names[i]]
      if not (store and store[id] ~= nil) then ok = false; break end
    end
    if ok then ids[#ids + 1] = id end
  end
  table.sort(ids)
  return ids
end

-- Entity count per component name.
function ecs.counts(world)
  local counts = {}
  for name, store in pairs(world.stores) do
    local n = 0
    for _ in pairs(store) do n = n + 1 end
    counts[name] = n
  end
  return counts
end

return ecs
end
package.preload["arena.systems"] = function(...)
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
end
package.preload["main"] = function(...)
-- The arena process: aos handlers over the ECS world.
--
-- Messages: Join, Move (Direction = N/S/E/W), State, Ping, and Tick (owner only).
-- Game state lives in the global `Arena`, so re-loading this code (hot reload)
-- keeps the world.

local json = require('json')
local ecs = require('arena.ecs')
local components = require('arena.components')
local systems = require('arena.systems')
local config = require('arena.config')

Arena = Arena or { world = ecs.new(), tick = 0, players = {}, joined = 0, version = 1 }

local function player_of(wallet)
  return Arena.players[wallet]
end

local function view_player(id)
  local w = Arena.world
  local p, h, s, pl = ecs.get(w, id, 'position'), ecs.get(w, id, 'health'), ecs.get(w, id, 'score'), ecs.get(w, id, 'player')
  return { id = id, name = pl.name, wallet = pl.wallet, x = p.x, y = p.y, hp = h.hp, points = s.points }
end

local function fail(msg, action, reason)
  msg.reply({ Action = action, Error = reason, Data = reason })
end

Handlers.add('Join', 'Join', function(msg)
  if player_of(msg.From) then
    return fail(msg, 'Join-Error', 'already joined')
  end
  if Arena.joined >= config.MAX_PLAYERS then
    return fail(msg, 'Join-Error', 'arena is full')
  end
  local w = Arena.world
  local x, y = systems.spawn_point(w, Arena.joined + 1)
  if not x then return fail(msg, 'Join-Error', 'no free spawn point') end
  local id = ecs.spawn(w)
  ecs.set(w, id, 'player', components.player(msg.From, msg.Name))
  ecs.set(w, id, 'position', components.position(x, y))
  ecs.set(w, id, 'health', components.health(config.START_HP, config.MAX_HP))
  ecs.set(w, id, 'score', components.score())
  Arena.players[msg.From] = id
  Arena.joined = Arena.joined + 1
  msg.reply({ Action = 'Joined', Entity = tostring(id), X = tostring(x), Y = tostring(y) })
end)

Handlers.add('Move', 'Move', function(msg)
  local id = player_of(msg.From)
  if not id then return fail(msg, 'Move-Error', 'not joined') end
  local dir = msg.Direction
  if not components.DIRECTIONS[dir] then
    return fail(msg, 'Move-Error', 'invalid direction ' .. tostring(dir) .. ' (use N, S, E or W)')
  end
  local outcome, target = systems.move(Arena.world, id, dir)
  local pos = ecs.get(Arena.world, id, 'position')
  msg.reply({
    Action = 'Moved', Outcome = outcome, X = tostring(pos.x), Y = tostring(pos.y),
    Victim = target and tostring(target) or nil,
  })
end)

Handlers.add('Tick', 'Tick', function(msg)
  if msg.From ~= Owner then
    return fail(msg, 'Tick-Error', 'only the owner may tick')
  end
  local result = systems.tick(Arena)
  msg.reply({ Action = 'Ticked', Tick = tostring(result.tick), Healed = tostring(result.healed) })
end)

Handlers.add('State', 'State', function(msg)
  local players = {}
  for _, id in ipairs(ecs.query(Arena.world, 'player')) do
    players[#players + 1] = view_player(id)
  end
  msg.reply({
    Action = 'State',
    Data = json.encode({
      tick = Arena.tick, version = Arena.version, players = players,
      entities = Arena.world.count, components = ecs.counts(Arena.world),
      size = { w = config.WIDTH, h = config.HEIGHT },
    }),
  })
end)

Handlers.add('Ping', 'Ping', function(msg)
  msg.reply({ Action = 'Pong', Data = 'pong' })
end)
end
require("main")
