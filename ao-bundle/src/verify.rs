//! Checking a bundle before it ships, and after: validation on a real aos
//! process, the integrity manifest, and `verify` against it.

use std::path::Path;

use ao_local::LocalAo;
use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, BundleOptions};
use crate::error::{Error, ErrorKind};
use crate::loader::SourceLoader;
use crate::parse;

/// The default bundle size limit: 500 KB.
pub const DEFAULT_SIZE_LIMIT: usize = 500 * 1024;

/// What validating a bundle found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Bundle size in bytes.
    pub bytes: usize,
    /// The limit it was held to.
    pub limit: usize,
    /// Handlers the bundle registered when loaded, in evaluation order.
    pub handlers: Vec<String>,
    /// Lua instructions loading it took (counted in blocks of 1000).
    pub gas: u64,
}

/// Validates `bundle`: it re-parses, fits `limit` bytes, loads into a fresh
/// aos process on ao-local without error, and registers every handler in
/// `expected_handlers`. A load error is reported with source locations.
pub fn validate(bundle: &Bundle, limit: usize, expected_handlers: &[&str]) -> Result<Validation, Error> {
    let fail = |why: String| Error::new(ErrorKind::Validation(why));
    if bundle.code.len() > limit {
        return Err(fail(format!("bundle is {} bytes, over the limit of {limit}", bundle.code.len())));
    }
    parse::parse_module("<bundle>", &bundle.code)
        .map_err(|e| fail(format!("the bundle does not re-parse: {e}")))?;
    let ao = LocalAo::new();
    let pid = ao.spawn_aos("").map_err(|e| fail(format!("ao-local could not start a process: {e}")))?;
    let result =
        ao.eval(&pid, &bundle.code).map_err(|e| fail(format!("ao-local refused the bundle: {e}")))?;
    if let Some(err) = result.error {
        return Err(fail(format!("loading failed: {}", bundle.line_map.rewrite(&err, &["aos"]))));
    }
    let handlers = ao.process_info(&pid).map_err(|e| fail(e.to_string()))?.handlers;
    let missing: Vec<&str> =
        expected_handlers.iter().copied().filter(|h| !handlers.iter().any(|x| x == h)).collect();
    if !missing.is_empty() {
        return Err(fail(format!("expected handlers not registered: {}", missing.join(", "))));
    }
    Ok(Validation { bytes: bundle.code.len(), limit, handlers, gas: result.gas_used })
}

/// A hashed file in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    /// Path (root-relative for sources).
    pub path: String,
    /// Size in bytes.
    pub bytes: usize,
    /// BLAKE3, hex.
    pub blake3: String,
}

/// The options a bundle was built with, as recorded in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOptions {
    /// Entry modules.
    pub entries: Vec<String>,
    /// Search templates.
    pub search: Vec<String>,
    /// Runtime-provided names.
    pub externals: Vec<String>,
    /// Strict mode.
    pub strict: bool,
    /// Constants applied.
    #[serde(default)]
    pub defines: std::collections::BTreeMap<String, crate::fold::Define>,
    /// Dead-code elimination.
    #[serde(default)]
    pub dce: bool,
    /// Minification.
    #[serde(default)]
    pub minify: bool,
}

/// What a bundle was built from: written beside it, checked by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// The tool and its version.
    pub tool: String,
    /// The bundle file.
    pub bundle: FileHash,
    /// Every bundled source.
    pub sources: Vec<FileHash>,
    /// Build options.
    pub options: ManifestOptions,
}

impl Manifest {
    /// The manifest of `bundle`, to be stored as `bundle_path`.
    pub fn new(bundle: &Bundle, options: &BundleOptions, bundle_path: &str) -> Self {
        Self {
            version: 1,
            tool: format!("ao-bundle {}", env!("CARGO_PKG_VERSION")),
            bundle: FileHash {
                path: bundle_path.to_owned(),
                bytes: bundle.code.len(),
                blake3: blake3::hash(bundle.code.as_bytes()).to_hex().to_string(),
            },
            sources: bundle
                .modules
                .iter()
                .map(|m| FileHash { path: m.path.clone(), bytes: m.bytes, blake3: m.blake3.clone() })
                .collect(),
            options: ManifestOptions {
                entries: options.entries.clone(),
                search: options.search.clone(),
                externals: options.externals.iter().cloned().collect(),
                strict: options.strict,
                defines: options.defines.clone(),
                dce: options.dce,
                minify: options.minify,
            },
        }
    }

    /// The manifest as JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a manifest.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let m: Manifest = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorKind::Validation(format!("manifest: {e}"))))?;
        if m.version != 1 {
            return Err(Error::new(ErrorKind::Validation(format!(
                "manifest: unsupported version {}",
                m.version
            ))));
        }
        Ok(m)
    }
}

/// One disagreement between a bundle (or its sources) and its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The bundle's bytes differ from what was recorded.
    Bundle {
        /// Recorded hash.
        expected: String,
        /// Hash of the file as found.
        found: String,
    },
    /// A source changed since the bundle was built.
    Source {
        /// The source.
        path: String,
        /// Recorded hash.
        expected: String,
        /// Hash as found.
        found: String,
    },
    /// A source is gone.
    MissingSource {
        /// The source.
        path: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Bundle { expected, found } => {
                write!(f, "bundle: blake3 {found} but the manifest records {expected}")
            }
            Mismatch::Source { path, expected, found } => {
                write!(f, "{path}: changed since the build (blake3 {found}, manifest {expected})")
            }
            Mismatch::MissingSource { path } => write!(f, "{path}: missing"),
        }
    }
}

/// Checks bundle bytes against a manifest, and the sources too when a loader
/// for the project is given. An empty list means everything matches.
pub fn verify(
    bundle: &[u8],
    manifest: &Manifest,
    sources: Option<&dyn SourceLoader>,
) -> Result<Vec<Mismatch>, Error> {
    let mut out = Vec::new();
    let found = blake3::hash(bundle).to_hex().to_string();
    if found != manifest.bundle.blake3 {
        out.push(Mismatch::Bundle { expected: manifest.bundle.blake3.clone(), found });
    }
    if let Some(loader) = sources {
        for s in &manifest.sources {
            match loader.load(&s.path)? {
                None => out.push(Mismatch::MissingSource { path: s.path.clone() }),
                Some(text) => {
                    let found = blake3::hash(text.as_bytes()).to_hex().to_string();
                    if found != s.blake3 {
                        out.push(Mismatch::Source {
                            path: s.path.clone(),
                            expected: s.blake3.clone(),
                            found,
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Writes `bytes` to `path` without ever leaving a half-written file: a
/// temporary file of its own beside it, fsync, rename over, fsync the directory
/// ([`ao_fs::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    ao_fs::write_atomic(path, bytes).map_err(|e| Error::new(ErrorKind::Io { path: e.path, source: e.source }))
}
