//! ECS snapshots.

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
