//! The state file: which process ids an environment's instances have, what
//! code ao-env loaded into them, and every process it ever retired.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use ao_transport::ProcessId;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// One running copy of a process: its name and shard (`world/0`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceKey {
    /// The process's name in the config.
    pub process: String,
    /// The shard, from 0.
    pub shard: u32,
}

impl InstanceKey {
    /// `process/shard`.
    pub fn new(process: impl Into<String>, shard: u32) -> Self {
        Self { process: process.into(), shard }
    }
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.process, self.shard)
    }
}

impl FromStr for InstanceKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (p, n) = s.rsplit_once('/').ok_or_else(|| format!("instance {s:?} is not `process/shard`"))?;
        let shard = n.parse().map_err(|_| format!("instance {s:?} has no shard number"))?;
        Ok(Self::new(p, shard))
    }
}

impl Serialize for InstanceKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InstanceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What ao-env knows of one process it spawned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The instance it serves (or served).
    pub instance: InstanceKey,
    /// Its id.
    pub process: ProcessId,
    /// The code hash ao-env last loaded, if any.
    #[serde(default)]
    pub code_hash: Option<String>,
    /// The handlers it had right after that load: anything added later is drift.
    #[serde(default)]
    pub baseline_handlers: Vec<String>,
    /// The process's Eval count (`Info`'s `code.count`) right after ao-env's
    /// last Eval: any other count is an Eval ao-env did not make. `None` in
    /// records written before ao-env kept it (then only the code hash is checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_count: Option<u64>,
    /// Whether it has been retired (for records in [`State::retired`]; an entry
    /// there with `false` is waiting to be retired).
    #[serde(default)]
    pub retired: bool,
}

/// A spawn ao-env is about to make (or made without learning the id): saved
/// in the state file *before* the spawn, with the unique value of the
/// [`SPAWN_NONCE_TAG`](crate::SPAWN_NONCE_TAG) spawn tag, so that a re-apply after
/// a crash between spawn and record can find the process instead of spawning a
/// duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnIntent {
    /// The instance the spawn is for.
    pub instance: InstanceKey,
    /// The value of the nonce tag.
    pub nonce: String,
}

/// An environment's state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version (1).
    pub format: u32,
    /// The environment.
    pub environment: String,
    /// The live processes, by instance.
    pub instances: BTreeMap<InstanceKey, Record>,
    /// Processes taken out of service (replaced, removed, torn down), oldest first.
    #[serde(default)]
    pub retired: Vec<Record>,
    /// Spawns started but not yet recorded, by instance. An entry left here by
    /// a crash is resolved by the next apply (see [`SpawnLookup`](crate::SpawnLookup)).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub intents: BTreeMap<InstanceKey, SpawnIntent>,
    /// Spawns that may have created a process ao-env never recorded (a crash
    /// left the intent and no lookup could tell): possible orphans for a person
    /// to find by their nonce tag, retire, and remove from this list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unconfirmed: Vec<SpawnIntent>,
}

impl State {
    /// An empty state for `environment`.
    pub fn new(environment: impl Into<String>) -> Self {
        Self {
            format: 1,
            environment: environment.into(),
            instances: BTreeMap::new(),
            retired: Vec::new(),
            intents: BTreeMap::new(),
            unconfirmed: Vec::new(),
        }
    }

    /// Every process id the environment has or had.
    pub fn process_ids(&self) -> impl Iterator<Item = &ProcessId> {
        self.instances.values().chain(&self.retired).map(|r| &r.process)
    }

    /// Parses a state file's JSON; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, Error> {
        let bad = |reason: String| Error::new(ErrorKind::State { path: path.to_path_buf(), reason });
        let state: State = serde_json::from_str(text)
            .map_err(|e| bad(format!("line {} column {}: {e}", e.line(), e.column())))?;
        if state.format != 1 {
            return Err(bad(format!("format {} is not 1", state.format)));
        }
        for (k, r) in &state.instances {
            if *k != r.instance {
                return Err(bad(format!("entry {k} holds the record of {}", r.instance)));
            }
        }
        for (k, i) in &state.intents {
            if *k != i.instance {
                return Err(bad(format!("intent {k} is for {}", i.instance)));
            }
        }
        Ok(state)
    }

    /// The state as pretty JSON (stable: maps are sorted).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Where state files are kept.
pub trait StateStore: Send + Sync {
    /// The environment's state; an empty one if there is none yet.
    fn load(&self, environment: &str) -> Result<State, Error>;
    /// Stores the state, replacing the previous one whole or not at all.
    fn save(&self, state: &State) -> Result<(), Error>;
}

/// State files `<dir>/<environment>.state.json`, written atomically.
#[derive(Debug, Clone)]
pub struct FileStateStore {
    dir: PathBuf,
}

impl FileStateStore {
    /// Keeps state files in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The state file of `environment`.
    pub fn path(&self, environment: &str) -> PathBuf {
        self.dir.join(format!("{environment}.state.json"))
    }
}

