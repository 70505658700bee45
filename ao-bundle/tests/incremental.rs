//! Incremental builds: only changed modules are parsed again; the disk cache
//! warms a new bundler and never overrides the truth.

use ao_bundle::{BuildStats, BundleOptions, Bundler, MemoryLoader, bundle};

fn project(n: usize) -> MemoryLoader {
    let requires = (1..=n).map(|k| format!("require('m.m{k}')")).collect::<Vec<_>>().join("\n");
    (1..=n).fold(MemoryLoader::new().file("main.lua", requires), |p, k| {
        p.file(format!("m/m{k}.lua"), format!("return {k}"))
    })
}

#[test]
fn a_rebuild_after_one_change_parses_only_that_module() {
    let mut p = project(8);
    let options = BundleOptions::new("main");
    let mut b = Bundler::new();
    let first = b.bundle(&p, &options).unwrap();
    assert_eq!(b.last_stats(), BuildStats { parsed: 9, from_memory: 0, from_disk: 0 });
    assert_eq!(first, bundle(&p, &options).unwrap(), "the cache does not change the output");

    p.set("m/m3.lua", "return 'changed'");
    let second = b.bundle(&p, &options).unwrap();
    assert_eq!(b.last_stats(), BuildStats { parsed: 1, from_memory: 8, from_disk: 0 });
    assert!(second.code.contains("return 'changed'"));
    assert_eq!(second, bundle(&p, &options).unwrap());
}

#[test]
fn the_disk_cache_warms_a_new_bundler_and_a_corrupt_entry_is_reparsed() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(4);
    let options = BundleOptions::new("main");
    let built = Bundler::with_cache_dir(dir.path()).unwrap().bundle(&p, &options).unwrap();

    let mut warm = Bundler::with_cache_dir(dir.path()).unwrap();
    assert_eq!(warm.bundle(&p, &options).unwrap(), built);
    assert_eq!(warm.last_stats(), BuildStats { parsed: 0, from_memory: 0, from_disk: 5 });

    let entry = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&entry, b"{ not json").unwrap();
    let mut again = Bundler::with_cache_dir(dir.path()).unwrap();
    assert_eq!(again.bundle(&p, &options).unwrap(), built);
    assert_eq!(again.last_stats(), BuildStats { parsed: 1, from_memory: 0, from_disk: 4 });
}

#[test]
fn folding_and_minifying_are_cached_too_and_keyed_by_the_options() {
    let mut p = project(6);
    let minified = BundleOptions::new("main").define("DEBUG", ao_bundle::Define::Bool(false)).minify(true);
    let mut b = Bundler::new();
    let first = b.bundle(&p, &minified).unwrap();
    assert_eq!(b.last_stats().parsed, 7);
    p.set("m/m2.lua", "-- changed\nreturn 22");
    let second = b.bundle(&p, &minified).unwrap();
    assert_eq!(
        b.last_stats(),
        BuildStats { parsed: 1, from_memory: 6, from_disk: 0 },
        "one module prepared again"
    );
    assert_ne!(first.code, second.code);
    assert_eq!(second, bundle(&p, &minified).unwrap(), "the cache does not change the output");
    // Other options prepare modules differently: nothing is reused.
    let plain = BundleOptions::new("main");
    let third = b.bundle(&p, &plain).unwrap();
    assert_eq!(b.last_stats().parsed, 7);
    assert!(third.code.contains("-- changed") && !second.code.contains("-- changed"));
}
