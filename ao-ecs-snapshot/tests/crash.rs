//! Crash consistency: a store that fails or dies at every write step in turn; after each,
//! recovery returns the last complete snapshot, equal byte for byte in state.

mod common;

use std::path::Path;

use ao_ecs_snapshot::{
    Changes, ErrorKind, Fault, FaultPlan, FsStore, MemoryWorld, SkipReason, Snapshotter, State, WriteStep,
};
use common::{captured, churn, schema, world};

const PUT_STEPS: [WriteStep; 6] = [
    WriteStep::CreateTemp,
    WriteStep::WriteFirstHalf,
    WriteStep::WriteRest,
    WriteStep::SyncFile,
    WriteStep::Rename,
    WriteStep::SyncDir,
];

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn recover_dir(dir: &Path) -> Result<(State, ao_ecs_snapshot::RecoveryReport), ao_ecs_snapshot::Error> {
    let mut w = MemoryWorld::new();
    let report = Snapshotter::new(schema(), FsStore::open(dir).unwrap()).recover(&mut w)?;
    Ok((captured(&w), report))
}

/// A directory with a base and one delta, the world after them, and the world one change later.
fn baseline(dir: &Path) -> (MemoryWorld, State) {
    let mut w = world(120);
    let mut s = Snapshotter::new(schema(), FsStore::open(dir).unwrap());
    s.full(&w, 1, 0).unwrap();
    churn(&mut w, 2);
    s.delta(&w, Changes::Log(w.log()), 2, 0).unwrap();
    let at_2 = captured(&w);
    churn(&mut w, 3);
    (w, at_2)
}

#[test]
fn a_put_goes_through_the_six_steps_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan::new(u64::MAX, Fault::Proceed);
    let p = plan.clone();
    let store = FsStore::open(dir.path()).unwrap().with_faults(move |s| p.decide(s));
    let w = world(5);
    Snapshotter::new(schema(), store).full(&w, 1, 0).unwrap();
    assert_eq!(plan.steps(), PUT_STEPS);
}

#[test]
fn a_crash_at_any_step_of_a_delta_write_recovers_the_last_complete_snapshot() {
    let base = tempfile::tempdir().unwrap();
    let (w, at_2) = baseline(base.path());
    let at_3 = captured(&w);
    for (k, step) in PUT_STEPS.iter().enumerate() {
        for fault in [Fault::Fail, Fault::Crash] {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(base.path(), dir.path());
            let plan = FaultPlan::new(k as u64, fault);
            let p = plan.clone();
            let store = FsStore::open(dir.path()).unwrap().with_faults(move |s| p.decide(s));
            let mut s = Snapshotter::new(schema(), store);
            let mut scratch = MemoryWorld::new();
            s.recover(&mut scratch).unwrap();
            let err = s.delta(&w, Changes::Hashing, 3, 0).unwrap_err();
            assert!(plan.fired(), "{step:?}");
            assert!(matches!(err.kind(), ErrorKind::Io { .. }), "{step:?} {fault:?}: {err}");
            // The rename is the commit point: from then on the new snapshot is whole.
            let committed = *step == WriteStep::SyncDir;
            let (state, report) = recover_dir(dir.path()).unwrap();
            assert_eq!(state, if committed { at_3.clone() } else { at_2.clone() }, "{step:?} {fault:?}");
            let leftovers: Vec<_> = report
                .skipped
                .iter()
                .filter(|s| s.reason == SkipReason::Interrupted)
                .map(|s| &s.name)
                .collect();
            // A failure cleans its temporary file; a crash before the rename leaves one behind.
            let expect_temp = fault == Fault::Crash && (1..=4).contains(&k);
            assert_eq!(leftovers.len(), usize::from(expect_temp), "{step:?} {fault:?}: {report}");
            FsStore::open(dir.path()).unwrap().remove_temp_files().unwrap();
        }
    }
}

#[test]
fn after_a_failed_write_the_next_delta_is_still_right() {
    for k in 0..PUT_STEPS.len() as u64 {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = baseline(dir.path());
        let plan = FaultPlan::new(k, Fault::Fail);
        let p = plan.clone();
        let store = FsStore::open(dir.path()).unwrap().with_faults(move |s| p.decide(s));
        let mut s = Snapshotter::new(schema(), store);
        s.recover(&mut MemoryWorld::new()).unwrap();
        assert!(s.delta(&w, Changes::Log(w.log()), 3, 0).is_err());
        // The failed delta's changes (tick 3) must reach the next one.
        churn(&mut w, 4);
        s.delta(&w, Changes::Log(w.log()), 4, 0).unwrap();
        assert_eq!(recover_dir(dir.path()).unwrap().0, captured(&w), "step {k}");
    }
}

#[test]
fn a_crash_while_writing_the_first_snapshot_leaves_nothing_to_recover() {
    for k in 0..5u64 {
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::new(k, Fault::Crash);
        let p = plan.clone();
        let store = FsStore::open(dir.path()).unwrap().with_faults(move |s| p.decide(s));
        let w = world(10);
        assert!(Snapshotter::new(schema(), store).full(&w, 1, 0).is_err());
        let err = recover_dir(dir.path()).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::NothingToRecover { .. }), "step {k}: {err}");
    }
}
