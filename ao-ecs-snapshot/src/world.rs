//! How an ECS plugs in: [`WorldSource`] (read), [`WorldSink`] (rebuild), the host's
//! [`ChangeLog`], and [`MemoryWorld`], a small reference ECS implementing all three.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};

use crate::model::{Component, EntityId, Tick};

/// Read access to a world, for taking snapshots.
///
/// Methods are generic over the component type so an adapter queries its ECS directly;
/// iteration order is free (the snapshot sorts).
pub trait WorldSource: Sync {
    /// Calls `f` with every live entity.
    fn for_each_entity(&self, f: &mut dyn FnMut(EntityId));

    /// Calls `f` with every entity that has a `T`, and its value.
    fn for_each<T: Component>(&self, f: &mut dyn FnMut(EntityId, &T));

    /// Calls `f` with `entity`'s `T` if it is alive and has one; returns whether it did.
    fn with<T: Component>(&self, entity: EntityId, f: &mut dyn FnMut(&T)) -> bool;

    /// How many entities are alive.
    fn entity_count(&self) -> u64 {
        let mut n = 0;
        self.for_each_entity(&mut |_| n += 1);
        n
    }

    /// How many entities have a `T`.
    fn count<T: Component>(&self) -> u64 {
        let mut n = 0;
        self.for_each::<T>(&mut |_, _| n += 1);
        n
    }
}

/// Write access to a world, for restoring snapshots.
///
/// A restore clears the world, then spawns entities group by group, each group sharing
/// one set of components, with their exact ids: [`begin`](WorldSink::begin), one
/// [`add`](WorldSink::add) per component, [`finish`](WorldSink::finish).
pub trait WorldSink {
    /// A group of entities being assembled.
    type Batch;

    /// Removes every entity.
    fn clear(&mut self);

    /// Starts a group of entities (sorted, unique) that all have the same components.
    fn begin(&mut self, entities: &[EntityId]) -> Result<Self::Batch, String>;

    /// Adds one component to the group: one value per entity, in the entities' order.
    fn add<T: Component>(&mut self, batch: &mut Self::Batch, values: Vec<T>);

    /// Adds one component to the group from consecutive runs of values that together hold
    /// one value per entity, in the entities' order (a restore decodes runs in parallel).
    /// The default joins the runs and calls [`add`](WorldSink::add).
    fn add_parts<T: Component>(&mut self, batch: &mut Self::Batch, parts: Vec<Vec<T>>) {
        if parts.len() == 1 {
            let values = parts.into_iter().next().unwrap_or_default();
            self.add(batch, values);
        } else {
            let mut values = Vec::with_capacity(parts.iter().map(Vec::len).sum());
            for p in parts {
                values.extend(p);
            }
            self.add(batch, values);
        }
    }

    /// Spawns the group.
    fn finish(&mut self, batch: Self::Batch) -> Result<(), String>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Insert,
    Modify,
    Remove,
}

/// A change as a delta sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    Changed,
    Removed,
}

/// What the host changed, tick by tick: the cheap way to take deltas.
///
/// Record every spawn, despawn, component insert, modification and removal with the tick
/// it happened at; a delta since tick `t` then reads only what changed after `t`, whatever
/// the size of the world. Ticks must not decrease. [`forget_until`](ChangeLog::forget_until)
/// drops entries no future delta needs; the log remembers how far back it is complete, and
/// a delta whose parent is older than that falls back to hashing.
#[derive(Debug, Default, Clone)]
pub struct ChangeLog {
    complete_from: Tick,
    last: Tick,
    entities: Vec<(Tick, EntityId, bool)>,
    components: HashMap<TypeId, Vec<(Tick, EntityId, Op)>>,
}

