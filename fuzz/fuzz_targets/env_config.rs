//! Any bytes as an ao-env base file and overlay (split at the first 0xFF
//! byte): never panics; an environment that loads has shards in range, and
//! every value it holds explains itself with a line inside its file.
#![no_main]

use ao_env::{FieldPath, Project, SourceFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (base, overlay) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(base), Ok(overlay)) = (std::str::from_utf8(base), std::str::from_utf8(overlay)) else { return };
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
    if let Ok(env) = project.environment("dev") {
        for spec in env.processes.values() {
            assert!((1..=64).contains(&spec.shards));
        }
        for (path, history) in env.merged().leaves() {
            let last = history.last().expect("a leaf has a setting");
            let text = if last.origin.layer == 0 { base } else { overlay };
            assert!(last.origin.line as usize <= text.lines().count().max(1));
            assert!(env.explain(&path.to_string()).is_some() || FieldPath::parse(&path.to_string()).is_none());
        }
    }
});
