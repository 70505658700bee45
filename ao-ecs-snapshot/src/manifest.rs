//! What a snapshot says about itself: kind, parent, tick, wall time, counts, schema versions.

use std::fmt;
use std::str::FromStr;

use crate::model::Tick;

/// A snapshot's identity: its 32-byte blake3 Merkle root.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SnapshotId(pub [u8; 32]);

impl SnapshotId {
    /// The root as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// The first 12 hex digits, for logs.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_owned()
    }
}

impl fmt::Debug for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotId({})", self.short())
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a snapshot id (64 hex digits): {0:?}")]
pub struct ParseIdError(pub String);

impl FromStr for SnapshotId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(ParseIdError(s.to_owned()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            match (hex(pair[0]), hex(pair[1])) {
                (Some(h), Some(l)) => out[i] = h << 4 | l,
                _ => return Err(ParseIdError(s.to_owned())),
            }
        }
        Ok(Self(out))
    }
}

/// Whether a snapshot holds a whole world or the changes since its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SnapshotKind {
    /// A whole world (a base).
    Full,
    /// Changes since `parent`.
    Delta,
}

/// One component as a snapshot records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ComponentInfo {
    /// The stable name it was registered with.
    pub name: String,
    /// The schema version of its values in this snapshot.
    pub version: u32,
    /// How many entities have it once this snapshot is restored.
    pub count: u64,
    /// Entities that gained it (a full snapshot counts all of them here).
    pub added: u64,
    /// Entities whose value changed (0 in a full snapshot).
    pub changed: u64,
    /// Entities that lost it, despawned ones not counted (0 in a full snapshot).
    pub removed: u64,
}

/// A snapshot's manifest: stored in its header, covered by its root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Full or delta.
    pub kind: SnapshotKind,
    /// For a delta: the snapshot it applies to.
    pub parent: Option<SnapshotId>,
    /// For a delta: the full snapshot its chain starts from.
    pub base: Option<SnapshotId>,
    /// 0 for a full snapshot, the parent's depth + 1 for a delta.
    pub depth: u32,
    /// The host's tick when the snapshot was taken.
    pub tick: Tick,
    /// Wall-clock time when it was taken, milliseconds since the Unix epoch (given by the host).
    pub wall_time_ms: u64,
    /// Live entities once this snapshot is restored.
    pub entity_count: u64,
    /// Entities spawned since the parent (a full snapshot counts every live one).
    pub spawned: u64,
    /// Entities despawned since the parent (0 in a full snapshot).
    pub despawned: u64,
    /// Every component present, sorted by name.
    pub components: Vec<ComponentInfo>,
}

impl Manifest {
    /// The entry for a component.
    pub fn component(&self, name: &str) -> Option<&ComponentInfo> {
        self.components.iter().find(|c| c.name == name)
    }
}
