-- Anchor process for ao-ecs-snapshot: records snapshot roots sent by its owner.
--   Action = Anchor-Snapshot  tags Root (64 hex), Tick, Entities, Kind; data = JSON counts
--   Action = Get-Anchor       tag Root; replies Action = Anchor (data = JSON record)
--                             or Action = Anchor-Not-Found
-- A root is anchored once; a second Anchor-Snapshot for it replies Anchor-Exists.
local json = require('json')

Anchors = Anchors or {}

local function is_root(s)
  return type(s) == 'string' and #s == 64 and s:match('^[0-9a-f]+$') ~= nil
end

Handlers.add('anchor-snapshot', Handlers.utils.hasMatchingTag('Action', 'Anchor-Snapshot'), function(msg)
  if msg.From ~= Owner then
    msg.reply({ Action = 'Anchor-Error', Error = 'only the owner anchors' })
    return
  end
  local root = msg.Tags.Root
  if not is_root(root) then
    msg.reply({ Action = 'Anchor-Error', Error = 'Root must be 64 lowercase hex digits' })
    return
  end
  local existing = Anchors[root]
  if existing then
    msg.reply({ Action = 'Anchor-Exists', Root = root, ['Anchor-Id'] = existing.Id })
    return
  end
  Anchors[root] = {
    Root = root,
    Tick = msg.Tags.Tick,
    Entities = msg.Tags.Entities,
    Kind = msg.Tags.Kind,
    Components = msg.Data,
    Id = msg.Id,
    From = msg.From,
    Timestamp = tostring(msg.Timestamp),
  }
  msg.reply({ Action = 'Anchored', Root = root, ['Anchor-Id'] = msg.Id })
end)

Handlers.add('get-anchor', Handlers.utils.hasMatchingTag('Action', 'Get-Anchor'), function(msg)
  local a = Anchors[msg.Tags.Root or '']
  if a then
    msg.reply({ Action = 'Anchor', Root = a.Root, Data = json.encode(a) })
  else
    msg.reply({ Action = 'Anchor-Not-Found', Root = msg.Tags.Root or '' })
  end
end)
