//! Recovery falls back past corruption and says exactly what it skipped and why; `verify`
//! checks a whole store.

mod common;

use std::sync::Arc;

use ao_ecs_snapshot::{
    Changes, ErrorKind, MemoryStore, MemoryWorld, SkipReason, SnapshotStore, Snapshotter, Status, Written,
};
use common::{captured, churn, normalize_ids, schema, world};

/// A base and three deltas; returns the written snapshots and the state after each.
fn chain(store: &Arc<MemoryStore>) -> (Vec<Written>, Vec<ao_ecs_snapshot::State>) {
    let mut w = world(200);
    let mut s = Snapshotter::new(schema(), store.clone());
    let mut written = vec![s.full(&w, 1, 1_000).unwrap()];
    let mut states = vec![captured(&w)];
    for t in 2..=4 {
        churn(&mut w, t);
        written.push(s.delta(&w, Changes::Log(w.log()), t, t * 1_000).unwrap());
        states.push(captured(&w));
    }
    (written, states)
}

fn recover(
    store: &Arc<MemoryStore>,
) -> Result<(MemoryWorld, ao_ecs_snapshot::RecoveryReport), ao_ecs_snapshot::Error> {
    let mut w = MemoryWorld::new();
    let r = Snapshotter::new(schema(), store.clone()).recover(&mut w)?;
    Ok((w, r))
}

fn flip(store: &MemoryStore, name: &str, at_from_end: usize) {
    let mut b = store.get(name).unwrap();
    let i = b.len() - at_from_end;
    b[i] ^= 0x10;
    store.put(name, &b).unwrap();
}

#[test]
fn a_clean_store_restores_the_newest_state() {
    let store = Arc::new(MemoryStore::new());
    let (w, states) = chain(&store);
    let (restored, report) = recover(&store).unwrap();
    assert_eq!(captured(&restored), states[3]);
    let r = report.restored.unwrap();
    assert_eq!(r.chain, w.iter().map(|w| w.name.clone()).collect::<Vec<_>>());
    assert!(report.skipped.is_empty());
}

#[test]
fn a_corrupt_newest_delta_falls_back_to_the_one_before() {
    let store = Arc::new(MemoryStore::new());
    let (w, states) = chain(&store);
    // A bit inside the last chunk (before the 32-byte root).
    flip(&store, &w[3].name, 40);
    let (restored, report) = recover(&store).unwrap();
    assert_eq!(captured(&restored), states[2]);
    assert_eq!(report.restored.as_ref().unwrap().id, w[2].id);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].name, w[3].name);
    let SkipReason::Corrupt(m) = &report.skipped[0].reason else { panic!("{:?}", report.skipped[0]) };
    assert!(m.contains("hash mismatch"), "{m}");
}

#[test]
fn a_corrupt_root_is_caught() {
    let store = Arc::new(MemoryStore::new());
    let (w, states) = chain(&store);
    flip(&store, &w[3].name, 1);
    let (restored, report) = recover(&store).unwrap();
    assert_eq!(captured(&restored), states[2]);
    assert!(matches!(&report.skipped[0].reason, SkipReason::Corrupt(m) if m.contains("root hash mismatch")));
}

#[test]
fn a_missing_delta_cuts_the_chain_after_it() {
    let store = Arc::new(MemoryStore::new());
    let (w, states) = chain(&store);
    store.delete(&w[2].name).unwrap();
    let (restored, report) = recover(&store).unwrap();
    assert_eq!(captured(&restored), states[1]);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].reason, SkipReason::MissingParent(w[2].id));
}

