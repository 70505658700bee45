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
