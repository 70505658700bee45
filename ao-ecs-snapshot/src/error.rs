//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// A snapshot failure. The [`kind`](Error::kind) says what and where.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
///
/// Decoding errors carry the byte offset in the snapshot file where the
/// problem was found and the field that was being read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before a field was complete.
    #[error("truncated snapshot: {field} at byte {offset} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes the input has from `offset` on.
        available: u64,
    },
    /// The file does not start with the snapshot magic.
    #[error("not a snapshot: magic {found:02x?} at byte 0")]
    BadMagic {
        /// The first bytes found (up to 8).
        found: Vec<u8>,
    },
    /// The format version is newer (or older) than this reader supports.
    #[error("unsupported snapshot format version {found} at byte 8 (this reader supports {supported})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The version this crate reads and writes.
        supported: u16,
    },
    /// A length or count field is larger than the input or a limit allows.
    #[error("{field} at byte {offset} is {value}, more than the {limit} allowed")]
    LengthOutOfBounds {
        /// The field.
        field: String,
        /// Where it is.
        offset: u64,
        /// The value found.
        value: u64,
        /// The largest value the input or the limits justify.
        limit: u64,
    },
    /// A field could not be decoded or breaks an invariant of the format.
    #[error("malformed {field} at byte {offset}: {message}")]
    Malformed {
        /// The field path, e.g. `chunk[3].entities`.
        field: String,
        /// Where the enclosing structure starts.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// A chunk's bytes do not hash to the hash the header records.
    #[error("chunk {chunk} ({component}) at byte {offset}: blake3 hash mismatch")]
    ChunkHash {
        /// The chunk's index in the header.
        chunk: usize,
        /// The component it holds (`@entities` for the entity chunk).
        component: String,
        /// Where the chunk starts.
        offset: u64,
    },
    /// The Merkle root computed from the header and chunks differs from the one stored.
    #[error("root hash mismatch: stored {stored}, computed {computed}")]
    RootHash {
        /// The root in the trailer.
        stored: String,
        /// The root the bytes hash to.
        computed: String,
    },
    /// A chunk failed to decompress or decompressed to a different size than declared.
    #[error("chunk {chunk} at byte {offset}: zstd: {message}")]
    Decompress {
        /// The chunk's index.
        chunk: usize,
        /// Where it starts.
        offset: u64,
        /// What zstd or the size check said.
        message: String,
    },
    /// A snapshot holds a component the schema does not know and the policy refuses it.
    #[error("unknown component {component:?} (schema version {version}) refused by policy")]
    UnknownComponent {
        /// Its name.
        component: String,
        /// Its schema version in the snapshot.
        version: u32,
    },
    /// A snapshot holds a component at a schema version newer than this build knows.
    #[error("component {component:?} is at schema version {found}, newer than the current {current}")]
    FutureSchema {
        /// The component.
        component: String,
        /// The version in the snapshot.
        found: u32,
        /// The version registered in code.
        current: u32,
    },
    /// No migration is registered for one step of the path to the current version.
    #[error("no migration for component {component:?} from version {from} to {to}")]
    MissingMigration {
        /// The component.
        component: String,
        /// The version the step starts from.
        from: u32,
        /// The version it should reach.
        to: u32,
    },
    /// A stored value did not decode as its component type (or a migration step failed on it).
    #[error("component {component:?} v{version}, entity {entity}: {message}")]
    Value {
        /// The component.
        component: String,
        /// The schema version the value was read at.
        version: u32,
        /// The entity, as `index:generation`.
        entity: String,
        /// The serde or migration message.
        message: String,
    },
    /// A value could not be encoded (a serde `Serialize` impl failed).
    #[error("component {component:?}: cannot encode: {message}")]
    Encode {
        /// The component.
        component: String,
        /// The serde message.
        message: String,
    },
    /// The snapshots do not form a chain: a delta's parent is missing or belongs elsewhere.
    #[error("broken chain at {snapshot}: {message}")]
    Chain {
        /// The snapshot whose parent is wrong.
        snapshot: String,
        /// What is wrong.
        message: String,
    },
    /// The ECS adapter refused the restored state (e.g. an entity id it cannot represent).
    #[error("world adapter: {0}")]
    World(String),
    /// Caller misuse: a duplicate registration, a delta before any full snapshot, a bad name.
    #[error("invalid use: {0}")]
    InvalidUse(String),
    /// The store has no snapshot by this name.
    #[error("no snapshot named {0:?} in the store")]
    NotFound(String),
    /// A filesystem operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`write`, `fsync`, `rename`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No complete, valid chain was found; the report says what was skipped and why.
    #[error("nothing to recover: {} snapshot(s) skipped", report.skipped.len())]
    NothingToRecover {
        /// What recovery looked at.
        report: Box<crate::recover::RecoveryReport>,
    },
    /// The anchor transport failed (carried as the host transport's error).
    #[error("anchor transport: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The anchor process answered something this crate cannot read.
    #[error("anchor process reply: {0}")]
    AnchorReply(String),
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Takes the kind out.
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn malformed(field: impl Into<String>, offset: u64, message: impl fmt::Display) -> Self {
        ErrorKind::Malformed { field: field.into(), offset, message: message.to_string() }.into()
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ErrorKind::Io { op, path: path.into(), source }.into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}
