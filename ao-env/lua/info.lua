-- ao-env/1: what a process tells ao-env about itself.
--
-- Loaded as a process's boot code (On-Boot = Data) by ao-env's provisioning, or
-- Eval'ed into a process that was spawned without it. From then on:
--   * every Eval is recorded with the BLAKE3 hash of its source (the hash
--     ao-bundle writes into a bundle's manifest), successful or not;
--   * a dry run of { Action = "Info", ["Info-Format"] = "ao-env/1" } answers
--     with the loaded code hash, the config, the handlers and the spawn tags;
--   * the owner can set the config (AoEnv-Configure, JSON data), remove
--     handlers (AoEnv-Remove-Handlers, JSON list) and retire the process
--     (AoEnv-Retire) without an Eval, so none of these changes the code hash.
-- Game code reads its config from AoEnv.Config.
--
-- It reports; it does not defend. An owner who Evals code that rewrites this
-- module can make it lie; drift detection guards against mistakes and
-- changes made behind the tool's back, not against a hostile owner.

local json = require('json')

local MASK = 0xffffffff
local IV = {
  0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
  0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
}
local PERMUTE = { 3, 7, 4, 11, 8, 1, 5, 14, 2, 12, 13, 6, 10, 15, 16, 9 }
local CHUNK_START, CHUNK_END, PARENT, ROOT = 1, 2, 4, 8

local function g(s, a, b, c, d, x, y)
  local va, vb, vc, vd = s[a], s[b], s[c], s[d]
  va = (va + vb + x) & MASK
  vd = vd ~ va
  vd = ((vd >> 16) | (vd << 16)) & MASK
  vc = (vc + vd) & MASK
  vb = vb ~ vc
  vb = ((vb >> 12) | (vb << 20)) & MASK
  va = (va + vb + y) & MASK
  vd = vd ~ va
  vd = ((vd >> 8) | (vd << 24)) & MASK
  vc = (vc + vd) & MASK
  vb = vb ~ vc
  vb = ((vb >> 7) | (vb << 25)) & MASK
  s[a], s[b], s[c], s[d] = va, vb, vc, vd
end

-- The BLAKE3 compression function; returns the 16-word state.
local function compress(cv, m, counter, len, flags)
  local s = {
    cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7], cv[8],
    IV[1], IV[2], IV[3], IV[4],
    counter & MASK, (counter >> 32) & MASK, len, flags,
  }
  local w = { table.unpack(m, 1, 16) }
  for round = 1, 7 do
    g(s, 1, 5, 9, 13, w[1], w[2])
    g(s, 2, 6, 10, 14, w[3], w[4])
    g(s, 3, 7, 11, 15, w[5], w[6])
    g(s, 4, 8, 12, 16, w[7], w[8])
    g(s, 1, 6, 11, 16, w[9], w[10])
    g(s, 2, 7, 12, 13, w[11], w[12])
    g(s, 3, 8, 9, 14, w[13], w[14])
    g(s, 4, 5, 10, 15, w[15], w[16])
    if round < 7 then
      local p = {}
      for i = 1, 16 do p[i] = w[PERMUTE[i]] end
      w = p
    end
  end
  for i = 1, 8 do
    s[i] = s[i] ~ s[i + 8]
    s[i + 8] = s[i + 8] ~ cv[i]
  end
  return s
end

local function words(block)
  if #block < 64 then block = block .. string.rep('\0', 64 - #block) end
  return { string.unpack('<I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4I4', block) }
end

-- A chunk (at most 1024 bytes) up to its last block, which is returned
-- uncompressed so the caller can add ROOT when the chunk is the whole tree.
local function chunk_output(data, first, last, counter)
  local cv = IV
  local pos = first
  local flags = CHUNK_START
  while last - pos + 1 > 64 do
    cv = compress(cv, words(data:sub(pos, pos + 63)), counter, 64, flags)
    pos = pos + 64
    flags = 0
  end
  local block = data:sub(pos, last)
  return { cv = cv, m = words(block), counter = counter, len = #block, flags = flags | CHUNK_END }
end

local function chaining_value(out)
  local s = compress(out.cv, out.m, out.counter, out.len, out.flags)
  return { s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8] }
end

local function parent_output(left, right)
  local m = {}
  for i = 1, 8 do m[i], m[i + 8] = left[i], right[i] end
  return { cv = IV, m = m, counter = 0, len = 64, flags = PARENT }
end