impl ChangeLog {
    /// An empty log, complete from tick 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn at(&mut self, tick: Tick) -> Tick {
        // Ticks never go back: a late entry counts at the latest tick seen.
        self.last = self.last.max(tick);
        self.last
    }

    /// `entity` was spawned at `tick`.
    pub fn spawned(&mut self, entity: EntityId, tick: Tick) {
        let t = self.at(tick);
        self.entities.push((t, entity, true));
    }

    /// `entity` was despawned (with all its components) at `tick`.
    pub fn despawned(&mut self, entity: EntityId, tick: Tick) {
        let t = self.at(tick);
        self.entities.push((t, entity, false));
    }

    /// `entity` gained a `T` at `tick`.
    pub fn inserted<T: 'static>(&mut self, entity: EntityId, tick: Tick) {
        self.push::<T>(entity, tick, Op::Insert);
    }

    /// `entity`'s `T` changed at `tick`.
    pub fn modified<T: 'static>(&mut self, entity: EntityId, tick: Tick) {
        self.push::<T>(entity, tick, Op::Modify);
    }

    /// `entity` lost its `T` at `tick`.
    pub fn removed<T: 'static>(&mut self, entity: EntityId, tick: Tick) {
        self.push::<T>(entity, tick, Op::Remove);
    }

    fn push<T: 'static>(&mut self, entity: EntityId, tick: Tick, op: Op) {
        let t = self.at(tick);
        self.components.entry(TypeId::of::<T>()).or_default().push((t, entity, op));
    }

    /// The earliest tick a delta may start from.
    pub fn complete_from(&self) -> Tick {
        self.complete_from
    }

    /// Whether the log holds every change after `tick`.
    pub fn covers(&self, tick: Tick) -> bool {
        tick >= self.complete_from
    }

    /// Drops entries at or before `tick`; deltas since earlier ticks are no longer possible.
    pub fn forget_until(&mut self, tick: Tick) {
        self.complete_from = self.complete_from.max(tick);
        self.entities.retain(|e| e.0 > tick);
        for v in self.components.values_mut() {
            v.retain(|e| e.0 > tick);
        }
    }

    /// Entries recorded (for memory accounting).
    pub fn len(&self) -> usize {
        self.entities.len() + self.components.values().map(Vec::len).sum::<usize>()
    }

    /// Whether no entry is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entities spawned and despawned after `since`, folded: `(spawned, despawned)`, sorted.
    pub(crate) fn entity_changes(&self, since: Tick) -> (Vec<EntityId>, Vec<EntityId>) {
        let start = self.entities.partition_point(|e| e.0 <= since);
        let mut first_last: BTreeMap<EntityId, (bool, bool)> = BTreeMap::new();
        for &(_, e, spawn) in &self.entities[start..] {
            first_last.entry(e).and_modify(|fl| fl.1 = spawn).or_insert((spawn, spawn));
        }
        let (mut spawned, mut despawned) = (Vec::new(), Vec::new());
        for (e, (first, last)) in first_last {
            // Existed before iff the first event is a despawn.
            match (!first, last) {
                (false, true) => spawned.push(e),
                (true, false) => despawned.push(e),
                _ => {}
            }
        }
        (spawned, despawned)
    }

    /// `T`'s changes after `since`, folded per entity, sorted by entity.
    pub(crate) fn component_changes(&self, type_id: TypeId, since: Tick) -> Vec<(EntityId, Change)> {
        let Some(v) = self.components.get(&type_id) else { return Vec::new() };
        let start = v.partition_point(|e| e.0 <= since);
        let mut first_last: BTreeMap<EntityId, (Op, Op)> = BTreeMap::new();
        for &(_, e, op) in &v[start..] {
            first_last.entry(e).and_modify(|fl| fl.1 = op).or_insert((op, op));
        }
        first_last
            .into_iter()
            .filter_map(|(e, (first, last))| {
                let before = first != Op::Insert;
                let after = last != Op::Remove;
                match (before, after) {
                    (false, true) => Some((e, Change::Added)),
                    (true, true) => Some((e, Change::Changed)),
                    (true, false) => Some((e, Change::Removed)),
                    (false, false) => None,
                }
            })
            .collect()
    }
}

/// A small reference ECS: entities with generations, typed component maps, and a
/// [`ChangeLog`] kept as it changes. Useful for tests and as a model for adapters.
#[derive(Debug, Default)]
pub struct MemoryWorld {
    /// Generation of every slot ever used; `alive` marks the live ones.
    generations: Vec<u32>,
    alive: Vec<bool>,
    free: Vec<u32>,
    stores: HashMap<TypeId, Box<dyn ErasedStore>>,
    tick: Tick,
    log: ChangeLog,
}

type Store<T> = BTreeMap<EntityId, T>;

impl MemoryWorld {
    /// An empty world at tick 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the tick subsequent changes are logged at.
    pub fn set_tick(&mut self, tick: Tick) {
        self.tick = tick;
    }

    /// The current tick.
    pub fn tick(&self) -> Tick {
        self.tick
    }

    /// The change log.
    pub fn log(&self) -> &ChangeLog {
        &self.log
    }

    /// The change log, e.g. to [`forget_until`](ChangeLog::forget_until).
    pub fn log_mut(&mut self) -> &mut ChangeLog {
        &mut self.log
    }

    /// Spawns an entity with no components.
    pub fn spawn(&mut self) -> EntityId {
        let index = if let Some(i) = self.free.pop() {
            self.generations[i as usize] += 1;
            i
        } else {
            self.generations.push(1);
            self.alive.push(false);
            (self.generations.len() - 1) as u32
        };
        self.alive[index as usize] = true;
        let e = EntityId::new(index, self.generations[index as usize]);
        self.log.spawned(e, self.tick);
        e
    }

