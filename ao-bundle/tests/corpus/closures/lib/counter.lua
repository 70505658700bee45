local Counter = { count = 0 }
Counter.__index = Counter

function Counter.new(start)
  Counter.count = Counter.count + 1
  return setmetatable({ value = start }, Counter)
end

function Counter:inc(by)
  self.value = self.value + (by or 1)
  return self.value
end

function Counter:get()
  return self.value
end

return Counter
