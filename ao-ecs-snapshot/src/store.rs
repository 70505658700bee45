//! Where snapshots live: the [`SnapshotStore`] trait, a crash-safe filesystem store, an
//! in-memory store, and a fault-injecting store for crash tests.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind};
use crate::manifest::{SnapshotId, SnapshotKind};
use crate::model::Tick;

/// A flat namespace of named byte blobs.
///
/// Names are 1–200 characters of `A-Z a-z 0-9 . _ -`, not starting with `.`
/// (names starting with `.tmp-` are a store's own temporary files and may show up in
/// [`list`](SnapshotStore::list) after a crash). `put` must be atomic: after a crash a
/// reader finds either the whole new blob or none.
pub trait SnapshotStore: Send + Sync + fmt::Debug {
    /// Stores `bytes` under `name`, replacing any blob there, atomically and durably.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), Error>;
    /// The blob stored under `name` ([`ErrorKind::NotFound`] if none).
    fn get(&self, name: &str) -> Result<Vec<u8>, Error>;
    /// Every name, sorted.
    fn list(&self) -> Result<Vec<String>, Error>;
    /// Removes `name` (no error if it is absent).
    fn delete(&self, name: &str) -> Result<(), Error>;
}

impl<S: SnapshotStore + ?Sized> SnapshotStore for &S {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        (**self).put(name, bytes)
    }
    fn get(&self, name: &str) -> Result<Vec<u8>, Error> {
        (**self).get(name)
    }
    fn list(&self) -> Result<Vec<String>, Error> {
        (**self).list()
    }
    fn delete(&self, name: &str) -> Result<(), Error> {
        (**self).delete(name)
    }
}

impl<S: SnapshotStore + ?Sized> SnapshotStore for std::sync::Arc<S> {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        (**self).put(name, bytes)
    }
    fn get(&self, name: &str) -> Result<Vec<u8>, Error> {
        (**self).get(name)
    }
    fn list(&self) -> Result<Vec<String>, Error> {
        (**self).list()
    }
    fn delete(&self, name: &str) -> Result<(), Error> {
        (**self).delete(name)
    }
}

impl<S: SnapshotStore + ?Sized> SnapshotStore for Box<S> {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        (**self).put(name, bytes)
    }
    fn get(&self, name: &str) -> Result<Vec<u8>, Error> {
        (**self).get(name)
    }
    fn list(&self) -> Result<Vec<String>, Error> {
        (**self).list()
    }
    fn delete(&self, name: &str) -> Result<(), Error> {
        (**self).delete(name)
    }
}

/// The prefix of temporary files.
pub const TEMP_PREFIX: &str = ".tmp-";

fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(ErrorKind::InvalidUse(format!("invalid store name {name:?}")).into()) }
}

/// The name a snapshot is stored under: `<tick, 20 digits>-<f|d>-<root hex>.snap`.
pub fn snapshot_name(tick: Tick, kind: SnapshotKind, id: &SnapshotId) -> String {
    let k = match kind {
        SnapshotKind::Full => 'f',
        SnapshotKind::Delta => 'd',
    };
    format!("{tick:020}-{k}-{}.snap", id.to_hex())
}

/// Parses a name made by [`snapshot_name`].
pub fn parse_snapshot_name(name: &str) -> Option<(Tick, SnapshotKind, SnapshotId)> {
    let rest = name.strip_suffix(".snap")?;
    let (tick, rest) = rest.split_once('-')?;
    let (kind, hex) = rest.split_once('-')?;
    if tick.len() != 20 || !tick.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = match kind {
        "f" => SnapshotKind::Full,
        "d" => SnapshotKind::Delta,
        _ => return None,
    };
    Some((tick.parse().ok()?, kind, hex.parse().ok()?))
}

