//! Writes the fuzz seed corpus when `WRITE_FUZZ_SEEDS` is set; otherwise checks it is there.

use ao_ecs_snapshot::{
    Changes, EncodeOptions, MemoryStore, MemoryWorld, Schema, SnapshotStore, Snapshotter, encode_full,
    full_manifest,
};

#[test]
fn fuzz_seeds_exist() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/snapshot_decode");
    if std::env::var_os("WRITE_FUZZ_SEEDS").is_some() {
        let schema = || {
            Schema::<MemoryWorld>::builder()
                .component::<u32>("health", 1)
                .component::<String>("name", 1)
                .build()
                .unwrap()
        };
        let mut w = MemoryWorld::new();
        for i in 0..5u32 {
            let e = w.spawn();
            w.insert::<u32>(e, i);
            w.insert(e, format!("n{i}"));
        }
        let state = schema().capture(&w).unwrap();
        let opts = EncodeOptions { rows_per_chunk: 2, ..EncodeOptions::default() };
        let (_, full) = encode_full(&state, full_manifest(&state, 1, 2), &opts).unwrap();
        std::fs::write(dir.join("full_small"), &full).unwrap();
        let store = std::sync::Arc::new(MemoryStore::new());
        let mut s = Snapshotter::new(schema(), store.clone());
        s.full(&w, 1, 0).unwrap();
        w.set_tick(2);
        let e = w.entities()[1];
        w.insert::<u32>(e, 99);
        w.despawn(w.entities()[3]);
        let d = s.delta(&w, Changes::Log(w.log()), 2, 0).unwrap();
        std::fs::write(dir.join("delta_small"), store.get(&d.name).unwrap()).unwrap();
        std::fs::write(dir.join("truncated"), &full[..full.len() / 2]).unwrap();
        std::fs::write(dir.join("wrong_magic"), b"AOECSSNX\x01\x00").unwrap();
    }
    assert!(dir.join("full_small").exists() && dir.join("delta_small").exists());
}
