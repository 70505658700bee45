-- String literals of every kind, and text that looks like comments.
Out = Out or {}
local function out(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  Out[#Out + 1] = table.concat(t, ' | ')
end

out('escapes', '\65\066\x43\u{44}\u{20AC}', "tab\tnew\\n", '\'', "\"", '\\', "it's", 'say "hi"', "both ' and \"")
out('zap', 'a\z
         b', #'\z  ')
out('continued', 'line1\
line2')
out('long', [[a]], [==[b]]c]==], [[
first newline skipped]], #[[

]])
out('bytes', ('\0\1\255'):byte(1, -1))
out('patterns', ('hello world'):gsub('o', '0'), ('a,b,,c'):find(',,', 1, true), ('key=val'):match('(%w+)=(%w+)'))
out('rep', ('ab'):rep(3), ('-'):rep(0), string.char(72, 105))
out('concat', 'x' .. 1 .. 2.0, 1 .. '', table.concat({ 1, 2, 3 }, '-'))
local dashes = "-- not a comment"
local brackets = '--[[ not a long comment ]]'
out('comment-like', dashes, brackets, #"--")
-- a comment with 'quotes' and "more" and [[brackets]]
--[==[ a long
comment ]] still comment ]==]
out('after comments', 'ok')
out('backticks', '`code`', "``")
local t = { ['plain'] = 1, ['not plain'] = 2, ["end"] = 3 }
out('keys', t.plain, t['not plain'], t['end'], t["plain"])

Handlers.add('Step', 'Step', function(m)
  local n = tonumber(m.Tags.N)
  if n == 99 then error(("x"):rep(3) .. ' failed') end
  if n == 98 then return #n end
  out('step', n, ('%03d'):format(n), ("ab"):rep(n, '.'))
  m.reply({ Data = Out[#Out] })
end)
