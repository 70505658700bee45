//! Entities, components and columns of encoded values: the ECS-independent data model.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An entity: a slot index and the generation that slot is at.
///
/// Ordered by index, then generation; every list of entities in a snapshot is
/// sorted in this order and free of duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct EntityId {
    /// The slot.
    pub index: u32,
    /// How many times the slot was reused (ECS-defined; hecs starts at 1).
    pub generation: u32,
}

impl EntityId {
    /// An entity id.
    pub const fn new(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.index, self.generation)
    }
}

/// A host-defined logical time (a game tick). Snapshots record the tick they were taken at;
/// change logs record the tick of every change.
pub type Tick = u64;

/// What a component type needs to be snapshotted: serde both ways, shareable across threads.
///
/// Implemented for every such type; register it on a [`Schema`](crate::Schema) with a
/// stable name and a schema version.
pub trait Component: Serialize + DeserializeOwned + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Component for T {}

/// One component's values, each bincode-encoded, for a sorted list of entities.
///
/// This is the form every snapshot operation works on (deltas, folding, compaction,
/// migration, unknown components), so none of them needs the Rust type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Column {
    entities: Vec<EntityId>,
    /// `ends[i]` is where value `i` ends in `data`; value `i` starts at `ends[i - 1]` (or 0).
    ends: Vec<usize>,
    data: Vec<u8>,
}

impl Column {
    /// An empty column.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) const fn empty() -> Self {
        Self { entities: Vec::new(), ends: Vec::new(), data: Vec::new() }
    }

    /// An empty column with room for `rows` values of `bytes` bytes in total.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self {
            entities: Vec::with_capacity(rows),
            ends: Vec::with_capacity(rows),
            data: Vec::with_capacity(bytes),
        }
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The entities, in the order of their values.
    pub fn entities(&self) -> &[EntityId] {
        &self.entities
    }

    /// The encoded value of row `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn value(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    /// Where each value ends in [`data`](Self::data).
    pub(crate) fn ends(&self) -> &[usize] {
        &self.ends
    }

    /// All encoded values back to back.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Rows as `(entity, encoded value)`.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (EntityId, &[u8])> + '_ {
        (0..self.len()).map(|i| (self.entities[i], self.value(i)))
    }

    /// Appends a row. Callers keep entities sorted (see [`Column::sort`]).
    pub fn push(&mut self, entity: EntityId, value: &[u8]) {
        self.data.extend_from_slice(value);
        self.entities.push(entity);
        self.ends.push(self.data.len());
    }

    /// Appends a row whose value is written by `write` straight into the data buffer.
    pub(crate) fn push_with<E>(
        &mut self,
        entity: EntityId,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        write(&mut self.data)?;
        self.entities.push(entity);
        self.ends.push(self.data.len());
        Ok(())
    }

    /// Whether the entities are strictly increasing.
    pub fn is_sorted(&self) -> bool {
        self.entities.windows(2).all(|w| w[0] < w[1])
    }

    /// Sorts rows by entity (stable; a no-op when already sorted).
    pub fn sort(&mut self) {
        if self.is_sorted() {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.entities[i]);
        let mut out = Self::with_capacity(self.len(), self.data.len());
        for i in order {
            out.push(self.entities[i], self.value(i));
        }
        *self = out;
    }

    /// A column from parts already known to agree (`ends` non-decreasing, the last = `data.len()`).
    pub(crate) fn from_raw(entities: Vec<EntityId>, ends: Vec<usize>, data: Vec<u8>) -> Self {
        debug_assert_eq!(entities.len(), ends.len());
        debug_assert_eq!(ends.last().copied().unwrap_or(0), data.len());
        Self { entities, ends, data }
    }

    /// The values of rows `range`, back to back.
    pub(crate) fn range_data(&self, range: std::ops::Range<usize>) -> &[u8] {
        let start = if range.start == 0 { 0 } else { self.ends[range.start - 1] };
        let end = if range.end == 0 { 0 } else { self.ends[range.end - 1] };
        &self.data[start..end.max(start)]
    }

    /// Reserves room for `rows` more values of `bytes` bytes in total.
    pub(crate) fn reserve(&mut self, rows: usize, bytes: usize) {
        self.entities.reserve(rows);
        self.ends.reserve(rows);
        self.data.reserve(bytes);
    }

    /// Keeps the rows whose entity `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(EntityId) -> bool) {
        if self.entities.iter().all(|&e| keep(e)) {
            return;
        }
        let mut out = Column::with_capacity(self.len(), self.data.len());
        for (e, v) in self.iter() {
            if keep(e) {
                out.push(e, v);
            }
        }
        *self = out;
    }

    /// Position of `entity`, if present (binary search: entities are sorted).
    pub fn find(&self, entity: EntityId) -> Option<usize> {
        self.entities.binary_search(&entity).ok()
    }
}
