//! Replays every input under `fuzz/regressions/transport_*` through the same
//! checks as the fuzz targets, so a crash found once stays fixed.

use std::path::{Path, PathBuf};

use ao_transport::{Address, MAX_TAGS, Message, MessageId, ProcessId, validate_tags};

fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut paths: Vec<_> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    paths
}

/// The `transport_ids` check.
fn check_id(s: &str) {
    if let Ok(id) = ProcessId::new(s) {
        assert_eq!(id.to_string(), s);
        assert_eq!(MessageId::new(s).map(|m| m.to_string()).as_deref(), Ok(s));
        assert!(Address::new(s).is_ok());
    }
}

/// The `transport_message_json` check.
fn check_message_json(data: &[u8]) {
    if let Ok(msg) = serde_json::from_slice::<Message>(data) {
        assert!(msg.tags().len() <= MAX_TAGS);
        assert!(validate_tags(msg.tags()).is_ok());
        let again = serde_json::to_vec(&msg).unwrap();
        assert_eq!(serde_json::from_slice::<Message>(&again).unwrap(), msg);
    }
}

#[test]
fn transport_ids_regressions() {
    let paths = cases("transport_ids");
    assert!(!paths.is_empty(), "seed corpus present");
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        // libFuzzer's &str targets skip non-UTF-8 inputs; so do we.
        if let Ok(s) = std::str::from_utf8(&bytes) {
            check_id(s);
        }
    }
}

#[test]
fn transport_message_json_regressions() {
    let paths = cases("transport_message_json");
    assert!(!paths.is_empty(), "seed corpus present");
    for path in paths {
        check_message_json(&std::fs::read(&path).unwrap());
    }
}
