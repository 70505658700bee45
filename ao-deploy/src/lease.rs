//! One rollout per process at a time: a lease file beside the journal.
//!
//! Acquiring creates `lease.json` exclusively, so of two deployers starting at
//! once exactly one wins; the other is refused with who holds it. The holder
//! renews it before every action; a lease not renewed for its time to live is
//! stale, and only an explicit [`take_over`] replaces it (the journal records
//! the takeover). The old holder, if it comes back, finds another token in the
//! file at its next renewal and stops ([`ErrorKind::LeaseLost`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ao_health::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

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
    let lease = Lease {
        holder: holder.into(),
        rollout: rollout.into(),
        token: token(holder, now),
        acquired_ms: now.as_millis(),
        renewed_ms: now.as_millis(),
        ttl_ms,
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut f) => {
            let bytes = serde_json::to_vec_pretty(&lease).unwrap_or_default();
            f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| Error::io(path, e))?;
            crate::fsutil::sync_dir(dir)?;
            Ok(LeaseGuard { path: path.to_path_buf(), lease })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let current = read_lease(path)?.ok_or_else(|| Error::io(path, e))?;
            if current.holder == holder && current.rollout == rollout {
                let mut g = LeaseGuard { path: path.to_path_buf(), lease: current };
                g.lease.renewed_ms = now.as_millis();
                g.write()?;
                Ok(g)
            } else {
                Err(current.held(now))
            }
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Takes over a stale lease explicitly. Refused while the lease is fresh.
/// Returns the new guard and the lease it replaced.
pub fn take_over(
    path: &Path,
    holder: &str,
    now: Timestamp,
    ttl_ms: u64,
) -> Result<(LeaseGuard, Lease), Error> {
    let current = read_lease(path)?.ok_or_else(|| {
        Error::new(ErrorKind::JournalMismatch(format!("no lease at {} to take over", path.display())))
    })?;
    if !current.is_stale(now) {
        return Err(current.held(now));
    }
    let lease = Lease {
        holder: holder.into(),
        rollout: current.rollout.clone(),
        token: token(holder, now),
        acquired_ms: now.as_millis(),
        renewed_ms: now.as_millis(),
        ttl_ms,
    };
    let g = LeaseGuard { path: path.to_path_buf(), lease };
    g.write()?;
    Ok((g, current))
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

    /// Gives the lease up (only if it is still this holder's).
    pub fn release(self) -> Result<(), Error> {
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
        // The same holder resuming the same rollout gets it back.
        let again = acquire(&path, "bob", "r1", t(19_000), 10_000).unwrap();
        assert_eq!(again.lease().token, bob.lease().token);
        again.release().unwrap();
        assert!(read_lease(&path).unwrap().is_none());
    }
}
