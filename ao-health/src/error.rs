//! The crate's error type.

use std::fmt;

/// An ao-health failure. The [`kind`](Error::kind) says what was wrong and where.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
///
/// Caller misuse (a bad metric name, a duplicate registration, a label count
/// that does not match the family) is told apart from bad outside input (a
/// malformed HTTP request, an out-of-order sample) by the variant.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A metric name is not `[a-zA-Z_:][a-zA-Z0-9_:]*`, or clashes with a suffix the type adds.
    InvalidMetricName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, is reserved, or repeats.
    InvalidLabelName {
        /// The metric (or rule, route, silence) the label belongs to.
        owner: String,
        /// The label name given.
        label: String,
        /// Why it was refused.
        reason: String,
    },
    /// A metric with this name (or one whose exposed sample names overlap it) is registered.
    DuplicateMetric {
        /// The name given.
        name: String,
        /// The registered family it clashes with.
        existing: String,
    },
    /// A family was asked for a child with the wrong number of label values.
    LabelCount {
        /// The family.
        metric: String,
        /// Its label names.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// A family reached its cardinality limit; new label sets go to its overflow series.
    Cardinality {
        /// The family.
        metric: String,
        /// The limit.
        limit: usize,
    },
    /// Histogram bucket bounds are empty, not finite, or not strictly increasing.
    InvalidBuckets {
        /// Index of the first bad bound.
        index: usize,
        /// Why it was refused.
        reason: String,
    },
    /// An alert rule cannot be built as given.
    InvalidRule {
        /// The rule's name.
        rule: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A route, inhibition rule or silence cannot be built as given.
    InvalidRoute {
        /// Where: `route[0].routes[2]`, `silence`, `inhibit_rules[1]`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No incident with this id is recorded.
    NoSuchIncident(u64),
    /// No silence with this id exists.
    NoSuchSilence(u64),
    /// A notification was for a receiver no notifier is registered for.
    NoSuchReceiver(String),
    /// A [`Notifier`](crate::Notifier) failed to deliver.
    Notify {
        /// The receiver it was for.
        receiver: String,
        /// The host's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A sample older than the newest one recorded for its series.
    OutOfOrder {
        /// The series key.
        series: String,
        /// The newest recorded time, in Unix milliseconds.
        last_ms: u64,
        /// The time given.
        got_ms: u64,
    },
    /// A trend sample whose value is `NaN` or infinite; it is not recorded.
    NotFinite {
        /// The series key.
        series: String,
        /// The sample's time, in Unix milliseconds.
        at_ms: u64,
        /// The value given.
        value: f64,
    },
    /// An HTTP request that cannot be parsed.
    BadRequest {
        /// Byte offset into the request where parsing failed.
        offset: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// A probe cannot be built as configured (caller misuse or a bad config file).
    InvalidProbe {
        /// The probe's name (empty if that is what is wrong).
        probe: String,
        /// The setting at fault: `name`, `target`, `message`, `timeout`, `degraded_after`, `expect`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The `/metrics` server cannot be started as configured.
    InvalidServerConfig {
        /// The setting at fault: `read_timeout`, `write_timeout`, `max_connections`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An IO operation failed (binding the `/metrics` listener, writing a file).
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }

    pub(crate) fn rule(rule: &str, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRule { rule: rule.to_owned(), reason: reason.into() })
    }

    pub(crate) fn route(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRoute { path: path.into(), reason: reason.into() })
    }

    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::new(ErrorKind::Io { what: what.into(), source })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::InvalidMetricName { name, reason } => {
                write!(f, "invalid metric name {name:?}: {reason}")
            }
            ErrorKind::InvalidLabelName { owner, label, reason } => {
                write!(f, "{owner}: invalid label name {label:?}: {reason}")
            }
            ErrorKind::DuplicateMetric { name, existing } => {
                write!(f, "metric {name:?} clashes with registered family {existing:?}")
            }
            ErrorKind::LabelCount { metric, expected, found } => {
                write!(f, "{metric}: expected {expected} label values, found {found}")
            }
            ErrorKind::Cardinality { metric, limit } => {
                write!(f, "{metric}: more than {limit} label sets; new ones go to the overflow series")
            }
            ErrorKind::InvalidBuckets { index, reason } => write!(f, "histogram bucket {index}: {reason}"),
            ErrorKind::InvalidRule { rule, reason } => write!(f, "alert rule {rule:?}: {reason}"),
            ErrorKind::InvalidRoute { path, reason } => write!(f, "{path}: {reason}"),
            ErrorKind::NoSuchIncident(id) => write!(f, "no incident {id}"),
            ErrorKind::NoSuchSilence(id) => write!(f, "no silence {id}"),
            ErrorKind::NoSuchReceiver(r) => write!(f, "no notifier for receiver {r:?}"),
            ErrorKind::Notify { receiver, source } => write!(f, "notifying {receiver:?} failed: {source}"),
            ErrorKind::OutOfOrder { series, last_ms, got_ms } => {
                write!(f, "{series}: sample at {got_ms} ms is older than the last one at {last_ms} ms")
            }
            ErrorKind::NotFinite { series, at_ms, value } => {
                write!(f, "{series}: sample at {at_ms} ms is {value}, not a finite number")
            }
            ErrorKind::BadRequest { offset, reason } => {
                write!(f, "bad http request at byte {offset}: {reason}")
            }
            ErrorKind::InvalidProbe { probe, field, reason } => {
                write!(f, "probe {probe:?}: {field}: {reason}")
            }
            ErrorKind::InvalidServerConfig { field, reason } => {
                write!(f, "/metrics server: {field}: {reason}")
            }
            ErrorKind::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            ErrorKind::Notify { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}
