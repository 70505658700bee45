//! Files that never lose good data, shared by the ao-ops crates that write
//! state, bundles, journals and leases. Standard library only.
//!
//! - [`write_atomic`] replaces a file so that a crash leaves the old content or
//!   the new, never a mix: a temporary file beside it, fsync, rename over, fsync
//!   the directory.
//! - [`create_whole`] creates a file that must not exist yet, and nobody ever
//!   reads it half-written: a temporary file, fsync, hard link into place (a
//!   link never replaces a file).
//!
//! Every call writes its own temporary file (`.{name}.{pid}.{n}.tmp`, `n` a
//! process-wide counter, created with `create_new`; a name left by a crashed
//! run is skipped), so concurrent writers to one path, in one process or
//! several, never share one. The temporary file is removed when a step fails.
//!
//! # Example
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("state.json");
//! ao_fs::write_atomic(&path, b"{\"v\": 1}")?;
//! ao_fs::write_atomic(&path, b"{\"v\": 2}")?;
//! assert_eq!(std::fs::read(&path)?, b"{\"v\": 2}");
//!
//! let lease = dir.path().join("lease.json");
//! ao_fs::create_whole(&lease, b"mine")?;
//! let taken = ao_fs::create_whole(&lease, b"yours").unwrap_err();
//! assert_eq!(taken.source.kind(), std::io::ErrorKind::AlreadyExists);
//! assert_eq!(std::fs::read(&lease)?, b"mine");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A failed file operation: the file it was on (the target, its temporary file
/// or its directory) and the OS error.
#[derive(Debug)]
pub struct FileError {
    /// The file or directory the failing step worked on.
    pub path: PathBuf,
    /// What the OS said.
    pub source: std::io::Error,
}

impl FileError {
    fn new(path: &Path, source: std::io::Error) -> Self {
        Self { path: path.to_path_buf(), source }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one,
/// never a mix. Missing parent directories are created. A file replaced keeps
/// its permissions (a file kept private stays private).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = parent(path);
    std::fs::create_dir_all(dir).map_err(|e| FileError::new(dir, e))?;
    let (tmp, f) = temp_file(dir, path)?;
    let done = (|| {
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions()).map_err(|e| FileError::new(&tmp, e))?;
        }
        write_synced(f, bytes).map_err(|e| FileError::new(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| FileError::new(path, e))
    })();
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done?;
    sync_dir(dir)
}

/// Creates `path` holding `bytes`, whole, or fails with
/// [`std::io::ErrorKind::AlreadyExists`] and leaves the file there untouched.
/// Where hard links are not supported, falls back to an exclusive create, then
/// the write. The directory is fsynced.
pub fn create_whole(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = parent(path);
    let (tmp, f) = temp_file(dir, path)?;
    let linked = write_synced(f, bytes).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(FileError::new(path, e)),
        Err(_) => OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|f| write_synced(f, bytes))
            .map_err(|e| FileError::new(path, e))?,
    }
    sync_dir(dir)
}

/// Fsyncs a directory so a rename or a new file in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| FileError::new(dir, e))
}

/// The directory a file lives in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The counter that makes temporary names unique within this process.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A new temporary file beside `path`, created exclusively.
fn temp_file(dir: &Path, path: &Path) -> Result<(PathBuf, File), FileError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let pid = std::process::id();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{pid}.{n}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(FileError::new(&tmp, e)),
        }
    }
}

fn write_synced(mut f: File, bytes: &[u8]) -> std::io::Result<()> {
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn threads_writing_one_path_leave_one_whole_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("current.json");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, &vec![t; 64 * 1024]).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 64 * 1024);
        assert!(bytes.iter().all(|b| *b == bytes[0]), "one writer's bytes, not a mix");
        assert_eq!(names(dir.path()), ["current.json"], "no temporary file left");
    }

    #[test]
    fn a_stale_temporary_name_is_skipped_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        // The names this process would take next, left by a crashed run with the same pid.
        let next = NEXT.load(Ordering::Relaxed);
        let stale: Vec<PathBuf> = (next..next + 4)
            .map(|n| dir.path().join(format!(".s.json.{}.{n}.tmp", std::process::id())))
            .collect();
        for p in &stale {
            std::fs::write(p, b"left by a crash").unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        for p in &stale {
            assert_eq!(std::fs::read(p).unwrap(), b"left by a crash");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.toml");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target");
        std::fs::create_dir(&path).unwrap(); // a directory cannot be renamed over
        let err = write_atomic(&path, b"x").unwrap_err();
        assert_eq!(err.path, path, "{err}");
        assert_eq!(names(dir.path()), ["target"], "the temporary file is removed");
    }

    #[test]
    fn create_whole_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        create_whole(&path, b"first").unwrap();
        let e = create_whole(&path, b"second").unwrap_err();
        assert_eq!(e.source.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["lease.json"], "no temporary file left");
    }

    #[test]
    fn a_bare_file_name_is_written_in_the_current_directory() {
        assert_eq!(parent(Path::new("state.json")), Path::new("."));
        assert_eq!(parent(Path::new("d/state.json")), Path::new("d"));
    }
}
