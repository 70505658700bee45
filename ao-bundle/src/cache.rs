//! Incremental builds: a [`Bundler`] remembers each module as prepared
//! (folded, minified, parsed), keyed by the BLAKE3 of its path, its text and
//! the options that change how it is prepared, in memory and optionally on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::bundle::{Bundle, BundleOptions, PrepareCache, Prepared, bundle_with};
use crate::error::{Error, ErrorKind};
use crate::loader::SourceLoader;

/// What the last build did with each module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Modules parsed from source.
    pub parsed: usize,
    /// Modules whose parse came from memory.
    pub from_memory: usize,
    /// Modules whose parse came from the on-disk cache.
    pub from_disk: usize,
}

/// Builds bundles, re-parsing only modules whose text changed since an
/// earlier build (of any target: the cache is shared).
///
/// The disk cache is an optimisation, never an authority: an unreadable or
/// corrupt entry is ignored and the module parsed again.
#[derive(Debug, Default)]
pub struct Bundler {
    memory: HashMap<String, Prepared>,
    dir: Option<PathBuf>,
    stats: BuildStats,
}

impl Bundler {
    /// A bundler with an in-memory cache only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A bundler that also keeps parses in `dir` (created if missing), so a
    /// later process starts warm.
    pub fn with_cache_dir(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|source| Error::new(ErrorKind::Io { path: dir.into(), source }))?;
        Ok(Self { dir: Some(dir.to_path_buf()), ..Self::default() })
    }

    /// Builds a bundle, reusing cached parses; see [`crate::bundle`].
    pub fn bundle(&mut self, loader: &dyn SourceLoader, options: &BundleOptions) -> Result<Bundle, Error> {
        self.stats = BuildStats::default();
        let (memory, dir, stats) = (&mut self.memory, self.dir.as_deref(), &mut self.stats);
        // Everything that changes how a module is prepared is part of its key.
        let transform =
            serde_json::to_string(&(&options.defines, options.dce, options.minify)).unwrap_or_default();
        let mut cache = Cached { memory, dir, stats, transform };
        bundle_with(loader, options, &mut cache)
    }

    /// What the last [`bundle`](Self::bundle) call did.
    pub fn last_stats(&self) -> BuildStats {
        self.stats
    }
}

fn cache_key(path: &str, source: &str, transform: &str) -> String {
    let mut h = blake3::Hasher::new();
    // The format tag changes whenever `Prepared` does, so old entries are never misread.
    h.update(concat!("ao-bundle ", env!("CARGO_PKG_VERSION"), " prepared v4\0").as_bytes());
    for part in [path, source, transform] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

fn read_entry(dir: &Path, key: &str) -> Option<Prepared> {
    let text = std::fs::read(dir.join(format!("{key}.json"))).ok()?;
    serde_json::from_slice(&text).ok()
}

fn write_entry(dir: &Path, key: &str, prepared: &Prepared) -> Result<(), Error> {
    let json = serde_json::to_vec(prepared).unwrap_or_default();
    crate::verify::write_atomic(&dir.join(format!("{key}.json")), &json)
}

/// The [`Bundler`]'s memory and disk, seen by one build.
struct Cached<'a> {
    memory: &'a mut HashMap<String, Prepared>,
    dir: Option<&'a Path>,
    stats: &'a mut BuildStats,
    transform: String,
}

impl PrepareCache for Cached<'_> {
    fn lookup(&mut self, path: &str, source: &str) -> Option<Prepared> {
        let key = cache_key(path, source, &self.transform);
        if let Some(prepared) = self.memory.get(&key) {
            self.stats.from_memory += 1;
            return Some(prepared.clone());
        }
        let prepared = self.dir.and_then(|d| read_entry(d, &key))?;
        self.stats.from_disk += 1;
        self.memory.insert(key, prepared.clone());
        Some(prepared)
    }

    fn store(&mut self, path: &str, source: &str, prepared: &Prepared) {
        let key = cache_key(path, source, &self.transform);
        self.stats.parsed += 1;
        if let Some(d) = self.dir {
            // A cache that cannot be written only costs speed.
            let _ = write_entry(d, &key, prepared);
        }
        self.memory.insert(key, prepared.clone());
    }
}
