//! The arena example game, embedded, and its loader.
//!
//! This loader works the way a developer would by hand, without a bundle:
//! one `Eval` per module, in dependency order, each registering its module in
//! `package.loaded` so the entry's `require`s find it. (`ao-ops bundle` is the
//! other way: one source for the whole game.) Re-running the
//! load replaces the modules' code and keeps the game state (hot reload).

use anyhow::{Context, bail};
use ao_local::LocalAo;
use ao_transport::ProcessId;

/// One Lua module of the arena.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    /// The name it is required by (`arena.ecs`); `main` for the entry.
    pub name: &'static str,
    /// Its path under `examples/arena`.
    pub path: &'static str,
    /// Its source.
    pub source: &'static str,
}

macro_rules! module {
    ($name:literal, $path:literal) => {
        Module { name: $name, path: $path, source: include_str!(concat!("../../examples/arena/", $path)) }
    };
}

/// The arena's modules in dependency order (as `examples/arena/modules.txt` lists them).
pub const MODULES: &[Module] = &[
    module!("arena.config", "src/arena/config.lua"),
    module!("arena.ecs", "src/arena/ecs.lua"),
    module!("arena.components", "src/arena/components.lua"),
    module!("arena.systems", "src/arena/systems.lua"),
    module!("main", "src/main.lua"),
];

/// The Lua an `Eval` runs to load `module`: libraries are registered in
/// `package.loaded` (replacing an older version), the entry runs as is.
pub fn eval_chunk(module: &Module) -> String {
    if module.name == "main" {
        module.source.to_owned()
    } else {
        format!(
            "package.loaded[{name:?}] = (function(...)\n{src}\nend)({name:?})",
            name = module.name,
            src = module.source
        )
    }
}

/// What loading one module cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The module's name.
    pub name: &'static str,
    /// Bytes of Lua sent.
    pub bytes: usize,
    /// Gas the Eval used.
    pub gas: u64,
}

/// Loads (or reloads) every arena module into `pid` by Eval, in order.
pub fn load(ao: &LocalAo, pid: &ProcessId) -> anyhow::Result<Vec<Loaded>> {
    let mut loaded = Vec::with_capacity(MODULES.len());
    for module in MODULES {
        let chunk = eval_chunk(module);
        let result = ao.eval(pid, &chunk).with_context(|| format!("sending module {}", module.name))?;
        if let Some(err) = result.error {
            bail!("module {} ({}) failed to load: {err}", module.name, module.path);
        }
        loaded.push(Loaded { name: module.name, bytes: chunk.len(), gas: result.gas_used });
    }
    Ok(loaded)
}

/// Spawns an empty aos process on `ao` and loads the arena into it.
pub fn spawn(ao: &LocalAo) -> anyhow::Result<(ProcessId, Vec<Loaded>)> {
    let pid = ao.spawn_aos("").context("spawning the arena process")?;
    let loaded = load(ao, &pid)?;
    Ok((pid, loaded))
}
