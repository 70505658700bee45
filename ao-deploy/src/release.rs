//! Releases: a bundle, its integrity manifest (ao-bundle), its config (ao-env)
//! and a version. A release that does not check out is refused before anything
//! changes. Code is kept by hash in a [`CodeStore`] so a rollback can re-Eval
//! the previous release long after its bundle file was rebuilt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ao_env::{CodeSource, FsCode, InstanceKey};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::spec::{ReleaseRef, SpawnSpec};

/// A release with its code, checked against its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    reference: ReleaseRef,
    code: Arc<[u8]>,
    bundle: PathBuf,
}

fn hex_hash(code: &[u8]) -> String {
    blake3::hash(code).to_hex().to_string()
}

impl Release {
    /// A release of `code` whose manifest (ao-bundle's JSON, version 1) is
    /// `manifest_json`: refused when the code does not hash to what the
    /// manifest records.
    pub fn from_code(
        target: &str,
        version: &str,
        code: impl Into<Arc<[u8]>>,
        manifest_json: &str,
        config: Map<String, Value>,
    ) -> Result<Self, Error> {
        let label = format!("{target}@{version}");
        let manifest = ao_env::Release::from_manifest(
            target,
            manifest_json,
            PathBuf::from(format!("<memory:{target}>")),
        )
        .map_err(|e| Error::refused(&label, e.to_string()))?;
        let code = code.into();
        let found = hex_hash(&code);
        if found != manifest.hash {
            return Err(Error::refused(
                &label,
                format!("the bundle hashes to {found}, its manifest records {}", manifest.hash),
            ));
        }
        Self::checked(target, version, code, manifest.bundle, config)
    }

    /// The release of a bundle file and its manifest (default: `<bundle>.manifest.json`).
    pub fn from_files(
        target: &str,
        version: &str,
        bundle: &Path,
        manifest: Option<&Path>,
        config: Map<String, Value>,
    ) -> Result<Self, Error> {
        let label = format!("{target}@{version}");
        let manifest_path = manifest.map_or_else(|| manifest_beside(bundle), Path::to_path_buf);
        let json = std::fs::read_to_string(&manifest_path)
            .map_err(|e| Error::refused(&label, format!("{}: {e}", manifest_path.display())))?;
        let mut release = ao_env::Release::from_manifest(target, &json, bundle.to_path_buf())
            .map_err(|e| Error::refused(&label, e.to_string()))?;
        release.bundle = bundle.to_path_buf();
        let code = FsCode.code(&release).map_err(|e| Error::refused(&label, e.to_string()))?;
        Self::checked(target, version, code.into(), bundle.to_path_buf(), config)
    }

    /// The release of one instance of an ao-env environment: the environment
    /// must validate (every problem is in the reason), the process's bundle
    /// target must be built, and the bundle must match its manifest. The
    /// config is the environment's config for the process.
    pub fn from_environment(
        project: &ao_env::Project,
        environment: &str,
        instance: &InstanceKey,
        version: &str,
    ) -> Result<(Self, SpawnSpec), Error> {
        Self::from_environment_in(project, None, environment, instance, version)
    }

    /// [`from_environment`](Self::from_environment) with the bundles read from
    /// `out_dir` instead of the bundle config's own output directory.
    pub fn from_environment_in(
        project: &ao_env::Project,
        out_dir: Option<&Path>,
        environment: &str,
        instance: &InstanceKey,
        version: &str,
    ) -> Result<(Self, SpawnSpec), Error> {
        let label = format!("{instance}@{version} ({environment})");
        let env = project.environment(environment).map_err(|e| Error::refused(&label, e.to_string()))?;
        let mut targets = project
            .bundle()
            .ok_or_else(|| Error::refused(&label, "the environment names no bundle_config"))?
            .clone();
        if let Some(dir) = out_dir {
            dir.clone_into(&mut targets.out_dir);
        }
        let releases = targets.releases().map_err(|e| Error::refused(&label, e.to_string()))?;
        let desired =
            ao_env::Desired::new(&env, &releases).map_err(|e| Error::refused(&label, e.to_string()))?;
        let want = desired
            .instances
            .get(instance)
            .ok_or_else(|| Error::refused(&label, format!("{environment} has no instance {instance}")))?;
        let built = releases
            .get(&want.target)
            .ok_or_else(|| Error::refused(&label, format!("target {} is not built", want.target)))?;
        let code = FsCode.code(built).map_err(|e| Error::refused(&label, e.to_string()))?;
        let release =
            Self::checked(&want.target, version, code.into(), built.bundle.clone(), want.config.clone())?;
        let spawn = SpawnSpec {
            module: want.module.clone(),
            scheduler: want.scheduler.clone(),
            tags: want.tags.clone(),
            boot: Some(ao_env::INFO_LUA.to_owned()),
        };
        Ok((release, spawn))
    }

    /// A release of code kept in a [`CodeStore`] (its hash was checked when it
    /// was stored, against its manifest when it was first deployed): how a
    /// promotion carries the very same code into the next environment with
    /// that environment's config.
    pub fn stored(
        target: &str,
        version: &str,
        code: Vec<u8>,
        config: Map<String, Value>,
    ) -> Result<Self, Error> {
        Self::checked(target, version, code.into(), PathBuf::from(format!("<code store:{target}>")), config)
    }

