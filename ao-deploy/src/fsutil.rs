//! Files that never lose good data: temp file, fsync, rename (or hard link), fsync the directory.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// Writes `bytes` to `path` atomically: a half-written file is never visible,
/// and the previous content stays readable until the new one is complete.
/// Every call writes its own temporary file, so threads writing one path
/// never share (and mix) one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = parent(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (tmp, f) = temp_file(dir, path).map_err(|e| Error::io(dir, e))?;
    let done = write_synced(f, bytes)
        .map_err(|e| Error::io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done?;
    sync_dir(dir)
}

/// Creates `path` holding `bytes`, whole, or fails with `AlreadyExists`: the
/// bytes are written and fsynced under a temporary name, then hard-linked to
/// `path` (a link never replaces a file), so nobody ever reads a half-written
/// file there. Where hard links are not supported, falls back to an exclusive
/// create, then the write. The directory is fsynced.
pub(crate) fn create_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent(path);
    let (tmp, f) = temp_file(dir, path)?;
    let linked = write_synced(f, bytes).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) => write_synced(OpenOptions::new().write(true).create_new(true).open(path)?, bytes)?,
    }
    File::open(dir).and_then(|d| d.sync_all())
}

/// Fsyncs a directory so a rename or a new file in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

/// The directory a file lives in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A new temporary file beside `path`, named for it, this process and a
/// process-wide counter, created exclusively (a stale name is skipped).
fn temp_file(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
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
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["current.json"], "no temporary file left");
    }

    #[test]
    fn create_whole_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lease.json");
        create_whole(&path, b"first").unwrap();
        let e = create_whole(&path, b"second").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
