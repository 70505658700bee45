//! Schema migration: old snapshots restore into the current schema through registered
//! steps; missing steps, future versions and unknown components are typed errors or kept.

use std::sync::Arc;

use ao_ecs_snapshot::{Changes, ErrorKind, MemoryStore, MemoryWorld, Schema, Snapshotter, UnknownPolicy};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct PosV1 {
    x: i32,
    y: i32,
}
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct PosV2 {
    x: f32,
    y: f32,
}
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Pos {
    xyz: [f32; 3],
    sector: u16,
}
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Inventory(Vec<u32>);

#[allow(clippy::needless_pass_by_value)] // migrations take the old value by value
fn v1_to_v2(p: PosV1) -> PosV2 {
    PosV2 { x: p.x as f32, y: p.y as f32 }
}
#[allow(clippy::needless_pass_by_value)]
fn v2_to_v3(p: PosV2) -> Pos {
    Pos { xyz: [p.x, p.y, 0.0], sector: (p.x.abs() as u32 / 100) as u16 }
}

fn schema_v1() -> Schema<MemoryWorld> {
    Schema::builder()
        .component::<PosV1>("position", 1)
        .component::<Inventory>("inventory", 1)
        .build()
        .unwrap()
}

fn schema_v3() -> Schema<MemoryWorld> {
    Schema::builder()
        .component::<Pos>("position", 3)
        .migration("position", 1, v1_to_v2)
        .migration("position", 2, v2_to_v3)
        .component::<Inventory>("inventory", 1)
        .build()
        .unwrap()
}

fn v1_store(points: &[(i32, i32)]) -> (Arc<MemoryStore>, Vec<ao_ecs_snapshot::EntityId>) {
    let store = Arc::new(MemoryStore::new());
    let mut w = MemoryWorld::new();
    let es: Vec<_> = points
        .iter()
        .map(|&(x, y)| {
            let e = w.spawn();
            w.insert(e, PosV1 { x, y });
            w.insert(e, Inventory(vec![x as u32]));
            e
        })
        .collect();
    Snapshotter::new(schema_v1(), store.clone()).full(&w, 1, 0).unwrap();
    (store, es)
}

#[test]
fn a_v1_snapshot_restores_into_the_v3_schema() {
    let (store, es) = v1_store(&[(250, -3), (7, 8)]);
    let mut w = MemoryWorld::new();
    Snapshotter::new(schema_v3(), store).recover(&mut w).unwrap();
    assert_eq!(w.get::<Pos>(es[0]), Some(&Pos { xyz: [250.0, -3.0, 0.0], sector: 2 }));
    assert_eq!(w.get::<Pos>(es[1]), Some(&Pos { xyz: [7.0, 8.0, 0.0], sector: 0 }));
    assert_eq!(w.get::<Inventory>(es[1]), Some(&Inventory(vec![7])));
}

#[test]
fn a_chain_across_an_upgrade_folds_at_the_current_version() {
    let (store, es) = v1_store(&[(1, 1), (2, 2), (3, 3)]);
    // Restart on v3: recover the v1 base, change one entity, write a v3 delta.
    let mut w = MemoryWorld::new();
    let mut s = Snapshotter::new(schema_v3(), store.clone());
    s.recover(&mut w).unwrap();
    w.set_tick(2);
    w.insert(es[1], Pos { xyz: [5.0, 5.0, 5.0], sector: 9 });
    let d = s.delta(&w, Changes::Log(w.log()), 2, 0).unwrap();
    assert_eq!(d.manifest.component("position").unwrap().version, 3);
    let mut again = MemoryWorld::new();
    Snapshotter::new(schema_v3(), store.clone()).recover(&mut again).unwrap();
    assert_eq!(again.get::<Pos>(es[0]), Some(&Pos { xyz: [1.0, 1.0, 0.0], sector: 0 }));
    assert_eq!(again.get::<Pos>(es[1]), Some(&Pos { xyz: [5.0, 5.0, 5.0], sector: 9 }));
    // Compaction writes the folded chain at v3.
    let c = s.compact().unwrap();
    assert_eq!(c.manifest.component("position").unwrap().version, 3);
}

#[test]
fn a_missing_step_names_the_component_and_versions() {
    let (store, _) = v1_store(&[(1, 2)]);
    let schema = Schema::builder()
        .component::<Pos>("position", 3)
        .migration("position", 1, v1_to_v2)
        .component::<Inventory>("inventory", 1)
        .build()
        .unwrap();
    let mut w = MemoryWorld::new();
    let err = Snapshotter::new(schema, store).recover(&mut w).unwrap_err();
    match err.kind() {
        ErrorKind::MissingMigration { component, from, to } => {
            assert_eq!((component.as_str(), *from, *to), ("position", 2, 3));
        }
        other => panic!("{other}"),
    }
    assert_eq!(err.to_string(), "no migration for component \"position\" from version 2 to 3");
}

