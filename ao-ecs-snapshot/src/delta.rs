//! Delta bookkeeping without a change log: a per-entity hash of every value at the last
//! snapshot, compared with the world now. Pure: state in, delta out.

use std::collections::BTreeMap;
use std::hash::Hasher;

use crate::model::{Column, EntityId};
use crate::state::{ComponentDelta, Delta, State, set_diff};

/// A 64-bit hash of an encoded value (SipHash-1-3 with fixed keys: stable within a build).
fn value_hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct HashedColumn {
    version: u32,
    entities: Vec<EntityId>,
    hashes: Vec<u64>,
}

impl HashedColumn {
    fn of(version: u32, c: &Column) -> Self {
        Self {
            version,
            entities: c.entities().to_vec(),
            hashes: (0..c.len()).map(|i| value_hash(c.value(i))).collect(),
        }
    }
}

/// Per-entity hashes of a state: what a hashing delta compares against.
///
/// Holds 8 bytes per entity and 16 per component value, not the values themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashIndex {
    entities: Vec<EntityId>,
    components: BTreeMap<String, HashedColumn>,
}

impl HashIndex {
    /// Hashes every value of `state`.
    pub fn of(state: &State) -> Self {
        Self {
            entities: state.entities().to_vec(),
            components: state
                .components()
                .map(|(n, c)| (n.to_owned(), HashedColumn::of(c.version, &c.column)))
                .collect(),
        }
    }

    /// Brings the index forward by a delta (cost ∝ the index's columns the delta touches).
    ///
    /// # Panics
    /// Never: the `expect`s hold by construction (paired vectors of one length).
    pub fn apply(&mut self, delta: &Delta) {
        let (mut ents, mut dead) = (self.entities.clone(), Vec::new());
        if !delta.despawned.is_empty() || !delta.spawned.is_empty() {
            ents.retain(|e| delta.despawned.binary_search(e).is_err());
            ents.extend_from_slice(&delta.spawned);
            ents.sort_unstable();
            ents.dedup();
            dead.clone_from(&delta.despawned);
            self.entities = ents;
        }
        for (name, d) in &delta.components {
            let col = self
                .components
                .entry(name.clone())
                .or_insert_with(|| HashedColumn { version: d.version, ..Default::default() });
            col.version = d.version;
            let mut changes: BTreeMap<EntityId, Option<u64>> = BTreeMap::new();
            for e in &d.removed {
                changes.insert(*e, None);
            }
            for (e, v) in d.added.iter().chain(d.changed.iter()) {
                changes.insert(e, Some(value_hash(v)));
            }
            let mut out = HashedColumn { version: col.version, ..Default::default() };
            let mut i = 0;
            for (ce, cv) in changes {
                while i < col.entities.len() && col.entities[i] < ce {
                    out.entities.push(col.entities[i]);
                    out.hashes.push(col.hashes[i]);
                    i += 1;
                }
                if i < col.entities.len() && col.entities[i] == ce {
                    i += 1;
                }
                if let Some(h) = cv {
                    out.entities.push(ce);
                    out.hashes.push(h);
                }
            }
            out.entities.extend_from_slice(&col.entities[i..]);
            out.hashes.extend_from_slice(&col.hashes[i..]);
            *col = out;
        }
        if !dead.is_empty() {
            for col in self.components.values_mut() {
                let keep: Vec<bool> = col.entities.iter().map(|e| dead.binary_search(e).is_err()).collect();
                if keep.iter().all(|k| *k) {
                    continue;
                }
                let mut k = keep.iter();
                col.entities.retain(|_| *k.next().expect("same length"));
                let mut k = keep.iter();
                col.hashes.retain(|_| *k.next().expect("same length"));
            }
        }
        self.components.retain(|_, c| !c.entities.is_empty());
    }

    /// What changed from the indexed state to `now`: values whose hash differs are changed.
    #[allow(clippy::many_single_char_names)]
    pub fn diff(&self, now: &State) -> Delta {
        let (spawned, despawned) = set_diff(&self.entities, now.entities());
        let mut components = BTreeMap::new();
        let empty = HashedColumn::default();
        let mut names: Vec<&str> = self.components.keys().map(String::as_str).collect();
        names.extend(now.components().map(|(n, _)| n));
        names.sort_unstable();
        names.dedup();
        for name in names {
            let old = self.components.get(name).unwrap_or(&empty);
            let Some(new) = now.component(name) else {
                let removed: Vec<EntityId> = old
                    .entities
                    .iter()
                    .copied()
                    .filter(|e| now.entities().binary_search(e).is_ok())
                    .collect();
                if !removed.is_empty() {
                    components.insert(
                        name.to_owned(),
                        ComponentDelta { version: old.version, removed, ..Default::default() },
                    );
                }
                continue;
            };
            let mut d = ComponentDelta { version: new.version, ..Default::default() };
            let nc = &new.column;
            let (mut i, mut j) = (0, 0);
            while i < old.entities.len() || j < nc.len() {
                match (old.entities.get(i), nc.entities().get(j)) {
                    (Some(a), Some(b)) if a == b => {
                        if old.hashes[i] != value_hash(nc.value(j)) || old.version != new.version {
                            d.changed.push(*b, nc.value(j));
                        }
                        i += 1;
                        j += 1;
                    }
                    (Some(a), b) if b.is_none_or(|b| a < b) => {
                        // Despawned entities lose their components implicitly.
                        if now.entities().binary_search(a).is_ok() {
                            d.removed.push(*a);
                        }
                        i += 1;
                    }
                    (_, Some(b)) => {
                        d.added.push(*b, nc.value(j));
                        j += 1;
                    }
                    _ => unreachable!("loop condition"),
                }
            }
            if !d.is_empty() {
                components.insert(name.to_owned(), d);
            }
        }
        Delta { spawned, despawned, components }
    }
}
