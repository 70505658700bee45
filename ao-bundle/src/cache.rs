//! Incremental builds: a [`Bundler`] remembers each module's parse, keyed by
//! the BLAKE3 of its path and text, in memory and optionally on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::bundle::{Bundle, BundleOptions, bundle_with};
use crate::error::{Error, ErrorKind};
use crate::loader::SourceLoader;
use crate::parse::{self, Parsed};

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
    memory: HashMap<String, Parsed>,
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
        bundle_with(loader, options, &mut |path, source| {
            let key = cache_key(path, source);
            if let Some(parsed) = memory.get(&key) {
                stats.from_memory += 1;
                return Ok(parsed.clone());
            }
            if let Some(parsed) = dir.and_then(|d| read_entry(d, &key)) {
                stats.from_disk += 1;
                memory.insert(key, parsed.clone());
                return Ok(parsed);
            }
            let parsed = parse::parse_module(path, source)?;
            stats.parsed += 1;
            if let Some(d) = dir {
                // A cache that cannot be written only costs speed.
                let _ = write_entry(d, &key, &parsed);
            }
            memory.insert(key, parsed.clone());
            Ok(parsed)
        })
    }

    /// What the last [`bundle`](Self::bundle) call did.
    pub fn last_stats(&self) -> BuildStats {
        self.stats
    }
}

fn cache_key(path: &str, source: &str) -> String {
    let mut h = blake3::Hasher::new();
    // The format tag changes whenever `Parsed` does, so old entries are never misread.
    h.update(concat!("ao-bundle ", env!("CARGO_PKG_VERSION"), " parse v2\0").as_bytes());
    h.update(path.as_bytes());
    h.update(b"\0");
    h.update(source.as_bytes());
    h.finalize().to_hex().to_string()
}

fn read_entry(dir: &Path, key: &str) -> Option<Parsed> {
    let text = std::fs::read(dir.join(format!("{key}.json"))).ok()?;
    serde_json::from_slice(&text).ok()
}

fn write_entry(dir: &Path, key: &str, parsed: &Parsed) -> Result<(), Error> {
    let json = serde_json::to_vec(parsed).unwrap_or_default();
    crate::verify::write_atomic(&dir.join(format!("{key}.json")), &json)
}
