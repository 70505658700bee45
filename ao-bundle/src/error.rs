//! The crate's error and warning types.

use std::fmt;
use std::path::PathBuf;

/// A place in a source file: project-relative path, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// The file, relative to the project root, with `/` separators.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A bundling failure. The [`kind`](Error::kind) says what and where.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A required module matched no file.
    ModuleNotFound {
        /// The name as written in `require`.
        name: String,
        /// Where it is required (`None` for an entry).
        required_at: Option<Location>,
        /// The paths tried, in order.
        tried: Vec<String>,
    },
    /// A module name that would leave the project root (`..`, an absolute path).
    OutsideRoot {
        /// The module name or path.
        name: String,
        /// Where it is required (`None` for an entry).
        required_at: Option<Location>,
    },
    /// Modules that require each other while loading: Lua would recurse forever.
    Cycle {
        /// The chain, each module with the place it requires the next.
        chain: Vec<(String, Location)>,
    },
    /// A source file is not valid Lua 5.3.
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// `require` with a computed argument or used as a value, refused in strict mode.
    DynamicRequire {
        /// Where.
        at: Location,
    },
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A source file is not UTF-8.
    NotUtf8 {
        /// The file.
        file: String,
    },
    /// The options are inconsistent (no entry, an empty search template).
    InvalidOptions(String),
    /// A line map file is malformed.
    InvalidLineMap(String),
    /// The bundle failed validation, or a manifest is unreadable.
    Validation(String),
    /// A config file is malformed.
    InvalidConfig {
        /// The file.
        file: String,
        /// What is wrong, with line and column where the parser gives them.
        message: String,
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
}

fn at(loc: Option<&Location>) -> String {
    loc.map_or_else(|| "entry".to_owned(), ToString::to_string)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::ModuleNotFound { name, required_at, tried } => {
                write!(
                    f,
                    "{}: module '{name}' not found; tried {}",
                    at(required_at.as_ref()),
                    tried.join(", ")
                )
            }
            ErrorKind::OutsideRoot { name, required_at } => {
                write!(f, "{}: module '{name}' is outside the project root", at(required_at.as_ref()))
            }
            ErrorKind::Cycle { chain } => {
                write!(f, "require cycle: ")?;
                for (i, (module, loc)) in chain.iter().enumerate() {
                    if i > 0 {
                        write!(f, " -> ")?;
                    }
                    write!(f, "{module} ({loc})")?;
                }
                if let Some((first, _)) = chain.first() {
                    write!(f, " -> {first}")?;
                }
                Ok(())
            }
            ErrorKind::Syntax { at, message } => write!(f, "{at}: syntax error: {message}"),
            ErrorKind::DynamicRequire { at } => {
                write!(
                    f,
                    "{at}: require with a computed module name (strict mode bundles only literal names)"
                )
            }
            ErrorKind::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ErrorKind::NotUtf8 { file } => write!(f, "{file}: not UTF-8 text"),
            ErrorKind::InvalidOptions(what) => write!(f, "invalid bundle options: {what}"),
            ErrorKind::InvalidLineMap(what) => write!(f, "invalid line map: {what}"),
            ErrorKind::Validation(what) => write!(f, "validation failed: {what}"),
            ErrorKind::InvalidConfig { file, message } => write!(f, "{file}: {message}"),
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

/// Something worth knowing that does not stop the build.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// `require` with a computed argument: left as a runtime require.
    DynamicRequire {
        /// Where.
        at: Location,
    },
    /// `require` used as a value (`local r = require`, `f(require)`): what
    /// it loads is left to the runtime.
    RequireAsValue {
        /// Where.
        at: Location,
    },
    /// `pcall(require, "x")` names a module the project does not have: left
    /// to the runtime, which may provide it or let the `pcall` fail.
    OptionalModuleMissing {
        /// The module name.
        name: String,
        /// Where.
        at: Location,
        /// The paths tried.
        tried: Vec<String>,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::DynamicRequire { at } => {
                write!(f, "{at}: require with a computed module name is left to the runtime")
            }
            Warning::RequireAsValue { at } => {
                write!(f, "{at}: require used as a value; the modules it loads are left to the runtime")
            }
            Warning::OptionalModuleMissing { name, at, tried } => write!(
                f,
                "{at}: optional module '{name}' (pcall(require, ...)) not found, left to the runtime; tried {}",
                tried.join(", ")
            ),
        }
    }
}
