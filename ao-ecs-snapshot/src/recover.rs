//! Recovery (the newest complete, valid chain, with a report of what was skipped and why)
//! and verification of a whole store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::error::{Error, ErrorKind};
use crate::format::{Contents, DecodeLimits, Snapshot, decode};
use crate::manifest::{Manifest, SnapshotId, SnapshotKind};
use crate::model::Column;
use crate::schema::Upgrade;
use crate::state::{ComponentColumn, Delta, State};
use crate::store::{SnapshotStore, TEMP_PREFIX, parse_snapshot_name};

/// Why recovery passed over a stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A temporary file from a write that never completed.
    Interrupted,
    /// A name that is not a snapshot name.
    UnrecognizedName,
    /// The snapshot itself failed verification (the message names field and byte offset).
    Corrupt(String),
    /// A delta whose parent is not in the store.
    MissingParent(SnapshotId),
    /// A delta whose chain contains a bad snapshot.
    BadAncestor {
        /// The bad ancestor's name.
        ancestor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The chain's snapshots do not fit together (base, depth, ticks) or do not add up to
    /// the counts the newest one records.
    InconsistentChain(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Interrupted => f.write_str("temporary file of an interrupted write"),
            SkipReason::UnrecognizedName => f.write_str("not a snapshot name"),
            SkipReason::Corrupt(m) => write!(f, "corrupt: {m}"),
            SkipReason::MissingParent(id) => write!(f, "parent {} is missing", id.short()),
            SkipReason::BadAncestor { ancestor, reason } => {
                write!(f, "depends on {ancestor}, which is {reason}")
            }
            SkipReason::InconsistentChain(m) => write!(f, "inconsistent chain: {m}"),
        }
    }
}

/// A file recovery passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its name in the store.
    pub name: String,
    /// Why.
    pub reason: SkipReason,
}

/// What recovery restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The newest snapshot of the chain.
    pub id: SnapshotId,
    /// Its name.
    pub name: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// The chain's names, base first.
    pub chain: Vec<String>,
}

/// What recovery looked at: what it restored, and every newer file it skipped, with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The restored chain (`None` inside [`ErrorKind::NothingToRecover`]).
    pub restored: Option<Restored>,
    /// Files passed over, newest first (temporary and unrecognized files first).
    pub skipped: Vec<Skipped>,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.restored {
            Some(r) => writeln!(
                f,
                "restored {} (tick {}, {} entities) from a chain of {}",
                r.name,
                r.manifest.tick,
                r.manifest.entity_count,
                r.chain.len()
            )?,
            None => writeln!(f, "nothing restored")?,
        }
        for s in &self.skipped {
            writeln!(f, "skipped {}: {}", s.name, s.reason)?;
        }
        Ok(())
    }
}

pub(crate) struct Candidate {
    pub(crate) tick: u64,
    pub(crate) kind: SnapshotKind,
    pub(crate) id: SnapshotId,
    pub(crate) name: String,
}

/// Sorts a store's names into snapshot candidates (newest first) and the rest.
pub(crate) fn classify(names: Vec<String>) -> (Vec<Candidate>, Vec<Skipped>) {
    let mut cands = Vec::new();
    let mut other = Vec::new();
    for name in names {
        if name.starts_with(TEMP_PREFIX) {
            other.push(Skipped { name, reason: SkipReason::Interrupted });
        } else if let Some((tick, kind, id)) = parse_snapshot_name(&name) {
            cands.push(Candidate { tick, kind, id, name });
        } else if !name.ends_with(".anchor") {
            other.push(Skipped { name, reason: SkipReason::UnrecognizedName });
        }
    }
    // Newest first; at equal ticks a full snapshot (a shorter chain) first.
    cands.sort_by(|a, b| {
        b.tick
            .cmp(&a.tick)
            .then_with(|| (a.kind == SnapshotKind::Delta).cmp(&(b.kind == SnapshotKind::Delta)))
            .then_with(|| b.name.cmp(&a.name))
    });
    (cands, other)
}

