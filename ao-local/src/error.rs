//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

use ao_transport::{MessageId, ProcessId, TransportError, TransportErrorKind};

/// An ao-local failure. The [`kind`](Error::kind) says what went wrong and where.
///
/// Lua errors raised by a process's handlers are not `Error`s: they are part of
/// the message's [`EvalResult`](ao_transport::EvalResult), as on AO.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No process with this id runs here.
    NoSuchProcess(ProcessId),
    /// No result is stored for this message on this process.
    NoSuchMessage {
        /// The process asked.
        process: ProcessId,
        /// The message asked for.
        message: MessageId,
    },
    /// A fault injected by the [`FaultPlan`](crate::FaultPlan).
    Injected {
        /// The transport class the fault imitates (timeout, unavailable, ...).
        class: TransportErrorKind,
        /// What was injected.
        detail: String,
    },
    /// Reading or writing the message log failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A message log holds a record that cannot be decoded.
    CorruptLog {
        /// The log file.
        path: PathBuf,
        /// 1-based line of the bad record.
        line: usize,
        /// Byte offset of the line's start.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Setting up a Lua state failed (the prelude or a runtime module did not load).
    Runtime(String),
    /// The builder was given inconsistent settings.
    InvalidConfig(String),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::new(ErrorKind::Io { path: path.into(), source })
    }

    pub(crate) fn runtime(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Runtime(what.to_string()))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The [`TransportErrorKind`] this error maps to over [`AoTransport`](ao_transport::AoTransport).
    pub fn transport_kind(&self) -> TransportErrorKind {
        match &self.kind {
            ErrorKind::NoSuchProcess(_) | ErrorKind::NoSuchMessage { .. } => TransportErrorKind::NotFound,
            ErrorKind::Injected { class, .. } => *class,
            ErrorKind::Io { .. } => TransportErrorKind::Unavailable,
            ErrorKind::CorruptLog { .. } | ErrorKind::Runtime(_) => TransportErrorKind::Protocol,
            ErrorKind::InvalidConfig(_) => TransportErrorKind::Rejected,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::NoSuchProcess(pid) => write!(f, "no process {pid} on ao-local"),
            ErrorKind::NoSuchMessage { process, message } => {
                write!(f, "no result for message {message} on process {process}")
            }
            ErrorKind::Injected { class, detail } => write!(f, "injected fault ({class}): {detail}"),
            ErrorKind::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ErrorKind::CorruptLog { path, line, offset, reason } => {
                write!(f, "{}:{line} (byte {offset}): corrupt log record: {reason}", path.display())
            }
            ErrorKind::Runtime(what) => write!(f, "lua runtime setup failed: {what}"),
            ErrorKind::InvalidConfig(what) => write!(f, "invalid ao-local configuration: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for TransportError {
    fn from(e: Error) -> Self {
        TransportError::new(e.transport_kind(), e.to_string()).with_source(e)
    }
}
