trace('lazy:load')
return { value = 42 }