    /// Whether `entity` is alive.
    pub fn contains(&self, entity: EntityId) -> bool {
        self.generations.get(entity.index as usize) == Some(&entity.generation)
            && self.alive[entity.index as usize]
    }

    /// Despawns an entity and drops its components. Returns whether it was alive.
    pub fn despawn(&mut self, entity: EntityId) -> bool {
        if !self.contains(entity) {
            return false;
        }
        self.alive[entity.index as usize] = false;
        self.free.push(entity.index);
        for store in self.stores.values_mut() {
            store.remove_entity(entity);
        }
        self.log.despawned(entity, self.tick);
        true
    }

    fn store<T: Component>(&self) -> Option<&Store<T>> {
        self.stores.get(&TypeId::of::<T>()).and_then(|s| s.as_any().downcast_ref::<Holder<T>>()).map(|h| &h.0)
    }

    fn store_mut<T: Component>(&mut self) -> &mut Store<T> {
        &mut self
            .stores
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(Holder::<T>(BTreeMap::new())))
            .as_any_mut()
            .downcast_mut::<Holder<T>>()
            .expect("stores are keyed by their type")
            .0
    }

    /// Sets `entity`'s `T` (inserted or modified). Returns false if the entity is dead.
    pub fn insert<T: Component>(&mut self, entity: EntityId, value: T) -> bool {
        if !self.contains(entity) {
            return false;
        }
        let tick = self.tick;
        let had = self.store_mut::<T>().insert(entity, value).is_some();
        if had {
            self.log.modified::<T>(entity, tick);
        } else {
            self.log.inserted::<T>(entity, tick);
        }
        true
    }

    /// Removes `entity`'s `T`.
    pub fn remove<T: Component>(&mut self, entity: EntityId) -> Option<T> {
        let tick = self.tick;
        let v = self.store_mut::<T>().remove(&entity);
        if v.is_some() {
            self.log.removed::<T>(entity, tick);
        }
        v
    }

    /// `entity`'s `T`.
    pub fn get<T: Component>(&self, entity: EntityId) -> Option<&T> {
        self.store::<T>()?.get(&entity)
    }

    /// Live entities, sorted.
    pub fn entities(&self) -> Vec<EntityId> {
        (0..self.generations.len())
            .filter(|&i| self.alive[i])
            .map(|i| EntityId::new(i as u32, self.generations[i]))
            .collect()
    }
}

/// A typed store behind a trait object, so a despawn can drop an entity from every store.
struct Holder<T>(Store<T>);

trait ErasedStore: Send + Sync {
    fn remove_entity(&mut self, e: EntityId);
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Component> ErasedStore for Holder<T> {
    fn remove_entity(&mut self, e: EntityId) {
        self.0.remove(&e);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl std::fmt::Debug for dyn ErasedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl WorldSource for MemoryWorld {
    fn for_each_entity(&self, f: &mut dyn FnMut(EntityId)) {
        for e in self.entities() {
            f(e);
        }
    }

    fn for_each<T: Component>(&self, f: &mut dyn FnMut(EntityId, &T)) {
        if let Some(s) = self.store::<T>() {
            for (e, v) in s {
                f(*e, v);
            }
        }
    }

    fn with<T: Component>(&self, entity: EntityId, f: &mut dyn FnMut(&T)) -> bool {
        match self.get::<T>(entity) {
            Some(v) => {
                f(v);
                true
            }
            None => false,
        }
    }
}

impl WorldSink for MemoryWorld {
    type Batch = Vec<EntityId>;

    fn clear(&mut self) {
        let log = std::mem::take(&mut self.log);
        *self = Self { tick: self.tick, log, ..Self::default() };
    }

    fn begin(&mut self, entities: &[EntityId]) -> Result<Self::Batch, String> {
        for &e in entities {
            let i = e.index as usize;
            if self.generations.len() <= i {
                self.generations.resize(i + 1, 0);
                self.alive.resize(i + 1, false);
            }
            if self.alive[i] {
                return Err(format!("entity slot {} restored twice", e.index));
            }
            self.generations[i] = e.generation;
            self.alive[i] = true;
        }
        Ok(entities.to_vec())
    }

    fn add<T: Component>(&mut self, batch: &mut Self::Batch, values: Vec<T>) {
        let store = self.store_mut::<T>();
        for (e, v) in batch.iter().zip(values) {
            store.insert(*e, v);
        }
    }

    fn finish(&mut self, _batch: Self::Batch) -> Result<(), String> {
        // Slots below the highest live one that are not alive become free, lowest last.
        self.free = (0..self.alive.len() as u32).rev().filter(|&i| !self.alive[i as usize]).collect();
        Ok(())
    }
}
