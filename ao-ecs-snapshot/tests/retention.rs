//! Retention plans (keep last N, hourly/daily/weekly; never a base a kept delta needs),
//! pruning a real store, and archival to a cold store and back.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ao_ecs_snapshot::{
    Changes, FsStore, KeepReason, MemoryStore, MemoryWorld, RetentionPolicy, SnapshotId, SnapshotInfo,
    SnapshotKind, SnapshotStore, Snapshotter, archive, list_snapshots, plan_retention, prune, unarchive,
};
use common::{captured, churn, schema, world};
use proptest::prelude::*;

const HOUR: u64 = 3_600_000;

fn info(n: u8, parent: Option<u8>, base: Option<u8>, tick: u64, wall: u64) -> SnapshotInfo {
    let id = |k: u8| SnapshotId([k; 32]);
    SnapshotInfo {
        name: format!("s{n:02}"),
        id: id(n),
        kind: if parent.is_some() { SnapshotKind::Delta } else { SnapshotKind::Full },
        parent: parent.map(id),
        base: base.map(id),
        tick,
        wall_time_ms: wall,
    }
}

#[test]
fn keep_last_keeps_the_chain_under_the_newest_delta() {
    // s1 full, s2..s4 deltas on it, s5 full, s6 delta on s5.
    let snaps = vec![
        info(1, None, None, 1, 0),
        info(2, Some(1), Some(1), 2, 0),
        info(3, Some(2), Some(1), 3, 0),
        info(4, Some(3), Some(1), 4, 0),
        info(5, None, None, 5, 0),
        info(6, Some(5), Some(5), 6, 0),
    ];
    let plan = plan_retention(&snaps, &RetentionPolicy { last: 1, ..Default::default() });
    assert_eq!(
        plan.keep,
        vec![
            ("s06".to_owned(), vec![KeepReason::Last]),
            ("s05".to_owned(), vec![KeepReason::NeededBy("s06".into())]),
        ]
    );
    assert_eq!(plan.delete, ["s04", "s03", "s02", "s01"]);
}

#[test]
fn hourly_and_daily_keep_the_newest_of_each_bucket() {
    let day = 24 * HOUR;
    let snaps = vec![
        info(1, None, None, 1, 10 * HOUR),
        info(2, None, None, 2, 10 * HOUR + 5),
        info(3, None, None, 3, 11 * HOUR),
        info(4, None, None, 4, day + HOUR),
        info(5, None, None, 5, day + 2 * HOUR),
    ];
    let table: Vec<(RetentionPolicy, Vec<&str>)> = vec![
        (RetentionPolicy { hourly: 2, ..Default::default() }, vec!["s05", "s04"]),
        (RetentionPolicy { hourly: 10, ..Default::default() }, vec!["s05", "s04", "s03", "s02"]),
        (RetentionPolicy { daily: 2, ..Default::default() }, vec!["s05", "s03"]),
        (RetentionPolicy { weekly: 5, ..Default::default() }, vec!["s05"]),
        (RetentionPolicy { last: 1, daily: 2, ..Default::default() }, vec!["s05", "s03"]),
        (RetentionPolicy::default(), vec![]),
    ];
    for (policy, kept) in table {
        let plan = plan_retention(&snaps, &policy);
        let names: Vec<&str> = plan.keep.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, kept, "{policy:?}");
        assert_eq!(plan.keep.len() + plan.delete.len(), snaps.len());
    }
}

