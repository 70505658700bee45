-- The process the local_json fuzz target and its regression test drive:
-- decode the message data, and check that re-encoding is stable.
local json = require('json')
Handlers.add("Decode", "Decode", function(m)
    local ok, v = pcall(json.decode, m.Data)
    if not ok then print("err " .. tostring(v)); return end
    local ok2, text = pcall(json.encode, v)
    if not ok2 then print("ok"); return end
    local again = json.encode(json.decode(text))
    assert(again == text, "re-encoding is not stable: " .. text .. " vs " .. again)
    print("ok")
end)
