//! Replays every input under `fuzz/regressions/transport_*` through the same
//! checks as the fuzz targets, so a crash found once stays fixed without nightly.
//!
//! `check_id` and `check_message_json` are copied into `fuzz/fuzz_targets/`
//! (the fuzz crate cannot depend on a test file): keep the copies in step.

use std::path::{Path, PathBuf};

use ao_transport::{
    Address, MAX_ANCHOR_BYTES, MAX_TAGS, Message, MessageId, ModuleId, ProcessId, ValidationError,
    validate_tags,
};

/// The files under `fuzz/regressions/<target>/`, sorted; none if the directory is missing.
fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut paths: Vec<_> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    paths
}

/// The `transport_ids` check: every id type agrees on `s`; what parses prints back
/// unchanged; what does not names the id kind.
fn check_id(s: &str) {
    fn one<T: std::fmt::Display>(s: &str, what: &str, parsed: Result<T, ValidationError>) -> bool {
        match parsed {
            Ok(id) => {
                assert_eq!(id.to_string(), s, "{what}");
                assert_eq!(s.len(), 43, "{what}");
                true
            }
            Err(e) => {
                assert_eq!(e.what(), what);
                assert!(e.to_string().starts_with(&format!("invalid {what}: ")), "{e}");
                false
            }
        }
    }
    let ok = one(s, "process id", ProcessId::new(s));
    assert_eq!(one(s, "message id", MessageId::new(s)), ok);
    assert_eq!(one(s, "module id", ModuleId::new(s)), ok);
    assert_eq!(one(s, "address", Address::new(s)), ok);
}

/// The `transport_message_json` check: a decoded message obeys the ANS-104 limits
/// and survives re-encoding unchanged.
fn check_message_json(data: &[u8]) {
    if let Ok(msg) = serde_json::from_slice::<Message>(data) {
        assert!(msg.tags().len() <= MAX_TAGS, "{} tags", msg.tags().len());
        assert!(validate_tags(msg.tags()).is_ok());
        assert!(msg.anchor().is_none_or(|a| a.len() <= MAX_ANCHOR_BYTES), "{:?}", msg.anchor());
        let again = serde_json::to_vec(&msg).expect("a valid message serializes");
        assert_eq!(serde_json::from_slice::<Message>(&again).expect("and parses back"), msg);
    }
}

#[test]
fn transport_ids_regressions() {
    for path in cases("transport_ids") {
        let bytes = std::fs::read(&path).unwrap();
        // libFuzzer's `&str` targets skip non-UTF-8 inputs; so do we.
        if let Ok(s) = std::str::from_utf8(&bytes) {
            check_id(s);
        }
    }
}

#[test]
fn transport_message_json_regressions() {
    for path in cases("transport_message_json") {
        check_message_json(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn committed_regressions_are_found() {
    // Guards the path above: a wrong one would replay nothing and pass.
    assert!(!cases("transport_ids").is_empty());
    assert!(!cases("transport_message_json").is_empty());
}
