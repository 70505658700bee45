//! A whole world in encoded form ([`State`]), the difference between two of them
//! ([`Delta`]), and folding a chain of deltas onto a base. Pure: no IO, no types.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use crate::model::{Column, EntityId};

/// One component's column at the schema version its values are encoded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentColumn {
    /// The schema version of every value in `column`.
    pub version: u32,
    /// The values.
    pub column: Column,
}

/// A whole world, encoded: the live entities and every component's column.
///
/// The entity list and every column are sorted by entity; every column's entities
/// are live. A full snapshot holds exactly this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub(crate) entities: Vec<EntityId>,
    pub(crate) components: BTreeMap<String, ComponentColumn>,
}

impl State {
    /// An empty world.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a state from sorted parts, checking the invariants.
    pub fn from_parts(
        entities: Vec<EntityId>,
        components: BTreeMap<String, ComponentColumn>,
    ) -> Result<Self, String> {
        let state = Self { entities, components };
        state.check()?;
        Ok(state)
    }

    /// The live entities, sorted.
    pub fn entities(&self) -> &[EntityId] {
        &self.entities
    }

    /// A component's column.
    pub fn component(&self, name: &str) -> Option<&ComponentColumn> {
        self.components.get(name)
    }

    /// Every component, by name.
    pub fn components(&self) -> impl ExactSizeIterator<Item = (&str, &ComponentColumn)> + '_ {
        self.components.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub(crate) fn components_mut(&mut self) -> &mut BTreeMap<String, ComponentColumn> {
        &mut self.components
    }

    /// Checks sortedness, uniqueness and that every component sits on a live entity.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !strictly_sorted(&self.entities) {
            return Err("entity list is not strictly sorted".into());
        }
        for (name, c) in &self.components {
            // Usually every entity has the component: one comparison of the lists.
            if c.column.entities() == self.entities.as_slice() {
                continue;
            }
            if !c.column.is_sorted() {
                return Err(format!("component {name:?}: entities are not strictly sorted"));
            }
            if let Some(e) = first_missing(c.column.entities(), &self.entities) {
                return Err(format!("component {name:?} on entity {e}, which is not alive"));
            }
        }
        Ok(())
    }

    /// Applies a chain of deltas, oldest first: folds them (cost proportional to the deltas),
    /// then lays the result over this state in one linear pass.
    pub fn apply(self, deltas: &[Delta]) -> Result<State, String> {
        if deltas.is_empty() {
            return Ok(self);
        }
        let mut overlay = Overlay::default();
        for d in deltas {
            overlay.push(d)?;
        }
        overlay.apply_to(self)
    }

    /// What changed from `old` to `self`, compared value by value.
    ///
    /// Linear in the size of both states; the change-log and hash-index paths
    /// ([`ChangeLog`](crate::ChangeLog), [`HashIndex`](crate::HashIndex)) avoid holding `old`.
    #[allow(clippy::many_single_char_names)]
    pub fn diff_from(&self, old: &State) -> Delta {
        let (spawned, despawned) = set_diff(&old.entities, &self.entities);
        let mut components = BTreeMap::new();
        let empty = ComponentColumn::default();
        let names: std::collections::BTreeSet<&String> =
            old.components.keys().chain(self.components.keys()).collect();
        for name in names {
            let o = old.components.get(name).unwrap_or(&empty);
            let n = self.components.get(name);
            let version = n.map_or(o.version, |n| n.version);
            let n = n.unwrap_or(&empty);
            let mut d = ComponentDelta { version, ..ComponentDelta::default() };
            let (mut i, mut j) = (0, 0);
            let (oc, nc) = (&o.column, &n.column);
            while i < oc.len() || j < nc.len() {
                let oe = oc.entities().get(i);
                let ne = nc.entities().get(j);
                match (oe, ne) {
                    (Some(a), Some(b)) if a == b => {
                        if oc.value(i) != nc.value(j) || o.version != n.version {
                            d.changed.push(*b, nc.value(j));
                        }
                        i += 1;
                        j += 1;
                    }
                    (Some(a), Some(b)) if a < b => {
                        d.removed.push(*a);
                        i += 1;
                    }
                    (Some(a), None) => {
                        d.removed.push(*a);
                        i += 1;
                    }
                    (_, Some(b)) => {
                        d.added.push(*b, nc.value(j));
                        j += 1;
                    }
                    (None, None) => unreachable!("loop condition"),
                }
            }
            if !d.is_empty() {
                components.insert(name.clone(), d);
            }
        }
        Delta { spawned, despawned, components }
    }
}

/// One component's changes in a delta.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentDelta {
    /// The schema version of the values in `added` and `changed`.
    pub version: u32,
    /// Entities that gained the component, with its value.
    pub added: Column,
    /// Entities whose value changed, with the new value.
    pub changed: Column,
    /// Entities that lost the component (despawned entities need not be listed).
    pub removed: Vec<EntityId>,
}

impl ComponentDelta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// What changed between two states: entities spawned and despawned, and per component
/// the values added, changed and removed. A delta snapshot holds exactly this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Entities that are new, sorted.
    pub spawned: Vec<EntityId>,
    /// Entities that are gone (with all their components), sorted.
    pub despawned: Vec<EntityId>,
    /// Changes per component.
    pub components: BTreeMap<String, ComponentDelta>,
}

