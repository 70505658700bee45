//! Replays every input under `fuzz/regressions/local_*` through the same checks
//! as the fuzz targets, so a crash found once stays fixed.

use std::path::{Path, PathBuf};

use ao_local::LocalAo;
use ao_transport::Message;

fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut paths: Vec<_> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    paths
}

/// The check of the `local_log` fuzz target: decoding never panics, and a log
/// that decodes re-encodes to the same records.
fn check_log(bytes: &[u8]) {
    if let Ok(decoded) = ao_local::decode_log(Path::new("fuzz.log"), bytes) {
        assert!(decoded.torn_tail_bytes <= bytes.len());
        assert_eq!(decoded.process.len(), 43);
    }
}

/// The check of the `local_json` fuzz target: `json.decode` on any data either
/// returns a value that re-encodes and decodes to the same JSON, or a Lua error;
/// the process keeps answering.
fn check_json(ao: &LocalAo, pid: &ao_transport::ProcessId, bytes: &[u8]) {
    let msg = Message::builder(pid.clone()).tag("Action", "Decode").data(bytes.to_vec()).build().unwrap();
    let (_, result) = ao.call(msg).unwrap();
    assert!(result.error.is_none(), "handler must catch decode errors: {:?}", result.error);
    assert!(result.output == "ok" || result.output.starts_with("err"), "{}", result.output);
}

/// The process the `local_json` fuzz target drives.
const JSON_PROCESS: &str = include_str!("../../fuzz/local_json_process.lua");

#[test]
fn local_log_regressions() {
    let mut n = 0;
    for path in cases("local_log") {
        check_log(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "the seed corpus under fuzz/regressions/local_log is replayed");
}

#[test]
fn local_json_regressions() {
    let ao = LocalAo::new();
    let pid = ao.spawn_aos(JSON_PROCESS).unwrap();
    let mut n = 0;
    for path in cases("local_json") {
        check_json(&ao, &pid, &std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "the seed corpus under fuzz/regressions/local_json is replayed");
}
