//! Where sources come from: the [`SourceLoader`] trait, a filesystem loader
//! confined to a project root, and an in-memory loader for tests and tools.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};

/// Reads project files by their root-relative path (`a/b.lua`, `/` separators).
pub trait SourceLoader {
    /// The file's text, or `Ok(None)` when there is no such file.
    fn load(&self, path: &str) -> Result<Option<String>, Error>;
}

/// Loads from a directory; refuses anything that resolves outside it,
/// including through symbolic links.
#[derive(Debug, Clone)]
pub struct FsLoader {
    root: PathBuf,
}

impl FsLoader {
    /// A loader rooted at `root` (which must exist).
    pub fn new(root: impl AsRef<Path>) -> Result<Self, Error> {
        let root = root.as_ref();
        let root =
            root.canonicalize().map_err(|source| Error::new(ErrorKind::Io { path: root.into(), source }))?;
        Ok(Self { root })
    }

    /// The canonical project root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl SourceLoader for FsLoader {
    fn load(&self, path: &str) -> Result<Option<String>, Error> {
        let full = self.root.join(path);
        let canonical = match full.canonicalize() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::new(ErrorKind::Io { path: full, source })),
        };
        if !canonical.starts_with(&self.root) {
            return Err(Error::new(ErrorKind::OutsideRoot { name: path.to_owned(), required_at: None }));
        }
        if !canonical.is_file() {
            return Ok(None);
        }
        let bytes =
            std::fs::read(&canonical).map_err(|source| Error::new(ErrorKind::Io { path: full, source }))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::new(ErrorKind::NotUtf8 { file: path.to_owned() }))
    }
}

/// Files held in memory, keyed by root-relative path.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: BTreeMap<String, String>,
}

impl MemoryLoader {
    /// An empty project.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    #[must_use]
    pub fn file(mut self, path: impl Into<String>, source: impl Into<String>) -> Self {
        self.files.insert(path.into(), source.into());
        self
    }

    /// Replaces a file's text in place.
    pub fn set(&mut self, path: impl Into<String>, source: impl Into<String>) {
        self.files.insert(path.into(), source.into());
    }
}

impl SourceLoader for MemoryLoader {
    fn load(&self, path: &str) -> Result<Option<String>, Error> {
        Ok(self.files.get(path).cloned())
    }
}
