trace('b:load')
return { name = (...) }
