-- ao-local's aos-compatible prelude: the process library every AO program expects
-- (ao, Handlers, Send, Spawn, Inbox, Owner, the Eval handler), written for ao-local.
--
-- Loaded once into each fresh Lua state after the sandbox is applied and the
-- runtime modules (json, .utils, .base64, .bint) are registered as preloads.
-- The host calls the functions in the returned table; nothing else is exported
-- outside the globals aos programs use.

local json = require('json')
local utils = require('.utils')

local host = {}

local MAX_INBOX = __ao_local_max_inbox or 10000
__ao_local_max_inbox = nil

-- Tags aos does not copy onto the message table as fields.
local NON_EXTRACTABLE = {
  ['Data-Protocol'] = true, ['Variant'] = true, ['From-Process'] = true, ['From-Module'] = true,
  ['Type'] = true, ['From'] = true, ['Owner'] = true, ['Anchor'] = true, ['Target'] = true,
  ['Data'] = true, ['Tags'] = true, ['Read-Only'] = true,
}

-- Keys of a message table handed to ao.send that are not tags.
local MESSAGE_FIELDS = { Target = true, Data = true, Anchor = true, Tags = true }

Colors = { red = '\27[31m', green = '\27[32m', blue = '\27[34m', gray = '\27[90m', reset = '\27[0m' }
Bell = '\x07'
Name = Name or 'aos'
Inbox = Inbox or {}

-- Output is captured per message; the host joins it with newlines.
local output = {}

local function stringify(v)
  if type(v) == 'table' then
    local ok, text = pcall(json.encode, v)
    if ok then return text end
  end
  return tostring(v)
end

