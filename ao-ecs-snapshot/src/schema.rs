//! Registered component types: names, schema versions, serde types and migrations, and the
//! typed work done with them (capture a world, decode values, restore into a world).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};
use crate::model::{Column, Component, EntityId, Tick};
use crate::parallel::par_map;
use crate::state::{ComponentColumn, ComponentDelta, Delta, State};
use crate::world::{Change, ChangeLog, WorldSink, WorldSource};

/// What to do with a component in a snapshot that the schema does not register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownPolicy {
    /// Keep its values and write them into later snapshots unchanged (for entities still alive).
    #[default]
    Keep,
    /// Refuse the snapshot with [`ErrorKind::UnknownComponent`].
    Refuse,
}

/// Encodes one value the way every snapshot stores it (bincode 2, standard config, serde).
pub fn encode_value<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    crate::codec::encode_into(value, out).map_err(|e| e.to_string())
}

/// Decodes one value stored by [`encode_value`], refusing trailing bytes.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (v, used) = crate::codec::decode_owned(bytes).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} bytes left over after the value", bytes.len() - used));
    }
    Ok(v)
}

type StepFn = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// Turns encoded values from one schema version to another.
pub(crate) trait Upgrade: Sync {
    /// Brings `column` (of component `name`, at `version`) to the current version.
    fn upgrade(&self, name: &str, version: u32, column: Column) -> Result<(u32, Column), Error>;
}

/// The typed half of a registered component, erased so the schema can hold many.
trait Erased<W: WorldSource + WorldSink>: Send + Sync {
    fn name(&self) -> &str;
    fn version(&self) -> u32;
    fn component_type(&self) -> TypeId;
    fn capture(&self, world: &W) -> Result<Column, Error>;
    fn capture_changes(&self, world: &W, changes: &[(EntityId, Change)]) -> Result<ComponentDelta, Error>;
    fn count(&self, world: &W) -> u64;
    /// Decodes rows `range` of a column into one `Vec<T>` per group (`row_group[i]` being
    /// row `range.start + i`'s group; `None`: every row is in group 0).
    fn decode_range(
        &self,
        column: &Column,
        range: std::ops::Range<usize>,
        row_group: Option<&[u32]>,
        groups: usize,
    ) -> Result<Box<dyn Any + Send>, Error>;
    /// Adds group `group`'s values of every decoded range, in order, to `batch`.
    fn add_group(&self, sink: &mut W, batch: &mut W::Batch, ranges: &mut [Box<dyn Any + Send>], group: usize);
}

struct Typed<T> {
    name: String,
    version: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T: Component> Typed<T> {
    fn value_error(&self, version: u32, entity: EntityId, message: String) -> Error {
        ErrorKind::Value { component: self.name.clone(), version, entity: entity.to_string(), message }.into()
    }
}

impl<T: Component, W: WorldSource + WorldSink> Erased<W> for Typed<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn component_type(&self) -> TypeId {
        TypeId::of::<T>()
    }

    fn capture(&self, world: &W) -> Result<Column, Error> {
        let mut col = Column::new();
        let rows = world.count::<T>() as usize;
        col.reserve(rows, rows * 8);
        let mut err = None;
        world.for_each::<T>(&mut |e, v| {
            if err.is_none()
                && let Err(m) = col.push_with(e, |out| encode_value(v, out))
            {
                err = Some(ErrorKind::Encode { component: self.name.clone(), message: m });
            }
        });
        if let Some(kind) = err {
            return Err(kind.into());
        }
        col.sort();
        Ok(col)
    }

    fn capture_changes(&self, world: &W, changes: &[(EntityId, Change)]) -> Result<ComponentDelta, Error> {
        let mut d = ComponentDelta { version: self.version, ..ComponentDelta::default() };
        let mut buf = Vec::new();
        for &(e, change) in changes {
            buf.clear();
            let mut err = None;
            let present = change != Change::Removed
                && world.with::<T>(e, &mut |v| {
                    if let Err(m) = encode_value(v, &mut buf) {
                        err = Some(m);
                    }
                });
            if let Some(m) = err {
                return Err(ErrorKind::Encode { component: self.name.clone(), message: m }.into());
            }
            match (present, change) {
                (true, Change::Added) => d.added.push(e, &buf),
                (true, _) => d.changed.push(e, &buf),
                // Gone again (or with its entity): a removal, unless it was new since the parent.
                (false, Change::Added) => {}
                (false, _) => d.removed.push(e),
            }
        }
        Ok(d)
    }

