//! A deployment directory: one per serving position (`<env>/<process>`), holding
//! the lease, the journal of the rollout in progress, its snapshots, and the
//! journals of finished rollouts.
//!
//! ```text
//! <dir>/lease.json            who runs the rollout in progress
//! <dir>/journal.log           its journal (see the journal module)
//! <dir>/snapshots/            in-place snapshots, kept until the rollout ends
//! <dir>/history/<id>.journal  journals of finished rollouts
//! ```

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use ao_health::Timestamp;
use ao_transport::ProcessId;
use serde::{Deserialize, Serialize};

use crate::driver::DirSnapshots;
use crate::error::{Error, ErrorKind};
use crate::journal::{Contents, Journal, Record, TornTail, decode_journal};
use crate::lease::{LeaseGuard, acquire, read_lease, take_over};
use crate::rollout::{Action, Rollout};
use crate::rollout::{Phase, Serving};
use crate::spec::{ReleaseRef, RolloutSpec};

/// What one shard of a process is now: which process serves, behind which
/// router, running which release (and which one ran before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentShard {
    /// The serving process.
    pub process: ProcessId,
    /// Its router.
    pub router: Option<ProcessId>,
    /// The release it runs.
    pub release: ReleaseRef,
    /// The release it ran before, if any (what `ao-ops rollback` goes back to).
    pub previous: Option<ReleaseRef>,
}

/// `current.json`: what a process's shards run after the last rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    /// Shards by number.
    pub shards: BTreeMap<u32, CurrentShard>,
}

/// The shard number of a target named `<process>/<shard>`.
pub fn shard_of(target: &str) -> Option<u32> {
    target.rsplit_once('/').and_then(|(_, n)| n.parse().ok())
}

impl Current {
    /// What serves after a finished rollout: the processes that serve, with the
    /// release each serves (shards a rolling update rolled back keep theirs).
    #[must_use]
    pub fn after(&self, rollout: &crate::rollout::Rollout) -> Self {
        let spec = rollout.spec();
        let mut next = self.clone();
        if !matches!(rollout.phase(), Phase::Succeeded | Phase::Partial) {
            return next;
        }
        for u in rollout.units() {
            let Some(shard) = shard_of(&u.name) else { continue };
            let Serving::Process { process, code, .. } = u.serving() else { continue };
            if code != crate::rollout::Code::Known(spec.release.hash.clone()) {
                continue;
            }
            next.shards.insert(
                shard,
                CurrentShard {
                    process,
                    router: u.router.as_ref().map(|r| r.id.clone()),
                    release: spec.release.clone(),
                    previous: Some(spec.previous.clone()),
                },
            );
        }
        next
    }
}

/// A rollout being run: the core, what it has in flight, its journal and lease.
#[derive(Debug)]
pub struct Session {
    /// The core.
    pub rollout: Rollout,
    /// Actions to run first (in flight when the journal was written, or the first ones).
    pub pending: Vec<Action>,
    /// Its journal.
    pub journal: Journal,
    /// Its lease.
    pub lease: LeaseGuard,
}

/// What resuming found.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeReport {
    /// A torn tail that was cut off (the event it held had not reached the core).
    pub torn: Option<TornTail>,
    /// Events replayed.
    pub replayed: usize,
    /// Actions that were in flight and run again.
    pub in_flight: Vec<Action>,
    /// The holder whose stale lease was taken over, if any.
    pub taken_over_from: Option<String>,
}

/// A deployment directory.
#[derive(Debug, Clone)]
pub struct DeployDir {
    dir: PathBuf,
}