impl Delta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.spawned.is_empty()
            && self.despawned.is_empty()
            && self.components.values().all(ComponentDelta::is_empty)
    }

    /// Checks sortedness and uniqueness of every list.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !strictly_sorted(&self.spawned) || !strictly_sorted(&self.despawned) {
            return Err("spawned/despawned lists are not strictly sorted".into());
        }
        for (name, d) in &self.components {
            if !d.added.is_sorted() || !d.changed.is_sorted() || !strictly_sorted(&d.removed) {
                return Err(format!("component {name:?}: delta lists are not strictly sorted"));
            }
        }
        Ok(())
    }
}

/// Per entity: the new value, or `None` for a removal.
type Upserts = BTreeMap<EntityId, Option<Vec<u8>>>;

#[derive(Debug, Clone, Copy)]
struct Life {
    alive: bool,
    /// Despawned at some point in the chain: the base's values are gone.
    killed: bool,
}

/// A chain of deltas folded together, ready to lay over a base in one linear pass.
///
/// Folding costs what the deltas hold; only the final [`Overlay::apply_to`] touches the
/// whole world, once, however long the chain.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    entities: BTreeMap<EntityId, Life>,
    columns: BTreeMap<String, (u32, Upserts)>,
}

impl Overlay {
    pub(crate) fn push(&mut self, delta: &Delta) -> Result<(), String> {
        delta.check()?;
        for &e in &delta.despawned {
            self.entities.insert(e, Life { alive: false, killed: true });
            for (_, m) in self.columns.values_mut() {
                m.remove(&e);
            }
        }
        for &e in &delta.spawned {
            self.entities
                .entry(e)
                .and_modify(|l| l.alive = true)
                .or_insert(Life { alive: true, killed: false });
        }
        for (name, d) in &delta.components {
            let (version, m) = match self.columns.entry(name.clone()) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert((d.version, BTreeMap::new())),
            };
            if *version != d.version && !d.is_empty() {
                return Err(format!(
                    "component {name:?} is at version {} in one delta and {} in the next",
                    *version, d.version
                ));
            }
            for &e in &d.removed {
                m.insert(e, None);
            }
            for (e, v) in d.added.iter().chain(d.changed.iter()) {
                m.insert(e, Some(v.to_vec()));
            }
        }
        Ok(())
    }

    /// Lays the folded deltas over `base`.
    pub(crate) fn apply_to(self, base: State) -> Result<State, String> {
        let dead = |e: &EntityId| self.entities.get(e).is_some_and(|l| !l.alive);
        let killed = |e: &EntityId| self.entities.get(e).is_some_and(|l| l.killed);
        let mut entities = Vec::with_capacity(base.entities.len() + self.entities.len());
        let mut born = self.entities.iter().filter(|(_, l)| l.alive).map(|(e, _)| *e).peekable();
        for e in base.entities.iter().filter(|e| !dead(e)) {
            while let Some(&b) = born.peek() {
                if b < *e {
                    entities.push(b);
                    born.next();
                } else {
                    if b == *e {
                        born.next();
                    }
                    break;
                }
            }
            entities.push(*e);
        }
        entities.extend(born);

        let mut components = base.components;
        if self.entities.values().any(|l| l.killed) {
            for c in components.values_mut() {
                c.column.retain(|e| !killed(&e));
            }
        }
        for (name, (version, changes)) in self.columns {
            let slot = components
                .entry(name.clone())
                .or_insert_with(|| ComponentColumn { version, column: Column::new() });
            if slot.version != version && !slot.column.is_empty() {
                return Err(format!(
                    "component {name:?} is at version {} in the base and {version} in a delta",
                    slot.version
                ));
            }
            slot.version = version;
            if changes.is_empty() {
                continue;
            }
            let old = std::mem::take(&mut slot.column);
            let mut out = Column::with_capacity(old.len() + changes.len(), old.data().len());
            let mut ch = changes.iter().peekable();
            for (e, v) in old.iter() {
                while let Some(&(&ce, cv)) = ch.peek() {
                    if ce < e {
                        if let Some(cv) = cv {
                            out.push(ce, cv);
                        }
                        ch.next();
                    } else {
                        break;
                    }
                }
                match ch.peek() {
                    Some(&(&ce, cv)) if ce == e => {
                        if let Some(cv) = cv {
                            out.push(ce, cv);
                        }
                        ch.next();
                    }
                    _ => out.push(e, v),
                }
            }
            for (&ce, cv) in ch {
                if let Some(cv) = cv {
                    out.push(ce, cv);
                }
            }
            slot.column = out;
        }
        // A state never holds empty columns, so equal worlds have equal states.
        components.retain(|_, c| !c.column.is_empty());
        let state = State { entities, components };
        state.check()?;
        Ok(state)
    }
}

pub(crate) fn strictly_sorted(v: &[EntityId]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// The first element of sorted `sub` that is not in sorted `all`.
fn first_missing(sub: &[EntityId], all: &[EntityId]) -> Option<EntityId> {
    let mut j = 0;
    for &e in sub {
        while j < all.len() && all[j] < e {
            j += 1;
        }
        if j == all.len() || all[j] != e {
            return Some(e);
        }
    }
    None
}

/// `(in new not old, in old not new)` for two sorted lists.
pub(crate) fn set_diff(old: &[EntityId], new: &[EntityId]) -> (Vec<EntityId>, Vec<EntityId>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                removed.push(*a);
                i += 1;
            }
            (Some(a), None) => {
                removed.push(*a);
                i += 1;
            }
            (_, Some(b)) => {
                added.push(*b);
                j += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    (added, removed)
}