    fn count(&self, world: &W) -> u64 {
        world.count::<T>()
    }

    fn decode_range(
        &self,
        column: &Column,
        range: std::ops::Range<usize>,
        row_group: Option<&[u32]>,
        groups: usize,
    ) -> Result<Box<dyn Any + Send>, Error> {
        let ends = &column.ends()[range.clone()];
        let start = if range.start == 0 { 0 } else { column.ends()[range.start - 1] };
        let result = match row_group {
            None => {
                let mut out: Vec<T> = Vec::with_capacity(range.len());
                crate::codec::decode_values(column.data(), start, ends, &mut |v| out.push(v))
                    .map(|()| vec![out])
            }
            Some(rows) => {
                let mut sizes = vec![0usize; groups];
                for &g in rows {
                    sizes[g as usize] += 1;
                }
                let mut out: Vec<Vec<T>> = sizes.iter().map(|&n| Vec::with_capacity(n)).collect();
                let mut i = 0;
                crate::codec::decode_values(column.data(), start, ends, &mut |v| {
                    out[rows[i] as usize].push(v);
                    i += 1;
                })
                .map(|()| out)
            }
        };
        match result {
            Ok(groups) => Ok(Box::new(groups)),
            Err((i, m)) => Err(self.value_error(self.version, column.entities()[range.start + i], m)),
        }
    }

    fn add_group(
        &self,
        sink: &mut W,
        batch: &mut W::Batch,
        ranges: &mut [Box<dyn Any + Send>],
        group: usize,
    ) {
        let parts = ranges
            .iter_mut()
            .map(|r| {
                let groups = r.downcast_mut::<Vec<Vec<T>>>().expect("decoded by the same component");
                std::mem::take(&mut groups[group])
            })
            .collect();
        sink.add_parts::<T>(batch, parts);
    }
}

/// The component types a world snapshots, with their names, schema versions and migrations.
///
/// Built once with [`Schema::builder`]; `W` is the world adapter ([`MemoryWorld`](crate::MemoryWorld),
/// `hecs::World` with the `hecs` feature, or your own [`WorldSource`] + [`WorldSink`]).
pub struct Schema<W: WorldSource + WorldSink> {
    components: Vec<Box<dyn Erased<W>>>,
    by_name: HashMap<String, usize>,
    migrations: HashMap<String, BTreeMap<u32, StepFn>>,
    unknown: UnknownPolicy,
    threads: usize,
}

