//! Replays `fuzz/regressions/env_config/*` and `env_info/*` through the fuzz
//! targets' checks.

use std::path::Path;

use ao_env::{FieldPath, Observed, Project, SourceFile, State};

fn check_config(data: &[u8]) -> bool {
    let (base, overlay) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(base), Ok(overlay)) = (std::str::from_utf8(base), std::str::from_utf8(overlay)) else {
        return false;
    };
    let project = Project::from_sources(
        SourceFile::new("base.toml", base, 0),
        vec![("dev".into(), SourceFile::new("dev.toml", overlay, 1))],
        None,
        "/base".as_ref(),
    );
    let _ = project.check(&std::collections::BTreeMap::new());
    // The same overlay synced into a copy of itself: sync's rewrite of the
    // target file (which keeps its text outside `[processes]`) never panics,
    // and what it writes loads.
    let target = format!("{overlay}\n[sync.dev]\n");
    let two = Project::from_sources(
        SourceFile::new("base.toml", base, 0),
        vec![
            ("dev".into(), SourceFile::new("dev.toml", overlay, 1)),
            ("staging".into(), SourceFile::new("staging.toml", target, 1)),
        ],
        None,
        "/base".as_ref(),
    );
    if let Ok(outcome) = ao_env::sync(&two, "dev", "staging") {
        let synced = Project::from_sources(
            SourceFile::new("base.toml", base, 0),
            vec![("staging".into(), SourceFile::new("staging.toml", outcome.overlay, 1))],
            None,
            "/base".as_ref(),
        );
        assert!(synced.environment("staging").is_ok());
    }
    let Ok(env) = project.environment("dev") else { return false };
    for spec in env.processes.values() {
        assert!((1..=64).contains(&spec.shards));
    }
    for (path, history) in env.merged().leaves() {
        let last = history.last().unwrap();
        let text = if last.origin.layer == 0 { base } else { overlay };
        assert!(last.origin.line as usize <= text.lines().count().max(1));
        assert!(env.explain(&path.to_string()).is_some() || FieldPath::parse(&path.to_string()).is_none());
    }
    true
}

fn replay(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn env_config_regressions() {
    let loaded: Vec<String> =
        replay("env_config").into_iter().filter(|(_, b)| check_config(b)).map(|(n, _)| n).collect();
    // The arena files load; the clashes are refused with typed errors.
    assert_eq!(loaded, ["arena_base.toml", "arena_staging"]);
}

#[test]
fn env_info_regressions() {
    let files = replay("env_info");
    assert_eq!(files.len(), 2);
    for (name, bytes) in files {
        let text = std::str::from_utf8(&bytes).unwrap();
        let info = Observed::from_info_json(text);
        let state = State::from_json(text, Path::new("fuzz.json"));
        match name.as_str() {
            "empty_lua_tables" => assert!(info.unwrap().evals.is_empty()),
            "mismatched_instance" => {
                assert!(state.unwrap_err().to_string().contains("holds the record of world/1"));
            }
            other => panic!("unexpected regression file {other}"),
        }
    }
}
