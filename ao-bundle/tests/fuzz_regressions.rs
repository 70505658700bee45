//! Replays `fuzz/regressions/bundle_source/*` through the fuzz target's check.

use std::path::Path;

use ao_bundle::{BundleOptions, MemoryLoader, bundle};

fn check(source: &str) {
    let project = MemoryLoader::new()
        .file("main.lua", source)
        .file("lib.lua", "return { answer = 42 }")
        .file("lib/init.lua", "return require('lib')");
    // With defines and minification, so folding and the minifier see every input too.
    let options = BundleOptions::new("main")
        .define("DEBUG", ao_bundle::Define::Bool(false))
        .define("TARGET", ao_bundle::Define::Str("shard".into()))
        .minify(true);
    if let Ok(built) = bundle(&project, &options) {
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

#[test]
fn bundle_line_map_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/bundle_line_map");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else { continue };
        if let Ok(map) = ao_bundle::LineMap::from_json(text) {
            for s in &map.segments {
                assert!(map.lookup(s.bundle_line).is_some());
                assert!(map.lookup(s.bundle_line + s.lines - 1).is_some());
            }
            assert_eq!(ao_bundle::LineMap::from_json(&map.to_json()).unwrap(), map);
            let _ = map.rewrite("[string \"aos\"]:18446744073709551615: x aos:0: y", &["aos"]);
        }
        n += 1;
    }
    assert!(n >= 2, "the seed corpus is replayed");
}

#[test]
fn bundle_manifest_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/bundle_manifest");
    let mut loaded = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else { continue };
        if let Ok(m) = ao_bundle::Manifest::from_json(text) {
            assert_eq!(ao_bundle::Manifest::from_json(&m.to_json()).unwrap(), m);
            let _ = ao_bundle::verify(&bytes, &m, None);
            loaded += 1;
        }
    }
    assert!(loaded >= 1, "the real manifest in the corpus loads");
}

#[test]
fn bundle_config_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/bundle_config");
    let mut loaded = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else { continue };
        if let Ok(config) = ao_bundle::Config::from_toml(text, Path::new("/base"), "fuzz.toml") {
            assert!(!config.targets.is_empty());
            for t in config.targets.values() {
                assert!(!t.entries.is_empty());
                assert!(!Path::new(&t.out).is_absolute());
            }
            loaded += 1;
        }
    }
    assert_eq!(loaded, 1, "the arena config loads; the absolute out is refused");
}

/// The `bundle_project` target's check (the fuzz crate cannot import this file).
fn check_project(data: &[u8]) {
    const FILES: [&str; 5] = ["main.lua", "a.lua", "a/b.lua", "lib/init.lua", "c-d.lua"];
    fn compiles(ao: &ao_local::LocalAo, pid: &ao_transport::ProcessId, code: &str) -> bool {
        let mut level = 0;
        while code.contains(&format!("]{}]", "=".repeat(level))) {
            level += 1;
        }
        let eq = "=".repeat(level);
        let probe = format!("return load([{eq}[\n{code}]{eq}]) ~= nil");
        ao.eval(pid, &probe).is_ok_and(|r| r.output == "true")
    }
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut project = MemoryLoader::new();
    let mut sources = Vec::new();
    for (name, source) in FILES.iter().zip(text.split('\0')) {
        project.set(*name, source);
        sources.push(source);
    }
    let options = BundleOptions::new("main")
        .define("DEBUG", ao_bundle::Define::Bool(false))
        .dce(flags & 1 != 0)
        .minify(flags & 2 != 0)
        .strict(flags & 4 != 0);
    let Ok(built) = bundle(&project, &options) else { return };
    assert!(built.code.ends_with("require(\"main\")\n"));
    let ao = ao_local::LocalAo::new();
    let pid = ao.spawn_aos("").unwrap();
    if sources.iter().all(|s| compiles(&ao, &pid, s)) {
        assert!(compiles(&ao, &pid, &built.code), "the bundle does not compile:\n{}", built.code);
    }
}

#[test]
fn bundle_project_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/bundle_project");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        check_project(&std::fs::read(entry.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 2, "the seed corpus is replayed");
}
