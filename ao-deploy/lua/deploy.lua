-- ao-deploy process module: what ao-deploy loads into every process it deploys,
-- before the game's own code. Game-agnostic; loading it again keeps its state.
--
-- * Trust: a message from `Deploy.Router` carrying `Forwarded-From` is seen by
--   the game as sent by that original sender (`msg.From`, `msg.Owner`), so
--   authorization and `msg.reply` keep working behind the router. The same tags
--   on a message from anyone else are removed before the game sees them.
-- * Ledger: forwarded messages carry `Forward-Seq`; one at or below the last
--   seen is a duplicate and is dropped (counted). The ledger moves with the state.
-- * Shadow: a forwarded message tagged `Deploy-Shadow = 1` (a canary's mirrored
--   traffic) is handled normally, but nothing it sends leaves the process.
-- * Stats: messages and Lua errors, for canary analysis.
-- * Evals at most once: an owner's Eval tagged `Deploy-Eval-Id` equal to that
--   of the last tagged Eval that ran here (a send retried after a lost reply, an
--   action run again after the deployer crashed) is not run again. Only the
--   last id counts, so a release loaded again after another one runs again.
-- * State: `Export-State` / `Import-State` (owner only, never through the router)
--   move the globals named in `Deploy.Globals` and the ledger, in chunks, in a
--   canonical encoding that ao-deploy decodes, migrates and checks by BLAKE3.
-- * `Deploy-Info` (a dry run) answers release, ledger and stats as JSON;
--   `Deploy-Retire` (owner) makes the process refuse traffic for good.

local json = require('json')

Deploy = Deploy or {
  Router = nil,
  Globals = {},
  Ledger = { last = 0, count = 0, dup = 0 },
  Stats = { messages = 0, errors = 0, shadow = 0, shadow_errors = 0, suppressed = 0, after_retire = 0 },
  Release = nil,
  Version = nil,
  Config = {},
  Retired = false,
  Export = nil,
  Import = nil,
}
local D = Deploy

local MAX_DEPTH = 100

---------------------------------------------------------------------------
-- Canonical encoding. T/F booleans; i<decimal>; integers; d<16 hex> floats
-- (IEEE-754 bits, big-endian); s<len>:<bytes> strings; {k v k v ...} tables
-- with keys sorted: booleans (false first), numbers, strings (bytewise).
---------------------------------------------------------------------------

local function rank(k)
  local t = type(k)
  if t == 'boolean' then return 1 elseif t == 'number' then return 2 elseif t == 'string' then return 3 end
  return 4
end

local function key_less(a, b)
  local ra, rb = rank(a), rank(b)
  if ra ~= rb then return ra < rb end
  if ra == 1 then return (not a) and b end
  return a < b
end

local function path_string(path)
  local parts = {}
  for i, p in ipairs(path) do
    if type(p) == 'string' and p:match('^[%a_][%w_]*$') then
      parts[i] = (i == 1) and p or ('.' .. p)
    else
      parts[i] = '[' .. tostring(p) .. ']'
    end
  end
  return table.concat(parts)
end