impl<W: WorldSource + WorldSink> fmt::Debug for Schema<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let comps: Vec<(&str, u32)> = self.components.iter().map(|c| (c.name(), c.version())).collect();
        let migs: BTreeMap<&str, Vec<u32>> =
            self.migrations.iter().map(|(k, v)| (k.as_str(), v.keys().copied().collect())).collect();
        f.debug_struct("Schema")
            .field("components", &comps)
            .field("migrations_from", &migs)
            .field("unknown", &self.unknown)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Schema`].
pub struct SchemaBuilder<W: WorldSource + WorldSink> {
    schema: Schema<W>,
    problems: Vec<String>,
}

impl<W: WorldSource + WorldSink> fmt::Debug for SchemaBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaBuilder")
            .field("schema", &self.schema)
            .field("problems", &self.problems)
            .finish()
    }
}

impl<W: WorldSource + WorldSink> Schema<W> {
    /// Starts a schema.
    pub fn builder() -> SchemaBuilder<W> {
        SchemaBuilder {
            schema: Schema {
                components: Vec::new(),
                by_name: HashMap::new(),
                migrations: HashMap::new(),
                unknown: UnknownPolicy::Keep,
                threads: 0,
            },
            problems: Vec::new(),
        }
    }

    /// The policy for unregistered components.
    pub fn unknown_policy(&self) -> UnknownPolicy {
        self.unknown
    }

    /// Registered components as `(name, current version)`.
    pub fn components(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.components.iter().map(|c| (c.name(), c.version()))
    }

    /// The current version of a registered component.
    pub fn version_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).map(|&i| self.components[i].version())
    }

    /// Encodes the whole world.
    pub fn capture(&self, world: &W) -> Result<State, Error> {
        let mut entities = Vec::new();
        world.for_each_entity(&mut |e| entities.push(e));
        entities.sort_unstable();
        let cols = par_map(&self.components, self.threads, |c| c.capture(world));
        let mut components = BTreeMap::new();
        for (c, col) in self.components.iter().zip(cols) {
            let col = col?;
            if !col.is_empty() {
                components.insert(c.name().to_owned(), ComponentColumn { version: c.version(), column: col });
            }
        }
        State::from_parts(entities, components)
            .map_err(|m| ErrorKind::World(format!("captured state: {m}")).into())
    }

    /// Encodes what changed after `since` according to the host's change log, reading only
    /// the changed entities. Returns the delta and the world's component counts.
    pub(crate) fn capture_changes(&self, world: &W, log: &ChangeLog, since: Tick) -> Result<Delta, Error> {
        let (spawned, despawned) = log.entity_changes(since);
        let mut components = BTreeMap::new();
        for c in &self.components {
            let changes = log.component_changes(c.component_type(), since);
            if changes.is_empty() {
                continue;
            }
            let d = c.capture_changes(world, &changes)?;
            if !d.is_empty() {
                components.insert(c.name().to_owned(), d);
            }
        }
        Ok(Delta { spawned, despawned, components })
    }

    /// How many entities have each registered component right now.
    pub(crate) fn counts(&self, world: &W) -> BTreeMap<String, u64> {
        self.components.iter().map(|c| (c.name().to_owned(), c.count(world))).collect()
    }

    /// Checks every column's version and migrates old ones to the current schema;
    /// applies the unknown-component policy.
    pub fn upgrade_state(&self, mut state: State) -> Result<State, Error> {
        let comps = std::mem::take(state.components_mut());
        for (name, c) in comps {
            let (version, column) = self.upgrade(&name, c.version, c.column)?;
            state.components_mut().insert(name, ComponentColumn { version, column });
        }
        Ok(state)
    }

    /// Restores `state` into `world`: decodes every value of every registered component
    /// (in parallel), and only once all decoded, clears the world and spawns the entities
    /// with their exact ids. Unregistered components are skipped (see [`UnknownPolicy`]).
    pub fn restore(&self, state: &State, world: &mut W) -> Result<(), Error> {
        let cols: Vec<(usize, &ComponentColumn)> =
            state.components().filter_map(|(name, c)| self.by_name.get(name).map(|&i| (i, c))).collect();
        for &(i, c) in &cols {
            let current = self.components[i].version();
            if c.version != current {
                return Err(ErrorKind::InvalidUse(format!(
                    "restore: component {:?} is at version {}, not the current {current}; upgrade the state first",
                    self.components[i].name(),
                    c.version
                ))
                .into());
            }
        }
        let n = state.entities.len();
        let grouping = if n > 0 && cols.iter().all(|(_, c)| c.column.entities() == state.entities.as_slice())
        {
            // The usual world: every entity has every component, one group, nothing to sort out.
            Grouping {
                row_groups: vec![None; cols.len()],
                members: Vec::new(),
                sigs: vec![vec![u64::MAX; cols.len().div_ceil(64)]],
            }
        } else {
            group_entities(&state.entities, &cols)?
        };
        // Every column cut into runs of rows, decoded in parallel.
        let groups = grouping.sigs.len();
        let run = 1usize << 15;
        let mut jobs: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
        for (k, (_, c)) in cols.iter().enumerate() {
            let len = c.column.len();
            let mut at = 0;
            while at < len {
                let to = (at + run).min(len);
                jobs.push((k, at..to));
                at = to;
            }
        }
        let decoded = par_map(&jobs, self.threads, |(k, range)| {
            let (i, c) = cols[*k];
            let rows = grouping.row_groups[*k].as_ref().map(|g| &g[range.clone()]);
            self.components[i].decode_range(&c.column, range.clone(), rows, groups)
        });
        let mut per_column: Vec<Vec<Box<dyn Any + Send>>> = (0..cols.len()).map(|_| Vec::new()).collect();
        for ((k, _), d) in jobs.iter().zip(decoded) {
            per_column[*k].push(d?);
        }

        world.clear();
        for g in 0..groups {
            let members = grouping.members.get(g).map_or(state.entities.as_slice(), Vec::as_slice);
            let mut batch = world.begin(members).map_err(ErrorKind::World)?;
            for (k, (i, _)) in cols.iter().enumerate() {
                if grouping.sigs[g][k / 64] & (1 << (k % 64)) != 0 {
                    self.components[*i].add_group(world, &mut batch, &mut per_column[k], g);
                }
            }
            world.finish(batch).map_err(ErrorKind::World)?;
        }
        Ok(())
    }
}

/// Entities grouped by the set of components they have.
struct Grouping {
    /// Per column, each row's group (`None`: all rows are in group 0).
    row_groups: Vec<Option<Vec<u32>>>,
    /// Per group, its entities (empty: one group of all entities).
    members: Vec<Vec<EntityId>>,
    /// Per group, which columns it has (bit `k` of word `k / 64`).
    sigs: Vec<Vec<u64>>,
}

fn group_entities(entities: &[EntityId], cols: &[(usize, &ComponentColumn)]) -> Result<Grouping, Error> {
    let n = entities.len();
    let words = cols.len().div_ceil(64).max(1);
    let mut sigs = vec![0u64; n * words];
    let mut positions: Vec<Vec<u32>> = Vec::with_capacity(cols.len());
    for (k, (_, c)) in cols.iter().enumerate() {
        let mut pos = Vec::with_capacity(c.column.len());
        let mut j = 0usize;
        for &e in c.column.entities() {
            while j < n && entities[j] < e {
                j += 1;
            }
            if j == n || entities[j] != e {
                return Err(ErrorKind::World(format!("component on entity {e}, which is not alive")).into());
            }
            sigs[j * words + k / 64] |= 1 << (k % 64);
            pos.push(j as u32);
        }
        positions.push(pos);
    }
    // Group entities by the set of components they have; neighbours usually share one.
    let mut group_of = vec![0u32; n];
    let mut group_sigs: Vec<Vec<u64>> = Vec::new();
    let mut members: Vec<Vec<EntityId>> = Vec::new();
    let mut lookup: HashMap<&[u64], u32> = HashMap::new();
    let mut last: Option<(&[u64], u32)> = None;
    for i in 0..n {
        let sig = &sigs[i * words..(i + 1) * words];
        let g = match last {
            Some((s, g)) if s == sig => g,
            _ => *lookup.entry(sig).or_insert_with(|| {
                group_sigs.push(sig.to_vec());
                members.push(Vec::new());
                (group_sigs.len() - 1) as u32
            }),
        };
        last = Some((sig, g));
        group_of[i] = g;
        members[g as usize].push(entities[i]);
    }
    let row_groups =
        positions.iter().map(|pos| Some(pos.iter().map(|&p| group_of[p as usize]).collect())).collect();
    Ok(Grouping { row_groups, members, sigs: group_sigs })
}

impl<W: WorldSource + WorldSink> Upgrade for Schema<W> {
    fn upgrade(&self, name: &str, version: u32, column: Column) -> Result<(u32, Column), Error> {
        let Some(&i) = self.by_name.get(name) else {
            return match self.unknown {
                UnknownPolicy::Keep => Ok((version, column)),
                UnknownPolicy::Refuse => {
                    Err(ErrorKind::UnknownComponent { component: name.to_owned(), version }.into())
                }
            };
        };
        let current = self.components[i].version();
        if version > current {
            return Err(
                ErrorKind::FutureSchema { component: name.to_owned(), found: version, current }.into()
            );
        }
        if version == current {
            return Ok((version, column));
        }
        let steps = self.migrations.get(name);
        let mut chain = Vec::new();
        for from in version..current {
            let step = steps.and_then(|s| s.get(&from)).ok_or_else(|| ErrorKind::MissingMigration {
                component: name.to_owned(),
                from,
                to: from + 1,
            })?;
            chain.push(step);
        }
        let mut out = Column::with_capacity(column.len(), column.data().len());
        for (e, bytes) in column.iter() {
            let mut v = bytes.to_vec();
            for (k, step) in chain.iter().enumerate() {
                let from = version + k as u32;
                v = step(&v).map_err(|m| ErrorKind::Value {
                    component: name.to_owned(),
                    version: from,
                    entity: e.to_string(),
                    message: format!("migration to v{}: {m}", from + 1),
                })?;
            }
            out.push(e, &v);
        }
        Ok((current, out))
    }
}

impl<W: WorldSource + WorldSink> SchemaBuilder<W> {
    /// Registers component type `T` under a stable `name` at schema `version` (its current one).
    #[must_use]
    pub fn component<T: Component>(mut self, name: &str, version: u32) -> Self {
        if name.is_empty() || name.starts_with('@') {
            self.problems.push(format!("component name {name:?} is empty or starts with '@' (reserved)"));
        } else if self.schema.by_name.contains_key(name) {
            self.problems.push(format!("component {name:?} registered twice"));
        } else if self.schema.components.iter().any(|c| c.component_type() == TypeId::of::<T>()) {
            self.problems.push(format!(
                "type {} registered twice (as {name:?} and another name)",
                std::any::type_name::<T>()
            ));
        } else {
            self.schema.by_name.insert(name.to_owned(), self.schema.components.len());
            self.schema.components.push(Box::new(Typed::<T> {
                name: name.to_owned(),
                version,
                _t: PhantomData,
            }));
        }
        self
    }

    /// Registers the migration of component `name` from version `from` to `from + 1`:
    /// values stored as `Old` become `New` through `f`.
    #[must_use]
    pub fn migration<Old, New, F>(mut self, name: &str, from: u32, f: F) -> Self
    where
        Old: DeserializeOwned,
        New: Serialize,
        F: Fn(Old) -> New + Send + Sync + 'static,
    {
        let step: StepFn = Arc::new(move |bytes: &[u8]| {
            let old = decode_value::<Old>(bytes)?;
            let mut out = Vec::with_capacity(bytes.len());
            encode_value(&f(old), &mut out)?;
            Ok(out)
        });
        if self.schema.migrations.entry(name.to_owned()).or_default().insert(from, step).is_some() {
            self.problems.push(format!("migration of {name:?} from version {from} registered twice"));
        }
        self
    }

    /// Sets the policy for components a snapshot holds but the schema does not register.
    #[must_use]
    pub fn unknown_components(mut self, policy: UnknownPolicy) -> Self {
        self.schema.unknown = policy;
        self
    }

    /// Worker threads for capture and restore (0, the default, = one per core).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.schema.threads = threads;
        self
    }

    /// Checks the registrations: no duplicates, migrations only for registered components and
    /// only below their current version.
    pub fn build(mut self) -> Result<Schema<W>, Error> {
        for (name, steps) in &self.schema.migrations {
            match self.schema.version_of(name) {
                None => self.problems.push(format!("migration for unregistered component {name:?}")),
                Some(current) => {
                    if let Some(from) = steps.keys().find(|&&f| f >= current) {
                        self.problems.push(format!(
                            "migration of {name:?} from version {from}, but the current version is {current}"
                        ));
                    }
                }
            }
        }
        if self.problems.is_empty() {
            Ok(self.schema)
        } else {
            Err(ErrorKind::InvalidUse(format!("schema: {}", self.problems.join("; "))).into())
        }
    }
}