/// An in-memory store. Cloning shares nothing; use `&MemoryStore` to share.
#[derive(Debug, Default)]
pub struct MemoryStore {
    blobs: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.blobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SnapshotStore for MemoryStore {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        check_name(name)?;
        self.lock().insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }
    fn get(&self, name: &str) -> Result<Vec<u8>, Error> {
        self.lock().get(name).cloned().ok_or_else(|| ErrorKind::NotFound(name.to_owned()).into())
    }
    fn list(&self) -> Result<Vec<String>, Error> {
        Ok(self.lock().keys().cloned().collect())
    }
    fn delete(&self, name: &str) -> Result<(), Error> {
        self.lock().remove(name);
        Ok(())
    }
}

/// One step of a filesystem write or delete, in order. Faults are injected per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteStep {
    /// Create the temporary file.
    CreateTemp,
    /// Write the first half of the bytes.
    WriteFirstHalf,
    /// Write the rest.
    WriteRest,
    /// fsync the temporary file.
    SyncFile,
    /// Rename it over the final name.
    Rename,
    /// fsync the directory so the rename is durable.
    SyncDir,
    /// Unlink a file (delete).
    Unlink,
    /// fsync the directory after the unlink.
    SyncDirAfterUnlink,
}

/// What a fault hook makes of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Do the step.
    Proceed,
    /// The step fails with an IO error; the store cleans up as it would after a real error.
    Fail,
    /// The process dies just before the step: nothing more happens, no cleanup.
    Crash,
}

type Hook = dyn Fn(WriteStep) -> Fault + Send + Sync;

/// A directory of snapshots, written crash-safely: each blob goes to a temporary file in
/// the same directory, is fsynced, renamed over its name, and the directory is fsynced.
pub struct FsStore {
    dir: PathBuf,
    hook: Option<Box<Hook>>,
    counter: AtomicU64,
}

