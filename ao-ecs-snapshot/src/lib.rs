//! ECS snapshots.

mod error;
mod format;
mod manifest;
mod model;
mod parallel;
mod recover;
mod schema;
mod state;
mod world;

pub use error::{Error, ErrorKind};
pub use format::{
    ChunkEntry, Contents, DecodeLimits, ENTITIES, EncodeOptions, FORMAT_VERSION, MAGIC, Snapshot, Summary,
    decode, encode_delta, encode_full, full_manifest, merkle_root, read_summary, verify_hashes,
};
pub use manifest::{ComponentInfo, Manifest, ParseIdError, SnapshotId, SnapshotKind};
pub use model::{Column, Component, EntityId, Tick};
pub use recover::RecoveryReport;
pub use schema::{Schema, SchemaBuilder, UnknownPolicy, decode_value, encode_value};
pub use state::{ComponentColumn, ComponentDelta, Delta, State};
pub use world::{ChangeLog, MemoryWorld, WorldSink, WorldSource};
