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
