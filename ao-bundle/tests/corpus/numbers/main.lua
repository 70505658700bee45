-- Integer and float semantics of Lua 5.3.
Out = Out or {}
local function out(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  Out[#Out + 1] = table.concat(t, ' ')
end
local function failure(f)
  local ok, err = pcall(f)
  return ok, (tostring(err):gsub('^.-:%d+: ', ''))
end

local maxi, mini = math.maxinteger, math.mininteger
out('wrap', maxi + 1 == mini, mini - 1 == maxi, maxi * 2, -mini == mini)
out('floor division', 7 // 2, -7 // 2, 7 // -2, 7.0 // 2, 10 // 0.0, -10 // 0.0)
out('modulo', 7 % 3, -7 % 3, 7 % -3, 5.5 % 2, -5.5 % 2)
out('float', 1 / 2, 3 / 1, 2^10, -0.0 == 0.0, 0.1 + 0.2, 100 // 1.0)
out('types', math.type(1), math.type(1.0), math.type('1'), math.type(2^53))
out('tostring', 1e15, 1e16, 2^53, 2^63, -0.0, 255 // 1, 1e100)
out('convert', math.tointeger(3.0), math.tointeger(3.5), tonumber('0x10'), tonumber('  12  '),
  tonumber('1e2'), tonumber('z', 36), '10' + 5, '3' * '4', 10 .. 20)
out('bits', 5 & 3, 5 | 3, 5 ~ 3, ~0, 1 << 63, 1 << 64, -1 >> 1, 3.0 | 0, 2^53 | 0)
out('compare', 1 == 1.0, 1 < 1.5, 'a' < 'b', 'Z' < 'a', maxi < 2^63, math.ult(1, -1))
out('hex', 0xff, 0x7fffffffffffffff, 0xffffffffffffffff, 0xA.8p0, 0x1p4)
out('math', math.floor(-3.5), math.ceil(-3.5), math.abs(-7), math.fmod(-7, 3), math.max(1, 2.5), math.min(3))
out('format', string.format('%d %5.2f %x %g %q', 42, 3.14159, 255, 1e20, 'a\nb'))
out('integer division by zero', failure(function() return 1 // 0 end))
out('modulo by zero', failure(function() return 1 % 0 end))
out('float to integer', failure(function() return 1.5 | 0 end))
out('string arithmetic', failure(function() return 'a' + 1 end))

Handlers.add('Step', 'Step', function(m)
  local n = math.tointeger(tonumber(m.Tags.N))
  if n == 99 then error('number ' .. n .. ' is not allowed') end
  if n == 98 then return n + {} end
  out('step', n, n * maxi, n / 3, n // 3, n ^ 2, n << n)
  m.reply({ Data = Out[#Out] })
end)
