-- ao-deploy router: a small aos process that clients talk to instead of the game.
--
-- * Every message is forwarded to the active process with the original sender
--   in `Forwarded-From`, a sequence number in `Forward-Seq` (arrival order) and
--   the original id in `Forwarded-Id`; the player's own tags come along
--   (`Forwarded-From`, `Forward-Seq`, `Forwarded-Id`, `Deploy-Shadow` sent by a
--   client are dropped: only the router sets them).
-- * `Deploy-Hold` makes it buffer every message; `Deploy-Route` points it at a
--   process and forwards the buffer there in arrival order: none lost, none
--   doubled (a switch whose flush fails leaves the router as it was, buffer
--   whole, since AO drops what a failed handler sent). Only
--   `DeployRouter.Authority` (the deployer's wallet) may send them.
-- * The buffer is bounded (`DeployRouter.MaxBuffer` messages): while it is full,
--   a new message is not taken; its sender gets `Action = Deploy-Router-Busy`
--   (with `Refused-Id`, the message's id) and may send it again. Nothing is
--   dropped silently; refusals are counted (`stats.rejected`) and reported to
--   the deployer in `Deploy-Routed` (`Rejected`, since the hold).
-- * With a shadow, a copy of every message of a share of senders (sticky: by a
--   hash of the sender) also goes to a canary, tagged `Deploy-Shadow = 1`; the
--   canary's process module holds back whatever it would send.
-- * Messages from processes it has routed to are never forwarded back.
-- * `Deploy-Router-Status` (a dry run is enough) answers its state as JSON.

local json = require('json')

DeployRouter = DeployRouter or {
  Active = nil,
  Authority = nil,
  Mode = 'forward',
  Seq = 0,
  Forwarded = 0,
  Buffer = {},
  Shadow = nil,
  Weight = 0,
  Known = {},
  MaxBuffer = 10000,
  Stats = { forwarded = 0, buffered = 0, mirrored = 0, refused = 0, flushed = 0, rejected = 0 },
}
local R = DeployRouter
-- A router booted by an older version of this file lacks them.
R.MaxBuffer = R.MaxBuffer or 10000
R.Stats.rejected = R.Stats.rejected or 0
R.HoldRejected = R.HoldRejected or 0

local DROPPED = {
  ['Data-Protocol'] = true, ['Variant'] = true, ['Type'] = true, ['From-Process'] = true,
  ['From-Module'] = true, ['Forwarded-From'] = true, ['Forward-Seq'] = true,
  ['Forwarded-Id'] = true, ['Deploy-Shadow'] = true,
}

-- FNV-1a over the sender's bytes, 0..99: which senders a shadow gets.
local function bucket(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return h % 100
end
R.bucket = bucket

local function capture(msg)
  local tags = {}
  for _, t in ipairs(msg.TagArray or {}) do
    if not DROPPED[t.name] then tags[#tags + 1] = { name = t.name, value = t.value } end
  end
  local data = msg.Data
  if type(data) == 'table' then data = json.encode(data) end
  return { from = msg.From, id = msg.Id, tags = tags, data = data or '' }
end

local function send(target, item, seq, shadow)
  local tags = {}
  for i, t in ipairs(item.tags) do tags[i] = t end
  tags[#tags + 1] = { name = 'Forwarded-From', value = item.from }
  tags[#tags + 1] = { name = 'Forward-Seq', value = tostring(seq) }
  tags[#tags + 1] = { name = 'Forwarded-Id', value = item.id }
  if shadow then tags[#tags + 1] = { name = 'Deploy-Shadow', value = '1' } end
  ao.send({ Target = target, Data = item.data, Tags = tags })
end

local function dispatch(item, seq)
  send(R.Active, item, seq, false)
  R.Forwarded = seq
  R.Stats.forwarded = R.Stats.forwarded + 1
  if R.Shadow and R.Weight > 0 and bucket(item.from) < R.Weight then
    send(R.Shadow, item, seq, true)
    R.Stats.mirrored = R.Stats.mirrored + 1
  end
end

function R.configure(active, authority, max_buffer)
  R.Active = active
  R.Authority = authority
  R.Known[active] = true
  if max_buffer then R.MaxBuffer = max_buffer end
end

local CONTROL = { ['Deploy-Hold'] = true, ['Deploy-Route'] = true, ['Deploy-Router-Status'] = true }

Handlers.prepend('deploy-router.control', function(msg)
  return CONTROL[msg.Action] == true
end, function(msg)
  if msg.Action == 'Deploy-Router-Status' then
    msg.reply({
      Action = 'Deploy-Router-Status',
      Data = json.encode({
        active = R.Active or '', mode = R.Mode, seq = R.Seq, forwarded = R.Forwarded,
        buffered = #R.Buffer, max_buffer = R.MaxBuffer, shadow = R.Shadow or '', weight = R.Weight,
        stats = R.Stats,
      }),
    })
    return
  end
  if msg.From ~= (R.Authority or Owner) then
    R.Stats.refused = R.Stats.refused + 1
    msg.reply({ Action = 'Deploy-Refused', Error = 'only the deployer may control this router' })
    return
  end
  if msg.Action == 'Deploy-Hold' then
    -- A repeated hold (a retried send) keeps counting from the first one.
    if R.Mode ~= 'hold' then R.HoldRejected = 0 end
    R.Mode = 'hold'
    msg.reply({ Action = 'Deploy-Held', ['Last-Seq'] = tostring(R.Forwarded), Buffered = tostring(#R.Buffer) })
    return
  end
  -- Deploy-Route: Active = process, optional Shadow = process and Weight = 0..100.
  local active = msg.Active
  if type(active) ~= 'string' or #active ~= 43 then
    msg.reply({ Action = 'Deploy-Refused', Error = 'Deploy-Route needs an Active process id' })
    return
  end
  local weight = math.tointeger(tonumber(msg.Weight or '0'))
  if not weight or weight < 0 or weight > 100 then
    msg.reply({ Action = 'Deploy-Refused', Error = 'Weight must be an integer from 0 to 100' })
    return
  end
  local shadow = msg.Shadow
  if shadow == '' then shadow = nil end
  -- If the flush fails halfway, AO drops everything this message sent, so
  -- the router must be as it was, its buffer whole, for a switch sent again.
  local before = {
    active = R.Active, shadow = R.Shadow, weight = R.Weight, forwarded = R.Forwarded,
    stats_forwarded = R.Stats.forwarded, stats_mirrored = R.Stats.mirrored,
  }
  R.Active = active
  R.Shadow = shadow
  R.Weight = shadow and weight or 0
  local buffer = R.Buffer
  local ok, err = pcall(function()
    for _, item in ipairs(buffer) do
      dispatch(item, item.seq)
    end
  end)
  if not ok then
    R.Active, R.Shadow, R.Weight, R.Forwarded = before.active, before.shadow, before.weight, before.forwarded
    R.Stats.forwarded, R.Stats.mirrored = before.stats_forwarded, before.stats_mirrored
    error(err, 0)
  end
  R.Known[active] = true
  if shadow then R.Known[shadow] = true end
  R.Mode = 'forward'
  R.Buffer = {}
  R.Stats.flushed = R.Stats.flushed + #buffer
  local rejected = R.HoldRejected
  R.HoldRejected = 0
  msg.reply({
    Action = 'Deploy-Routed', Flushed = tostring(#buffer), ['Last-Seq'] = tostring(R.Forwarded),
    Rejected = tostring(rejected),
  })
end)

Handlers.add('deploy-router.forward', function(msg)
  -- The owner's Evals run in `_eval` first; anyone else's are refused by AO.
  if msg.Action == 'Eval' then return false end
  if R.Known[msg.From] then return false end
  return R.Active ~= nil
end, function(msg)
  if R.Mode == 'hold' and #R.Buffer >= R.MaxBuffer then
    R.Stats.rejected = R.Stats.rejected + 1
    R.HoldRejected = R.HoldRejected + 1
    msg.reply({
      Action = 'Deploy-Router-Busy', ['Refused-Id'] = msg.Id or '',
      Error = 'the router is switching and its buffer is full: send the message again',
    })
    return
  end
  R.Seq = R.Seq + 1
  local item = capture(msg)
  item.seq = R.Seq
  if R.Mode == 'hold' then
    R.Buffer[#R.Buffer + 1] = item
    R.Stats.buffered = R.Stats.buffered + 1
  else
    dispatch(item, R.Seq)
  end
end)
