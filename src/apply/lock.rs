//! The apply lock: one restack writer per project at a time. Owns `.restack/lock`; nothing else.
//!
//! An exclusive advisory lock (`File::try_lock`, i.e. `flock` on Unix, `LockFileEx` on Windows)
//! on `.restack/lock`, held for the whole apply and released when the [`Lock`] is dropped or the
//! process dies. It serialises restack processes (and threads: each acquisition opens its own file
//! handle). It does **not** protect against anything that ignores it: editors, formatters, `git
//! checkout` or another tool writing the same files. Those are caught instead by `apply`
//! re-hashing every target right before writing (a stale plan). The lock file itself is empty and
//! may stay on disk; `.gitignore` it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::apply::ApplyError;
use crate::plan::STATE_DIR;

/// The lock file, relative to the project root.
pub const LOCK_FILE: &str = ".restack/lock";

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the project's lock, waiting up to `timeout` for another apply to finish.
pub fn acquire(root: &Path, timeout: Duration) -> Result<Lock, ApplyError> {
    let io_error = |source| ApplyError::Io {
        path: PathBuf::from(LOCK_FILE),
        source,
    };
    // `.restack` or the lock file as a symlink would make even this empty file land outside.
    let path = crate::plan::path::resolve_unchecked(root, LOCK_FILE)?;
    std::fs::create_dir_all(root.join(STATE_DIR)).map_err(io_error)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(ApplyError::Locked {
                    path,
                    waited: timeout,
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
    }
}
