//! Retention (which snapshots to keep) as a pure plan, and the drivers that prune and archive.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::Error;
use crate::format::read_summary;
use crate::manifest::{SnapshotId, SnapshotKind};
use crate::recover::{Skipped, classify};
use crate::store::SnapshotStore;

/// What retention needs to know about one snapshot (from its header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Its name.
    pub name: String,
    /// Its root.
    pub id: SnapshotId,
    /// Full or delta.
    pub kind: SnapshotKind,
    /// For a delta, its parent.
    pub parent: Option<SnapshotId>,
    /// For a delta, the base of its chain.
    pub base: Option<SnapshotId>,
    /// Its tick.
    pub tick: u64,
    /// Its wall time (ms since the Unix epoch).
    pub wall_time_ms: u64,
}

/// How many snapshots to keep, in the manner of `restic forget`: the newest `last`, and the
/// newest one of each of the newest `hourly` hours, `daily` days and `weekly` weeks
/// (UTC, weeks starting on Monday). Whatever a kept delta depends on is kept too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep the newest N.
    pub last: usize,
    /// Keep the newest of each of the newest N hours.
    pub hourly: usize,
    /// Keep the newest of each of the newest N days.
    pub daily: usize,
    /// Keep the newest of each of the newest N weeks.
    pub weekly: usize,
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeepReason {
    /// One of the newest `last`.
    Last,
    /// The newest of its hour.
    Hourly,
    /// The newest of its day.
    Daily,
    /// The newest of its week.
    Weekly,
    /// A kept delta depends on it (the delta's name).
    NeededBy(String),
}

/// What to keep and what to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    /// Kept snapshots with their reasons, newest first.
    pub keep: Vec<(String, Vec<KeepReason>)>,
    /// Snapshots to delete, in a safe order: every delta before what it depends on.
    pub delete: Vec<String>,
}

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

fn newest_per_bucket(
    sorted: &[&SnapshotInfo],
    n: usize,
    bucket: impl Fn(u64) -> u64,
    reason: &KeepReason,
    keep: &mut BTreeMap<String, BTreeSet<KeepReason>>,
) {
    let mut seen = BTreeSet::new();
    for s in sorted {
        if seen.len() == n {
            break;
        }
        if seen.insert(bucket(s.wall_time_ms)) {
            keep.entry(s.name.clone()).or_default().insert(reason.clone());
        }
    }
}

/// Plans retention over `snapshots` (any order). Pure: same input, same plan.
pub fn plan_retention(snapshots: &[SnapshotInfo], policy: &RetentionPolicy) -> RetentionPlan {
    let mut sorted: Vec<&SnapshotInfo> = snapshots.iter().collect();
    sorted.sort_by(|a, b| {
        b.tick.cmp(&a.tick).then(b.wall_time_ms.cmp(&a.wall_time_ms)).then_with(|| b.name.cmp(&a.name))
    });
    let mut keep: BTreeMap<String, BTreeSet<KeepReason>> = BTreeMap::new();
    for s in sorted.iter().take(policy.last) {
        keep.entry(s.name.clone()).or_default().insert(KeepReason::Last);
    }
    newest_per_bucket(&sorted, policy.hourly, |t| t / HOUR, &KeepReason::Hourly, &mut keep);
    newest_per_bucket(&sorted, policy.daily, |t| t / DAY, &KeepReason::Daily, &mut keep);
    // 1970-01-01 was a Thursday: shift by 3 days so weeks start on Monday.
    newest_per_bucket(&sorted, policy.weekly, |t| (t / DAY + 3) / 7, &KeepReason::Weekly, &mut keep);

    // Close over dependencies: a kept delta keeps its whole chain.
    let by_id: HashMap<SnapshotId, &SnapshotInfo> = snapshots.iter().map(|s| (s.id, s)).collect();
    let roots: Vec<String> = keep.keys().cloned().collect();
    for name in roots {
        let mut cur = snapshots.iter().find(|s| s.name == name).and_then(|s| s.parent);
        while let Some(p) = cur.and_then(|id| by_id.get(&id)) {
            keep.entry(p.name.clone()).or_default().insert(KeepReason::NeededBy(name.clone()));
            cur = p.parent;
        }
    }
    let keep_list = sorted
        .iter()
        .filter_map(|s| keep.get(&s.name).map(|r| (s.name.clone(), r.iter().cloned().collect())))
        .collect();
    // Newest first deletes every delta before the snapshots it builds on.
    let delete = sorted.iter().filter(|s| !keep.contains_key(&s.name)).map(|s| s.name.clone()).collect();
    RetentionPlan { keep: keep_list, delete }
}

