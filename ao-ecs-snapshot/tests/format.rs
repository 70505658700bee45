//! The file format: round trips, the Merkle root, and the manifest's agreement with the contents.

use std::collections::BTreeMap;

use ao_ecs_snapshot::{
    Column, ComponentColumn, Contents, DecodeLimits, Delta, EncodeOptions, EntityId, MemoryWorld, Schema,
    SnapshotKind, State, decode, encode_full, full_manifest, merkle_root, read_summary, verify_hashes,
};
use proptest::prelude::*;

type Pos = [f32; 3];

fn schema() -> Schema<MemoryWorld> {
    Schema::builder()
        .component::<Pos>("position", 1)
        .component::<u32>("health", 1)
        .component::<String>("name", 1)
        .build()
        .unwrap()
}

fn small_world() -> MemoryWorld {
    let mut w = MemoryWorld::new();
    for i in 0..10u32 {
        let e = w.spawn();
        w.insert::<Pos>(e, [i as f32, 1.5, -2.0]);
        if i % 2 == 0 {
            w.insert::<u32>(e, 100 + i);
        }
        if i % 3 == 0 {
            w.insert::<String>(e, format!("unit-{i}"));
        }
    }
    // An entity with no components, and a reused slot with a new generation.
    let lonely = w.spawn();
    let gone = w.spawn();
    w.despawn(gone);
    let again = w.spawn();
    assert_eq!(again.index, gone.index);
    assert_eq!(again.generation, gone.generation + 1);
    w.insert::<u32>(again, 7);
    let _ = lonely;
    w
}

