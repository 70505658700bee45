return { install = function() Installed = true end }
