//! Full and delta snapshots through the `Snapshotter`: change-log and hashing deltas,
//! restore = base + chain, compaction, and a generated-operations state machine.

use ao_ecs_snapshot::{
    Changes, EntityId, MemoryStore, MemoryWorld, Schema, SnapshotKind, Snapshotter, State,
};
use proptest::prelude::*;
use std::sync::Arc;

type Pos = [f32; 3];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Name(String);

fn schema() -> Schema<MemoryWorld> {
    Schema::builder()
        .component::<Pos>("position", 1)
        .component::<u32>("health", 1)
        .component::<Name>("name", 1)
        .build()
        .unwrap()
}

/// A world with values as varied as a game's (so compression does not hide sizes).
fn world(n: u32) -> MemoryWorld {
    let mut w = MemoryWorld::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..n {
        let e = w.spawn();
        w.insert::<Pos>(e, [next() as f32, next() as f32, next() as f32]);
        w.insert::<u32>(e, 100);
        w.insert(e, Name(format!("npc-{:x}", next())));
    }
    w
}

fn captured(w: &MemoryWorld) -> State {
    schema().capture(w).unwrap()
}

fn recover_into_fresh(store: &Arc<MemoryStore>) -> (MemoryWorld, ao_ecs_snapshot::RecoveryReport) {
    let mut s = Snapshotter::new(schema(), store.clone());
    let mut w = MemoryWorld::new();
    let report = s.recover(&mut w).unwrap();
    (w, report)
}

fn leak_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

#[test]
fn log_deltas_record_only_what_changed_and_restore_base_plus_chain() {
    let store = leak_store();
    let mut w = world(1000);
    let mut snap = Snapshotter::new(schema(), store.clone());
    let full = snap.full(&w, 1, 1_000).unwrap();
    assert_eq!(full.manifest.kind, SnapshotKind::Full);

    w.set_tick(2);
    let es = w.entities();
    for e in &es[..10] {
        w.insert::<u32>(*e, 50);
    }
    w.despawn(es[500]);
    let fresh = w.spawn();
    w.insert::<Pos>(fresh, [9.0, 9.0, 9.0]);
    w.remove::<Name>(es[7]);
    let d1 = snap.delta(&w, Changes::Log(w.log()), 2, 2_000).unwrap();
    let m = &d1.manifest;
    assert_eq!(m.kind, SnapshotKind::Delta);
    assert_eq!((m.parent, m.base, m.depth), (Some(full.id), Some(full.id), 1));
    assert_eq!((m.spawned, m.despawned, m.entity_count), (1, 1, 1000));
    let health = m.component("health").unwrap();
    assert_eq!((health.added, health.changed, health.removed, health.count), (0, 10, 0, 999));
    let name = m.component("name").unwrap();
    assert_eq!((name.removed, name.count), (1, 998));
    assert_eq!(m.component("position").unwrap().added, 1);
    assert!(d1.bytes * 20 < full.bytes, "delta {} bytes vs full {}", d1.bytes, full.bytes);

    w.set_tick(3);
    w.insert::<u32>(es[0], 1);
    let d2 = snap.delta(&w, Changes::Log(w.log()), 3, 3_000).unwrap();
    assert_eq!(d2.manifest.depth, 2);
    assert_eq!(d2.manifest.component("health").unwrap().changed, 1);

    let (restored, report) = recover_into_fresh(&store);
    let r = report.restored.unwrap();
    assert_eq!(r.id, d2.id);
    assert_eq!(r.chain, vec![full.name, d1.name, d2.name]);
    assert!(report.skipped.is_empty());
    assert_eq!(captured(&restored), captured(&w));
    assert_eq!(restored.get::<u32>(es[0]), Some(&1));
    assert!(!restored.contains(es[500]));
}

