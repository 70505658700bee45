//! Validation on ao-local, the integrity manifest, and verify.

use ao_bundle::{
    BundleOptions, ErrorKind, Manifest, MemoryLoader, Mismatch, bundle, validate, verify, write_atomic,
};

fn project() -> MemoryLoader {
    MemoryLoader::new()
        .file(
            "main.lua",
            "local g = require('greet')\nHandlers.add('Hi', 'Hi', function(m) m.reply({ Data = g() }) end)",
        )
        .file("greet.lua", "return function() return 'hi' end")
}

#[test]
fn a_good_bundle_validates_and_reports_its_handlers() {
    let built = bundle(&project(), &BundleOptions::new("main")).unwrap();
    let v = validate(&built, 10_000, &["Hi"]).unwrap();
    assert_eq!(v.bytes, built.code.len());
    assert!(
        v.handlers.contains(&"Hi".to_owned()) && v.handlers.contains(&"_eval".to_owned()),
        "{:?}",
        v.handlers
    );
}

#[test]
fn validation_failures_say_what_and_where() {
    let built = bundle(&project(), &BundleOptions::new("main")).unwrap();
    let err = validate(&built, 100, &[]).unwrap_err();
    assert!(err.to_string().contains("over the limit of 100"), "{err}");
    let err = validate(&built, 10_000, &["Hi", "Bye"]).unwrap_err();
    assert!(err.to_string().ends_with("expected handlers not registered: Bye"), "{err}");

    let broken = MemoryLoader::new()
        .file("main.lua", "require('bad')")
        .file("bad.lua", "local x = nil\n\nreturn x.field");
    let built = bundle(&broken, &BundleOptions::new("main")).unwrap();
    let err = validate(&built, 10_000, &[]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Validation(_)));
    assert!(err.to_string().contains("bad.lua:3: attempt to index a nil value"), "{err}");
}

#[test]
fn manifest_round_trips_and_verify_finds_every_change() {
    let options = BundleOptions::new("main");
    let built = bundle(&project(), &options).unwrap();
    let manifest = Manifest::from_json(&Manifest::new(&built, &options, "out/main.lua").to_json()).unwrap();
    assert_eq!(manifest.sources.len(), 2);
    assert!(verify(built.code.as_bytes(), &manifest, Some(&project())).unwrap().is_empty());

    let mut tampered = built.code.clone().into_bytes();
    tampered[10] ^= 1;
    let changed = project().file("greet.lua", "return function() return 'HI' end");
    let mut gone = MemoryLoader::new();
    gone.set(
        "main.lua",
        "local g = require('greet')\nHandlers.add('Hi', 'Hi', function(m) m.reply({ Data = g() }) end)",
    );
    let found = verify(&tampered, &manifest, Some(&changed)).unwrap();
    assert!(matches!(&found[0], Mismatch::Bundle { .. }));
    assert!(matches!(&found[1], Mismatch::Source { path, .. } if path == "greet.lua"));
    assert_eq!(found.len(), 2);
    let found = verify(built.code.as_bytes(), &manifest, Some(&gone)).unwrap();
    assert_eq!(found, [Mismatch::MissingSource { path: "greet.lua".into() }]);
    assert!(Manifest::from_json("{}").is_err());
}

#[test]
fn writes_are_atomic_and_replace_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.lua");
    write_atomic(&path, b"old").unwrap();
    write_atomic(&path, b"new").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}

#[test]
fn manifests_hash_sources_as_written_even_when_folded_and_minified() {
    let p = MemoryLoader::new()
        .file("main.lua", "-- entry\nif DEBUG then print('debug') end\nlocal g = require('greet')\n")
        .file("greet.lua", "return function()   return 'hi'   end -- greet\n");
    let options = BundleOptions::new("main").define("DEBUG", ao_bundle::Define::Bool(false)).minify(true);
    let built = bundle(&p, &options).unwrap();
    let main = built.modules.iter().find(|m| m.name == "main").unwrap();
    assert!(main.shipped_bytes < main.folded_bytes && main.folded_bytes < main.bytes, "{main:?}");
    let manifest = Manifest::new(&built, &options, "b.lua");
    assert!(
        verify(built.code.as_bytes(), &manifest, Some(&p)).unwrap().is_empty(),
        "sources verify as written"
    );
}
