//! The crate's [`Error`] and the config [`Diagnostic`]s it carries.

use std::fmt;
use std::path::PathBuf;

use ao_transport::TransportError;
use serde::Serialize;

use crate::path::FieldPath;
use crate::value::Origin;

/// One problem in a config, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Where (file, line, column); `None` when no file says anything (a missing file).
    pub origin: Option<Origin>,
    /// The field path, if the problem is about a field.
    pub path: Option<FieldPath>,
    /// What is wrong, lowercase, one line.
    pub message: String,
    /// A suggestion (`did you mean ...?`).
    pub help: Option<String>,
    /// Further places that explain the problem (the other environment's value, ...).
    pub notes: Vec<(Origin, String)>,
}

impl Diagnostic {
    pub(crate) fn new(origin: Option<Origin>, path: Option<FieldPath>, message: impl Into<String>) -> Self {
        Self { origin, path, message: message.into(), help: None, notes: Vec::new() }
    }

    #[must_use]
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub(crate) fn note(mut self, origin: Origin, note: impl Into<String>) -> Self {
        self.notes.push((origin, note.into()));
        self
    }
}

fn excerpt(f: &mut fmt::Formatter<'_>, origin: &Origin) -> fmt::Result {
    let gutter = origin.line.to_string().len();
    let pad = " ".repeat(gutter);
    writeln!(f, "{pad} |")?;
    writeln!(f, "{} | {}", origin.line, origin.snippet)?;
    // The caret under the column, counting characters as the column does.
    let lead: String = origin
        .snippet
        .chars()
        .take(origin.column as usize - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    writeln!(f, "{pad} | {lead}^")
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        match (&self.origin, &self.path) {
            (Some(o), Some(p)) if !p.is_root() => writeln!(f, "  --> {o} ({p})")?,
            (Some(o), _) => writeln!(f, "  --> {o}")?,
            (None, Some(p)) if !p.is_root() => writeln!(f, "  --> ({p})")?,
            (None, _) => {}
        }
        if let Some(o) = &self.origin {
            excerpt(f, o)?;
        }
        for (o, note) in &self.notes {
            writeln!(f, "  note: {note}")?;
            writeln!(f, "  --> {o}")?;
            excerpt(f, o)?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in a set of config files, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts by file, line and column, keeping the order of equal places.
    pub(crate) fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            let key = |d: &Diagnostic| d.origin.as_ref().map(|o| (o.layer, o.file.clone(), o.line, o.column));
            key(a).cmp(&key(b))
        });
        self.0.dedup();
        self
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}

/// Everything that can go wrong in ao-env.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The config diagnostics, if this is a config error.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match &self.kind {
            ErrorKind::Config(d) => Some(d),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::new(ErrorKind::Io { path: path.into(), source })
    }

    pub(crate) fn transport(instance: impl Into<String>, source: TransportError) -> Self {
        Self::new(ErrorKind::Transport { instance: instance.into(), source: Box::new(source) })
    }
}

/// Why an ao-env call failed. Bad input names its file, line and field;
/// caller mistakes (an unknown environment name) are separate from bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The config files have problems: every one found, with file, line and field path.
    #[error("{0}")]
    Config(Diagnostics),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No environment of that name (no overlay file for it).
    #[error("no environment named {name:?} (known: {})", known.join(", "))]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The environments there are.
        known: Vec<String>,
    },
    /// A secret could not be resolved. Names the reference, never the value.
    #[error("secret {reference}: {reason}")]
    Secret {
        /// The reference (`env:NAME`, `file:PATH`).
        reference: String,
        /// Why, without the value.
        reason: String,
    },
    /// A release (built bundle and manifest) is missing or does not match.
    #[error("release of target {target:?}: {reason}")]
    Release {
        /// The bundle target.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A state file is unreadable or of another environment.
    #[error("state file {}: {reason}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A process answered `Info` with something ao-env cannot read.
    #[error("{instance}: bad Info reply: {reason}")]
    Info {
        /// The instance asked.
        instance: String,
        /// What is wrong.
        reason: String,
    },
    /// A transport call failed.
    #[error("{instance}: {source}")]
    Transport {
        /// The instance the call was for.
        instance: String,
        /// The transport's error.
        source: Box<TransportError>,
    },
    /// A process ran an action and reported an error.
    #[error("{instance}: {action} failed: {reason}")]
    Action {
        /// The instance.
        instance: String,
        /// The action (`eval`, `configure`, ...).
        action: &'static str,
        /// The process's error.
        reason: String,
    },
    /// A protected environment's plan lacks approvals.
    #[error("environment {environment:?} needs {required} approval(s) from {approvers:?}; got {valid:?}")]
    Approval {
        /// The environment.
        environment: String,
        /// Approvals needed.
        required: u32,
        /// Who may approve.
        approvers: Vec<String>,
        /// The valid approvals given.
        valid: Vec<String>,
    },
    /// The caller asked for something that cannot be done (a malformed path, a sync without rule).
    #[error("{0}")]
    Usage(String),
}
