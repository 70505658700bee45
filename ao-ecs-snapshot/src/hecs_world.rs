//! The `hecs` adapter: [`WorldSource`] and [`WorldSink`] for `hecs::World`.
//!
//! Entity ids map one to one (`index` = `Entity::id`, `generation` = hecs' generation, which
//! is never 0). A restore spawns each group of entities sharing a component set as one
//! hecs column batch at its exact ids, so archetypes are filled in bulk.

use hecs::{ColumnBatchBuilder, ColumnBatchType, Entity, World};

use crate::model::{Component, EntityId};
use crate::world::{WorldSink, WorldSource};

/// The hecs entity for an id (`None` for generation 0, which hecs never uses).
pub fn to_hecs(id: EntityId) -> Option<Entity> {
    Entity::from_bits(u64::from(id.generation) << 32 | u64::from(id.index))
}

/// The id of a hecs entity.
pub fn from_hecs(e: Entity) -> EntityId {
    let bits = e.to_bits().get();
    EntityId::new(bits as u32, (bits >> 32) as u32)
}

type Fill = Box<dyn FnOnce(&mut ColumnBatchBuilder) + Send>;

/// A group of entities being restored into a hecs world.
pub struct HecsBatch {
    handles: Vec<Entity>,
    ty: ColumnBatchType,
    fills: Vec<Fill>,
}

impl std::fmt::Debug for HecsBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HecsBatch")
            .field("entities", &self.handles.len())
            .field("columns", &self.fills.len())
            .finish_non_exhaustive()
    }
}

impl WorldSource for World {
    fn for_each_entity(&self, f: &mut dyn FnMut(EntityId)) {
        for e in self {
            f(from_hecs(e.entity()));
        }
    }

    fn for_each<T: Component>(&self, f: &mut dyn FnMut(EntityId, &T)) {
        for (e, v) in &mut self.query::<(Entity, &T)>() {
            f(from_hecs(e), v);
        }
    }

    fn with<T: Component>(&self, entity: EntityId, f: &mut dyn FnMut(&T)) -> bool {
        let Some(e) = to_hecs(entity) else { return false };
        match self.get::<&T>(e) {
            Ok(v) => {
                f(&v);
                true
            }
            Err(_) => false,
        }
    }

    fn entity_count(&self) -> u64 {
        u64::from(self.len())
    }

    fn count<T: Component>(&self) -> u64 {
        self.query::<&T>().iter().len() as u64
    }
}

impl WorldSink for World {
    type Batch = HecsBatch;

    fn clear(&mut self) {
        World::clear(self);
    }

    fn begin(&mut self, entities: &[EntityId]) -> Result<HecsBatch, String> {
        let handles = entities
            .iter()
            .map(|&id| to_hecs(id).ok_or_else(|| format!("entity {id}: hecs generations start at 1")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HecsBatch { handles, ty: ColumnBatchType::new(), fills: Vec::new() })
    }

    fn add<T: Component>(&mut self, batch: &mut HecsBatch, values: Vec<T>) {
        batch.ty.add::<T>();
        batch.fills.push(Box::new(move |b: &mut ColumnBatchBuilder| {
            let mut w = b.writer::<T>().expect("the type was added to the batch");
            for v in values {
                // Cannot overflow: the batch is sized for exactly one value per entity.
                let _ = w.push(v);
            }
        }));
    }

    fn add_parts<T: Component>(&mut self, batch: &mut HecsBatch, parts: Vec<Vec<T>>) {
        batch.ty.add::<T>();
        batch.fills.push(Box::new(move |b: &mut ColumnBatchBuilder| {
            let mut w = b.writer::<T>().expect("the type was added to the batch");
            for v in parts.into_iter().flatten() {
                // Cannot overflow: the batch is sized for exactly one value per entity.
                let _ = w.push(v);
            }
        }));
    }

    fn finish(&mut self, batch: HecsBatch) -> Result<(), String> {
        let HecsBatch { handles, ty, fills } = batch;
        let mut builder = ty.into_batch(handles.len() as u32);
        for fill in fills {
            fill(&mut builder);
        }
        let batch = builder.build().map_err(|_| "a column of the batch is incomplete".to_owned())?;
        self.spawn_column_batch_at(&handles, batch);
        Ok(())
    }
}