#[test]
fn hashing_deltas_find_changes_without_a_log() {
    let store = leak_store();
    let mut w = world(300);
    let mut snap = Snapshotter::new(schema(), store.clone());
    snap.full(&w, 1, 0).unwrap();
    let es = w.entities();
    w.insert::<u32>(es[3], 1);
    w.insert::<u32>(es[4], 100); // same value: not a change
    w.despawn(es[5]);
    let d = snap.delta(&w, Changes::Hashing, 2, 0).unwrap();
    let h = d.manifest.component("health").unwrap();
    assert_eq!((h.added, h.changed, h.removed), (0, 1, 0));
    assert_eq!(d.manifest.despawned, 1);
    assert_eq!(captured(&recover_into_fresh(&store).0), captured(&w));
}

#[test]
fn a_hashing_delta_after_log_deltas_sees_a_value_changed_back() {
    // A value changes in a log delta and back before a hashing delta: the index must have
    // followed the log delta, or the change back would be missed.
    let store = leak_store();
    let mut w = world(50);
    let mut snap = Snapshotter::new(schema(), store.clone());
    snap.full(&w, 1, 0).unwrap();
    let e = w.entities()[9];
    w.set_tick(2);
    w.insert::<u32>(e, 7);
    snap.delta(&w, Changes::Log(w.log()), 2, 0).unwrap();
    w.set_tick(3);
    w.insert::<u32>(e, 100);
    let d = snap.delta(&w, Changes::Hashing, 3, 0).unwrap();
    assert_eq!(d.manifest.component("health").unwrap().changed, 1);
    assert_eq!(recover_into_fresh(&store).0.get::<u32>(e), Some(&100));
}

#[test]
fn a_log_that_no_longer_covers_the_parent_falls_back_to_hashing() {
    let store = leak_store();
    let mut w = world(20);
    let mut snap = Snapshotter::new(schema(), store.clone());
    snap.full(&w, 5, 0).unwrap();
    w.set_tick(6);
    let e = w.entities()[2];
    w.insert::<u32>(e, 3);
    w.log_mut().forget_until(6); // the change is forgotten: a log delta would miss it
    let d = snap.delta(&w, Changes::Log(w.log()), 7, 0).unwrap();
    assert_eq!(d.manifest.component("health").unwrap().changed, 1);
    assert_eq!(recover_into_fresh(&store).0.get::<u32>(e), Some(&3));
}

#[test]
fn a_delta_needs_a_parent_and_ticks_do_not_go_back() {
    let w = world(3);
    let mut snap = Snapshotter::new(schema(), MemoryStore::new());
    let err = snap.delta(&w, Changes::Hashing, 1, 0).unwrap_err();
    assert!(matches!(err.kind(), ao_ecs_snapshot::ErrorKind::InvalidUse(m) if m.contains("parent")));
    snap.full(&w, 10, 0).unwrap();
    let err = snap.full(&w, 9, 0).unwrap_err();
    assert!(matches!(err.kind(), ao_ecs_snapshot::ErrorKind::InvalidUse(m) if m.contains("before")));
}

#[test]
fn compaction_folds_the_chain_into_one_base() {
    let store = leak_store();
    let mut w = world(100);
    let mut snap = Snapshotter::new(schema(), store.clone());
    snap.full(&w, 1, 0).unwrap();
    for t in 2..6 {
        w.set_tick(t);
        let e = w.entities()[t as usize];
        w.insert::<u32>(e, t as u32);
        snap.delta(&w, Changes::Log(w.log()), t, t * 10).unwrap();
    }
    let c = snap.compact().unwrap();
    assert_eq!(c.manifest.kind, SnapshotKind::Full);
    assert_eq!((c.manifest.tick, c.manifest.wall_time_ms), (5, 50));
    let (restored, report) = recover_into_fresh(&store);
    assert_eq!(report.restored.unwrap().chain, vec![c.name]);
    assert_eq!(captured(&restored), captured(&w));
    // The next delta builds on the compacted base.
    w.set_tick(6);
    w.insert::<u32>(w.entities()[0], 0);
    let d = snap.delta(&w, Changes::Log(w.log()), 6, 0).unwrap();
    assert_eq!((d.manifest.parent, d.manifest.depth), (Some(c.id), 1));
}

