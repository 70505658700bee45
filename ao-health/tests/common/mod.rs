//! Shared by the integration tests: the arena game on ao-local.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use ao_local::LocalAo;
use ao_transport::ProcessId;

/// Spawns an aos process and loads the arena into it, one Eval per module in
/// the order `examples/arena/modules.txt` gives (as `ao-ops` does).
pub fn spawn_arena(ao: &LocalAo) -> ProcessId {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena");
    let list = std::fs::read_to_string(root.join("modules.txt")).unwrap();
    let pid = ao.spawn_aos("").unwrap();
    for line in list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (name, path) = line.split_once(' ').unwrap();
        let src = std::fs::read_to_string(root.join(path)).unwrap();
        let chunk = if name == "main" {
            src
        } else {
            format!("package.loaded[{name:?}] = (function(...)\n{src}\nend)({name:?})")
        };
        let r = ao.eval(&pid, &chunk).unwrap();
        assert!(r.error.is_none(), "{name}: {:?}", r.error);
    }
    pid
}
