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

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

/// The prefix of restack's temp files.
pub const TEMP_PREFIX: &str = ".restack-";

/// Replaces (or creates) `path` with `bytes` atomically, creating parent directories. A replaced
/// file keeps its permissions; a new one gets the usual `0o666` minus the umask.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// [`write_atomic`] of what `fill` writes, streamed to the temp file (through a buffer) instead of
/// built in memory first.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    write_temp_with(path, fill)?
        .persist(path)
        .map_err(|err| err.error)?;
    sync_dir(dir)
}

/// Replaces (or creates) `path` with `bytes` atomically as seen by other processes (temp file,
/// rename), creating parent directories, but without any fsync: for caches, which a crash may
/// leave old, new or missing, but never torn.
pub fn replace_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_unsynced_with(path, |out| out.write_all(bytes))
}

/// [`replace_unsynced`] of what `fill` writes, streamed to the temp file (through a buffer)
/// instead of built in memory first.
pub fn replace_unsynced_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    {
        let mut out = io::BufWriter::new(temp.as_file_mut());
        fill(&mut out)?;
        out.flush()?;
    }
    temp.into_temp_path().persist(path).map_err(|err| err.error)
}

/// How many files [`write_all_atomic`] writes and syncs at once. The work is waiting on the disk,
/// not the CPU: concurrent fsyncs share journal commits (ext4, xfs), so even two cores gain from
/// many threads. Also bounds the open file descriptors.
const WRITE_THREADS: usize = 16;

/// A file [`write_all_atomic`] could not write, and why.
#[derive(Debug)]
pub struct BatchError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Writes every `(path, bytes)` exactly as [`write_atomic`] does — temp file in the same
/// directory, fsync, rename, fsync of the directory — but batched, which is what makes a cold apply
/// of thousands of files fast:
///
/// 1. every temp file is written and fsynced, concurrently ([`WRITE_THREADS`]);
/// 2. only then is each renamed over its target, in the given order;
/// 3. then each distinct directory is fsynced once, concurrently.
///
/// Each file is still replaced atomically (its bytes are durable before its rename), and a failure
/// in step 1 renames nothing. A crash leaves each target old or new plus, at worst, temp files
/// that [`clean_temp_files`] removes; making the *set* consistent is the journal's job.
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Result<(), BatchError> {
    let groups: Vec<(Vec<&Path>, &[u8])> = files
        .iter()
        .map(|(path, bytes)| (vec![*path], *bytes))
        .collect();
    write_groups_atomic(&groups, |bytes| {
        Ok::<_, std::convert::Infallible>(std::borrow::Cow::Borrowed(*bytes))
    })
    .map_err(|err| match err {
        GroupError::Write(err) => err,
        GroupError::Bytes(never) => match never {},
    })
}

/// Why [`write_groups_atomic`] stopped: a file could not be written, or the bytes of a group
/// could not be made (nothing was renamed then).
#[derive(Debug)]
pub enum GroupError<E> {
    Write(BatchError),
    Bytes(E),
}

/// [`write_all_atomic`] of groups of files, each group's files all getting the bytes `bytes`
/// makes for it. The renames happen in rounds: the first file of every group, in order, then
/// the second of every group, and so on; so a crash before the end leaves no later file of a
/// group renamed while an earlier file of another is not.
///
/// The bytes are made on at most one thread per core (the calling thread one of them) and handed
/// to the [`WRITE_THREADS`] threads that write them, a bounded number at a time: the bytes of
/// every file are never all in memory at once, and the threads that wait on the disk allocate
/// almost nothing (each thread that allocates gets a malloc arena of its own, whose freed memory
/// stays resident). When making the bytes of a group fails, no more are made, nothing is
/// renamed, and the error of the first such group in order is returned.
pub fn write_groups_atomic<T: Sync, E: Send>(
    groups: &[(Vec<&Path>, T)],
    bytes: impl Fn(&T) -> Result<std::borrow::Cow<'_, [u8]>, E> + Sync,
) -> Result<(), GroupError<E>> {
    let next = AtomicUsize::new(0);
    let source = || {
        let idx = next.fetch_add(1, Ordering::Relaxed);
        let (_, item) = groups.get(idx)?;
        Some((idx, bytes(item)))
    };
    write_groups_from(groups, source, |_| {
        unreachable!("every group is taken from the source in turn")
    })
}