function print(...)
  local n = select('#', ...)
  local parts = {}
  for i = 1, n do
    parts[i] = stringify((select(i, ...)))
  end
  output[#output + 1] = table.concat(parts, '\t')
end

---------------------------------------------------------------------------
-- ao: process identity, outbox, send and spawn
---------------------------------------------------------------------------

ao = {
  _version = '0.0.6-ao-local',
  id = '',
  _module = '',
  authorities = {},
  reference = 0,
  env = { Process = { Id = '', Owner = '', Tags = {}, TagArray = {} } },
  outbox = { Output = {}, Messages = {}, Spawns = {}, Assignments = {} },
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- Appends tags from a table that is either a list of {name=, value=} or a map.
local function append_tags(list, tags)
  if tags == nil then return end
  if #tags > 0 then
    for _, t in ipairs(tags) do
      list[#list + 1] = { name = tostring(t.name), value = tostring(t.value) }
    end
  else
    for _, k in ipairs(sorted_keys(tags)) do
      list[#list + 1] = { name = tostring(k), value = tostring(tags[k]) }
    end
  end
end

-- Keys of `msg` other than Target/Data/Anchor/Tags become tags, sorted so the
-- outbox is deterministic; then `msg.Tags` (a list or a map) is appended.
local function add_message_tags(tags, msg)
  for _, k in ipairs(sorted_keys(msg)) do
    if not MESSAGE_FIELDS[k] and type(k) == 'string' then
      tags[#tags + 1] = { name = k, value = tostring(msg[k]) }
    end
  end
  append_tags(tags, msg.Tags)
end

local function encode_data(data)
  if data == nil then return '' end
  if type(data) == 'table' then return json.encode(data) end
  return tostring(data)
end

function ao.send(msg)
  assert(type(msg) == 'table', 'ao.send: msg should be a table')
  ao.reference = ao.reference + 1
  local ref = tostring(ao.reference)
  local tags = {
    { name = 'Data-Protocol', value = 'ao' },
    { name = 'Variant', value = 'ao.TN.1' },
    { name = 'Type', value = 'Message' },
    { name = 'Reference', value = ref },
  }
  add_message_tags(tags, msg)
  local out = {
    Target = msg.Target,
    Data = encode_data(msg.Data),
    Anchor = msg.Anchor or string.format('%032d', ao.reference),
    Tags = tags,
  }
  if out.Target == nil then error('ao.send: message has no Target', 2) end
  table.insert(ao.outbox.Messages, out)
  return out
end

function ao.spawn(module, msg)
  assert(type(module) == 'string', 'ao.spawn: module should be a string')
  msg = msg or {}
  assert(type(msg) == 'table', 'ao.spawn: msg should be a table')
  ao.reference = ao.reference + 1
  local tags = {
    { name = 'Data-Protocol', value = 'ao' },
    { name = 'Variant', value = 'ao.TN.1' },
    { name = 'Type', value = 'Process' },
    { name = 'From-Process', value = ao.id },
    { name = 'From-Module', value = ao._module },
    { name = 'Module', value = module },
    { name = 'Reference', value = tostring(ao.reference) },
  }
  add_message_tags(tags, msg)
  local out = { Module = module, Data = encode_data(msg.Data), Tags = tags }
  table.insert(ao.outbox.Spawns, out)
  return out
end

function ao.isTrusted(msg)
  if msg.From == Owner or msg.From == ao.id then return true end
  for _, a in ipairs(ao.authorities) do
    if msg.From == a or msg.Owner == a then return true end
  end
  return false
end

function ao.result(result)
  return result
end

Send = function(msg) return ao.send(msg) end
Spawn = function(module, msg) return ao.spawn(module, msg) end

function Prompt()
  return 'aos> '
end

---------------------------------------------------------------------------
-- Handlers
---------------------------------------------------------------------------

local handlers_utils = {}

function handlers_utils.hasMatchingTag(name, value)
  assert(type(name) == 'string' and type(value) == 'string', 'invalid arguments: (name : string, value : string)')
  return function(msg) return msg.Tags[name] == value end
end

function handlers_utils.hasMatchingTagOf(name, values)
  assert(type(name) == 'string' and type(values) == 'table', 'invalid arguments: (name : string, values : string[])')
  return function(msg)
    for _, v in ipairs(values) do
      if msg.Tags[name] == v then return true end
    end
    return false
  end
end

function handlers_utils.hasMatchingData(value)
  assert(type(value) == 'string', 'invalid arguments: (value : string)')
  return function(msg) return msg.Data == value end
end

function handlers_utils.reply(input)
  assert(type(input) == 'table' or type(input) == 'string', 'invalid arguments: (input : table or string)')
  return function(msg)
    if type(input) == 'string' then
      msg.reply({ Data = input })
    else
      msg.reply(input)
    end
  end
end

function handlers_utils.continue(pattern)
  return function(msg)
    local match = pattern(msg)
    if match == true or match == 1 or match == 'continue' then
      return 'continue'
    end
    return match
  end
end

Handlers = Handlers or { list = {} }
Handlers._version = '0.0.5-ao-local'
Handlers.utils = handlers_utils
Handlers.onceNonce = Handlers.onceNonce or 0

local function index_of(name)
  for i, h in ipairs(Handlers.list) do
    if h.name == name then return i end
  end
  return nil
end

-- Normalises the (name, pattern, handle, maxRuns) arguments; aos also accepts
-- (name, handle), matching the Action equal to the name.
local function entry(caller, name, pattern, handle, maxRuns)
  assert(type(name) == 'string', caller .. ': name must be a string')
  if handle == nil and type(pattern) == 'function' then
    handle, pattern = pattern, name
  end
  assert(type(pattern) == 'function' or type(pattern) == 'table' or type(pattern) == 'string',
    caller .. ': pattern must be a function, table or string')
  assert(type(handle) == 'function' or (type(handle) == 'table' and getmetatable(handle) and getmetatable(handle).__call),
    caller .. ': handle must be a function')
  assert(maxRuns == nil or maxRuns == 'inf' or math.type(maxRuns) == 'integer',
    caller .. ': maxRuns must be an integer or "inf"')
  return { name = name, pattern = pattern, handle = handle, maxRuns = maxRuns or 'inf' }
end

-- add/append: replace a handler of the same name in place, else add at the end.
local function upsert(caller)
  return function(name, pattern, handle, maxRuns)
    local h = entry(caller, name, pattern, handle, maxRuns)
    local i = index_of(name)
    if i then Handlers.list[i] = h else table.insert(Handlers.list, h) end
    return #Handlers.list
  end
end
Handlers.add = upsert('Handlers.add')
Handlers.append = upsert('Handlers.append')

-- prepend: put the handler first, dropping any earlier one of the same name.
function Handlers.prepend(name, pattern, handle, maxRuns)
  local h = entry('Handlers.prepend', name, pattern, handle, maxRuns)
  local i = index_of(name)
  if i then table.remove(Handlers.list, i) end
  table.insert(Handlers.list, 1, h)
  return #Handlers.list
end

local function insert_relative(offset, target)
  return {
    add = function(name, pattern, handle, maxRuns)
      local h = entry('Handlers.add', name, pattern, handle, maxRuns)
      local existing = index_of(name)
      if existing then table.remove(Handlers.list, existing) end
      local i = index_of(target)
      if i then
        table.insert(Handlers.list, i + offset, h)
      else
        table.insert(Handlers.list, h)
      end
      return #Handlers.list
    end,
  }
end

function Handlers.before(target) return insert_relative(0, target) end
function Handlers.after(target) return insert_relative(1, target) end

function Handlers.once(name, pattern, handle)
  if type(name) ~= 'string' then
    name, pattern, handle = nil, name, pattern
  end
  if name == nil then
    Handlers.onceNonce = Handlers.onceNonce + 1
    name = '_once_' .. tostring(Handlers.onceNonce)
  end
  return Handlers.prepend(name, pattern, handle, 1)
end

function Handlers.remove(name)
  assert(type(name) == 'string', 'Handlers.remove: name must be a string')
  local i = index_of(name)
  if i then table.remove(Handlers.list, i) end
  return #Handlers.list
end

-- A pattern result decides what happens: true / -1 / "break" handle and stop;
-- false / 0 / "skip" (any other string) skip; "continue" / 1 handle and go on.
local function decision(match)
  local t = type(match)
  if t == 'boolean' then return match and -1 or 0 end
  if t == 'string' then
    if match == 'continue' then return 1 end
    if match == 'break' then return -1 end
    return 0
  end
  if t == 'number' then
    if match < 0 then return -1 end
    if match > 0 then return 1 end
    return 0
  end
  if match == nil then return 0 end
  error('pattern result is not valid: it must be a boolean, number or string, got ' .. t)
end

function Handlers.evaluate(msg, env)
  assert(type(msg) == 'table', 'msg is not valid')
  assert(type(env) == 'table', 'env is not valid')
  local handled = false
  -- Iterate over a snapshot: handlers may add or remove handlers while running.
  local list = {}
  for i, h in ipairs(Handlers.list) do list[i] = h end
  for _, h in ipairs(list) do
    if h.name ~= '_default' then
      local d = decision(utils.matchesSpec(msg, h.pattern))
      if d ~= 0 then
        if d < 0 then handled = true end
        h.handle(msg, env)
        if h.maxRuns ~= 'inf' then
          h.maxRuns = h.maxRuns - 1
          if h.maxRuns <= 0 then Handlers.remove(h.name) end
        end
      end
      if d < 0 then return handled end
    end
  end
  if not handled then
    local i = index_of('_default')
    if i then Handlers.list[i].handle(msg, env) end
  end
  return handled
end

-- Unhandled messages land in the bounded Inbox, as aos does.
Handlers.add('_default', function() return true end, function(msg)
  table.insert(Inbox, msg)
  while #Inbox > MAX_INBOX do table.remove(Inbox, 1) end
end)

-- Eval: runs the message data as Lua, for the owner only. The host refuses
-- other senders before Lua runs; the pattern repeats the check for defence.
Handlers.prepend('_eval', function(msg)
  return msg.Action == 'Eval' and (msg.From == Owner or msg.From == ao.id)
end, function(msg)
  local source = msg.Data or ''
  local fn, err = load('return ' .. source, 'aos', 't', _G)
  if not fn then
    fn, err = load(source, 'aos', 't', _G)
  end
  if not fn then error(err, 0) end
  local results = table.pack(fn())
  if results.n > 0 and results[1] ~= nil then
    local parts = {}
    for i = 1, results.n do parts[i] = stringify(results[i]) end
    output[#output + 1] = table.concat(parts, '\t')
  end
end)

---------------------------------------------------------------------------
-- Deterministic randomness: a per-process xorshift64* stream seeded from the
-- process id, so runs and replays draw the same numbers.
---------------------------------------------------------------------------

local rng_state = 88172645463325252

local function rng_next()
  local x = rng_state
  x = x ~ (x << 13)
  x = x ~ (x >> 7)
  x = x ~ (x << 17)
  rng_state = x
  return x
end

function math.randomseed(seed)
  local s = math.tointeger(seed) or 0
  rng_state = (s == 0) and 88172645463325252 or s
  for _ = 1, 4 do rng_next() end
end

function math.random(m, n)
  local r = rng_next()
  if m == nil then
    return ((r >> 11) & ((1 << 53) - 1)) / (1 << 53)
  end
  local lo, hi
  if n == nil then lo, hi = 1, math.tointeger(m) else lo, hi = math.tointeger(m), math.tointeger(n) end
  if lo == nil or hi == nil then error("bad argument to 'random' (number has no integer representation)", 2) end
  if lo > hi then error("bad argument to 'random' (interval is empty)", 2) end
  local span = hi - lo + 1
  if span <= 0 then return lo + (r & math.maxinteger) end
  return lo + math.fmod(r & math.maxinteger, span)
end

---------------------------------------------------------------------------
-- Host entry points
---------------------------------------------------------------------------

local function tag_map(list)
  local map = {}
  for _, t in ipairs(list) do map[t.name] = t.value end
  return map
end

-- Called once, before the spawn message, with the process identity.
function host.boot(id, owner, module, tags)
  ao.id = id
  ao._module = module
  Owner = owner
  ao.env.Process = { Id = id, Owner = owner, Tags = tag_map(tags), TagArray = tags }
  local seed = 0
  for i = 1, #id do seed = (seed * 31 + id:byte(i)) & math.maxinteger end
  math.randomseed(seed)
end

local now_ms = 0

-- Turns the host's message (fields plus a tag list) into what aos handlers see.
local function normalize(msg)
  local list = msg.Tags
  msg.TagArray = list
  msg.Tags = tag_map(list)
  for _, t in ipairs(list) do
    if not NON_EXTRACTABLE[t.name] then msg[t.name] = t.value end
  end
  if msg.Tags['Content-Type'] == 'application/json' and type(msg.Data) == 'string' then
    msg.Data = json.decode(msg.Data == '' and '{}' or msg.Data)
  end
  msg.reply = function(reply)
    assert(type(reply) == 'table', 'msg.reply: reply should be a table')
    reply.Target = msg['Reply-To'] or reply.Target or msg.From
    reply['X-Reference'] = msg['X-Reference'] or msg.Reference or ''
    if msg['X-Origin'] then reply['X-Origin'] = msg['X-Origin'] end
    return ao.send(reply)
  end
  msg.forward = function(target, extra)
    local fwd = { Target = target, Data = msg.Data }
    for k, v in pairs(extra or {}) do fwd[k] = v end
    return ao.send(fwd)
  end
  return msg
end

local function flush_output()
  local text = table.concat(output, '\n')
  output = {}
  return text
end

-- Evaluates one message, given its fields. Returns outbox messages, spawns, output, and an error
-- string when a handler failed (the outbox is then dropped, as in aos).
function host.handle(id, from, owner, target, data, timestamp, height, nonce, module, anchor, tags)
  local msg = {
    Id = id, From = from, Owner = owner, Target = target, Data = data, Timestamp = timestamp,
    ['Block-Height'] = height, Nonce = nonce, Module = module, Epoch = 0, Cron = false, Anchor = anchor,
    Tags = tags,
  }
  now_ms = timestamp
  output = {}
  ao.outbox = { Output = {}, Messages = {}, Spawns = {}, Assignments = {} }
  local ok, err = pcall(function()
    Handlers.evaluate(normalize(msg), ao.env)
  end)
  local out = ao.outbox
  ao.outbox = { Output = {}, Messages = {}, Spawns = {}, Assignments = {} }
  if not ok then
    return {}, {}, flush_output(), tostring(err)
  end
  return out.Messages, out.Spawns, flush_output(), nil
end

-- Runs the spawn data as code (On-Boot = Data).
function host.boot_code(source, name)
  output = {}
  local fn, err = load(source, name or 'On-Boot', 't', _G)
  if not fn then return flush_output(), tostring(err) end
  local ok, run_err = pcall(fn)
  if not ok then return flush_output(), tostring(run_err) end
  return flush_output(), nil
end

-- The virtual clock drives os.time/os.clock/os.date's default.
local os_time, os_date = os.time, os.date
os.time = function(t)
  if t == nil then return now_ms // 1000 end
  return os_time(t)
end
os.clock = function() return now_ms / 1000 end
os.date = function(fmt, t)
  return os_date(fmt or '%c', t or (now_ms // 1000))
end

function host.names_of_handlers()
  local names = {}
  for i, h in ipairs(Handlers.list) do names[i] = h.name end
  return names
end

return host
