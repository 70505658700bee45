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