#[test]
fn a_corrupt_base_skips_every_delta_on_it_and_nothing_is_left() {
    let store = Arc::new(MemoryStore::new());
    let (w, _) = chain(&store);
    flip(&store, &w[0].name, 40);
    let err = recover(&store).unwrap_err();
    let ErrorKind::NothingToRecover { report } = err.kind() else { panic!("{err}") };
    assert!(report.restored.is_none());
    let names: Vec<&str> = report.skipped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [&w[3].name, &w[2].name, &w[1].name, &w[0].name]);
    for s in &report.skipped[..3] {
        assert!(
            matches!(&s.reason, SkipReason::BadAncestor { ancestor, .. } if *ancestor == w[0].name),
            "{s:?}"
        );
    }
    assert!(matches!(&report.skipped[3].reason, SkipReason::Corrupt(_)));
}

#[test]
fn an_older_base_is_used_when_the_newer_one_is_corrupt() {
    let store = Arc::new(MemoryStore::new());
    let mut w = world(50);
    let mut s = Snapshotter::new(schema(), store.clone());
    s.full(&w, 1, 0).unwrap();
    let old = captured(&w);
    churn(&mut w, 2);
    let newer = s.full(&w, 2, 0).unwrap();
    churn(&mut w, 3);
    s.delta(&w, Changes::Log(w.log()), 3, 0).unwrap();
    flip(&store, &newer.name, 40);
    let (restored, report) = recover(&store).unwrap();
    assert_eq!(captured(&restored), old);
    assert_eq!(report.skipped.len(), 2);
}

#[test]
fn truncated_renamed_and_temporary_files_are_reported() {
    let store = Arc::new(MemoryStore::new());
    let (w, states) = chain(&store);
    let b = store.get(&w[3].name).unwrap();
    store.put(&w[3].name, &b[..b.len() / 2]).unwrap();
    // A file whose name claims another tick and root.
    let b1 = store.get(&w[1].name).unwrap();
    let fake = format!("{:020}-d-{}.snap", 5, "ab".repeat(32));
    store.put(&fake, &b1).unwrap();
    store.put(".tmp-1-0-x.snap", b"partial").unwrap_err(); // memory store refuses dot names
    store.put("notes.txt", b"hello").unwrap();
    let (restored, report) = recover(&store).unwrap();
    assert_eq!(captured(&restored), states[2]);
    let text = normalize_ids(&report.to_string());
    assert!(text.contains("skipped notes.txt: not a snapshot name"), "{text}");
    assert!(text.contains("truncated"), "{text}");
    assert!(text.contains("its name says"), "{text}");
}

#[test]
fn recovery_never_touches_the_world_when_nothing_verifies() {
    let store = Arc::new(MemoryStore::new());
    let (w, _) = chain(&store);
    for x in &w {
        flip(&store, &x.name, 40);
    }
    let mut live = world(3);
    let before = captured(&live);
    let err = Snapshotter::new(schema(), store.clone()).recover(&mut live).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NothingToRecover { .. }));
    assert_eq!(captured(&live), before);
}

#[test]
fn verify_reports_every_snapshot_like_restic_check() {
    let store = Arc::new(MemoryStore::new());
    let (w, _) = chain(&store);
    flip(&store, &w[2].name, 40);
    store.put("stray.bin", b"?").unwrap();
    let report = Snapshotter::new(schema(), store.clone()).verify().unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.errors(), 2);
    let status: Vec<&Status> = report.snapshots.iter().map(|c| &c.status).collect();
    assert_eq!(status[0], &Status::Ok);
    assert_eq!(status[1], &Status::Ok);
    assert!(matches!(status[2], Status::Corrupt(_)));
    assert!(matches!(status[3], Status::Unrestorable(SkipReason::BadAncestor { .. })));
    let text = normalize_ids(&report.to_string());
    let golden_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/verify_report.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(golden_path, &text).unwrap();
    }
    assert_eq!(text, std::fs::read_to_string(golden_path).unwrap());
}

#[test]
fn verify_of_a_clean_store_is_ok() {
    let store = Arc::new(MemoryStore::new());
    chain(&store);
    let report = Snapshotter::new(schema(), store.clone()).verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.snapshots.len(), 4);
    assert!(report.to_string().ends_with("no errors: 4 snapshot(s) verified\n"));
}
