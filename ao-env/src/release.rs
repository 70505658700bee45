//! ao-bundle's side: the bundle targets of its multi-target TOML config, and
//! the releases (built bundle + manifest) they produce.
//!
//! Read here with small typed structs instead of through ao-bundle, which links
//! Lua (it validates bundles on ao-local): ao-env stays free of Lua. Only the
//! fields ao-env needs are read; ao-bundle checks the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Diagnostic, Error, ErrorKind};
use crate::value::SourceFile;

/// One target of an ao-bundle config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleTarget {
    /// The bundle file, relative to the output directory.
    pub out: String,
    /// Handlers the bundle registers (ao-bundle validates that it does).
    pub handlers: Vec<String>,
}

/// The targets of an ao-bundle config (`ao-bundle.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleTargets {
    /// The config file, as named in messages.
    pub file: String,
    /// Where ao-bundle writes bundles and manifests.
    pub out_dir: PathBuf,
    /// Targets by name.
    pub targets: BTreeMap<String, BundleTarget>,
}

#[derive(Deserialize)]
struct RawConfig {
    out_dir: String,
    targets: BTreeMap<String, RawTarget>,
}

#[derive(Deserialize)]
struct RawTarget {
    out: String,
    #[serde(default)]
    handlers: Vec<String>,
}

impl BundleTargets {
    /// Parses an ao-bundle config; `base` is its directory, `file` its name in messages.
    pub fn from_toml(text: &str, base: &Path, file: &str) -> Result<Self, Box<Diagnostic>> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let src = SourceFile::new(file, text, 0);
            let origin = e.span().map(|s| src.origin(s.start));
            Box::new(Diagnostic::new(origin, None, format!("bundle config: {}", e.message().trim_end())))
        })?;
        Ok(Self {
            file: file.to_owned(),
            out_dir: base.join(raw.out_dir),
            targets: raw
                .targets
                .into_iter()
                .map(|(k, t)| (k, BundleTarget { out: t.out, handlers: t.handlers }))
                .collect(),
        })
    }

    /// The releases of every target whose manifest exists in the output directory.
    pub fn releases(&self) -> Result<Releases, Error> {
        let mut out = BTreeMap::new();
        for (name, t) in &self.targets {
            let bundle = self.out_dir.join(&t.out);
            let manifest = manifest_path(&bundle);
            match std::fs::read_to_string(&manifest) {
                Ok(text) => {
                    out.insert(name.clone(), Release::from_manifest(name, &text, bundle)?);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(manifest, e)),
            }
        }
        Ok(Releases(out))
    }
}

fn manifest_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".manifest.json");
    bundle.with_file_name(name)
}

/// A built bundle target: where its code is and the hash its manifest records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The target.
    pub target: String,
    /// The bundle file.
    pub bundle: PathBuf,
    /// BLAKE3 of the bundle, hex (what ao-env's `Info` reports once it is loaded).
    pub hash: String,
    /// Size in bytes.
    pub bytes: u64,
}

#[derive(Deserialize)]
struct RawManifest {
    version: u32,
    bundle: RawFileHash,
}

#[derive(Deserialize)]
struct RawFileHash {
    bytes: u64,
    blake3: String,
}

impl Release {
    /// Reads an ao-bundle manifest (version 1) for `target`, whose bundle is at `bundle`.
    pub fn from_manifest(target: &str, json: &str, bundle: PathBuf) -> Result<Self, Error> {
        let bad = |reason: String| Error::new(ErrorKind::Release { target: target.to_owned(), reason });
        let m: RawManifest = serde_json::from_str(json).map_err(|e| bad(format!("manifest: {e}")))?;
        if m.version != 1 {
            return Err(bad(format!("manifest version {} is not 1", m.version)));
        }
        let hash = m.bundle.blake3.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("manifest bundle hash is not 64 hex digits".into()));
        }
        Ok(Self { target: target.to_owned(), bundle, hash, bytes: m.bundle.bytes })
    }

    /// A release of code held in memory (tests, hosts that build in-process).
    pub fn of_code(target: &str, code: &[u8]) -> Self {
        Self {
            target: target.to_owned(),
            bundle: PathBuf::from(format!("<memory:{target}>")),
            hash: blake3::hash(code).to_hex().to_string(),
            bytes: code.len() as u64,
        }
    }
}

/// Releases by target name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Releases(pub BTreeMap<String, Release>);

impl Releases {
    /// The release of `target`.
    pub fn get(&self, target: &str) -> Option<&Release> {
        self.0.get(target)
    }
}

/// Hands out the code of a release for an `Eval`, checked against its hash.
pub trait CodeSource: Send + Sync {
    /// The bundle's bytes; an error when they do not hash to `release.hash`.
    fn code(&self, release: &Release) -> Result<Vec<u8>, Error>;
}

fn checked(release: &Release, code: Vec<u8>) -> Result<Vec<u8>, Error> {
    let found = blake3::hash(&code).to_hex().to_string();
    if found == release.hash {
        Ok(code)
    } else {
        Err(Error::new(ErrorKind::Release {
            target: release.target.clone(),
            reason: format!(
                "{} hashes to {found}, its manifest says {}; rebuild it",
                release.bundle.display(),
                release.hash
            ),
        }))
    }
}

/// Reads bundles from disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsCode;

impl CodeSource for FsCode {
    fn code(&self, release: &Release) -> Result<Vec<u8>, Error> {
        let code = std::fs::read(&release.bundle).map_err(|e| Error::io(&release.bundle, e))?;
        checked(release, code)
    }
}

/// Bundles held in memory, by target.
#[derive(Debug, Clone, Default)]
pub struct MemoryCode(pub BTreeMap<String, Vec<u8>>);

impl CodeSource for MemoryCode {
    fn code(&self, release: &Release) -> Result<Vec<u8>, Error> {
        let code = self.0.get(&release.target).cloned().ok_or_else(|| {
            Error::new(ErrorKind::Release { target: release.target.clone(), reason: "no code held".into() })
        })?;
        checked(release, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_targets_and_manifests() {
        let text = "root = \"src\"\nout_dir = \"dist\"\n[targets.arena]\nentries = [\"main\"]\nout = \"arena.lua\"\nhandlers = [\"Join\"]\nminify = true\n";
        let t = BundleTargets::from_toml(text, Path::new("/g"), "b.toml").unwrap();
        assert_eq!(t.out_dir, Path::new("/g/dist"));
        assert_eq!(t.targets["arena"].handlers, ["Join"]);
        let err = BundleTargets::from_toml("out_dir = 1\n", Path::new("/g"), "b.toml").unwrap_err();
        assert_eq!(err.origin.unwrap().line, 1);

        let hash = "ab".repeat(32);
        let m = format!(r#"{{"version":1,"tool":"x","bundle":{{"path":"a","bytes":3,"blake3":"{hash}"}}}}"#);
        let r = Release::from_manifest("arena", &m, "a".into()).unwrap();
        assert_eq!((r.hash.as_str(), r.bytes), (hash.as_str(), 3));
        assert!(Release::from_manifest("arena", &m.replace(":1,", ":2,"), "a".into()).is_err());
        assert!(Release::from_manifest("arena", "{}", "a".into()).is_err());
    }

    #[test]
    fn code_must_match_its_hash() {
        let r = Release::of_code("t", b"print(1)");
        let mut code = MemoryCode::default();
        code.0.insert("t".into(), b"print(1)".to_vec());
        assert_eq!(code.code(&r).unwrap(), b"print(1)");
        code.0.insert("t".into(), b"print(2)".to_vec());
        assert!(code.code(&r).unwrap_err().to_string().contains("rebuild it"));
    }
}
