//! Anchoring roots on a real Lua anchor process run by ao-local.

mod common;

use std::sync::Arc;

use ao_ecs_snapshot::{
    ANCHOR_PROCESS_LUA, Anchor, AnchorCheck, AnchorRecord, AoAnchor, Changes, ErrorKind, MemoryStore,
    SnapshotStore, Snapshotter, verify_anchor,
};
use ao_local::LocalAo;
use ao_transport::{Address, Message};
use common::{churn, schema, world};

fn setup() -> (Arc<LocalAo>, AoAnchor<Arc<LocalAo>>) {
    let ao = Arc::new(LocalAo::new());
    let pid = ao.spawn_aos(ANCHOR_PROCESS_LUA).unwrap();
    let anchor = AoAnchor::new(ao.clone(), pid);
    (ao, anchor)
}

#[test]
fn an_anchored_snapshot_verifies_against_its_anchor() {
    let (_ao, anchor) = setup();
    let store = Arc::new(MemoryStore::new());
    let mut w = world(30);
    let mut s = Snapshotter::new(schema(), store.clone());
    let full = s.full(&w, 1, 0).unwrap();
    churn(&mut w, 2);
    let delta = s.delta(&w, Changes::Log(w.log()), 2, 0).unwrap();

    let receipt = anchor.anchor(&AnchorRecord::of(delta.id, &delta.manifest)).unwrap();
    assert_eq!(receipt.message_id.len(), 43);
    assert_eq!(receipt.record.tick, 2);
    assert_eq!(receipt.record.entities, 30);

    let bytes = store.get(&delta.name).unwrap();
    assert_eq!(
        verify_anchor(&anchor, &bytes).unwrap(),
        AnchorCheck::Matches { message_id: receipt.message_id.clone() }
    );
    // The full snapshot was never anchored.
    assert_eq!(verify_anchor(&anchor, &store.get(&full.name).unwrap()).unwrap(), AnchorCheck::NotAnchored);
    // Anchoring again returns the first anchoring message.
    let again = anchor.anchor(&receipt.record).unwrap();
    assert_eq!(again.message_id, receipt.message_id);
    // The lookup reads back what was sent, counts included.
    let (id, rec) = anchor.lookup(&delta.id).unwrap().unwrap();
    assert_eq!((id, rec), (receipt.message_id, AnchorRecord::of(delta.id, &delta.manifest)));
}

#[test]
fn a_record_that_disagrees_is_reported_field_by_field() {
    let (_ao, anchor) = setup();
    let store = Arc::new(MemoryStore::new());
    let w = world(10);
    let full = Snapshotter::new(schema(), store.clone()).full(&w, 7, 0).unwrap();
    let mut wrong = AnchorRecord::of(full.id, &full.manifest);
    wrong.tick = 8;
    wrong.components.insert("health".into(), 3);
    let receipt = anchor.anchor(&wrong).unwrap();
    let check = verify_anchor(&anchor, &store.get(&full.name).unwrap()).unwrap();
    let AnchorCheck::Differs { message_id, differences } = check else { panic!("{check:?}") };
    assert_eq!(message_id, receipt.message_id);
    let fields: Vec<&str> = differences.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(fields, ["tick", "components"]);
    assert_eq!(differences[0], ("tick".into(), "7".into(), "8".into()));
}

#[test]
fn a_tampered_snapshot_does_not_verify_before_any_lookup() {
    let (_ao, anchor) = setup();
    let store = Arc::new(MemoryStore::new());
    let full = Snapshotter::new(schema(), store.clone()).full(&world(10), 1, 0).unwrap();
    anchor.anchor(&AnchorRecord::of(full.id, &full.manifest)).unwrap();
    let mut bytes = store.get(&full.name).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 1;
    let err = verify_anchor(&anchor, &bytes).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ChunkHash { .. }), "{err}");
}

#[test]
fn only_the_owner_can_anchor() {
    let (ao, anchor) = setup();
    let stranger = Address::new("s".repeat(43)).unwrap();
    let root = "ab".repeat(32);
    let msg = Message::builder(anchor.process().clone())
        .tag("Action", "Anchor-Snapshot")
        .tag("Root", root.as_str())
        .tag("Tick", "1")
        .build()
        .unwrap();
    let (_, result) = ao.call_as(&stranger, msg).unwrap();
    assert_eq!(result.messages[0].tag("Action"), Some("Anchor-Error"));
    assert_eq!(anchor.lookup(&root.parse().unwrap()).unwrap(), None);
}
