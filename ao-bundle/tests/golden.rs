//! Golden files: the arena's bundle, plain and minified, byte for byte.
//! After an intended change to the output, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p ao-bundle --test golden` and review the diff.

use std::path::Path;

use ao_bundle::{BundleOptions, Define, FsLoader, bundle, size_report};

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        expected == actual,
        "{} differs from the bundler's output; see UPDATE_GOLDEN in this file",
        path.display()
    );
}

fn arena() -> FsLoader {
    FsLoader::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena/src")).unwrap()
}

#[test]
fn arena_bundle_plain() {
    let built = bundle(&arena(), &BundleOptions::new("main")).unwrap();
    check("arena.lua", &built.code);
    check("arena.lua.map.json", &built.line_map.to_json());
}

#[test]
fn arena_bundle_minified_with_a_define() {
    let options = BundleOptions::new("main").define("DEBUG", Define::Bool(false)).minify(true);
    let built = bundle(&arena(), &options).unwrap();
    check("arena.min.lua", &built.code);
    check("arena.min.lua.map.json", &built.line_map.to_json());
    let report = size_report(&built);
    check("arena.min.report.txt", &report.to_string());
}

#[test]
fn dead_code_elimination_of_the_dce_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/dce");
    let options = BundleOptions::new("main")
        .define("DEBUG", Define::Bool(false))
        .define("TARGET", Define::Str("shard".into()));
    let built = bundle(&FsLoader::new(root).unwrap(), &options).unwrap();
    check("dce.lua", &built.code);
    check("dce.report.txt", &size_report(&built).to_string());
}
