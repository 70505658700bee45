//! The hecs adapter on a real `hecs::World`: spawn, despawn, change, snapshot, restore, compare.

use std::sync::Arc;

use ao_ecs_snapshot::{
    ChangeLog, Changes, EntityId, MemoryStore, Schema, Snapshotter, State, from_hecs, to_hecs,
};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Position([f32; 3]);
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Velocity([f32; 3]);
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Health(u32);
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Name(String);

fn schema() -> Schema<hecs::World> {
    Schema::builder()
        .component::<Position>("position", 1)
        .component::<Velocity>("velocity", 1)
        .component::<Health>("health", 1)
        .component::<Name>("name", 1)
        .build()
        .unwrap()
}

fn captured(w: &hecs::World) -> State {
    schema().capture(w).unwrap()
}

type Row = (u64, Option<Position>, Option<Velocity>, Option<Health>, Option<Name>);

/// Every entity with every component, read through hecs itself.
fn dump(w: &hecs::World) -> Vec<Row> {
    let mut v: Vec<_> = w
        .iter()
        .map(|e| {
            (
                e.entity().to_bits().get(),
                e.get::<&Position>().map(|x| *x),
                e.get::<&Velocity>().map(|x| *x),
                e.get::<&Health>().map(|x| *x),
                e.get::<&Name>().map(|x| (*x).clone()),
            )
        })
        .collect();
    v.sort_by_key(|x| x.0);
    v
}

#[test]
fn entity_ids_map_one_to_one() {
    let mut w = hecs::World::new();
    let a = w.spawn(());
    w.despawn(a).unwrap();
    let b = w.spawn(());
    let id = from_hecs(b);
    assert_eq!(id.index, b.id());
    assert_eq!(id.generation, 2);
    assert_eq!(to_hecs(id), Some(b));
    assert_eq!(to_hecs(EntityId::new(3, 0)), None);
}

#[test]
fn a_hecs_world_survives_snapshot_changes_and_restore() {
    let mut w = hecs::World::new();
    let mut log = ChangeLog::new();
    let mut es = Vec::new();
    for i in 0..500u32 {
        let e = if i % 3 == 0 {
            w.spawn((
                Position([i as f32, 0.0, 0.0]),
                Velocity([1.0, 0.0, 0.0]),
                Health(i),
                Name(format!("e{i}")),
            ))
        } else if i % 3 == 1 {
            w.spawn((Position([0.0, i as f32, 0.0]), Health(i)))
        } else {
            w.spawn((Name(format!("marker{i}")),))
        };
        es.push(e);
    }
    let empty = w.spawn(());
    let store = Arc::new(MemoryStore::new());
    let mut snap = Snapshotter::new(schema(), store.clone());
    snap.full(&w, 1, 0).unwrap();

    // Tick 2: change, despawn, spawn, add and remove components, logging each.
    let t = 2;
    let mut hurt = 0;
    for e in es.iter().step_by(10) {
        if let Ok(mut h) = w.get::<&mut Health>(*e) {
            h.0 += 1000;
            log.modified::<Health>(from_hecs(*e), t);
            hurt += 1;
        }
    }
    assert_eq!(hurt, 34); // i = 0, 10, …, 490 with i % 3 != 2
    w.despawn(es[4]).unwrap();
    log.despawned(from_hecs(es[4]), t);
    let n = w.spawn((Health(7),));
    log.spawned(from_hecs(n), t);
    log.inserted::<Health>(from_hecs(n), t);
    w.insert_one(es[2], Velocity([0.5, 0.5, 0.5])).unwrap();
    log.inserted::<Velocity>(from_hecs(es[2]), t);
    w.remove_one::<Name>(es[0]).unwrap();
    log.removed::<Name>(from_hecs(es[0]), t);
    let d = snap.delta(&w, Changes::Log(&log), t, 0).unwrap();
    assert_eq!(d.manifest.component("health").unwrap().changed, hurt);
    assert_eq!(d.manifest.component("velocity").unwrap().added, 1);
    assert_eq!(d.manifest.component("name").unwrap().removed, 1);
    assert_eq!((d.manifest.spawned, d.manifest.despawned), (1, 1));

    // Tick 3: a hashing delta, no log.
    *w.get::<&mut Position>(es[1]).unwrap() = Position([9.0, 9.0, 9.0]);
    let d3 = snap.delta(&w, Changes::Hashing, 3, 0).unwrap();
    assert_eq!(d3.manifest.component("position").unwrap().changed, 1);

    let mut restored = hecs::World::new();
    restored.spawn((Health(1),)); // restore replaces whatever was there
    Snapshotter::new(schema(), store).recover(&mut restored).unwrap();
    assert_eq!(dump(&restored), dump(&w));
    assert_eq!(captured(&restored), captured(&w));
    assert!(restored.contains(empty));
    assert!(!restored.contains(es[4]));
    assert_eq!(restored.get::<&Health>(n).map(|h| *h).ok(), Some(Health(7)));
    // Restored archetypes answer queries like the original.
    assert_eq!(
        restored.query::<(&Position, &Velocity)>().iter().count(),
        w.query::<(&Position, &Velocity)>().iter().count()
    );
}

#[derive(Debug, Clone)]
enum Op {
    Spawn(u8, u32),
    Despawn(usize),
    Hurt(usize),
    Toggle(usize),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random hecs worlds survive a snapshot/restore round trip exactly.
    #[test]
    fn generated_hecs_worlds_restore_exactly(ops in prop::collection::vec(
        prop_oneof![
            (0u8..8, any::<u32>()).prop_map(|(m, v)| Op::Spawn(m, v)),
            any::<usize>().prop_map(Op::Despawn),
            any::<usize>().prop_map(Op::Hurt),
            any::<usize>().prop_map(Op::Toggle),
        ], 0..80)) {
        let mut w = hecs::World::new();
        let store = Arc::new(MemoryStore::new());
        let mut snap = Snapshotter::new(schema(), store.clone());
        snap.full(&w, 0, 0).unwrap();
        for (t, op) in ops.into_iter().enumerate() {
            let live: Vec<hecs::Entity> = w.iter().map(|e| e.entity()).collect();
            match op {
                Op::Spawn(mask, v) => {
                    let mut b = hecs::EntityBuilder::new();
                    if mask & 1 != 0 { b.add(Position([v as f32, 1.0, 2.0])); }
                    if mask & 2 != 0 { b.add(Health(v)); }
                    if mask & 4 != 0 { b.add(Name(v.to_string())); }
                    w.spawn(b.build());
                }
                Op::Despawn(i) if !live.is_empty() => { w.despawn(live[i % live.len()]).unwrap(); }
                Op::Hurt(i) if !live.is_empty() => {
                    if let Ok(mut h) = w.get::<&mut Health>(live[i % live.len()]) { h.0 = h.0.wrapping_sub(1); }
                }
                Op::Toggle(i) if !live.is_empty() => {
                    let e = live[i % live.len()];
                    if w.remove_one::<Velocity>(e).is_err() { w.insert_one(e, Velocity([0.0; 3])).unwrap(); }
                }
                _ => {}
            }
            if t % 5 == 4 {
                snap.delta(&w, Changes::Hashing, t as u64 + 1, 0).unwrap();
            }
        }
        snap.full(&w, 1000, 0).unwrap();
        let mut restored = hecs::World::new();
        Snapshotter::new(schema(), store).recover(&mut restored).unwrap();
        prop_assert_eq!(dump(&restored), dump(&w));
    }
}
