//! The only code that writes, replaces or removes files in a project. Owns the atomic write;
//! decides nothing (callers pass checked paths).
//!
//! **Atomic** here means: a reader (or a crash) at any instant sees either the whole old file or
//! the whole new file at `path`, never a mix or a truncated file. It is done by writing a temp
//! file in the *same directory* (`.restack-XXXXXX`, same filesystem, so the rename is atomic),
//! `fsync`ing it, renaming it over the target and `fsync`ing the directory so the rename itself is
//! durable. It is atomic per file, not per apply: the journal (see `apply`) covers the set.
//!
//! The leftover-tempfile case: if the process is killed between creating the temp file and the
//! rename, a `.restack-XXXXXX` file stays in the target's directory (the target itself is intact).
//! [`clean_temp_files`] removes them on the next apply, in every directory that apply writes to
//! and in every directory an interrupted apply wrote to.
//!
//! `std::fs::write` and `std::fs::rename` are disallowed by clippy.toml elsewhere; this module does
//! not need them either: the rename is `tempfile`'s `persist`.

use std::io::{self, Write as _};
use std::path::Path;

/// The prefix of restack's temp files.
pub const TEMP_PREFIX: &str = ".restack-";

/// Replaces (or creates) `path` with `bytes` atomically, creating parent directories. A replaced
/// file keeps its permissions; a new one gets the usual `0o666` minus the umask.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let permissions = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions(),
            Err(_) => std::fs::Permissions::from_mode(0o666),
        };
        builder.permissions(permissions);
    }
    let mut temp = builder.tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    sync_dir(dir)
}

/// Removes the file at `path` (a missing file is fine), then every directory above it that became
/// empty, up to but excluding `root`.
pub fn remove(root: &Path, path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut dir = path.parent();
    if let Some(parent) = dir {
        sync_dir(parent)?;
    }
    while let Some(at) = dir {
        if at == root || !at.starts_with(root) || std::fs::remove_dir(at).is_err() {
            break;
        }
        dir = at.parent();
    }
    Ok(())
}

/// Removes leftover `.restack-*` temp files directly inside `dir` (a missing dir is fine).
pub fn clean_temp_files(dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        let is_temp = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
        if is_temp && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Makes a rename or removal in `dir` durable. A no-op where directories cannot be opened.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}