#[test]
fn a_full_snapshot_round_trips_and_restores_the_same_world() {
    let schema = schema();
    let world = small_world();
    let state = schema.capture(&world).unwrap();
    assert_eq!(state.entities().len(), 12);
    let (id, bytes) =
        encode_full(&state, full_manifest(&state, 42, 1_700_000_000_000), &EncodeOptions::default()).unwrap();
    let snap = decode(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(snap.id, id);
    assert_eq!(snap.manifest.kind, SnapshotKind::Full);
    assert_eq!(snap.manifest.tick, 42);
    assert_eq!(snap.manifest.entity_count, 12);
    assert_eq!(snap.manifest.component("health").unwrap().count, 6);
    assert_eq!(snap.manifest.component("name").unwrap().count, 4);
    let Contents::Full(decoded) = snap.contents else { panic!("a full snapshot") };
    assert_eq!(decoded, state);

    let mut restored = MemoryWorld::new();
    schema.restore(&decoded, &mut restored).unwrap();
    assert_eq!(schema.capture(&restored).unwrap(), state);
    assert_eq!(restored.entities(), world.entities());
    let e = world.entities()[3];
    assert_eq!(restored.get::<Pos>(e), Some(&[3.0, 1.5, -2.0]));
    assert_eq!(restored.get::<String>(e).map(String::as_str), Some("unit-3"));
}

#[test]
fn the_root_is_the_merkle_root_of_header_and_chunk_hashes() {
    let state = schema().capture(&small_world()).unwrap();
    let (id, bytes) = encode_full(&state, full_manifest(&state, 1, 2), &EncodeOptions::default()).unwrap();
    let summary = verify_hashes(&bytes).unwrap();
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let mut leaves = vec![*blake3::hash(&bytes[16..16 + header_len]).as_bytes()];
    let mut at = 16 + header_len;
    for c in &summary.chunks {
        let body = &bytes[at..at + c.stored_len as usize];
        assert_eq!(*blake3::hash(body).as_bytes(), c.hash);
        leaves.push(c.hash);
        at += c.stored_len as usize;
    }
    assert_eq!(at + 32, bytes.len());
    assert_eq!(merkle_root(&leaves), id.0);
    assert_eq!(&bytes[at..], &id.0);
    // entity chunk + one chunk per component
    assert_eq!(summary.chunks.len(), 4);
    assert_eq!(summary.chunks[0].component, "@entities");
}

#[test]
fn merkle_root_pairs_and_promotes_the_odd_leaf() {
    let l = |b: u8| [b; 32];
    let node = |a: [u8; 32], b: [u8; 32]| {
        let mut h = blake3::Hasher::new();
        h.update(&[1]);
        h.update(&a);
        h.update(&b);
        *h.finalize().as_bytes()
    };
    assert_eq!(merkle_root(&[l(1)]), l(1));
    assert_eq!(merkle_root(&[l(1), l(2)]), node(l(1), l(2)));
    assert_eq!(merkle_root(&[l(1), l(2), l(3)]), node(node(l(1), l(2)), l(3)));
    assert_eq!(merkle_root(&[l(1), l(2), l(3), l(4)]), node(node(l(1), l(2)), node(l(3), l(4))));
}

#[test]
fn columns_split_into_parts_decode_to_the_same_state() {
    let mut w = MemoryWorld::new();
    for i in 0..1000u32 {
        let e = w.spawn();
        w.insert::<u32>(e, i * 7);
        w.insert::<String>(e, "x".repeat((i % 20) as usize));
    }
    let state = schema().capture(&w).unwrap();
    let opts = EncodeOptions { rows_per_chunk: 64, ..EncodeOptions::default() };
    let (_, bytes) = encode_full(&state, full_manifest(&state, 0, 0), &opts).unwrap();
    let summary = read_summary(&bytes).unwrap();
    assert_eq!(summary.chunks.iter().filter(|c| c.component == "health").count(), 16);
    assert_eq!(summary.chunks.iter().filter(|c| c.component == "@entities").count(), 16);
    let Contents::Full(decoded) =
        decode(&bytes, &DecodeLimits { threads: 2, ..DecodeLimits::default() }).unwrap().contents
    else {
        panic!("full")
    };
    assert_eq!(decoded, state);
}

#[test]
fn encoding_is_deterministic_whatever_the_thread_count() {
    let state = schema().capture(&small_world()).unwrap();
    let m = full_manifest(&state, 5, 6);
    let one = encode_full(
        &state,
        m.clone(),
        &EncodeOptions { threads: 1, rows_per_chunk: 3, ..Default::default() },
    )
    .unwrap();
    let four = encode_full(&state, m, &EncodeOptions { threads: 4, rows_per_chunk: 3, ..Default::default() })
        .unwrap();
    assert_eq!(one, four);
}

// ------------------------------------------------------------------------------------------
// Generated states: any sorted entity set with columns on subsets of it.

fn arb_state() -> impl Strategy<Value = State> {
    let ids = prop::collection::btree_set((0u32..200, 1u32..4), 0..60);
    ids.prop_flat_map(|ids| {
        let ids: Vec<EntityId> = ids.into_iter().map(|(i, g)| EntityId::new(i, g)).collect();
        let n = ids.len();
        let col = prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..12)), n);
        (Just(ids), prop::collection::vec(col, 0..4))
    })
    .prop_map(|(ids, cols)| {
        let mut components = BTreeMap::new();
        for (k, rows) in cols.into_iter().enumerate() {
            let mut c = Column::new();
            for (e, (has, v)) in ids.iter().zip(rows) {
                if has {
                    c.push(*e, &v);
                }
            }
            if !c.is_empty() {
                components.insert(format!("c{k}"), ComponentColumn { version: k as u32 + 1, column: c });
            }
        }
        State::from_parts(ids, components).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_state_round_trips(state in arb_state(), per in 1usize..40) {
        let opts = EncodeOptions { rows_per_chunk: per, ..EncodeOptions::default() };
        let (id, bytes) = encode_full(&state, full_manifest(&state, 9, 9), &opts).unwrap();
        let snap = decode(&bytes, &DecodeLimits::default()).unwrap();
        prop_assert_eq!(snap.id, id);
        prop_assert_eq!(snap.contents, Contents::Full(state));
    }

    #[test]
    fn applying_the_diff_reproduces_the_newer_state(a in arb_state(), b in arb_state()) {
        let delta: Delta = b.diff_from(&a);
        prop_assert_eq!(a.clone().apply(std::slice::from_ref(&delta)).unwrap(), b.clone());
        // Same state: nothing to record.
        prop_assert!(b.diff_from(&b).is_empty());
    }

    #[test]
    fn a_chain_of_diffs_folds_to_the_last_state(a in arb_state(), b in arb_state(), c in arb_state()) {
        let chain = [b.diff_from(&a), c.diff_from(&b)];
        prop_assert_eq!(a.apply(&chain).unwrap(), c);
    }
}