fn upgrade_column(up: &dyn Upgrade, name: &str, c: ComponentColumn) -> Result<ComponentColumn, Error> {
    let (version, column) = up.upgrade(name, c.version, c.column)?;
    Ok(ComponentColumn { version, column })
}

fn upgrade_delta(up: &dyn Upgrade, mut d: Delta) -> Result<Delta, Error> {
    for (name, cd) in &mut d.components {
        let from = cd.version;
        let (v1, added) = up.upgrade(name, from, std::mem::take(&mut cd.added))?;
        let (v2, changed) = up.upgrade(name, from, std::mem::take(&mut cd.changed))?;
        debug_assert_eq!(v1, v2);
        cd.version = v1.max(v2);
        cd.added = added;
        cd.changed = changed;
    }
    Ok(d)
}

fn upgrade_state(up: &dyn Upgrade, mut s: State) -> Result<State, Error> {
    let comps = std::mem::take(s.components_mut());
    for (name, c) in comps {
        let c = upgrade_column(up, &name, c)?;
        s.components_mut().insert(name, c);
    }
    Ok(s)
}

/// Whether an error means the schema (code) is wrong rather than the data: recovery stops
/// on these instead of falling back to older state.
fn is_schema_error(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::MissingMigration { .. }
            | ErrorKind::FutureSchema { .. }
            | ErrorKind::UnknownComponent { .. }
    )
}

/// Checks the counts the newest manifest records against the folded state.
fn check_counts(m: &Manifest, s: &State) -> Result<(), String> {
    if m.entity_count != s.entities().len() as u64 {
        return Err(format!("{} entities recorded, {} restored", m.entity_count, s.entities().len()));
    }
    let mut listed = HashSet::new();
    for c in &m.components {
        listed.insert(c.name.as_str());
        let n = s.component(&c.name).map_or(0, |c| c.column.len() as u64);
        if n != c.count {
            return Err(format!("component {:?}: {} recorded, {n} restored", c.name, c.count));
        }
    }
    if let Some((name, _)) = s.components().find(|(n, _)| !listed.contains(n)) {
        return Err(format!("component {name:?} restored but not recorded"));
    }
    Ok(())
}

/// Loads, verifies and folds chains; caches what it found bad.
pub(crate) struct ChainLoader<'a> {
    store: &'a dyn SnapshotStore,
    limits: &'a DecodeLimits,
    names: HashMap<SnapshotId, String>,
    bad: HashMap<SnapshotId, String>,
}

pub(crate) enum ChainError {
    Skip(SkipReason),
    Fatal(Error),
}

impl<'a> ChainLoader<'a> {
    pub(crate) fn new(store: &'a dyn SnapshotStore, limits: &'a DecodeLimits, cands: &[Candidate]) -> Self {
        let names = cands.iter().map(|c| (c.id, c.name.clone())).collect();
        Self { store, limits, names, bad: HashMap::new() }
    }

    fn load(&mut self, id: SnapshotId) -> Result<Snapshot, String> {
        if let Some(r) = self.bad.get(&id) {
            return Err(r.clone());
        }
        let name = &self.names[&id];
        let result = self.store.get(name).map_err(|e| e.to_string()).and_then(|bytes| {
            let snap = decode(&bytes, self.limits).map_err(|e| e.to_string())?;
            if snap.id != id {
                return Err(format!("its root is {}, its name says {}", snap.id.short(), id.short()));
            }
            if parse_snapshot_name(name)
                .is_some_and(|(t, k, _)| t != snap.manifest.tick || k != snap.manifest.kind)
            {
                return Err("its name and its manifest disagree on tick or kind".to_owned());
            }
            Ok(snap)
        });
        if let Err(r) = &result {
            self.bad.insert(id, r.clone());
        }
        result
    }

