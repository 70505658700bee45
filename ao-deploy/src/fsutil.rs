//! Files that never lose good data, through [`ao_fs`], with this crate's errors.

use std::path::Path;

use crate::error::Error;

fn error(e: ao_fs::FileError) -> Error {
    Error::io(e.path, e.source)
}

/// Writes `bytes` to `path` atomically ([`ao_fs::write_atomic`]): a half-written
/// file is never visible, and the previous content stays readable until the new
/// one is complete.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    ao_fs::write_atomic(path, bytes).map_err(error)
}

/// Creates `path` holding `bytes`, whole, or fails with `AlreadyExists`
/// ([`ao_fs::create_whole`]: a hard link never replaces a file).
pub(crate) fn create_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    ao_fs::create_whole(path, bytes).map_err(|e| e.source)
}

/// Fsyncs a directory so a rename or a new file in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    ao_fs::sync_dir(dir).map_err(error)
}