impl fmt::Debug for FsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsStore")
            .field("dir", &self.dir)
            .field("faults", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

fn crash_error(path: &Path, step: WriteStep) -> Error {
    Error::io("simulated crash before", path, std::io::Error::other(format!("{step:?}")))
}

impl FsStore {
    /// A store over `dir`, created if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        Ok(Self { dir, hook: None, counter: AtomicU64::new(0) })
    }

    /// The same store with a fault hook called before every write step (a test double
    /// for power cuts and full disks; see [`FaultPlan`]).
    #[must_use]
    pub fn with_faults(mut self, hook: impl Fn(WriteStep) -> Fault + Send + Sync + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn step(&self, step: WriteStep, path: &Path) -> Result<Fault, Error> {
        match self.hook.as_ref().map_or(Fault::Proceed, |h| h(step)) {
            Fault::Crash => Err(crash_error(path, step)),
            other => Ok(other),
        }
    }

    fn failed(step: WriteStep, path: &Path) -> Error {
        Error::io("injected failure at", path, std::io::Error::other(format!("{step:?}")))
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        fs::File::open(&self.dir)?.sync_all()
    }

    /// Removes temporary files left by interrupted writes; returns their names.
    pub fn remove_temp_files(&self) -> Result<Vec<String>, Error> {
        let mut removed = Vec::new();
        for name in self.all_names()? {
            if name.starts_with(TEMP_PREFIX) {
                let p = self.dir.join(&name);
                fs::remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
                removed.push(name);
            }
        }
        Ok(removed)
    }

    fn all_names(&self) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let rd = fs::read_dir(&self.dir).map_err(|e| Error::io("read directory", &self.dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("read directory", &self.dir, e))?;
            let ft = entry.file_type().map_err(|e| Error::io("stat", entry.path(), e))?;
            if ft.is_file()
                && let Some(n) = entry.file_name().to_str()
            {
                names.push(n.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

impl SnapshotStore for FsStore {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        check_name(name)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id()));
        let path = self.dir.join(name);
        let cleanup = |e: Error| {
            let _ = fs::remove_file(&tmp);
            e
        };
        if self.step(WriteStep::CreateTemp, &tmp)? == Fault::Fail {
            return Err(Self::failed(WriteStep::CreateTemp, &tmp));
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        let half = bytes.len() / 2;
        for (step, part) in
            [(WriteStep::WriteFirstHalf, &bytes[..half]), (WriteStep::WriteRest, &bytes[half..])]
        {
            if self.step(step, &tmp)? == Fault::Fail {
                return Err(cleanup(Self::failed(step, &tmp)));
            }
            f.write_all(part).map_err(|e| cleanup(Error::io("write", &tmp, e)))?;
        }
        if self.step(WriteStep::SyncFile, &tmp)? == Fault::Fail {
            return Err(cleanup(Self::failed(WriteStep::SyncFile, &tmp)));
        }
        f.sync_all().map_err(|e| cleanup(Error::io("fsync", &tmp, e)))?;
        drop(f);
        if self.step(WriteStep::Rename, &path)? == Fault::Fail {
            return Err(cleanup(Self::failed(WriteStep::Rename, &path)));
        }
        fs::rename(&tmp, &path).map_err(|e| cleanup(Error::io("rename", &path, e)))?;
        if self.step(WriteStep::SyncDir, &self.dir)? == Fault::Fail {
            return Err(Self::failed(WriteStep::SyncDir, &self.dir));
        }
        self.sync_dir().map_err(|e| Error::io("fsync directory", &self.dir, e))
    }

    fn get(&self, name: &str) -> Result<Vec<u8>, Error> {
        if name.starts_with(TEMP_PREFIX) || check_name(name).is_ok() {
            let path = self.dir.join(name);
            return fs::read(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ErrorKind::NotFound(name.to_owned()).into()
                } else {
                    Error::io("read", &path, e)
                }
            });
        }
        Err(ErrorKind::NotFound(name.to_owned()).into())
    }

    fn list(&self) -> Result<Vec<String>, Error> {
        self.all_names()
    }

    fn delete(&self, name: &str) -> Result<(), Error> {
        if !name.starts_with(TEMP_PREFIX) {
            check_name(name)?;
        }
        let path = self.dir.join(name);
        if self.step(WriteStep::Unlink, &path)? == Fault::Fail {
            return Err(Self::failed(WriteStep::Unlink, &path));
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("remove", &path, e)),
        }
        if self.step(WriteStep::SyncDirAfterUnlink, &self.dir)? == Fault::Fail {
            return Err(Self::failed(WriteStep::SyncDirAfterUnlink, &self.dir));
        }
        self.sync_dir().map_err(|e| Error::io("fsync directory", &self.dir, e))
    }
}

/// A deterministic fault schedule for [`FsStore::with_faults`]: counts write steps across
/// all calls and injects `fault` at step number `at` (0-based). After a crash every later
/// step crashes too: the "process" is dead until a new store is opened.
#[derive(Debug)]
pub struct FaultPlan {
    at: u64,
    fault: Fault,
    seen: AtomicU64,
    crashed: std::sync::atomic::AtomicBool,
    log: Mutex<Vec<WriteStep>>,
}

impl FaultPlan {
    /// Injects `fault` at write step number `at`.
    pub fn new(at: u64, fault: Fault) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            at,
            fault,
            seen: AtomicU64::new(0),
            crashed: false.into(),
            log: Mutex::new(Vec::new()),
        })
    }

    /// Decides a step (pass to [`FsStore::with_faults`] as `move |s| plan.decide(s)`).
    pub fn decide(&self, step: WriteStep) -> Fault {
        if self.crashed.load(Ordering::SeqCst) {
            return Fault::Crash;
        }
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(step);
        if n == self.at {
            if self.fault == Fault::Crash {
                self.crashed.store(true, Ordering::SeqCst);
            }
            return self.fault;
        }
        Fault::Proceed
    }

    /// Steps seen so far, in order.
    pub fn steps(&self) -> Vec<WriteStep> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Whether the fault was injected.
    pub fn fired(&self) -> bool {
        self.seen.load(Ordering::SeqCst) > self.at
    }
}