    /// The chain ending at `tip`, base first, every snapshot verified.
    pub(crate) fn chain(&mut self, tip: SnapshotId) -> Result<Vec<Snapshot>, ChainError> {
        let mut chain = Vec::new();
        let mut cur = tip;
        let mut seen = HashSet::new();
        loop {
            if !seen.insert(cur) {
                return Err(ChainError::Skip(SkipReason::InconsistentChain("the chain loops".into())));
            }
            if !self.names.contains_key(&cur) {
                return Err(ChainError::Skip(SkipReason::MissingParent(cur)));
            }
            let snap = match self.load(cur) {
                Ok(s) => s,
                Err(reason) if cur == tip => return Err(ChainError::Skip(SkipReason::Corrupt(reason))),
                Err(reason) => {
                    let ancestor = self.names[&cur].clone();
                    return Err(ChainError::Skip(SkipReason::BadAncestor { ancestor, reason }));
                }
            };
            let parent = snap.manifest.parent;
            chain.push(snap);
            match parent {
                None => break,
                Some(p) => cur = p,
            }
        }
        chain.reverse();
        let base_id = chain[0].id;
        for pair in chain.windows(2) {
            let (p, c) = (&pair[0], &pair[1]);
            let m = &c.manifest;
            if m.base != Some(base_id) || m.depth != p.manifest.depth + 1 || m.tick < p.manifest.tick {
                return Err(ChainError::Skip(SkipReason::InconsistentChain(format!(
                    "{} does not follow {} (base, depth or tick)",
                    c.id.short(),
                    p.id.short()
                ))));
            }
        }
        Ok(chain)
    }

    /// Folds a verified chain into one state at the current schema, checking the counts.
    pub(crate) fn fold(chain: Vec<Snapshot>, up: &dyn Upgrade) -> Result<(State, Manifest), ChainError> {
        let fatal_or_skip = |e: Error| {
            if is_schema_error(&e) {
                ChainError::Fatal(e)
            } else {
                ChainError::Skip(SkipReason::Corrupt(e.to_string()))
            }
        };
        let tip_manifest = chain.last().expect("a chain has a base").manifest.clone();
        let mut iter = chain.into_iter();
        let Contents::Full(base) = iter.next().expect("a chain has a base").contents else {
            return Err(ChainError::Skip(SkipReason::InconsistentChain(
                "the chain does not start with a full snapshot".into(),
            )));
        };
        let base = upgrade_state(up, base).map_err(fatal_or_skip)?;
        let mut deltas = Vec::new();
        for s in iter {
            let Contents::Delta(d) = s.contents else {
                return Err(ChainError::Skip(SkipReason::InconsistentChain(
                    "a full snapshot inside a chain".into(),
                )));
            };
            deltas.push(upgrade_delta(up, d).map_err(fatal_or_skip)?);
        }
        let state = base.apply(&deltas).map_err(|m| ChainError::Skip(SkipReason::InconsistentChain(m)))?;
        check_counts(&tip_manifest, &state)
            .map_err(|m| ChainError::Skip(SkipReason::InconsistentChain(m)))?;
        Ok((state, tip_manifest))
    }
}

/// The result of [`recover_state`].
pub(crate) struct Recovered {
    pub(crate) state: State,
    pub(crate) report: RecoveryReport,
}

/// Finds the newest chain that verifies completely and folds it. Never returns a state
/// that did not verify: on corruption it falls back to older snapshots and says so.
pub(crate) fn recover_state(
    store: &dyn SnapshotStore,
    up: &dyn Upgrade,
    limits: &DecodeLimits,
) -> Result<Recovered, Error> {
    let (cands, mut skipped) = classify(store.list()?);
    let mut loader = ChainLoader::new(store, limits, &cands);
    for cand in &cands {
        let outcome = loader.chain(cand.id).and_then(|chain| {
            let names: Vec<String> = chain.iter().map(|s| loader_name(&loader, s.id)).collect();
            ChainLoader::fold(chain, up).map(|r| (r, names))
        });
        match outcome {
            Ok(((state, manifest), chain)) => {
                let restored = Restored { id: cand.id, name: cand.name.clone(), manifest, chain };
                return Ok(Recovered { state, report: RecoveryReport { restored: Some(restored), skipped } });
            }
            Err(ChainError::Fatal(e)) => return Err(e),
            Err(ChainError::Skip(reason)) => skipped.push(Skipped { name: cand.name.clone(), reason }),
        }
    }
    Err(ErrorKind::NothingToRecover { report: Box::new(RecoveryReport { restored: None, skipped }) }.into())
}

