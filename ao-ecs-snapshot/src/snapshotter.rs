//! The driver a game backend holds: takes full and delta snapshots of its world into a
//! store, recovers, compacts, verifies.

use std::collections::BTreeMap;

use crate::delta::HashIndex;
use crate::error::{Error, ErrorKind};
use crate::format::{DecodeLimits, EncodeOptions, encode_delta, encode_full, full_manifest};
use crate::manifest::{ComponentInfo, Manifest, SnapshotId, SnapshotKind};
use crate::model::Tick;
use crate::recover::{
    ChainError, ChainLoader, RecoveryReport, VerifyReport, classify, recover_state, verify_store,
};
use crate::schema::Schema;
use crate::state::{ComponentColumn, Delta, State};
use crate::store::{SnapshotStore, snapshot_name};
use crate::world::{ChangeLog, WorldSink, WorldSource};

/// How a delta finds what changed.
#[derive(Debug, Clone, Copy)]
pub enum Changes<'a> {
    /// From the host's change log: reads only changed entities (cost ∝ changes).
    Log(&'a ChangeLog),
    /// By encoding the world and comparing per-entity hashes with the last snapshot
    /// (cost ∝ world to compute, size ∝ changes). Needs [`Snapshotter::hash_index`] on.
    Hashing,
}

/// A snapshot the snapshotter wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its root.
    pub id: SnapshotId,
    /// Its name in the store.
    pub name: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its size in bytes.
    pub bytes: u64,
}

#[derive(Debug, Clone)]
struct Head {
    id: SnapshotId,
    manifest: Manifest,
}

/// Takes snapshots of a world `W` into a store and brings them back.
///
/// Holds the schema, the store, the newest snapshot written or recovered (the parent of
/// the next delta), optionally a [`HashIndex`] for hashing deltas, and the values of
/// components the schema does not know (kept and re-written by default).
#[derive(Debug)]
pub struct Snapshotter<W: WorldSource + WorldSink> {
    schema: Schema<W>,
    store: Box<dyn SnapshotStore>,
    options: EncodeOptions,
    limits: DecodeLimits,
    max_depth: u32,
    hash_index: bool,
    head: Option<Head>,
    index: Option<HashIndex>,
    /// Log deltas written since `index` was built, to bring it up to date when needed.
    pending: Vec<Delta>,
    kept: BTreeMap<String, ComponentColumn>,
}

impl<W: WorldSource + WorldSink> Snapshotter<W> {
    /// A snapshotter writing to `store`.
    pub fn new(schema: Schema<W>, store: impl SnapshotStore + 'static) -> Self {
        Self {
            schema,
            store: Box::new(store),
            options: EncodeOptions::default(),
            limits: DecodeLimits::default(),
            max_depth: 32,
            hash_index: true,
            head: None,
            index: None,
            pending: Vec::new(),
            kept: BTreeMap::new(),
        }
    }

    /// Encoding options (zstd level, rows per chunk, threads).
    #[must_use]
    pub fn encode_options(mut self, options: EncodeOptions) -> Self {
        self.options = options;
        self
    }

    /// Decoding limits.
    #[must_use]
    pub fn decode_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// [`snapshot`](Self::snapshot) takes a full snapshot once a chain has this many deltas.
    #[must_use]
    pub fn max_chain(mut self, deltas: u32) -> Self {
        self.max_depth = deltas.max(1);
        self
    }

    /// Whether to keep a [`HashIndex`] (on by default) so [`Changes::Hashing`] works; a host
    /// that always passes a change log can turn it off and save the hashing of every full
    /// snapshot.
    #[must_use]
    pub fn hash_index(mut self, on: bool) -> Self {
        self.hash_index = on;
        if !on {
            self.index = None;
            self.pending.clear();
        }
        self
    }

    /// The schema.
    pub fn schema(&self) -> &Schema<W> {
        &self.schema
    }

    /// The store.
    pub fn store(&self) -> &dyn SnapshotStore {
        self.store.as_ref()
    }

    /// The newest snapshot written or recovered: the parent of the next delta.
    pub fn head(&self) -> Option<(SnapshotId, &Manifest)> {
        self.head.as_ref().map(|h| (h.id, &h.manifest))
    }

    /// Values of components the schema does not know, kept from the last recovery.
    pub fn kept_components(&self) -> impl Iterator<Item = (&str, &ComponentColumn)> + '_ {
        self.kept.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn tick_check(&self, tick: Tick) -> Result<(), Error> {
        match &self.head {
            Some(h) if tick < h.manifest.tick => Err(ErrorKind::InvalidUse(format!(
                "tick {tick} is before the last snapshot's tick {}",
                h.manifest.tick
            ))
            .into()),
            _ => Ok(()),
        }
    }

