//! Replays `fuzz/regressions/bundle_source/*` through the fuzz target's check.

use std::path::Path;

use ao_bundle::{BundleOptions, MemoryLoader, bundle};

fn check(source: &str) {
    let project = MemoryLoader::new()
        .file("main.lua", source)
        .file("lib.lua", "return { answer = 42 }")
        .file("lib/init.lua", "return require('lib')");
    if let Ok(built) = bundle(&project, &BundleOptions::new("main")) {
        assert!(built.code.ends_with("require(\"main\")\n"));
    }
}

#[test]
fn bundle_source_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/bundle_source");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if let Ok(source) = std::str::from_utf8(&bytes) {
            check(source);
            n += 1;
        }
    }
    assert!(n >= 3, "the seed corpus is replayed");
}