/// Headers of every snapshot in a store, and the files that are not readable snapshots.
pub fn list_snapshots(store: &dyn SnapshotStore) -> Result<(Vec<SnapshotInfo>, Vec<Skipped>), Error> {
    let (cands, mut other) = classify(store.list()?);
    let mut infos = Vec::new();
    for c in cands {
        let bytes = store.get(&c.name)?;
        match read_summary(&bytes) {
            Ok(s) => infos.push(SnapshotInfo {
                name: c.name,
                id: s.id,
                kind: s.manifest.kind,
                parent: s.manifest.parent,
                base: s.manifest.base,
                tick: s.manifest.tick,
                wall_time_ms: s.manifest.wall_time_ms,
            }),
            Err(e) => other
                .push(Skipped { name: c.name, reason: crate::recover::SkipReason::Corrupt(e.to_string()) }),
        }
    }
    Ok((infos, other))
}

/// Applies a retention policy to a store: plans, then deletes in the plan's order.
/// Unreadable files are left alone (run [`verify_store`](crate::verify_store) to see them).
pub fn prune(store: &dyn SnapshotStore, policy: &RetentionPolicy) -> Result<RetentionPlan, Error> {
    let (infos, _) = list_snapshots(store)?;
    let plan = plan_retention(&infos, policy);
    for name in &plan.delete {
        store.delete(name)?;
    }
    Ok(plan)
}

/// What [`archive`] moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Names moved, in the order they were copied (bases before their deltas).
    pub moved: Vec<String>,
}

/// Groups snapshots into chains: a base and every delta built on it.
fn chains(infos: &[SnapshotInfo]) -> BTreeMap<SnapshotId, Vec<&SnapshotInfo>> {
    let mut out: BTreeMap<SnapshotId, Vec<&SnapshotInfo>> = BTreeMap::new();
    for s in infos {
        let base = if s.kind == SnapshotKind::Full { s.id } else { s.base.unwrap_or(s.id) };
        out.entry(base).or_default().push(s);
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| {
            a.tick.cmp(&b.tick).then((a.kind == SnapshotKind::Delta).cmp(&(b.kind == SnapshotKind::Delta)))
        });
    }
    out
}

fn copy_verified(from: &dyn SnapshotStore, to: &dyn SnapshotStore, name: &str) -> Result<(), Error> {
    let bytes = from.get(name)?;
    crate::format::verify_hashes(&bytes)?;
    to.put(name, &bytes)?;
    if to.get(name)? != bytes {
        return Err(crate::error::ErrorKind::InvalidUse(format!(
            "{name}: read back from the archive differs"
        ))
        .into());
    }
    Ok(())
}

/// Moves whole chains whose every snapshot is older than `before_ms` (wall time) from `hot`
/// to `cold`, never the chain holding the newest snapshot. Each file is verified, copied,
/// read back, and only then deleted from `hot` (deltas first), so a crash never loses one.
pub fn archive(
    hot: &dyn SnapshotStore,
    cold: &dyn SnapshotStore,
    before_ms: u64,
) -> Result<ArchiveReport, Error> {
    let (infos, _) = list_snapshots(hot)?;
    let newest = infos.iter().max_by_key(|s| (s.tick, s.wall_time_ms)).map(|s| s.id);
    let mut report = ArchiveReport::default();
    for (_, chain) in chains(&infos) {
        let old = chain.iter().all(|s| s.wall_time_ms < before_ms);
        let current = chain.iter().any(|s| Some(s.id) == newest);
        if !old || current {
            continue;
        }
        for s in &chain {
            copy_verified(hot, cold, &s.name)?;
        }
        for s in chain.iter().rev() {
            hot.delete(&s.name)?;
        }
        report.moved.extend(chain.iter().map(|s| s.name.clone()));
    }
    Ok(report)
}

/// Brings the chain holding snapshot `id` back from `cold` to `hot` (copy, verify, read
/// back, then delete from `cold`). Returns the names moved.
pub fn unarchive(
    cold: &dyn SnapshotStore,
    hot: &dyn SnapshotStore,
    id: SnapshotId,
) -> Result<Vec<String>, Error> {
    let (infos, _) = list_snapshots(cold)?;
    let all = chains(&infos);
    let Some((_, chain)) = all.iter().find(|(_, c)| c.iter().any(|s| s.id == id)) else {
        return Err(crate::error::ErrorKind::NotFound(id.to_hex()).into());
    };
    for s in chain {
        copy_verified(cold, hot, &s.name)?;
    }
    for s in chain.iter().rev() {
        cold.delete(&s.name)?;
    }
    Ok(chain.iter().map(|s| s.name.clone()).collect())
}
