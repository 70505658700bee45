//! Errors: [`ValidationError`] for malformed wire values, [`TransportError`] for failed calls.

use std::fmt;
use std::time::Duration;

/// A wire value that breaks AO's rules (an id, a tag, a message), naming what and why.
///
/// Returned by the validated constructors of the wire types; never panics on outside data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {kind}")]
pub struct ValidationError {
    what: &'static str,
    kind: ValidationErrorKind,
}

impl ValidationError {
    pub(crate) fn new(what: &'static str, kind: ValidationErrorKind) -> Self {
        Self { what, kind }
    }

    /// What was being validated ("process id", "tag", "message", ...).
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Why it was refused.
    pub fn kind(&self) -> &ValidationErrorKind {
        &self.kind
    }
}

/// Why a wire value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationErrorKind {
    /// An id did not have exactly 43 characters.
    #[error("expected 43 characters, found {found}")]
    IdLength {
        /// Characters found.
        found: usize,
    },
    /// An id contained a character outside the base64url alphabet (or a
    /// non-canonical final character).
    #[error("character {ch:?} at index {index} is not base64url")]
    IdCharacter {
        /// The offending character.
        ch: char,
        /// Its byte index.
        index: usize,
    },
    /// More tags than ANS-104 allows.
    #[error("{count} tags, more than the ANS-104 limit of {limit}")]
    TooManyTags {
        /// Tags given.
        count: usize,
        /// The limit (128).
        limit: usize,
    },
    /// A tag name was empty.
    #[error("tag {index} has an empty name")]
    EmptyTagName {
        /// Position of the tag in the list (0-based).
        index: usize,
    },
    /// A tag name longer than ANS-104 allows.
    #[error("tag {index} name is {len} bytes, more than the ANS-104 limit of {limit}")]
    TagNameTooLong {
        /// Position of the tag in the list (0-based).
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit (1024).
        limit: usize,
    },
    /// A tag value longer than ANS-104 allows.
    #[error("tag {index} ({name:?}) value is {len} bytes, more than the ANS-104 limit of {limit}")]
    TagValueTooLong {
        /// Position of the tag in the list (0-based).
        index: usize,
        /// The tag's name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit (3072).
        limit: usize,
    },
    /// An anchor longer than the 32 bytes ANS-104 allows.
    #[error("anchor is {len} bytes, more than the ANS-104 limit of 32")]
    AnchorTooLong {
        /// Its length in bytes.
        len: usize,
    },
}

/// The class of a [`TransportError`]: decides whether a retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No answer in time. Retryable.
    Timeout,
    /// The remote end is down, overloaded or answered 5xx; a connection failed. Retryable.
    Unavailable,
    /// Too many requests; see [`TransportError::retry_after`]. Retryable.
    RateLimited,
    /// The request was refused as invalid (4xx, failed validation). Final.
    Rejected,
    /// The process or message does not exist. Final.
    NotFound,
    /// The caller may not do this (for example `Eval` from a non-owner). Final.
    Unauthorized,
    /// The process failed to evaluate the message (a Lua error, a limit). Final.
    Evaluation,
    /// The remote end answered something that is not a valid reply. Final.
    Protocol,
}

impl TransportErrorKind {
    /// Whether a failure of this class may succeed when tried again.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Timeout | Self::Unavailable | Self::RateLimited)
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out",
            Self::Unavailable => "unavailable",
            Self::RateLimited => "rate limited",
            Self::Rejected => "rejected",
            Self::NotFound => "not found",
            Self::Unauthorized => "unauthorized",
            Self::Evaluation => "evaluation failed",
            Self::Protocol => "protocol error",
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failed [`AoTransport`](crate::AoTransport) call, classified as retryable or final.
///
/// A host's own client error travels as the boxed [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    retry_after: Option<Duration>,
    source: Option<BoxError>,
}

impl TransportError {
    /// A new error of `kind` with a lowercase message saying what failed.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), retry_after: None, source: None }
    }

    /// Attaches the underlying error (a host's HTTP client error, an IO error).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Records how long the remote end asked us to wait (HTTP `Retry-After`).
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The class of failure.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether trying again may succeed. Only timeouts, unavailability and rate limits are.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The wait the remote end asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<ValidationError> for TransportError {
    fn from(e: ValidationError) -> Self {
        TransportError::new(TransportErrorKind::Rejected, e.to_string()).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_kinds_are_retryable() {
        use TransportErrorKind::*;
        for kind in [Timeout, Unavailable, RateLimited] {
            assert!(TransportError::new(kind, "x").is_retryable(), "{kind:?}");
        }
        for kind in [Rejected, NotFound, Unauthorized, Evaluation, Protocol] {
            assert!(!TransportError::new(kind, "x").is_retryable(), "{kind:?}");
        }
    }

    #[test]
    fn display_and_source() {
        let io = std::io::Error::other("connection reset");
        let err = TransportError::new(TransportErrorKind::Unavailable, "mu at localhost").with_source(io);
        assert_eq!(err.to_string(), "unavailable: mu at localhost");
        let src = std::error::Error::source(&err).unwrap();
        assert_eq!(src.to_string(), "connection reset");
    }
}