    fn write(&mut self, id: SnapshotId, bytes: &[u8], manifest: Manifest) -> Result<Written, Error> {
        let name = snapshot_name(manifest.tick, manifest.kind, &id);
        self.store.put(&name, bytes)?;
        self.head = Some(Head { id, manifest: manifest.clone() });
        Ok(Written { id, name, manifest, bytes: bytes.len() as u64 })
    }

    /// Captures `world` and adds the kept unknown components of its live entities.
    fn capture(&self, world: &W) -> Result<State, Error> {
        let mut state = self.schema.capture(world)?;
        for (name, c) in &self.kept {
            let mut c = c.clone();
            c.column.retain(|e| state.entities().binary_search(&e).is_ok());
            if !c.column.is_empty() {
                state.components_mut().insert(name.clone(), c);
            }
        }
        Ok(state)
    }

    /// Writes a full snapshot of `world` at `tick` (`wall_time_ms` since the Unix epoch).
    pub fn full(&mut self, world: &W, tick: Tick, wall_time_ms: u64) -> Result<Written, Error> {
        self.tick_check(tick)?;
        let state = self.capture(world)?;
        self.write_full(&state, tick, wall_time_ms)
    }

    fn write_full(&mut self, state: &State, tick: Tick, wall_time_ms: u64) -> Result<Written, Error> {
        let (id, bytes) = encode_full(state, full_manifest(state, tick, wall_time_ms), &self.options)?;
        let written = self.write(id, &bytes, full_manifest(state, tick, wall_time_ms))?;
        self.pending.clear();
        self.index = self.hash_index.then(|| HashIndex::of(state));
        Ok(written)
    }

    /// Writes a delta of `world` since the last snapshot.
    ///
    /// With [`Changes::Log`] only entities the log names are read; if the log no longer
    /// covers the parent's tick, hashing is used instead (when the index is kept).
    pub fn delta(
        &mut self,
        world: &W,
        changes: Changes<'_>,
        tick: Tick,
        wall_time_ms: u64,
    ) -> Result<Written, Error> {
        self.tick_check(tick)?;
        let Some(head) = self.head.clone() else {
            return Err(ErrorKind::InvalidUse(
                "a delta needs a parent: take a full snapshot or recover first".into(),
            )
            .into());
        };
        let use_log = match changes {
            Changes::Log(log) if log.covers(head.manifest.tick) => Some(log),
            _ => None,
        };
        // Nothing changes in `self` until the snapshot is stored: a failed write leaves the
        // head, the index and the kept values as they were, so the next delta is still right.
        let (delta, new_index) = if let Some(log) = use_log {
            (self.schema.capture_changes(world, log, head.manifest.tick)?, None)
        } else {
            let Some(index) = self.index.as_ref() else {
                return Err(ErrorKind::InvalidUse(
                    "a hashing delta needs the hash index (Snapshotter::hash_index) or a change log covering the parent"
                        .into(),
                )
                .into());
            };
            let mut index = index.clone();
            for d in &self.pending {
                index.apply(d);
            }
            let state = self.capture(world)?;
            (index.diff(&state), Some(HashIndex::of(&state)))
        };
        let mut kept = self.kept.clone();
        if !delta.despawned.is_empty() {
            for c in kept.values_mut() {
                c.column.retain(|e| delta.despawned.binary_search(&e).is_err());
            }
            kept.retain(|_, c| !c.column.is_empty());
        }
        let manifest = self.delta_manifest(world, &kept, &head, &delta, tick, wall_time_ms);
        let (id, bytes) = encode_delta(&delta, manifest.clone(), &self.options)?;
        let written = self.write(id, &bytes, manifest)?;
        self.kept = kept;
        match new_index {
            Some(i) => {
                self.index = Some(i);
                self.pending.clear();
            }
            None if self.index.is_some() => self.pending.push(delta),
            None => {}
        }
        Ok(written)
    }