/// [`write_groups_atomic`] taking the bytes from `source` in whatever order it makes them: the
/// index of a group with its bytes or why they could not be made, or `None` when it has made all
/// it will. Each group must come once; for the first group in order that did not come at all,
/// `missing` gives the error (and nothing is renamed).
pub fn write_groups_from<'g, T: Sync, E: Send>(
    groups: &'g [(Vec<&Path>, T)],
    source: impl Fn() -> Option<(usize, Result<std::borrow::Cow<'g, [u8]>, E>)> + Sync,
    missing: impl Fn(&T) -> E,
) -> Result<(), GroupError<E>> {
    let mut dirs: Vec<&Path> = groups
        .iter()
        .flat_map(|(paths, _)| paths)
        .map(|path| path.parent().unwrap_or(Path::new(".")))
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    for dir in &dirs {
        std::fs::create_dir_all(dir).map_err(failed(dir))?;
    }
    let temps = write_temps(groups, &source, &missing)?;
    let rounds = groups
        .iter()
        .map(|(paths, _)| paths.len())
        .max()
        .unwrap_or(0);
    let mut temps: Vec<std::vec::IntoIter<tempfile::TempPath>> =
        temps.into_iter().map(IntoIterator::into_iter).collect();
    for round in 0..rounds {
        for (temps, (paths, _)) in temps.iter_mut().zip(groups) {
            let (Some(temp), Some(path)) = (temps.next(), paths.get(round)) else {
                continue;
            };
            temp.persist(path).map_err(|err| failed(path)(err.error))?;
        }
    }
    in_parallel(&dirs, |dir| sync_dir(dir).map_err(failed(dir)))?;
    Ok(())
}

/// The error of a failed write of `path`.
fn failed<E>(path: &Path) -> impl FnOnce(io::Error) -> GroupError<E> {
    let path = path.to_path_buf();
    move |source| GroupError::Write(BatchError { path, source })
}

/// What one thread of [`write_temps`] did: the groups it finished, and its first error with the
/// group's index.
type Part<E> = (
    Vec<(usize, Vec<tempfile::TempPath>)>,
    Option<(usize, GroupError<E>)>,
);

