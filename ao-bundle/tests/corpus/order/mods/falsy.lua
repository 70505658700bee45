trace('falsy:load')
return false
