trace('nothing:load')
