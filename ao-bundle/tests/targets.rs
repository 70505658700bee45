//! Several targets from one config file, built in one call sharing the cache.

use std::path::Path;

use ao_bundle::{Bundler, Config};

#[test]
fn the_arena_config_builds_both_targets_sharing_parses() {
    let arena = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena");
    let mut config = Config::load(&arena.join("ao-bundle.toml")).unwrap();
    let out = tempfile::tempdir().unwrap();
    config.out_dir = out.path().to_path_buf();
    config.cache_dir = None;

    let mut bundler = Bundler::new();
    let built = bundler.build_targets(&config, &[]).unwrap();
    let names: Vec<&str> = built.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["arena", "arena-rules"]);
    assert_eq!(built[0].bundle.modules.len(), 5);
    assert_eq!(built[1].bundle.modules.len(), 4, "rules: systems, ecs, components, config");
    // The second target's modules were all parsed for the first.
    assert_eq!(bundler.last_stats().parsed, 0);
    assert_eq!(bundler.last_stats().from_memory, 4);
    for t in &built {
        assert!(t.out.is_file());
        assert!(
            out.path()
                .join(format!("{}.manifest.json", t.out.file_name().unwrap().to_string_lossy()))
                .is_file()
        );
    }
    assert!(built[0].validation.handlers.iter().any(|h| h == "Tick"));

    let only = bundler.build_targets(&config, &["arena-rules".to_owned()]).unwrap();
    assert_eq!(only.len(), 1);
    let err = bundler.build_targets(&config, &["nope".to_owned()]).unwrap_err();
    assert!(err.to_string().contains("no target named \"nope\""), "{err}");
}

#[test]
fn outputs_in_subdirectories_get_their_map_and_manifest_beside_them() {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("main.lua"), "Ready = true").unwrap();
    let text = "root = \".\"\nout_dir = \"dist\"\n[targets.nested]\nentries = [\"main\"]\nout = \"shard/a/bundle.lua\"\n";
    std::fs::write(project.path().join("b.toml"), text).unwrap();
    let config = Config::load(&project.path().join("b.toml")).unwrap();
    Bundler::new().build_targets(&config, &[]).unwrap();
    let dir = project.path().join("dist/shard/a");
    for name in ["bundle.lua", "bundle.lua.map.json", "bundle.lua.manifest.json"] {
        assert!(dir.join(name).is_file(), "{name}");
    }
}