#[test]
fn a_snapshot_from_a_newer_build_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let mut w = MemoryWorld::new();
    let e = w.spawn();
    w.insert(e, Pos { xyz: [0.0; 3], sector: 0 });
    Snapshotter::new(schema_v3(), store.clone()).full(&w, 1, 0).unwrap();
    let old = Schema::builder().component::<Pos>("position", 2).build().unwrap();
    let err = Snapshotter::new(old, store).recover(&mut MemoryWorld::new()).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::FutureSchema { component, found: 3, current: 2 } if component == "position"),
        "{err}"
    );
}

#[test]
fn unknown_components_are_kept_and_rewritten_by_default() {
    let (store, es) = v1_store(&[(1, 2), (3, 4), (5, 6)]);
    // A build that no longer knows "inventory".
    let no_inv = || {
        Schema::builder()
            .component::<Pos>("position", 3)
            .migration("position", 1, v1_to_v2)
            .migration("position", 2, v2_to_v3)
            .build()
            .unwrap()
    };
    let mut w = MemoryWorld::new();
    let mut s = Snapshotter::new(no_inv(), store.clone());
    s.recover(&mut w).unwrap();
    assert_eq!(s.kept_components().map(|(n, c)| (n, c.column.len())).collect::<Vec<_>>(), [("inventory", 3)]);
    assert!(w.get::<Inventory>(es[0]).is_none());
    w.set_tick(2);
    w.despawn(es[1]);
    s.delta(&w, Changes::Log(w.log()), 2, 0).unwrap();
    s.full(&w, 3, 0).unwrap();
    // A build that knows it again gets the values back, minus the despawned entity's.
    let mut back = MemoryWorld::new();
    Snapshotter::new(schema_v3(), store).recover(&mut back).unwrap();
    assert_eq!(back.get::<Inventory>(es[0]), Some(&Inventory(vec![1])));
    assert_eq!(back.get::<Inventory>(es[2]), Some(&Inventory(vec![5])));
    assert!(!back.contains(es[1]));
}

#[test]
fn unknown_components_are_refused_by_policy() {
    let (store, _) = v1_store(&[(1, 2)]);
    let strict = Schema::builder()
        .component::<Pos>("position", 3)
        .migration("position", 1, v1_to_v2)
        .migration("position", 2, v2_to_v3)
        .unknown_components(UnknownPolicy::Refuse)
        .build()
        .unwrap();
    let err = Snapshotter::new(strict, store).recover(&mut MemoryWorld::new()).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownComponent { component, version: 1 } if component == "inventory"),
        "{err}"
    );
}

#[test]
fn the_builder_refuses_inconsistent_registrations() {
    let cases: Vec<(Result<Schema<MemoryWorld>, ao_ecs_snapshot::Error>, &str)> = vec![
        (Schema::builder().component::<u32>("a", 1).component::<u64>("a", 1).build(), "registered twice"),
        (
            Schema::builder().component::<u32>("a", 1).component::<u32>("b", 1).build(),
            "type u32 registered twice",
        ),
        (Schema::builder().component::<u32>("@x", 1).build(), "reserved"),
        (
            Schema::builder().component::<u32>("a", 2).migration("b", 1, |x: u32| x).build(),
            "unregistered component",
        ),
        (
            Schema::builder().component::<u32>("a", 2).migration("a", 2, |x: u32| x).build(),
            "current version is 2",
        ),
    ];
    for (result, needle) in cases {
        let err = result.unwrap_err();
        assert!(err.to_string().contains(needle), "{err} should mention {needle:?}");
    }
}

#[test]
fn a_value_that_does_not_decode_as_the_old_type_names_its_entity() {
    // Stored as u8 under "position" v1; the migration expects PosV1.
    let store = Arc::new(MemoryStore::new());
    let mut w = MemoryWorld::new();
    let e = w.spawn();
    w.insert::<u8>(e, 1);
    Snapshotter::new(Schema::builder().component::<u8>("position", 1).build().unwrap(), store.clone())
        .full(&w, 1, 0)
        .unwrap();
    let err = Snapshotter::new(schema_v3(), store).recover(&mut MemoryWorld::new()).unwrap_err();
    let text = err.to_string();
    let ErrorKind::NothingToRecover { report } = err.kind() else { panic!("{text}") };
    let reason = report.skipped[0].reason.to_string();
    assert!(reason.contains("\"position\" v1, entity 0:1: migration to v2"), "{reason}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Across generated data, restore-through-migrations equals converting each value in code.
    #[test]
    fn migrated_values_equal_the_direct_conversion(points in prop::collection::vec((-100_000i32..100_000, any::<i32>()), 1..50)) {
        let (store, es) = v1_store(&points);
        let mut w = MemoryWorld::new();
        Snapshotter::new(schema_v3(), store).recover(&mut w).unwrap();
        for (e, &(x, y)) in es.iter().zip(&points) {
            let expected = v2_to_v3(v1_to_v2(PosV1 { x, y }));
            prop_assert_eq!(w.get::<Pos>(*e), Some(&expected));
        }
    }
}
