//! The crate's [`Error`]: one type, a [`#[non_exhaustive]`](ErrorKind) kind.

use std::fmt;
use std::path::PathBuf;

use ao_transport::TransportError;

/// Why an ao-deploy call failed. Messages are lowercase and name what and where.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A release was refused before anything changed: its bundle does not match
    /// its manifest, its config does not validate, or its code is missing.
    ReleaseRefused {
        /// The release (`target@version`).
        release: String,
        /// Why.
        reason: String,
    },
    /// A deploy config file (`ao-deploy.toml`) is invalid.
    Config {
        /// The file, as named in messages.
        file: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
        /// The field path (`processes.world.canary.steps[2]`), empty when none.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A rollout spec is inconsistent (a blue-green without a router, weights over 100, ...).
    InvalidSpec(String),
    /// The caller broke the core's contract (an event for an action never
    /// emitted, an outcome of the wrong kind). A bug in the driver, not bad input.
    Misuse(String),
    /// An operator command does not apply in the rollout's current phase.
    Rejected {
        /// The command.
        command: String,
        /// Why it does not apply.
        reason: String,
    },
    /// The rollout has finished; it accepts no more events.
    Terminal {
        /// The final phase.
        phase: String,
    },
    /// A transport call failed (after any retries).
    Transport {
        /// What was being done.
        action: String,
        /// The transport's error (of the last attempt).
        source: TransportError,
        /// Why no further attempt was made (`after 3 attempts, deadline reached`), if retried.
        retries: Option<String>,
    },
    /// A process answered something the deploy protocol does not expect.
    Protocol {
        /// What was being done.
        action: String,
        /// What was wrong.
        reason: String,
    },
    /// Exported state bytes could not be decoded.
    StateCodec {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A state migration hook refused the state.
    Migration(String),
    /// A journal record is corrupt before the end of the file (not a torn tail).
    JournalCorrupt {
        /// The journal.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// Index of the bad record (0-based).
        record: usize,
        /// What was wrong.
        reason: String,
    },
    /// A journal exists but does not start a rollout, or belongs to another.
    JournalMismatch(String),
    /// Another deployer holds the lease of this process.
    LeaseHeld {
        /// Who holds it.
        holder: String,
        /// The rollout it is running.
        rollout: String,
        /// Milliseconds since the holder last renewed it.
        idle_ms: u64,
        /// Whether it is stale (older than its time to live) and may be taken over.
        stale: bool,
    },
    /// This deployer's lease was taken over by another.
    LeaseLost {
        /// The new holder.
        holder: String,
    },
    /// A multi-process plan is malformed (unknown dependency, cycle, duplicate).
    Plan(String),
    /// A promotion gate is closed.
    Promotion {
        /// The environment promoted into.
        environment: String,
        /// Every gate that failed.
        reasons: Vec<String>,
    },
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The driver stopped on purpose at an injected crash point (tests of resume).
    Crashed {
        /// Actions executed before the crash.
        after_actions: u64,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Consumes the error, returning its kind.
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn misuse(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Misuse(msg.into()))
    }

    pub(crate) fn spec(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSpec(msg.into()))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::new(ErrorKind::Io { path: path.into(), source })
    }

    pub(crate) fn protocol(action: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol { action: action.into(), reason: reason.into() })
    }

    pub(crate) fn transport(action: impl Into<String>, source: TransportError) -> Self {
        Self::new(ErrorKind::Transport { action: action.into(), source, retries: None })
    }

    pub(crate) fn retried(action: impl Into<String>, e: ao_transport::retry::RetryError) -> Self {
        let s = if e.attempts == 1 { "" } else { "s" };
        let why = match e.gave_up {
            ao_transport::retry::GiveUp::Final => "error is final",
            ao_transport::retry::GiveUp::Attempts => "attempts exhausted",
            ao_transport::retry::GiveUp::Deadline => "deadline reached",
        };
        let retries = Some(format!("after {} attempt{s}, {why}", e.attempts));
        Self::new(ErrorKind::Transport { action: action.into(), source: e.error, retries })
    }

    pub(crate) fn refused(release: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::ReleaseRefused { release: release.into(), reason: reason.into() })
    }

    /// Whether retrying the same call may help (a retryable transport error).
    pub fn is_retryable(&self) -> bool {
        matches!(&self.kind, ErrorKind::Transport { source, .. } if source.is_retryable())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::ReleaseRefused { release, reason } => write!(f, "release {release} refused: {reason}"),
            ErrorKind::Config { file, line, column, path, message } => {
                write!(f, "{file}")?;
                if *line > 0 {
                    write!(f, ":{line}:{column}")?;
                }
                if !path.is_empty() {
                    write!(f, " ({path})")?;
                }
                write!(f, ": {message}")
            }
            ErrorKind::InvalidSpec(m) => write!(f, "invalid rollout: {m}"),
            ErrorKind::Misuse(m) => write!(f, "driver misuse: {m}"),
            ErrorKind::Rejected { command, reason } => write!(f, "{command} rejected: {reason}"),
            ErrorKind::Terminal { phase } => {
                write!(f, "the rollout has finished ({phase}); it takes no more events")
            }
            ErrorKind::Transport { action, source, retries: None } => write!(f, "{action}: {source}"),
            ErrorKind::Transport { action, source, retries: Some(r) } => {
                write!(f, "{action}: {source} ({r})")
            }
            ErrorKind::Protocol { action, reason } => write!(f, "{action}: {reason}"),
            ErrorKind::StateCodec { offset, reason } => write!(f, "state bytes at offset {offset}: {reason}"),
            ErrorKind::Migration(m) => write!(f, "state migration: {m}"),
            ErrorKind::JournalCorrupt { path, offset, record, reason } => write!(
                f,
                "journal {} is corrupt at byte {offset} (record {record}): {reason}; later records cannot be trusted",
                path.display()
            ),
            ErrorKind::JournalMismatch(m) => write!(f, "journal: {m}"),
            ErrorKind::LeaseHeld { holder, rollout, idle_ms, stale } => {
                write!(
                    f,
                    "the process is being deployed by {holder} (rollout {rollout}, last seen {idle_ms} ms ago)"
                )?;
                if *stale { write!(f, "; the lease is stale: take it over explicitly") } else { Ok(()) }
            }
            ErrorKind::LeaseLost { holder } => write!(f, "lease lost: {holder} took over this rollout"),
            ErrorKind::Plan(m) => write!(f, "plan: {m}"),
            ErrorKind::Promotion { environment, reasons } => {
                write!(f, "promotion to {environment} refused: {}", reasons.join("; "))
            }
            ErrorKind::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ErrorKind::Crashed { after_actions } => {
                write!(f, "injected crash after {after_actions} action(s)")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Transport { source, .. } => Some(source),
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
