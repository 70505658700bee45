require('lib')
require("lib")
require [[lib]]
local s = '\' .. [==[ ]] ]==] -- [[ (((( ]]