/// The temp files of every group, in group order: the bytes of each made by `source` on at most
/// one thread per core, written and fsynced by up to [`WRITE_THREADS`] others (see
/// [`write_groups_atomic`]). On an error every temp file written is removed (dropping a
/// [`tempfile::TempPath`] removes its file) and the error of the first group in order that
/// failed is returned.
fn write_temps<'g, T: Sync, E: Send>(
    groups: &'g [(Vec<&Path>, T)],
    source: &(impl Fn() -> Option<(usize, Result<std::borrow::Cow<'g, [u8]>, E>)> + Sync),
    missing: &impl Fn(&T) -> E,
) -> Result<Vec<Vec<tempfile::TempPath>>, GroupError<E>> {
    let write_group = |paths: &[&Path], bytes: &[u8]| {
        paths
            .iter()
            .map(|path| write_temp(path, bytes).map_err(failed(path)))
            .collect::<Result<Vec<_>, _>>()
    };
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let makers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(groups.len());
    let writers = WRITE_THREADS.min(groups.len());
    let stop = AtomicBool::new(false);
    // At most this many made bytes wait for a writer: the bytes in memory are bounded by the
    // files being made, waiting and being written.
    let (send, receive) = mpsc::sync_channel::<(usize, std::borrow::Cow<'g, [u8]>)>(writers);
    let receive = Mutex::new(receive);
    let produce = |send: mpsc::SyncSender<(usize, std::borrow::Cow<'g, [u8]>)>| -> Part<E> {
        while !stop.load(Ordering::Relaxed) {
            match source() {
                None => break,
                Some((idx, Ok(made))) => {
                    debug_assert!(idx < groups.len(), "a group the source made exists");
                    if send.send((idx, made)).is_err() {
                        break;
                    }
                }
                Some((idx, Err(err))) => {
                    stop.store(true, Ordering::Relaxed);
                    return (Vec::new(), Some((idx, GroupError::Bytes(err))));
                }
            }
        }
        (Vec::new(), None)
    };
    let write = || -> Part<E> {
        let mut done = Vec::new();
        loop {
            let received = receive
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .recv();
            let Ok((idx, made)) = received else {
                return (done, None);
            };
            if stop.load(Ordering::Relaxed) {
                // Another group failed: what is left is only drained.
                continue;
            }
            let Some((paths, _)) = groups.get(idx) else {
                continue;
            };
            match write_group(paths, &made) {
                Ok(temps) => done.push((idx, temps)),
                Err(err) => {
                    stop.store(true, Ordering::Relaxed);
                    return (done, Some((idx, err)));
                }
            }
        }
    };
    let parts: Vec<Part<E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| scope.spawn(write))
            .chain((1..makers).map(|_| {
                let send = send.clone();
                scope.spawn(move || produce(send))
            }))
            .collect();
        // The calling thread makes bytes too: its allocations reuse the memory it already freed.
        let mut parts = vec![produce(send)];
        for handle in handles {
            match handle.join() {
                Ok(part) => parts.push(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let mut temps: Vec<Option<Vec<tempfile::TempPath>>> =
        std::iter::repeat_with(|| None).take(groups.len()).collect();
    let mut first_error: Option<(usize, GroupError<E>)> = None;
    for (done, error) in parts {
        for (idx, written) in done {
            temps[idx] = Some(written);
        }
        if let Some((idx, err)) = error
            && first_error.as_ref().is_none_or(|(first, _)| idx < *first)
        {
            first_error = Some((idx, err));
        }
    }
    if let Some((_, err)) = first_error {
        return Err(err);
    }
    temps
        .into_iter()
        .zip(groups)
        .map(|(temps, (_, item))| temps.ok_or_else(|| GroupError::Bytes(missing(item))))
        .collect()
}

/// Writes and fsyncs a temp file next to `path` (with `path`'s permissions when it exists) and
/// closes it, keeping only its name for the rename. The bytes are written as they are, without a
/// buffer.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<tempfile::TempPath> {
    let mut temp = temp_file(path)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(temp.into_temp_path())
}

/// [`write_temp`] of what `fill` writes, through a buffer.
fn write_temp_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<tempfile::TempPath> {
    let mut temp = temp_file(path)?;
    {
        let mut out = io::BufWriter::new(temp.as_file_mut());
        fill(&mut out)?;
        out.flush()?;
    }
    temp.as_file().sync_all()?;
    Ok(temp.into_temp_path())
}

/// A new, empty temp file next to `path`, with `path`'s permissions when it exists.
fn temp_file(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
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
    builder.tempfile_in(dir)
}

/// Runs `job` on every item, on up to [`WRITE_THREADS`] threads, and returns the results in order,
/// or the first error (in item order). Runs inline when there is little to do.
fn in_parallel<T: Sync, R: Send, E: Send>(
    items: &[T],
    job: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    if items.len() <= 2 {
        return items.iter().map(&job).collect();
    }
    let chunk = items.len().div_ceil(WRITE_THREADS);
    let results: Vec<Result<Vec<R>, E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&job).collect::<Result<Vec<R>, E>>()))
            .collect();
        handles
            .into_iter()
            .map(|handle| match handle.join() {
                Ok(res) => res,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for part in results {
        all.extend(part?);
    }
    Ok(all)
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