-- BLAKE3 of a string, as 64 lowercase hex digits.
local function blake3_hex(data)
  local n = #data
  local chunks = math.max(1, (n + 1023) // 1024)
  local stack = {}
  for c = 0, chunks - 2 do
    local cv = chaining_value(chunk_output(data, c * 1024 + 1, c * 1024 + 1024, c))
    local total = c + 1
    while total & 1 == 0 do
      cv = chaining_value(parent_output(table.remove(stack), cv))
      total = total >> 1
    end
    stack[#stack + 1] = cv
  end
  local last = chunks - 1
  local out = chunk_output(data, last * 1024 + 1, n, last)
  for i = #stack, 1, -1 do
    out = parent_output(stack[i], chaining_value(out))
  end
  local s = compress(out.cv, out.m, 0, out.len, out.flags | ROOT)
  return string.format(string.rep('%08x', 8),
    table.unpack({ string.unpack('>I4>I4>I4>I4>I4>I4>I4>I4',
      string.pack('<I4I4I4I4I4I4I4I4', s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8])) }, 1, 8))
end

local MAX_EVALS = 16

AoEnv = AoEnv or { Format = 'ao-env/1', Evals = {}, EvalCount = 0, Config = {}, Retired = false }
AoEnv.blake3_hex = blake3_hex

local function handler(name)
  for _, h in ipairs(Handlers.list) do
    if h.name == name then return h end
  end
end

-- Record every Eval: run the original handler, then note what it ran.
local eval = handler('_eval')
if eval and not AoEnv.EvalWrapped then
  local inner = eval.handle
  eval.handle = function(msg, env)
    local source = msg.Data or ''
    local ok, err = pcall(inner, msg, env)
    AoEnv.EvalCount = AoEnv.EvalCount + 1
    table.insert(AoEnv.Evals, { hash = blake3_hex(source), ok = ok, bytes = #source })
    while #AoEnv.Evals > MAX_EVALS do table.remove(AoEnv.Evals, 1) end
    if not ok then error(err, 0) end
  end
  AoEnv.EvalWrapped = true
end

local function owner_only(msg, what)
  if msg.From ~= Owner and msg.From ~= ao.id then
    error('ao-env: only the owner may ' .. what, 0)
  end
end

local function last_hash()
  local last = AoEnv.Evals[#AoEnv.Evals]
  return last and last.hash or nil
end

local PROTECTED = { ['_eval'] = true, ['_default'] = true }

local function action(name)
  return function(msg) return msg.Action == name end
end

-- A retired process answers everything but ao-env's own messages and Eval with an error.
Handlers.prepend('ao-env.retired', function(msg)
  return AoEnv.Retired and msg.Action ~= 'Eval' and msg.Action ~= 'Info'
    and not (type(msg.Action) == 'string' and msg.Action:sub(1, 6) == 'AoEnv-')
end, function(msg)
  msg.reply({ Action = 'Retired', Error = 'process retired by ao-env' })
end)

Handlers.prepend('ao-env.retire', action('AoEnv-Retire'), function(msg)
  owner_only(msg, 'retire the process')
  AoEnv.Retired = true
  msg.reply({ Action = 'AoEnv-Retired' })
end)

Handlers.prepend('ao-env.remove-handlers', action('AoEnv-Remove-Handlers'), function(msg)
  owner_only(msg, 'remove handlers')
  local names = json.decode(msg.Data or '[]')
  for _, name in ipairs(names) do
    if type(name) == 'string' and not PROTECTED[name] and name:sub(1, 7) ~= 'ao-env.' then
      Handlers.remove(name)
    end
  end
  msg.reply({ Action = 'AoEnv-Handlers-Removed' })
end)

Handlers.prepend('ao-env.configure', action('AoEnv-Configure'), function(msg)
  owner_only(msg, 'configure the process')
  local config = json.decode(msg.Data or '{}')
  if type(config) ~= 'table' then error('ao-env: config must be a JSON object', 0) end
  AoEnv.Config = config
  msg.reply({ Action = 'AoEnv-Configured' })
end)

Handlers.prepend('ao-env.info', function(msg)
  return msg.Action == 'Info' and msg['Info-Format'] == 'ao-env/1'
end, function(msg)
  local names = {}
  for i, h in ipairs(Handlers.list) do names[i] = h.name end
  msg.reply({
    Action = 'Info-Response',
    ['Info-Format'] = 'ao-env/1',
    Data = json.encode({
      format = 'ao-env/1',
      code = { last = last_hash(), count = AoEnv.EvalCount, evals = AoEnv.Evals },
      -- Encoded apart so that an empty config is an object, not an empty array.
      config = json.encode(AoEnv.Config),
      handlers = names,
      tags = ao.env.Process.Tags,
      retired = AoEnv.Retired,
    }),
  })
end)
