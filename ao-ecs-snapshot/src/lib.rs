//! Full and incremental snapshots of ECS game state, with verified recovery, schema
//! migration, retention, archival and anchoring of roots on AO.
//!
//! A game backend links this crate to make its world survive restarts and failures:
//!
//! - **Model.** Entities are `(index, generation)`; component types are registered on a
//!   [`Schema`] with a stable name, a schema version and a serde type. Any ECS plugs in by
//!   implementing [`WorldSource`] + [`WorldSink`]; `hecs::World` does with the `hecs`
//!   feature, [`MemoryWorld`] is a small reference ECS.
//! - **Format** ([`file_format`], also `FORMAT.md` in the crate):
//!   a versioned header, then per-component column chunks encoded with bincode 2 (serde), each
//!   zstd-compressed and blake3-hashed; the root is a Merkle hash over header and chunk
//!   hashes. Chunks are encoded and decoded in parallel across cores.
//! - **Full and delta snapshots** ([`Snapshotter`]): a delta holds the entities spawned and
//!   despawned and, per component, values added, changed and removed since its parent, found
//!   from the host's [`ChangeLog`] (cost ∝ changes) or by per-entity hashing ([`HashIndex`]).
//!   Restore = base + chain; [`Snapshotter::compact`] folds a chain into a new base.
//! - **Recovery** ([`Snapshotter::recover`]) restores the newest complete chain whose every
//!   hash verifies, falls back past corruption and reports what it skipped and why
//!   ([`RecoveryReport`]); [`verify_store`] checks a whole store ([`VerifyReport`]).
//! - **Storage**: [`SnapshotStore`] with [`FsStore`] (temp file, fsync, rename, fsync dir;
//!   fault hooks for crash tests) and [`MemoryStore`]; [`prune`] by [`RetentionPolicy`]
//!   (never a base a kept delta needs), [`archive`]/[`unarchive`] whole chains to a cold store.
//! - **Migration**: per-component steps v1 → v2 → … ([`SchemaBuilder::migration`]); a missing
//!   step is [`ErrorKind::MissingMigration`]; unknown components are kept or refused
//!   ([`UnknownPolicy`]).
//! - **Anchoring**: [`Anchor`], [`verify_anchor`], and `AoAnchor` over `AoTransport` with the
//!   `anchor` feature (`Action = Anchor-Snapshot` to a Lua anchor process, `ANCHOR_PROCESS_LUA`).
//!
//! What it deliberately does not do: run a clock or a thread of its own (ticks and wall time
//! are arguments), decide *when* to snapshot, encrypt, or preserve an ECS's entity
//! allocator state (free lists) — restored worlds have the same entities and components, and
//! new entities may get other ids than they would have before the restart.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use ao_ecs_snapshot::{Changes, MemoryStore, MemoryWorld, Schema, Snapshotter};
//!
//! #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Health(u32);
//!
//! let schema = || Schema::<MemoryWorld>::builder().component::<Health>("health", 1).build();
//! let store = Arc::new(MemoryStore::new());
//!
//! // The game: a world, a full snapshot, a change, a delta from the world's change log.
//! let mut world = MemoryWorld::new();
//! let hero = world.spawn();
//! world.insert(hero, Health(100));
//! let mut snapshots = Snapshotter::new(schema()?, store.clone());
//! snapshots.full(&world, 1, 1_700_000_000_000)?;
//! world.set_tick(2);
//! world.insert(hero, Health(75));
//! let delta = snapshots.delta(&world, Changes::Log(world.log()), 2, 1_700_000_000_050)?;
//! assert_eq!(delta.manifest.component("health").unwrap().changed, 1);
//!
//! // After a restart: recover the newest verified chain into a fresh world.
//! let mut restored = MemoryWorld::new();
//! let report = Snapshotter::new(schema()?, store).recover(&mut restored)?;
//! assert_eq!(report.restored.unwrap().chain.len(), 2);
//! assert_eq!(restored.get::<Health>(hero), Some(&Health(75)));
//! # Ok::<(), ao_ecs_snapshot::Error>(())
//! ```
//!
//! # Features
//!
//! - `hecs`: `WorldSource`/`WorldSink` for `hecs::World` (restores by column batches).
//! - `anchor`: `AoAnchor`, anchoring roots on an AO process through `ao_transport::AoTransport`.

mod anchor;
mod codec;
mod delta;
mod error;
mod format;
#[cfg(feature = "hecs")]
mod hecs_world;
mod manifest;
mod model;
mod parallel;
mod recover;
mod retention;
mod schema;
mod snapshotter;
mod state;
mod store;
mod world;

#[doc = include_str!("../FORMAT.md")]
#[allow(clippy::doc_markdown)] // the page is prose for other implementers
pub mod file_format {}

#[cfg(feature = "anchor")]
pub use anchor::{ANCHOR_PROCESS_LUA, AoAnchor};
pub use anchor::{Anchor, AnchorCheck, AnchorReceipt, AnchorRecord, verify_anchor};
pub use delta::HashIndex;
pub use error::{Error, ErrorKind};
pub use format::{
    ChunkEntry, Contents, DecodeLimits, ENTITIES, EncodeOptions, FORMAT_VERSION, MAGIC, Snapshot, Summary,
    decode, encode_delta, encode_full, full_manifest, merkle_root, read_summary, verify_hashes,
};
#[cfg(feature = "hecs")]
pub use hecs_world::{HecsBatch, from_hecs, to_hecs};
pub use manifest::{ComponentInfo, Manifest, ParseIdError, SnapshotId, SnapshotKind};
pub use model::{Column, Component, EntityId, Tick};
pub use recover::{
    Checked, RecoveryReport, Restored, SkipReason, Skipped, Status, VerifyReport, verify_store,
};
pub use retention::{
    ArchiveReport, KeepReason, RetentionPlan, RetentionPolicy, SnapshotInfo, archive, list_snapshots,
    plan_retention, prune, unarchive,
};
pub use schema::{Schema, SchemaBuilder, UnknownPolicy, decode_value, encode_value};
pub use snapshotter::{Changes, Snapshotter, Written};
pub use state::{ComponentColumn, ComponentDelta, Delta, State};
pub use store::{
    Fault, FaultPlan, FsStore, MemoryStore, SnapshotStore, TEMP_PREFIX, WriteStep, parse_snapshot_name,
    snapshot_name,
};
pub use world::{ChangeLog, MemoryWorld, WorldSink, WorldSource};