impl DeployDir {
    /// The directory (created when a rollout starts).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The journal of the rollout in progress.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.log")
    }

    /// The lease file.
    pub fn lease_path(&self) -> PathBuf {
        self.dir.join("lease.json")
    }

    /// Where in-place snapshots are kept.
    pub fn snapshots(&self) -> DirSnapshots {
        DirSnapshots::new(self.dir.join("snapshots"))
    }

    /// Journals of finished rollouts, oldest first.
    pub fn history(&self) -> Result<Vec<(PathBuf, Contents)>, Error> {
        let dir = self.dir.join("history");
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "journal"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(dir, e)),
        };
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
                let c = decode_journal(&p, &bytes)?;
                Ok((p, c))
            })
            .collect()
    }

    /// The rollout in progress, if any (read only).
    pub fn in_progress(&self) -> Result<Option<Contents>, Error> {
        let path = self.journal_path();
        match std::fs::read(&path) {
            Ok(bytes) => decode_journal(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Starts a rollout: takes the lease (refused, with who holds it, if
    /// another deployer has it), refuses if a rollout is already in progress,
    /// writes the journal's first record.
    pub fn start(
        &self,
        spec: RolloutSpec,
        holder: &str,
        now: Timestamp,
        ttl_ms: u64,
    ) -> Result<Session, Error> {
        let mut rollout = Rollout::new(spec.clone(), now)?;
        let in_progress = || -> Result<Option<Error>, Error> {
            if !self.journal_path().exists() {
                return Ok(None);
            }
            // A journal with no record at all (its creation cut short by a
            // crash, by an older ao-deploy) starts nothing: it goes, or no
            // rollout could ever start or resume here again.
            if self.in_progress()?.is_some_and(|c| c.records.is_empty()) {
                let path = self.journal_path();
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                return Ok(None);
            }
            let current =
                self.in_progress()?.and_then(|c| c.begin().map(|b| b.0.id.clone())).unwrap_or_default();
            Ok(Some(Error::new(ErrorKind::JournalMismatch(if current == spec.id {
                format!("rollout {current} was already started: resume it")
            } else {
                format!(
                    "rollout {current} is in progress in {}: resume or abort it first",
                    self.dir.display()
                )
            }))))
        };
        // Someone else's lease says who is at it; then a rollout in progress refuses.
        if let Some(l) = read_lease(&self.lease_path())?
            && !(l.holder == holder && l.rollout == spec.id)
        {
            return Err(l.held(now));
        }
        if let Some(e) = in_progress()? {
            return Err(e);
        }
        let lease = acquire(&self.lease_path(), holder, &spec.id, now, ttl_ms)?;
        // Another deployer may have started one between the check and the lease.
        if let Some(e) = in_progress()? {
            lease.release()?;
            return Err(e);
        }
        let journal = Journal::create(
            &self.journal_path(),
            &Record::Begin { spec, started: now, deployer: holder.into() },
        )?;
        let pending = rollout.drain_actions();
        Ok(Session { rollout, pending, journal, lease })
    }

    /// Resumes the rollout in progress after a crash or a pause: takes the lease
    /// (the same holder gets it back; a stale one only with `take_over`), cuts a
    /// torn journal tail (reported), replays every event and returns the actions
    /// that were in flight.
    pub fn resume(
        &self,
        holder: &str,
        now: Timestamp,
        ttl_ms: u64,
        take_over_stale: bool,
    ) -> Result<(Session, ResumeReport), Error> {
        let path = self.journal_path();
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::new(ErrorKind::JournalMismatch(format!(
                    "no rollout is in progress in {}",
                    self.dir.display()
                )))
            } else {
                Error::io(&path, e)
            }
        })?;
        let contents = decode_journal(&path, &bytes)?;
        let (spec, _, _) = contents.begin().ok_or_else(|| {
            Error::new(ErrorKind::JournalMismatch(format!("{} starts no rollout", path.display())))
        })?;
        let (lease, taken_over_from) = match acquire(&self.lease_path(), holder, &spec.id, now, ttl_ms) {
            Ok(l) => (l, None),
            Err(e) if take_over_stale && matches!(e.kind(), ErrorKind::LeaseHeld { stale: true, .. }) => {
                let (l, old) = take_over(&self.lease_path(), holder, now, ttl_ms)?;
                (l, Some(old.holder))
            }
            Err(e) => return Err(e),
        };
        let (mut journal, contents) = Journal::open(&path)?;
        let (spec, started, _) =
            contents.begin().ok_or_else(|| Error::misuse("journal lost its first record"))?;
        let events = contents.events();
        let (rollout, pending) = Rollout::replay(spec.clone(), started, &events)?;
        if let Some(from) = &taken_over_from {
            journal.append(&Record::Takeover { from: from.clone(), to: holder.into(), at: now })?;
        }
        let report = ResumeReport {
            torn: contents.torn.clone(),
            replayed: events.len(),
            in_flight: pending.clone(),
            taken_over_from,
        };
        Ok((Session { rollout, pending, journal, lease }, report))
    }

    /// Ends a finished rollout: its journal moves to `history/`, snapshots go, the lease is released.
    pub fn finish(&self, session: Session) -> Result<PathBuf, Error> {
        if !session.rollout.is_terminal() {
            return Err(Error::misuse(format!("rollout {} has not finished", session.rollout.spec().id)));
        }
        let history = self.dir.join("history");
        std::fs::create_dir_all(&history).map_err(|e| Error::io(&history, e))?;
        let started = session.rollout.started().as_millis();
        let to = history.join(format!("{started:013}-{}.journal", session.rollout.spec().id));
        let from = self.journal_path();
        drop(session.journal);
        std::fs::rename(&from, &to).map_err(|e| Error::io(&from, e))?;
        crate::fsutil::sync_dir(&history)?;
        crate::fsutil::sync_dir(&self.dir)?;
        let snaps = self.dir.join("snapshots");
        if snaps.exists() {
            std::fs::remove_dir_all(&snaps).map_err(|e| Error::io(&snaps, e))?;
        }
        session.lease.release()?;
        Ok(to)
    }

    /// `current.json`, if the process was installed.
    pub fn current(&self) -> Result<Option<Current>, Error> {
        let path = self.dir.join("current.json");
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::protocol(format!("reading {}", path.display()), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes `current.json` atomically.
    pub fn set_current(&self, current: &Current) -> Result<(), Error> {
        let mut bytes = serde_json::to_vec_pretty(current).unwrap_or_default();
        bytes.push(b'\n');
        crate::fsutil::write_atomic(&self.dir.join("current.json"), &bytes)
    }

    /// Operator commands for a deployer that is running elsewhere (`control.jsonl`).
    pub fn control_path(&self) -> PathBuf {
        self.dir.join("control.jsonl")
    }

    /// Who holds the lease, if anyone.
    pub fn lease(&self) -> Result<Option<crate::lease::Lease>, Error> {
        read_lease(&self.lease_path())
    }
}