impl StateStore for FileStateStore {
    fn load(&self, environment: &str) -> Result<State, Error> {
        let path = self.path(environment);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new(environment)),
            Err(e) => return Err(Error::io(path, e)),
        };
        let state = State::from_json(&text, &path)?;
        if state.environment != environment {
            return Err(Error::new(ErrorKind::State {
                path,
                reason: format!("it belongs to environment {:?}, not {environment:?}", state.environment),
            }));
        }
        Ok(state)
    }

    fn save(&self, state: &State) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        write_atomic(&self.path(&state.environment), state.to_json().as_bytes())
    }
}

/// State in memory, for tests and hosts that keep state elsewhere.
#[derive(Debug, Default)]
pub struct MemoryStateStore(Mutex<BTreeMap<String, State>>);

impl StateStore for MemoryStateStore {
    fn load(&self, environment: &str) -> Result<State, Error> {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(map.get(environment).cloned().unwrap_or_else(|| State::new(environment)))
    }

    fn save(&self, state: &State) -> Result<(), Error> {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(state.environment.clone(), state.clone());
        Ok(())
    }
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one,
/// never a mix: a temporary file beside it, fsync, rename over, fsync the directory.
///
/// Every call writes its own temporary file (`.{name}.{pid}.{n}.tmp`, `n` a
/// process-wide counter, created with `create_new`), so concurrent writers to
/// one path, in one process or several, never share a temporary file: the last
/// rename wins and the file holds one writer's bytes whole. The temporary file
/// is removed when any step fails. A file replaced keeps its permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    ao_fs::write_atomic(path, bytes).map_err(|e| Error::io(e.path, e.source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(shard: u32, byte: u8) -> Record {
        Record {
            instance: InstanceKey::new("world", shard),
            process: ProcessId::from_bytes([byte; 32]),
            code_hash: Some("ab".repeat(32)),
            baseline_handlers: vec!["Join".into()],
            eval_count: Some(1),
            retired: false,
        }
    }

    #[test]
    fn state_round_trips_and_checks_itself() {
        let mut s = State::new("dev");
        s.instances.insert(InstanceKey::new("world", 0), record(0, 1));
        s.retired.push(Record { retired: true, ..record(1, 2) });
        let json = s.to_json();
        assert_eq!(State::from_json(&json, Path::new("s.json")).unwrap(), s);
        let swapped = json.replacen("\"instance\": \"world/0\"", "\"instance\": \"world/7\"", 1);
        let err = State::from_json(&swapped, Path::new("s.json")).unwrap_err();
        assert!(err.to_string().contains("entry world/0 holds the record of world/7"), "{err}");
        let err = State::from_json("{\"format\": 1,", Path::new("s.json")).unwrap_err();
        assert!(err.to_string().starts_with("state file s.json: line 1"), "{err}");
        assert_eq!(s.process_ids().count(), 2);
    }

    #[test]
    fn file_store_writes_atomically_and_refuses_other_environments() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::new(dir.path().join("state"));
        assert_eq!(store.load("dev").unwrap(), State::new("dev"));
        let mut s = State::new("dev");
        s.instances.insert(InstanceKey::new("world", 0), record(0, 1));
        store.save(&s).unwrap();
        assert_eq!(store.load("dev").unwrap(), s);
        let leftovers: Vec<_> =
            std::fs::read_dir(dir.path().join("state")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["dev.state.json"]);
        std::fs::copy(store.path("dev"), store.path("prod")).unwrap();
        assert!(store.load("prod").unwrap_err().to_string().contains("belongs to environment \"dev\""));
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_atomic(&path, b"old").unwrap();
        // A directory where the file should go makes the rename fail.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join("inner")).unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(blocked.join("inner").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn concurrent_writers_to_one_path_never_mix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        // Large, distinct contents: a shared temporary file would interleave or truncate them.
        let contents: Vec<Vec<u8>> =
            (0..8u8).map(|i| std::iter::repeat_n(b'a' + i, 64 * 1024 + usize::from(i)).collect()).collect();
        std::thread::scope(|s| {
            for c in &contents {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, c).unwrap();
                    }
                });
            }
        });
        let got = std::fs::read(&path).unwrap();
        assert!(contents.contains(&got), "the file is one writer's complete content ({} bytes)", got.len());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["s.json"], "no temporary file left");
    }

    #[test]
    fn a_stale_temporary_name_is_skipped_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        // Temporary names this process could pick next, left by "a crashed run".
        for n in 0..64 {
            let stale = dir.path().join(format!(".s.json.{}.{n}.tmp", std::process::id()));
            std::fs::write(stale, b"stale").unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let stale = std::fs::read_dir(dir.path()).unwrap().filter(|e| {
            let p = e.as_ref().unwrap().path();
            p.extension().is_some_and(|x| x == "tmp") && std::fs::read(&p).unwrap() == b"stale"
        });
        assert_eq!(stale.count(), 64, "stale files are left alone, not overwritten");
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ao-env.prod.toml");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