fn arb_snaps() -> impl Strategy<Value = Vec<SnapshotInfo>> {
    // Each snapshot is full or a delta on a random earlier one.
    prop::collection::vec((any::<bool>(), any::<prop::sample::Index>(), 0u64..(72 * HOUR)), 1..30).prop_map(
        |v| {
            let mut out: Vec<SnapshotInfo> = Vec::new();
            let mut wall = 0;
            for (i, (full, parent, step)) in v.into_iter().enumerate() {
                wall += step / 10;
                let n = i as u8 + 1;
                if full || out.is_empty() {
                    out.push(info(n, None, None, u64::from(n), wall));
                } else {
                    let p = &out[parent.index(out.len())];
                    let base = p.base.unwrap_or(p.id).0[0];
                    out.push(info(n, Some(p.id.0[0]), Some(base), u64::from(n), wall));
                }
            }
            out
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_kept_delta_never_loses_an_ancestor(snaps in arb_snaps(), last in 0usize..4, hourly in 0usize..4, daily in 0usize..3) {
        let plan = plan_retention(&snaps, &RetentionPolicy { last, hourly, daily, weekly: 1 });
        let kept: HashSet<&str> = plan.keep.iter().map(|(n, _)| n.as_str()).collect();
        let by_id: HashMap<SnapshotId, &SnapshotInfo> = snaps.iter().map(|s| (s.id, s)).collect();
        prop_assert_eq!(kept.len() + plan.delete.len(), snaps.len());
        for s in &snaps {
            if kept.contains(s.name.as_str()) {
                let mut cur = s.parent;
                while let Some(p) = cur.map(|id| by_id[&id]) {
                    prop_assert!(kept.contains(p.name.as_str()), "{} needs {}", s.name, p.name);
                    cur = p.parent;
                }
            }
        }
        // Deletion order: a delta before its parent.
        let pos: HashMap<&str, usize> = plan.delete.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        for s in &snaps {
            if let (Some(&i), Some(p)) = (pos.get(s.name.as_str()), s.parent.map(|id| by_id[&id]))
                && let Some(&j) = pos.get(p.name.as_str())
            {
                prop_assert!(i < j);
            }
        }
        // Something is always kept when the policy keeps anything.
        if last + hourly + daily > 0 { prop_assert!(!kept.is_empty()); }
    }
}

/// Writes fulls and deltas with wall times one hour apart.
fn history(store: Arc<dyn SnapshotStore>) -> (Vec<ao_ecs_snapshot::Written>, Vec<ao_ecs_snapshot::State>) {
    let mut w = world(40);
    let mut s = Snapshotter::new(schema(), store).max_chain(2);
    let mut written = Vec::new();
    let mut states = Vec::new();
    for t in 1..=9 {
        churn(&mut w, t);
        written.push(s.snapshot(&w, Changes::Log(w.log()), t, t * HOUR).unwrap());
        states.push(captured(&w));
    }
    (written, states)
}

fn recovered(store: Arc<dyn SnapshotStore>) -> ao_ecs_snapshot::State {
    let mut w = MemoryWorld::new();
    Snapshotter::new(schema(), store).recover(&mut w).unwrap();
    captured(&w)
}

#[test]
fn prune_deletes_what_the_plan_says_and_the_newest_state_survives() {
    let store: Arc<dyn SnapshotStore> = Arc::new(MemoryStore::new());
    let (written, states) = history(store.clone());
    // Kinds: F D D F D D F D D
    let plan = prune(store.as_ref(), &RetentionPolicy { last: 1, ..Default::default() }).unwrap();
    assert_eq!(plan.keep.len(), 3);
    let left = store.list().unwrap();
    assert_eq!(left, vec![written[6].name.clone(), written[7].name.clone(), written[8].name.clone()]);
    assert_eq!(recovered(store), states[8]);
}

#[test]
fn a_crash_during_prune_still_recovers_the_newest_state() {
    for k in 0..12u64 {
        let dir = tempfile::tempdir().unwrap();
        let (_, states) = history(Arc::new(FsStore::open(dir.path()).unwrap()));
        let plan = ao_ecs_snapshot::FaultPlan::new(k, ao_ecs_snapshot::Fault::Crash);
        let p = plan.clone();
        let faulty = FsStore::open(dir.path()).unwrap().with_faults(move |s| p.decide(s));
        let _ = prune(&faulty, &RetentionPolicy { last: 2, ..Default::default() });
        assert_eq!(recovered(Arc::new(FsStore::open(dir.path()).unwrap())), states[8], "crash at step {k}");
    }
}

#[test]
fn archive_moves_old_chains_and_unarchive_brings_them_back() {
    let hot: Arc<dyn SnapshotStore> = Arc::new(MemoryStore::new());
    let cold_dir = tempfile::tempdir().unwrap();
    let cold = FsStore::open(cold_dir.path()).unwrap();
    let (written, states) = history(hot.clone());
    let before = hot.list().unwrap();
    // Everything before hour 7 is old: the first two chains (ticks 1-3, 4-6) move.
    let report = archive(hot.as_ref(), &cold, 7 * HOUR).unwrap();
    assert_eq!(report.moved, written[..6].iter().map(|w| w.name.clone()).collect::<Vec<_>>());
    assert_eq!(hot.list().unwrap(), written[6..].iter().map(|w| w.name.clone()).collect::<Vec<_>>());
    assert_eq!(cold.list().unwrap().len(), 6);
    assert_eq!(recovered(hot.clone()), states[8]);
    // The archive is a store of its own: it recovers its newest chain.
    assert_eq!(recovered(Arc::new(FsStore::open(cold_dir.path()).unwrap())), states[5]);
    // Never the current chain, however old.
    assert!(archive(hot.as_ref(), &cold, u64::MAX).unwrap().moved.is_empty());

    let back = unarchive(&cold, hot.as_ref(), written[1].id).unwrap();
    assert_eq!(back, written[..3].iter().map(|w| w.name.clone()).collect::<Vec<_>>());
    assert_eq!(cold.list().unwrap().len(), 3);
    let (infos, _) = list_snapshots(hot.as_ref()).unwrap();
    assert_eq!(infos.len(), 6);
    assert!(before.iter().take(3).all(|n| hot.get(n).is_ok()));
}
