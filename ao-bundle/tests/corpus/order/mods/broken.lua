Broken = (Broken or 0) + 1
trace('broken:load ' .. Broken)
if Broken == 1 then
  error('broken module, attempt ' .. Broken)
end
return { fixed = true }
