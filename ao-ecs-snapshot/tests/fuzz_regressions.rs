//! Replays `fuzz/regressions/snapshot_decode/*` through the fuzz target's check.

use std::path::Path;

use ao_ecs_snapshot::{
    Contents, DecodeLimits, EncodeOptions, decode, encode_full, full_manifest, verify_hashes,
};

fn check(data: &[u8]) -> bool {
    let limits = DecodeLimits { threads: 1, ..DecodeLimits::default() };
    let Ok(snap) = decode(data, &limits) else { return false };
    assert_eq!(verify_hashes(data).unwrap().id, snap.id);
    if let Contents::Full(state) = &snap.contents {
        let m = full_manifest(state, snap.manifest.tick, snap.manifest.wall_time_ms);
        let (_, again) =
            encode_full(state, m, &EncodeOptions { threads: 1, ..EncodeOptions::default() }).unwrap();
        assert_eq!(decode(&again, &limits).unwrap().contents, snap.contents);
    }
    true
}

#[test]
fn snapshot_decode_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/snapshot_decode");
    let mut n = 0;
    let mut valid = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        valid += usize::from(check(&bytes));
        n += 1;
    }
    assert!(n >= 3, "the seed corpus is replayed");
    assert!(valid >= 1, "the corpus holds at least one valid snapshot");
}
