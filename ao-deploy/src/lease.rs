//! One rollout per process at a time: a lease file beside the journal.
//!
//! Acquiring creates `lease.json` exclusively and whole (written to a temporary
//! file, fsynced, then hard-linked into place, which fails if a lease exists),
//! so of two deployers starting at once exactly one wins, the other is refused
//! with who holds it, and nobody ever reads a half-written lease. The holder
//! renews it before every action; a lease not renewed for its time to live is
//! stale, and only an explicit [`take_over`] replaces it (the journal records
//! the takeover). The old holder, if it comes back, finds another token in the
//! file at its next renewal and stops ([`ErrorKind::LeaseLost`]).
//!
//! A holder names a person or a machine (`ann@build-7`), not one run: the lease
//! also records the OS process and host that hold it, so the same holder
//! starting a second deployer while the first still runs on that host is
//! refused like anyone else, and one resuming after a crash gets the lease back
//! (with a new token, so a first run that was not dead after all stops).
//!
//! Every change of the lease file (acquire, renew, take over, release) runs
//! under a small lock beside it, `.lease.json.lock`, a directory whose
//! creation is atomic: a renewal reads the lease, sees its token and writes
//! the renewed lease with no takeover in between, so a takeover that won is
//! never overwritten by the renewal it raced (the renewal then finds the new
//! token and fails with [`ErrorKind::LeaseLost`]). The lock is held for a
//! read and a write; one left by a deployer that crashed holding it is broken
//! after [`STALE_LOCK`].

use std::path::{Path, PathBuf};

use ao_health::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// How old the lease's lock must be before it is taken for one left by a
/// deployer that crashed while holding it (it is held for a read and a write).
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(10);

/// How long to wait for the lease's lock before giving up with an error.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The lock every change of a lease file holds: a directory beside it.
struct LeaseLock {
    dir: PathBuf,
}

impl LeaseLock {
    fn take(path: &Path) -> Result<Self, Error> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("lease");
        let dir = parent.join(format!(".{name}.lock"));
        let start = std::time::Instant::now();
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Self { dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&dir)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| m.elapsed().ok());
                    if age.is_some_and(|a| a > STALE_LOCK) {
                        // Left by a crash: moved away under a unique name, so
                        // that of two deployers breaking it only one does.
                        let broken = parent
                            .join(format!(".{name}.lock.broken-{}", token(name, Timestamp::from_millis(0))));
                        if std::fs::rename(&dir, &broken).is_ok() {
                            let _ = std::fs::remove_dir(&broken);
                        }
                        continue;
                    }
                    if start.elapsed() > LOCK_WAIT {
                        return Err(Error::io(
                            &dir,
                            std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                format!("the lease's lock is held for over {} s", LOCK_WAIT.as_secs()),
                            ),
                        ));
                    }
                    std::thread::yield_now();
                }
                Err(e) => return Err(Error::io(&dir, e)),
            }
        }
    }
}

impl Drop for LeaseLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// What the lease file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it (`ann@build-7`).
    pub holder: String,
    /// The rollout it runs.
    pub rollout: String,
    /// A token unique to this acquisition.
    pub token: String,
    /// When it was acquired (Unix ms on the holder's clock).
    pub acquired_ms: u64,
    /// When it was last renewed.
    pub renewed_ms: u64,
    /// Time to live: older than this since renewal, it is stale.
    pub ttl_ms: u64,
    /// The OS process that holds it (0: unknown, a lease written by an older ao-deploy).
    #[serde(default)]
    pub pid: u32,
    /// The host that process runs on (empty: unknown).
    #[serde(default)]
    pub host: String,
}

/// This machine's name, as the lease records it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_default()
}

/// Whether OS process `pid` runs on this host: `None` where it cannot be told.
fn process_alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

impl Lease {
    /// Milliseconds since the last renewal.
    pub fn idle_ms(&self, now: Timestamp) -> u64 {
        now.as_millis().saturating_sub(self.renewed_ms)
    }

    /// Whether it may be taken over.
    pub fn is_stale(&self, now: Timestamp) -> bool {
        self.idle_ms(now) > self.ttl_ms
    }

    /// Whether a run other than this process holds it that may still be alive:
    /// another OS process on this host that still runs, or any process on
    /// another host (whose liveness cannot be seen from here; its lease must go
    /// stale and be taken over). The holder's name is then no reason to let a
    /// second deployer in. `false` for this process, for a process of this
    /// host that has exited, for a lease of an older ao-deploy (no process
    /// recorded), and where liveness cannot be told on this host.
    pub fn held_by_another_live_process(&self) -> bool {
        let here = this_host();
        if self.pid == 0 || (self.pid == std::process::id() && self.host == here) {
            return false;
        }
        if self.host != here {
            return true;
        }
        process_alive(self.pid) == Some(true)
    }