    fn checked(
        target: &str,
        version: &str,
        code: Arc<[u8]>,
        bundle: PathBuf,
        config: Map<String, Value>,
    ) -> Result<Self, Error> {
        let label = format!("{target}@{version}");
        if version.is_empty() || version.len() > 128 || version.chars().any(char::is_control) {
            return Err(Error::refused(&label, "the version must be 1-128 printable characters"));
        }
        if std::str::from_utf8(&code).is_err() {
            return Err(Error::refused(&label, "the bundle is not UTF-8 Lua source"));
        }
        Ok(Self {
            reference: ReleaseRef {
                target: target.into(),
                version: version.into(),
                hash: hex_hash(&code),
                config,
            },
            code,
            bundle,
        })
    }

    /// What the rollout core and the journal know of it.
    pub fn reference(&self) -> &ReleaseRef {
        &self.reference
    }

    /// The bundle's bytes.
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// Where the bundle came from.
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }
}

fn manifest_beside(bundle: &Path) -> PathBuf {
    let mut name = bundle.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".manifest.json");
    bundle.with_file_name(name)
}

/// Code by BLAKE3 hash: what a rollback re-Evals. `get` checks the hash.
pub trait CodeStore: Send + Sync {
    /// Keeps `code` (idempotent).
    fn put(&self, code: &[u8]) -> Result<String, Error>;
    /// The code whose hash is `hash`, if kept.
    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, Error>;
    /// Keeps a release's code.
    fn put_release(&self, release: &Release) -> Result<(), Error> {
        self.put(release.code()).map(drop)
    }
}

/// Code in memory.
#[derive(Debug, Default)]
pub struct MemoryCodeStore(Mutex<BTreeMap<String, Vec<u8>>>);

impl MemoryCodeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl CodeStore for MemoryCodeStore {
    fn put(&self, code: &[u8]) -> Result<String, Error> {
        let hash = hex_hash(code);
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(hash.clone(), code.to_vec());
        Ok(hash)
    }

    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.0.lock().unwrap_or_else(PoisonError::into_inner).get(hash).cloned())
    }
}

/// Code in a directory, one file per hash (`<hash>.lua`), written atomically.
#[derive(Debug, Clone)]
pub struct DirCodeStore {
    dir: PathBuf,
}

impl DirCodeStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl CodeStore for DirCodeStore {
    fn put(&self, code: &[u8]) -> Result<String, Error> {
        let hash = hex_hash(code);
        let path = self.dir.join(format!("{hash}.lua"));
        if !path.exists() {
            crate::fsutil::write_atomic(&path, code)?;
        }
        Ok(hash)
    }

    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, Error> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let path = self.dir.join(format!("{hash}.lua"));
        match std::fs::read(&path) {
            Ok(code) if hex_hash(&code) == hash => Ok(Some(code)),
            Ok(_) => Err(Error::protocol(
                format!("reading {}", path.display()),
                "the stored code does not match its hash (changed on disk)",
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(code: &[u8]) -> String {
        format!(
            r#"{{"version":1,"tool":"t","bundle":{{"path":"a.lua","bytes":{},"blake3":"{}"}},"sources":[],"options":{{"entries":["main"],"search":[],"externals":[],"strict":false}}}}"#,
            code.len(),
            hex_hash(code)
        )
    }

    #[test]
    fn a_release_must_match_its_manifest() {
        let code = b"print('v2')".to_vec();
        let r = Release::from_code("arena", "2", code.clone(), &manifest(&code), Map::new()).unwrap();
        assert_eq!(r.reference().hash, hex_hash(&code));
        let err = Release::from_code("arena", "2", b"print('v3')".to_vec(), &manifest(&code), Map::new())
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("release arena@2 refused: the bundle hashes to "), "{text}");
        assert!(text.contains(&format!("its manifest records {}", hex_hash(&code))), "{text}");
        let err = Release::from_code("arena", "2", code.clone(), "{}", Map::new()).unwrap_err();
        assert!(err.to_string().contains("manifest"), "{err}");
        let err = Release::from_code("arena", "", code.clone(), &manifest(&code), Map::new()).unwrap_err();
        assert!(err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn stores_check_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirCodeStore::new(dir.path().join("code"));
        let hash = store.put(b"x = 1").unwrap();
        assert_eq!(store.get(&hash).unwrap().unwrap(), b"x = 1");
        assert_eq!(store.get(&"0".repeat(64)).unwrap(), None);
        assert_eq!(store.get("../etc/passwd").unwrap(), None);
        std::fs::write(dir.path().join("code").join(format!("{hash}.lua")), b"x = 2").unwrap();
        assert!(store.get(&hash).unwrap_err().to_string().contains("does not match its hash"));
        let mem = MemoryCodeStore::new();
        let h = mem.put(b"y").unwrap();
        assert_eq!(mem.get(&h).unwrap().unwrap(), b"y");
    }
}
