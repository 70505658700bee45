-- Applied to every fresh process state before the prelude: removes what an AO
-- process must not reach (files, the OS, C modules, bytecode) and keeps the rest.
local base_load = load

-- Text chunks only: binary chunks can break the VM's safety. Keep load's arity,
-- since an explicit nil env differs from an absent one.
load = function(chunk, name, mode, ...)
  if select('#', ...) > 0 then
    return base_load(chunk, name, 't', ...)
  end
  return base_load(chunk, name, 't')
end

dofile = nil
loadfile = nil
string.dump = nil
os.execute = nil
os.exit = nil
os.remove = nil
os.rename = nil
os.tmpname = nil
os.getenv = nil
os.setlocale = nil
package.loadlib = nil
package.path = ''
package.cpath = ''
-- Only preloaded modules can be required: no search of the filesystem.
package.searchers = { package.searchers[1] }