    pub(crate) fn held(&self, now: Timestamp) -> Error {
        Error::new(ErrorKind::LeaseHeld {
            holder: self.holder.clone(),
            rollout: self.rollout.clone(),
            idle_ms: self.idle_ms(now),
            stale: self.is_stale(now),
        })
    }
}

/// Reads a lease file, if there is one.
pub fn read_lease(path: &Path) -> Result<Option<Lease>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::protocol(format!("reading the lease {}", path.display()), format!("not a lease: {e}"))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// A held lease.
#[derive(Debug)]
pub struct LeaseGuard {
    path: PathBuf,
    lease: Lease,
}

fn token(holder: &str, now: Timestamp) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let h = blake3::hash(format!("{holder}/{}/{nanos}/{}", now.as_millis(), std::process::id()).as_bytes());
    h.to_hex()[..16].to_owned()
}

/// Acquires the lease at `path` for `holder` running `rollout`. The same holder
/// resuming the same rollout gets it back; anyone else is refused with who
/// holds it (and whether that lease is stale).
pub fn acquire(
    path: &Path,
    holder: &str,
    rollout: &str,
    now: Timestamp,
    ttl_ms: u64,
) -> Result<LeaseGuard, Error> {
    let lease = new_lease(holder, rollout, now, ttl_ms);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let _lock = LeaseLock::take(path)?;
    match create_whole(path, &lease) {
        Ok(()) => Ok(LeaseGuard { path: path.to_path_buf(), lease }),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let current = read_lease(path)?.ok_or_else(|| Error::io(path, e))?;
            if current.holder == holder
                && current.rollout == rollout
                && !current.held_by_another_live_process()
            {
                // Back after a crash (or again in this process): a new token, so
                // that an earlier run still alive elsewhere stops at its next renewal.
                let g = LeaseGuard {
                    path: path.to_path_buf(),
                    lease: Lease { acquired_ms: current.acquired_ms, ..lease },
                };
                g.write()?;
                Ok(g)
            } else {
                Err(current.held(now))
            }
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

fn new_lease(holder: &str, rollout: &str, now: Timestamp, ttl_ms: u64) -> Lease {
    Lease {
        holder: holder.into(),
        rollout: rollout.into(),
        token: token(holder, now),
        acquired_ms: now.as_millis(),
        renewed_ms: now.as_millis(),
        ttl_ms,
        pid: std::process::id(),
        host: this_host(),
    }
}

/// Creates `path` holding `lease`, whole, or fails with `AlreadyExists`
/// (see [`crate::fsutil::create_whole`]: a link never replaces a file).
fn create_whole(path: &Path, lease: &Lease) -> std::io::Result<()> {
    crate::fsutil::create_whole(path, &serde_json::to_vec_pretty(lease).unwrap_or_default())
}

/// Takes over a stale lease explicitly. Refused while the lease is fresh.
/// Returns the new guard and the lease it replaced.
pub fn take_over(
    path: &Path,
    holder: &str,
    now: Timestamp,
    ttl_ms: u64,
) -> Result<(LeaseGuard, Lease), Error> {
    let _lock = LeaseLock::take(path)?;
    let current = read_lease(path)?.ok_or_else(|| {
        Error::new(ErrorKind::JournalMismatch(format!("no lease at {} to take over", path.display())))
    })?;
    if !current.is_stale(now) {
        return Err(current.held(now));
    }
    let lease = new_lease(holder, &current.rollout, now, ttl_ms);
    // Claimed by moving it aside: of two deployers taking over at once, one
    // moves the stale lease, the other finds it gone and is told who won.
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("lease");
    let claimed = dir.join(format!(".{name}.taken-{}", lease.token));
    let held_now = |now: Timestamp| -> Error {
        match read_lease(path) {
            Ok(Some(l)) => l.held(now),
            Ok(None) => Error::new(ErrorKind::LeaseLost { holder: "another deployer taking it over".into() }),
            Err(e) => e,
        }
    };
    match std::fs::rename(path, &claimed) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(held_now(now)),
        Err(e) => return Err(Error::io(path, e)),
    }
    let moved = read_lease(&claimed);
    if !matches!(&moved, Ok(Some(l)) if l.token == current.token) {
        // It changed between the read and the move (renewed, or taken over by
        // someone else): not ours to take; put it back unless replaced.
        let _ = std::fs::hard_link(&claimed, path);
        let _ = std::fs::remove_file(&claimed);
        return Err(held_now(now));
    }
    let created = create_whole(path, &lease);
    let _ = std::fs::remove_file(&claimed);
    match created {
        Ok(()) => Ok((LeaseGuard { path: path.to_path_buf(), lease }, current)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(held_now(now)),
        Err(e) => Err(Error::io(path, e)),
    }
}

impl LeaseGuard {
    fn write(&self) -> Result<(), Error> {
        crate::fsutil::write_atomic(&self.path, &serde_json::to_vec_pretty(&self.lease).unwrap_or_default())
    }

    /// The lease as held.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Renews it; fails with [`ErrorKind::LeaseLost`] if someone took it over.
    pub fn renew(&mut self, now: Timestamp) -> Result<(), Error> {
        // Read and written under the lock: no takeover can come in between.
        let _lock = LeaseLock::take(&self.path)?;
        match read_lease(&self.path)? {
            Some(l) if l.token == self.lease.token => {
                self.lease.renewed_ms = now.as_millis();
                self.write()
            }
            Some(l) => Err(Error::new(ErrorKind::LeaseLost { holder: l.holder })),
            None => {
                Err(Error::new(ErrorKind::LeaseLost { holder: "(nobody: the lease file is gone)".into() }))
            }
        }
    }

    /// Fails with [`ErrorKind::LeaseLost`] if the lease is no longer this
    /// holder's (read only: checked before an outcome is journaled).
    pub fn check(&self) -> Result<(), Error> {
        match read_lease(&self.path)? {
            Some(l) if l.token == self.lease.token => Ok(()),
            Some(l) => Err(Error::new(ErrorKind::LeaseLost { holder: l.holder })),
            None => {
                Err(Error::new(ErrorKind::LeaseLost { holder: "(nobody: the lease file is gone)".into() }))
            }
        }
    }

    /// Gives the lease up (only if it is still this holder's).
    pub fn release(self) -> Result<(), Error> {
        let _lock = LeaseLock::take(&self.path)?;
        match read_lease(&self.path)? {
            Some(l) if l.token == self.lease.token => {
                std::fs::remove_file(&self.path).map_err(|e| Error::io(&self.path, e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        let t = Timestamp::from_millis;
        let mut ann = acquire(&path, "ann", "r1", t(1_000), 10_000).unwrap();
        let err = acquire(&path, "bob", "r2", t(2_000), 10_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the process is being deployed by ann (rollout r1, last seen 1000 ms ago)"
        );
        // Fresh: no takeover.
        assert!(matches!(
            take_over(&path, "bob", t(5_000), 10_000).unwrap_err().kind(),
            ErrorKind::LeaseHeld { stale: false, .. }
        ));
        ann.renew(t(6_000)).unwrap();
        // Stale after the ttl: bob must take over explicitly.
        let err = acquire(&path, "bob", "r2", t(17_000), 10_000).unwrap_err();
        assert!(err.to_string().ends_with("the lease is stale: take it over explicitly"), "{err}");
        let (bob, old) = take_over(&path, "bob", t(17_000), 10_000).unwrap();
        assert_eq!((old.holder.as_str(), bob.lease().rollout.as_str()), ("ann", "r1"));
        // Ann comes back: lost.
        assert!(
            matches!(ann.renew(t(18_000)).unwrap_err().kind(), ErrorKind::LeaseLost { holder } if holder == "bob")
        );
        // The same holder resuming the same rollout gets it back, with a new
        // token: the earlier run, were it alive, stops at its next renewal.
        let mut bob = bob;
        let again = acquire(&path, "bob", "r1", t(19_000), 10_000).unwrap();
        assert_ne!(again.lease().token, bob.lease().token);
        assert!(matches!(bob.renew(t(19_500)).unwrap_err().kind(), ErrorKind::LeaseLost { .. }));
        assert!(matches!(bob.check().unwrap_err().kind(), ErrorKind::LeaseLost { .. }));
        again.check().unwrap();
        again.release().unwrap();
        assert!(read_lease(&path).unwrap().is_none());
    }

    /// A lease of `holder` for `rollout` held by OS process `pid` on this host.
    fn held_by(path: &Path, holder: &str, rollout: &str, pid: u32) {
        let mut l = new_lease(holder, rollout, Timestamp::from_millis(1_000), 60_000);
        l.pid = pid;
        std::fs::write(path, serde_json::to_vec(&l).unwrap()).unwrap();
    }

    #[test]
    fn the_same_holder_is_refused_while_another_of_its_runs_is_alive() {
        if process_alive(1) != Some(true) || this_host().is_empty() {
            return; // No way to tell here: the holder's name decides, as before.
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        let t = Timestamp::from_millis(2_000);
        // Process 1 always runs: ann's other deployer is alive.
        held_by(&path, "ann", "r1", 1);
        let err = acquire(&path, "ann", "r1", t, 60_000).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::LeaseHeld { stale: false, .. }), "{err}");
        assert!(err.to_string().starts_with("the process is being deployed by ann (rollout r1"), "{err}");
        // A process that has exited: ann is back after a crash.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        held_by(&path, "ann", "r1", gone);
        let g = acquire(&path, "ann", "r1", t, 60_000).unwrap();
        assert_eq!(g.lease().pid, std::process::id());
        // The same name on another host: its run may be alive, nothing here can tell.
        let mut l = g.lease().clone();
        (l.pid, l.host) = (4_242, format!("{}-elsewhere", this_host()));
        std::fs::write(&path, serde_json::to_vec(&l).unwrap()).unwrap();
        let err = acquire(&path, "ann", "r1", t, 60_000).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::LeaseHeld { stale: false, .. }), "{err}");
    }

    #[test]
    fn of_many_deployers_taking_a_stale_lease_over_at_once_one_wins() {
        for round in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("lease.json");
            acquire(&path, "gone", "r1", Timestamp::from_millis(1), 1_000).unwrap();
            let late = Timestamp::from_millis(10_000);
            let barrier = std::sync::Barrier::new(8);
            let results: Vec<Result<String, Error>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|i| {
                        let (path, barrier) = (&path, &barrier);
                        s.spawn(move || {
                            barrier.wait();
                            take_over(path, &format!("d{i}"), late, 60_000)
                                .map(|(g, _)| g.lease().token.clone())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let winners: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {results:?}");
            assert_eq!(&read_lease(&path).unwrap().unwrap().token, winners[0], "round {round}");
            let left: Vec<_> =
                std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(left, ["lease.json"], "round {round}: nothing left behind");
        }
    }

    #[test]
    fn of_many_deployers_starting_at_once_one_wins_and_the_others_are_told_who() {
        for round in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("lease.json");
            let barrier = std::sync::Barrier::new(12);
            let results: Vec<Result<String, Error>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..12)
                    .map(|i| {
                        let (path, barrier) = (&path, &barrier);
                        s.spawn(move || {
                            barrier.wait();
                            acquire(
                                path,
                                &format!("d{i}"),
                                &format!("r{i}"),
                                Timestamp::from_millis(1),
                                60_000,
                            )
                            .map(|g| g.lease().holder.clone())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let winners: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {results:?}");
            for r in &results {
                if let Err(e) = r {
                    assert!(
                        matches!(e.kind(), ErrorKind::LeaseHeld { holder, .. } if holder == winners[0]),
                        "round {round}: a loser must be told who holds the lease: {e}"
                    );
                }
            }
        }
    }
    /// A renewal racing a takeover that won must not write its lease over the
    /// new one: the takeover's lease stays, the old holder learns it lost.
    #[test]
    fn a_renewal_racing_a_takeover_never_overwrites_the_new_lease() {
        let t = Timestamp::from_millis;
        for round in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("lease.json");
            // Ann's clock lags: her renewals leave the lease stale for bob.
            let mut ann = acquire(&path, "ann", "r1", t(1), 1_000).unwrap();
            let barrier = std::sync::Barrier::new(2);
            let (renewed, taken) = std::thread::scope(|s| {
                let renewer = s.spawn(|| {
                    barrier.wait();
                    let mut n = 0u64;
                    loop {
                        if let Err(e) = ann.renew(t(2 + n % 100)) {
                            return (n, e);
                        }
                        n += 1;
                        assert!(n <= 20_000, "round {round}: ann never learned she lost the lease");
                    }
                });
                let taker = s.spawn(|| {
                    barrier.wait();
                    loop {
                        match take_over(&path, "bob", t(10_000), 60_000) {
                            Ok((g, _)) => return g,
                            // Caught between ann's steps: try again, as an operator would.
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::LeaseLost { .. } | ErrorKind::LeaseHeld { .. }
                                ) => {}
                            Err(e) => panic!("round {round}: {e}"),
                        }
                    }
                });
                (renewer.join().unwrap(), taker.join().unwrap())
            });
            let (_, lost) = renewed;
            assert!(
                matches!(lost.kind(), ErrorKind::LeaseLost { holder } if holder == "bob"),
                "round {round}: {lost}"
            );
            assert_eq!(read_lease(&path).unwrap().unwrap().token, taken.lease().token, "round {round}");
            taken.check().unwrap();
            let left: Vec<_> =
                std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(left, ["lease.json"], "round {round}: nothing left behind");
        }
    }
    /// A lock left by a deployer that crashed while holding it does not block
    /// everyone for good: past its age limit it is broken.
    #[test]
    fn a_lock_left_by_a_crash_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        let lock = dir.path().join(".lease.json.lock");
        std::fs::create_dir(&lock).unwrap();
        let old = std::time::SystemTime::now() - STALE_LOCK - std::time::Duration::from_secs(1);
        std::fs::File::open(&lock).unwrap().set_modified(old).unwrap();
        let g = acquire(&path, "ann", "r1", Timestamp::from_millis(1), 60_000).unwrap();
        assert_eq!(read_lease(&path).unwrap().unwrap().token, g.lease().token);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["lease.json"], "the lock is gone after use");
    }
}
