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