    fn delta_manifest(
        &self,
        world: &W,
        kept: &BTreeMap<String, ComponentColumn>,
        head: &Head,
        delta: &Delta,
        tick: Tick,
        wall_time_ms: u64,
    ) -> Manifest {
        let mut counts = self.schema.counts(world);
        for (name, c) in kept {
            counts.insert(name.clone(), c.column.len() as u64);
        }
        let mut components: BTreeMap<String, ComponentInfo> = BTreeMap::new();
        for (name, count) in counts {
            let version =
                self.schema.version_of(&name).or_else(|| kept.get(&name).map(|c| c.version)).unwrap_or(0);
            if count > 0 {
                components.insert(
                    name.clone(),
                    ComponentInfo { name, version, count, added: 0, changed: 0, removed: 0 },
                );
            }
        }
        for (name, d) in &delta.components {
            let e = components.entry(name.clone()).or_insert_with(|| ComponentInfo {
                name: name.clone(),
                version: d.version,
                count: 0,
                added: 0,
                changed: 0,
                removed: 0,
            });
            e.added = d.added.len() as u64;
            e.changed = d.changed.len() as u64;
            e.removed = d.removed.len() as u64;
        }
        Manifest {
            kind: SnapshotKind::Delta,
            parent: Some(head.id),
            base: Some(head.manifest.base.unwrap_or(head.id)),
            depth: head.manifest.depth + 1,
            tick,
            wall_time_ms,
            entity_count: world.entity_count(),
            spawned: delta.spawned.len() as u64,
            despawned: delta.despawned.len() as u64,
            components: components.into_values().collect(),
        }
    }

    /// A delta while the chain is shorter than [`max_chain`](Self::max_chain), otherwise
    /// (or with no parent yet) a full snapshot.
    pub fn snapshot(
        &mut self,
        world: &W,
        changes: Changes<'_>,
        tick: Tick,
        wall_time_ms: u64,
    ) -> Result<Written, Error> {
        let full = self.head.as_ref().is_none_or(|h| h.manifest.depth >= self.max_depth)
            || (matches!(changes, Changes::Hashing) && self.index.is_none())
            || matches!(changes, Changes::Log(l) if self.head.as_ref().is_some_and(|h| !l.covers(h.manifest.tick)) && self.index.is_none());
        if full {
            self.full(world, tick, wall_time_ms)
        } else {
            self.delta(world, changes, tick, wall_time_ms)
        }
    }

    /// Restores the newest complete, verified chain into `world` (migrated to the current
    /// schema) and makes it the parent of the next delta. On corruption it falls back to
    /// older snapshots; the report says what was skipped and why. `world` is untouched
    /// unless everything verified and decoded.
    ///
    /// # Panics
    /// Never: a successful recovery always names what it restored.
    pub fn recover(&mut self, world: &mut W) -> Result<RecoveryReport, Error> {
        let recovered = recover_state(self.store.as_ref(), &self.schema, &self.limits)?;
        let mut state = recovered.state;
        self.schema.restore(&state, world)?;
        let restored = recovered.report.restored.clone().expect("a recovery restores");
        // The index covers kept components too, so they do not show up as removed.
        self.index = self.hash_index.then(|| HashIndex::of(&state));
        let (kept, restored_columns): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(state.components_mut())
                .into_iter()
                .partition(|(n, _)| self.schema.version_of(n).is_none());
        self.kept = kept;
        // The decoded columns are no longer needed: freeing them need not delay the caller.
        let bytes =
            restored_columns.values().map(|c| c.column.data().len() + 16 * c.column.len()).sum::<usize>()
                + 8 * state.entities().len();
        crate::parallel::drop_in_background((state, restored_columns), bytes);
        self.pending.clear();
        self.head = Some(Head { id: restored.id, manifest: restored.manifest });
        Ok(recovered.report)
    }

    /// Folds the chain ending at the head into a new full snapshot at the head's tick
    /// (migrated to the current schema), so restores read one file again.
    pub fn compact(&mut self) -> Result<Written, Error> {
        let Some(head) = self.head.clone() else {
            return Err(ErrorKind::InvalidUse("nothing to compact: no snapshot yet".into()).into());
        };
        if head.manifest.kind == SnapshotKind::Full {
            return Err(ErrorKind::InvalidUse("the head is already a full snapshot".into()).into());
        }
        let (cands, _) = classify(self.store.list()?);
        let mut loader = ChainLoader::new(self.store.as_ref(), &self.limits, &cands);
        let chain = loader.chain(head.id).map_err(|e| chain_error(&head.id, e))?;
        let (state, _) = ChainLoader::fold(chain, &self.schema).map_err(|e| chain_error(&head.id, e))?;
        let written = self.write_full(&state, head.manifest.tick, head.manifest.wall_time_ms)?;
        Ok(written)
    }

    /// Verifies every snapshot in the store.
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        verify_store(self.store.as_ref(), &self.limits)
    }
}

fn chain_error(id: &SnapshotId, e: ChainError) -> Error {
    match e {
        ChainError::Fatal(e) => e,
        ChainError::Skip(r) => ErrorKind::Chain { snapshot: id.short(), message: r.to_string() }.into(),
    }
}