fn loader_name(l: &ChainLoader<'_>, id: SnapshotId) -> String {
    l.names.get(&id).cloned().unwrap_or_else(|| id.to_hex())
}

/// The status of one stored snapshot in a [`VerifyReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Verified, and its chain (if a delta) is complete and adds up.
    Ok,
    /// Fails verification itself.
    Corrupt(String),
    /// Verifies, but its chain does not (missing or bad ancestor, inconsistent counts).
    Unrestorable(SkipReason),
}

/// One snapshot checked by [`verify_store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: Status,
}

/// What [`verify_store`] found, like `restic check --read-data`: every snapshot read,
/// every hash checked, every chain folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Every snapshot, oldest first.
    pub snapshots: Vec<Checked>,
    /// Files that are not snapshots (temporary files, unknown names).
    pub other: Vec<Skipped>,
}

impl VerifyReport {
    /// Whether every snapshot is fine (other files are warnings, not errors).
    pub fn is_ok(&self) -> bool {
        self.snapshots.iter().all(|c| c.status == Status::Ok)
    }

    /// How many snapshots have problems.
    pub fn errors(&self) -> usize {
        self.snapshots.iter().filter(|c| c.status != Status::Ok).count()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.snapshots {
            match &c.status {
                Status::Ok => writeln!(f, "ok       {}", c.name)?,
                Status::Corrupt(m) => writeln!(f, "CORRUPT  {}: {m}", c.name)?,
                Status::Unrestorable(r) => writeln!(f, "BROKEN   {}: {r}", c.name)?,
            }
        }
        for o in &self.other {
            writeln!(f, "warning  {}: {}", o.name, o.reason)?;
        }
        let n = self.snapshots.len();
        if self.is_ok() {
            writeln!(f, "no errors: {n} snapshot(s) verified")
        } else {
            writeln!(f, "{} error(s) in {n} snapshot(s)", self.errors())
        }
    }
}

/// Reads and verifies every snapshot in `store` and folds every chain.
pub fn verify_store(store: &dyn SnapshotStore, limits: &DecodeLimits) -> Result<VerifyReport, Error> {
    let (cands, other) = classify(store.list()?);
    let mut loader = ChainLoader::new(store, limits, &cands);
    // Which snapshots are some other snapshot's parent: only tips need a fold.
    let mut status: BTreeMap<String, Status> = BTreeMap::new();
    let mut parents = HashSet::new();
    for c in &cands {
        match loader.load(c.id) {
            Ok(s) => {
                if let Some(p) = s.manifest.parent {
                    parents.insert(p);
                }
                status.insert(c.name.clone(), Status::Ok);
            }
            Err(m) => {
                status.insert(c.name.clone(), Status::Corrupt(m));
            }
        }
    }
    for c in &cands {
        if status[&c.name] != Status::Ok {
            continue;
        }
        let is_tip = !parents.contains(&c.id);
        let result = loader.chain(c.id);
        let result = match result {
            Ok(chain) if is_tip => ChainLoader::fold(chain, &IgnoreVersions).map(|_| ()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {}
            Err(ChainError::Skip(r)) => {
                status.insert(c.name.clone(), Status::Unrestorable(r));
            }
            Err(ChainError::Fatal(e)) => {
                status.insert(c.name.clone(), Status::Unrestorable(SkipReason::Corrupt(e.to_string())));
            }
        }
    }
    let snapshots = status.into_iter().map(|(name, status)| Checked { name, status }).collect();
    Ok(VerifyReport { snapshots, other })
}

/// For verification without a schema: every version counts as the same, so a chain that
/// crosses a schema upgrade folds (only counts are checked).
struct IgnoreVersions;

impl Upgrade for IgnoreVersions {
    fn upgrade(&self, _: &str, _: u32, column: Column) -> Result<(u32, Column), Error> {
        Ok((0, column))
    }
}