#[test]
fn snapshot_starts_a_new_base_when_the_chain_is_long() {
    use SnapshotKind::{Delta as D, Full as F};
    let mut w = world(10);
    let mut snap = Snapshotter::new(schema(), MemoryStore::new()).max_chain(2);
    let kinds: Vec<SnapshotKind> = (1..=7)
        .map(|t| {
            w.set_tick(t);
            w.insert::<u32>(w.entities()[0], t as u32);
            snap.snapshot(&w, Changes::Log(w.log()), t, 0).unwrap().manifest.kind
        })
        .collect();
    assert_eq!(kinds, vec![F, D, D, F, D, D, F]);
}

// ------------------------------------------------------------------------------------------
// State machine: generated operations and snapshots; after each snapshot, what recovery
// restores equals the world at that snapshot.

#[derive(Debug, Clone)]
enum Op {
    Spawn(u32, bool),
    Despawn(usize),
    SetHealth(usize, u32),
    RemoveHealth(usize),
    Rename(usize, String),
    Snapshot(u8),
    Compact,
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<u32>(), any::<bool>()).prop_map(|(h, n)| Op::Spawn(h, n)),
        2 => any::<usize>().prop_map(Op::Despawn),
        3 => (any::<usize>(), any::<u32>()).prop_map(|(i, h)| Op::SetHealth(i, h)),
        1 => any::<usize>().prop_map(Op::RemoveHealth),
        2 => (any::<usize>(), "[a-z]{0,6}").prop_map(|(i, s)| Op::Rename(i, s)),
        2 => (0u8..3).prop_map(Op::Snapshot),
        1 => Just(Op::Compact),
    ]
}

fn pick(w: &MemoryWorld, i: usize) -> Option<EntityId> {
    let es = w.entities();
    (!es.is_empty()).then(|| es[i % es.len()])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn recovery_restores_the_world_as_of_the_last_snapshot(ops in prop::collection::vec(arb_op(), 1..60)) {
        let store = leak_store();
        let mut w = MemoryWorld::new();
        let mut snap = Snapshotter::new(schema(), store.clone()).max_chain(4);
        let mut tick = 0;
        let mut expected: Option<State> = None;
        for op in ops {
            tick += 1;
            w.set_tick(tick);
            match op {
                Op::Spawn(h, named) => {
                    let e = w.spawn();
                    w.insert::<u32>(e, h);
                    if named { w.insert(e, Name(format!("n{h}"))); }
                }
                Op::Despawn(i) => { if let Some(e) = pick(&w, i) { w.despawn(e); } }
                Op::SetHealth(i, h) => { if let Some(e) = pick(&w, i) { w.insert::<u32>(e, h); } }
                Op::RemoveHealth(i) => { if let Some(e) = pick(&w, i) { w.remove::<u32>(e); } }
                Op::Rename(i, s) => { if let Some(e) = pick(&w, i) { w.insert(e, Name(s)); } }
                Op::Snapshot(mode) => {
                    let changes = if mode == 0 { Changes::Hashing } else { Changes::Log(w.log()) };
                    if mode == 2 { snap.full(&w, tick, tick).unwrap(); } else { snap.snapshot(&w, changes, tick, tick).unwrap(); }
                    expected = Some(captured(&w));
                }
                Op::Compact => {
                    if snap.head().is_some_and(|(_, m)| m.kind == SnapshotKind::Delta) {
                        snap.compact().unwrap();
                    }
                }
            }
        }
        if let Some(expected) = expected {
            let (restored, report) = recover_into_fresh(&store);
            prop_assert!(report.skipped.is_empty(), "{report}");
            prop_assert_eq!(captured(&restored), expected);
        }
    }
}