local function encode(value, out, path, seen)
  local t = type(value)
  if t == 'boolean' then
    out[#out + 1] = value and 'T' or 'F'
  elseif t == 'number' then
    if math.type(value) == 'integer' then
      out[#out + 1] = 'i' .. string.format('%d', value) .. ';'
    else
      local bytes = string.pack('>d', value)
      out[#out + 1] = 'd' .. (bytes:gsub('.', function(c) return string.format('%02x', c:byte()) end))
    end
  elseif t == 'string' then
    out[#out + 1] = 's' .. #value .. ':' .. value
  elseif t == 'table' then
    if #path > MAX_DEPTH then error('state nested deeper than ' .. MAX_DEPTH .. ' at ' .. path_string(path), 0) end
    if getmetatable(value) ~= nil then error('cannot export a table with a metatable at ' .. path_string(path), 0) end
    if seen[value] then
      error('the table at ' .. path_string(path) .. ' is also at ' .. seen[value] .. ' (shared tables cannot be exported)', 0)
    end
    seen[value] = path_string(path)
    local keys = {}
    for k in pairs(value) do
      if rank(k) == 4 then
        error('cannot export a ' .. type(k) .. ' used as a key at ' .. path_string(path), 0)
      end
      keys[#keys + 1] = k
    end
    table.sort(keys, key_less)
    out[#out + 1] = '{'
    for _, k in ipairs(keys) do
      path[#path + 1] = k
      encode(k, out, path, seen)
      encode(value[k], out, path, seen)
      path[#path] = nil
    end
    out[#out + 1] = '}'
  else
    error('cannot export a ' .. t .. ' at ' .. path_string(path), 0)
  end
end

function D.encode(value)
  local out = {}
  encode(value, out, {}, {})
  return table.concat(out)
end

function D.decode(s)
  local pos = 1
  local function fail(why)
    error(string.format('state bytes at offset %d: %s', pos - 1, why), 0)
  end
  local parse
  parse = function(depth)
    local c = s:sub(pos, pos)
    if c == 'T' then pos = pos + 1; return true end
    if c == 'F' then pos = pos + 1; return false end
    if c == 'i' then
      local e = s:find(';', pos, true)
      if not e then fail('unterminated integer') end
      local text = s:sub(pos + 1, e - 1)
      local v = text:match('^%-?%d+$') and math.tointeger(tonumber(text))
      if not v then fail('bad integer ' .. text) end
      pos = e + 1
      return v
    end
    if c == 'd' then
      local hex = s:sub(pos + 1, pos + 16)
      if not hex:match('^%x+$') or #hex ~= 16 then fail('bad float') end
      pos = pos + 17
      return (string.unpack('>d', (hex:gsub('..', function(h) return string.char(tonumber(h, 16)) end))))
    end
    if c == 's' then
      local colon = s:find(':', pos, true)
      local n = colon and s:sub(pos + 1, colon - 1):match('^%d+$') and tonumber(s:sub(pos + 1, colon - 1))
      if not n or colon + n > #s then fail('bad string length') end
      local v = s:sub(colon + 1, colon + n)
      pos = colon + n + 1
      return v
    end
    if c == '{' then
      if depth > MAX_DEPTH then fail('nested deeper than ' .. MAX_DEPTH) end
      pos = pos + 1
      local t, prev = {}, nil
      while s:sub(pos, pos) ~= '}' do
        if pos > #s then fail('unterminated table') end
        local k = parse(depth + 1)
        if type(k) == 'table' then fail('a table cannot be a key') end
        if prev ~= nil and not key_less(prev, k) then fail('keys out of canonical order') end
        t[k] = parse(depth + 1)
        prev = k
      end
      pos = pos + 1
      return t
    end
    fail('unexpected ' .. (c == '' and 'end' or string.format('%q', c)))
  end
  local v = parse(0)
  if pos ~= #s + 1 then fail('trailing bytes') end
  return v
end

-- { globals = { <name> = _G[name], ... }, ledger = Deploy.Ledger }, with error
-- paths that start at the global's name.
function D.export_blob()
  local names, seen = {}, {}
  for _, name in ipairs(D.Globals) do
    if _G[name] ~= nil and not seen[name] then names[#names + 1] = name; seen[name] = true end
  end
  table.sort(names)
  local out, shared = { '{s7:globals{' }, {}
  for _, name in ipairs(names) do
    out[#out + 1] = 's' .. #name .. ':' .. name
    encode(_G[name], out, { name }, shared)
  end
  out[#out + 1] = '}s6:ledger'
  encode(D.Ledger, out, { 'Deploy', 'Ledger' }, {})
  out[#out + 1] = '}'
  return table.concat(out)
end

function D.apply_blob(blob)
  local v = D.decode(blob)
  if type(v) ~= 'table' or type(v.globals) ~= 'table' or type(v.ledger) ~= 'table' then
    error('state must be a table with globals and ledger', 0)
  end
  for _, name in ipairs(D.Globals) do _G[name] = v.globals[name] end
  D.Ledger = v.ledger
end

---------------------------------------------------------------------------
-- Configuration (sent by ao-deploy in an Eval after the release's code).
---------------------------------------------------------------------------

function D.configure(c)
  D.Router = c.router
  D.Globals = c.globals or D.Globals
  D.Release = c.release
  D.Version = c.version
  D.Config = c.config or {}
  if type(AoEnv) == 'table' then AoEnv.Config = D.Config end
end

---------------------------------------------------------------------------
-- The wrapper around message handling.
---------------------------------------------------------------------------

local CONTROL = {
  ['Export-State'] = true, ['Import-State'] = true, ['Deploy-Info'] = true, ['Deploy-Retire'] = true,
}
local FORWARD_TAGS = { 'Forwarded-From', 'Forward-Seq', 'Forwarded-Id', 'Deploy-Shadow' }

local FORWARD_TAG = {}
for _, name in ipairs(FORWARD_TAGS) do FORWARD_TAG[name] = true end

-- Everywhere the game could read them: fields, `Tags` and `TagArray`.
local function strip(msg)
  for _, name in ipairs(FORWARD_TAGS) do
    msg[name] = nil
    if type(msg.Tags) == 'table' then msg.Tags[name] = nil end
  end
  if type(msg.TagArray) == 'table' then
    local kept = {}
    for _, t in ipairs(msg.TagArray) do
      if not (type(t) == 'table' and FORWARD_TAG[t.name]) then kept[#kept + 1] = t end
    end
    msg.TagArray = kept
  end
end

local function eval_id(msg)
  local id = msg['Deploy-Eval-Id']
  if msg.Action == 'Eval' and type(id) == 'string' and (msg.From == Owner or msg.From == ao.id) then
    return id
  end
  return nil
end

function D.evaluate(msg, env)
  local once = eval_id(msg)
  if once and once == D.LastEval then
    D.Stats.evals_skipped = (D.Stats.evals_skipped or 0) + 1
    return true
  end
  local forwarded = D.Router ~= nil and msg.From == D.Router and type(msg['Forwarded-From']) == 'string'
  local control = CONTROL[msg.Action] == true
  -- Control messages come from the owner directly, never through the router.
  if forwarded and control then return true end
  local counted = not control and msg.Action ~= 'Eval'
  if D.Retired and counted then
    D.Stats.after_retire = D.Stats.after_retire + 1
    return true
  end
  local shadow = false
  if forwarded then
    shadow = msg['Deploy-Shadow'] == '1'
    local seq = math.tointeger(tonumber(msg['Forward-Seq'] or ''))
    if seq then
      if seq <= D.Ledger.last then
        D.Ledger.dup = D.Ledger.dup + 1
        return true
      end
      D.Ledger.last = seq
    end
    D.Ledger.count = D.Ledger.count + 1
    msg.From = msg['Forwarded-From']
    msg.Owner = msg.From
  end
  strip(msg)
  if counted then
    D.Stats.messages = D.Stats.messages + 1
    if shadow then D.Stats.shadow = D.Stats.shadow + 1 end
  end
  D._shadow = shadow
  local ok, result = pcall(D._inner, msg, env)
  D._shadow = false
  if not ok then
    if counted then
      D.Stats.errors = D.Stats.errors + 1
      if shadow then D.Stats.shadow_errors = D.Stats.shadow_errors + 1 end
    end
    error(result, 0)
  end
  if once then D.LastEval = once end
  return result
end

if not D._wrapped then
  D._inner = Handlers.evaluate
  Handlers.evaluate = function(msg, env) return D.evaluate(msg, env) end
  D._send = ao.send
  ao.send = function(m)
    if D._shadow then
      D.Stats.suppressed = D.Stats.suppressed + 1
      return m
    end
    return D._send(m)
  end
  D._wrapped = true
end

local function owner_only(msg)
  if msg.From ~= Owner then
    msg.reply({ Action = 'State-Error', Error = 'only the owner may ' .. msg.Action })
    return false
  end
  return true
end

Handlers.prepend('deploy.export-state', function(msg) return msg.Action == 'Export-State' end, function(msg)
  if not owner_only(msg) then return end
  local id, size, chunk = msg['Export-Id'], math.tointeger(tonumber(msg['Chunk-Size'] or '')), math.tointeger(tonumber(msg.Chunk or ''))
  if type(id) ~= 'string' or not size or size < 16 or not chunk or chunk < 1 then
    msg.reply({ Action = 'State-Error', Error = 'Export-State needs Export-Id, Chunk-Size >= 16 and Chunk >= 1' })
    return
  end
  if D.Export == nil or D.Export.id ~= id then
    local ok, blob = pcall(D.export_blob)
    if not ok then
      msg.reply({ Action = 'State-Error', Error = tostring(blob) })
      return
    end
    -- The ledger as of the blob: a message handled between chunks is not in it.
    D.Export = { id = id, blob = blob, last = D.Ledger.last }
  end
  local blob = D.Export.blob
  local chunks = math.max(1, (#blob + size - 1) // size)
  if chunk > chunks then
    msg.reply({ Action = 'State-Error', Error = 'chunk ' .. chunk .. ' of ' .. chunks })
    return
  end
  msg.reply({
    Action = 'State-Chunk', ['Export-Id'] = id, Chunk = tostring(chunk), Chunks = tostring(chunks),
    ['Total-Bytes'] = tostring(#blob), ['Ledger-Last'] = tostring(D.Export.last),
    Data = blob:sub((chunk - 1) * size + 1, chunk * size),
  })
  if chunk == chunks then D.Export = nil end
end)

Handlers.prepend('deploy.import-state', function(msg) return msg.Action == 'Import-State' end, function(msg)
  if not owner_only(msg) then return end
  local id, chunk, chunks = msg['Import-Id'], math.tointeger(tonumber(msg.Chunk or '')), math.tointeger(tonumber(msg.Chunks or ''))
  if type(id) ~= 'string' or not chunk or not chunks or chunk < 1 or chunk > chunks then
    msg.reply({ Action = 'State-Error', Error = 'Import-State needs Import-Id and 1 <= Chunk <= Chunks' })
    return
  end
  if D.Import == nil or D.Import.id ~= id or D.Import.chunks ~= chunks then
    D.Import = { id = id, chunks = chunks, parts = {}, applied = false }
  end
  local im = D.Import
  if im.applied then
    msg.reply({ Action = 'State-Imported', ['Import-Id'] = id, Bytes = tostring(im.bytes), Already = 'true' })
    return
  end
  im.parts[chunk] = type(msg.Data) == 'string' and msg.Data or ''
  for i = 1, chunks do
    if im.parts[i] == nil then
      msg.reply({ Action = 'State-Chunk-Received', ['Import-Id'] = id, Chunk = tostring(chunk) })
      return
    end
  end
  local blob = table.concat(im.parts)
  local ok, err = pcall(D.apply_blob, blob)
  if not ok then
    D.Import = nil
    msg.reply({ Action = 'State-Error', Error = tostring(err) })
    return
  end
  im.applied, im.parts, im.bytes = true, nil, #blob
  msg.reply({ Action = 'State-Imported', ['Import-Id'] = id, Bytes = tostring(#blob) })
end)

Handlers.prepend('deploy.info', function(msg) return msg.Action == 'Deploy-Info' end, function(msg)
  msg.reply({
    Action = 'Deploy-Info',
    Data = json.encode({
      release = D.Release or '', version = D.Version or '', router = D.Router or '',
      ledger = D.Ledger, stats = D.Stats, retired = D.Retired, globals = D.Globals,
      last_eval = D.LastEval or '',
    }),
  })
end)

Handlers.prepend('deploy.retire', function(msg) return msg.Action == 'Deploy-Retire' end, function(msg)
  if not owner_only(msg) then return end
  D.Retired = true
  msg.reply({ Action = 'Deploy-Retired' })
end)
