//! Any bytes as a snapshot file: never panics; what decodes verifies, re-encodes to the
//! same root (full snapshots), and its manifest agrees with its contents.
#![no_main]

use ao_ecs_snapshot::{Contents, DecodeLimits, EncodeOptions, decode, encode_full, full_manifest, verify_hashes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { threads: 1, ..DecodeLimits::default() };
    if let Ok(snap) = decode(data, &limits) {
        assert_eq!(verify_hashes(data).unwrap().id, snap.id);
        if let Contents::Full(state) = &snap.contents {
            assert_eq!(snap.manifest.entity_count, state.entities().len() as u64);
            let m = full_manifest(state, snap.manifest.tick, snap.manifest.wall_time_ms);
            let (_, again) = encode_full(state, m, &EncodeOptions { threads: 1, ..EncodeOptions::default() }).unwrap();
            let back = decode(&again, &limits).unwrap();
            assert_eq!(back.contents, snap.contents);
        }
    }
});
