//! The only code that writes, replaces or removes files in a project. Owns the atomic write;
//! decides nothing (callers pass checked paths).
//!
//! **Atomic** here means: a reader (or a crash) at any instant sees either the whole old file or
//! the whole new file at `path`, never a mix or a truncated file. It is done by writing a temp
//! file in the *same directory* (`.restack-XXXXXX`, same filesystem, so the rename is atomic),
//! `fsync`ing it, renaming it over the target and `fsync`ing the directory so the rename itself is
//! durable. It is atomic per file, not per apply: the journal (see `apply`) covers the set. A
//! large batch ([`write_all_atomic`]) gets the same order with one `syncfs` of the file system
//! before its renames and one after, instead of an fsync per file and per folder.
//!
//! The leftover-tempfile case: if the process is killed between creating the temp file and the
//! rename, a `.restack-XXXXXX` file stays in the target's directory (the target itself is intact).
//! [`clean_temp_files`] removes them on the next apply, in every directory that apply writes to
//! and in every directory an interrupted apply wrote to.
//!
//! `std::fs::write` and `std::fs::rename` are disallowed by clippy.toml elsewhere; this module does
//! not need them either: the rename is `tempfile`'s `persist` (but for [`Trash::remove`], which
//! moves a file into the trash).
//!
//! Replacing or removing a file frees its blocks, and where the file system discards freed blocks
//! as they are freed (ext4 mounted with `discard`, common on cloud disks), that waits for the disk:
//! about 0.3 ms a file, whatever its size. A [`Trash`] (`watch` keeps one) gives each file about to
//! be replaced or removed a second name first, so that nothing is freed then, and frees them all
//! later, when nobody waits ([`Trash::empty`]).

use std::collections::BTreeSet;
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
    prepare_atomic_with(path, fill)?.persist(None)
}

/// The first half of [`write_atomic_with`]: the new file written and fsynced next to `path`, not
/// yet in its place, so that the wait for its fsync can overlap other work.
/// [`Prepared::persist`] is the second half; a `Prepared` dropped instead removes its temp file.
pub fn prepare_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<Prepared> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    Ok(Prepared {
        temp: write_temp_with(path, fill)?,
        path: path.to_path_buf(),
    })
}

/// A file [`prepare_atomic_with`] wrote, waiting to replace its target.
#[derive(Debug)]
pub struct Prepared {
    temp: tempfile::TempPath,
    path: PathBuf,
}

impl Prepared {
    /// Renames the file over its target and makes the rename durable; with `trash`, the file it
    /// replaces is freed only when the trash is emptied.
    pub fn persist(self, trash: Option<&Trash>) -> io::Result<()> {
        if let Some(trash) = trash {
            trash.keep(&self.path);
        }
        self.temp.persist(&self.path).map_err(|err| err.error)?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")))
    }
}

/// A folder of second names of files that were replaced or removed, so that their blocks are
/// freed when it is emptied rather than when they were replaced (see the module docs). Anything
/// in it is garbage: a crash may leave files there, which the next [`Trash::empty`] removes.
/// Its caller puts it where git ignores it.
#[derive(Debug)]
pub struct Trash {
    dir: PathBuf,
    /// Names files kept during this session: `<pid>-<n>`.
    next: AtomicUsize,
}

impl Trash {
    /// The trash in `dir` (a checked path inside restack's own folder), made if missing.
    pub fn new(dir: PathBuf) -> io::Result<Trash> {
        std::fs::create_dir_all(&dir)?;
        Ok(Trash {
            dir,
            next: AtomicUsize::new(0),
        })
    }

    fn name(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{}-{n}", std::process::id()))
    }

    /// Gives the file at `path` a second name in the trash, if it can (there may be no file
    /// there): replacing it then frees nothing.
    pub fn keep(&self, path: &Path) {
        let _ = std::fs::hard_link(path, self.name());
    }

    /// Removes the file at `path` (a missing file is fine) by moving it into the trash, without
    /// waiting for the move to be durable (see [`remove_unsynced`]). Where it cannot be moved,
    /// it is removed.
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        #[expect(
            clippy::disallowed_methods,
            reason = "not a write: the file leaves its place whole, into the trash"
        )]
        let moved = std::fs::rename(path, self.name());
        match moved {
            Err(err) if err.kind() != io::ErrorKind::NotFound => remove_unsynced(path),
            _ => Ok(()),
        }
    }

    /// Removes every file in the trash, freeing what only it still names.
    pub fn empty(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                remove_unsynced(&entry.path())?;
            }
        }
        Ok(())
    }
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
/// 2. only then is each renamed over its target, in the given order (but see below);
/// 3. then each distinct directory is fsynced once, concurrently.
///
/// From [`SYNC_WHOLE_FROM`] files on (Linux), the fsyncs of steps 1 and 3 are one `syncfs` of each
/// file system written to, after step 1 and after step 2 (see [`Durable`]), and the renames of
/// step 2 run on every core.
///
/// Each file is still replaced atomically (its bytes are durable before its rename), and a failure
/// in step 1 renames nothing. A crash leaves each target old or new plus, at worst, temp files
/// that [`clean_temp_files`] removes; making the *set* consistent is the journal's job.
/// With `trash`, the files replaced are freed only when it is emptied.
pub fn write_all_atomic(files: &[(&Path, &[u8])], trash: Option<&Trash>) -> Result<(), BatchError> {
    write_groups_keeping(
        files,
        |(path, _)| vec![path.to_path_buf()],
        |(_, bytes)| Ok::<_, std::convert::Infallible>(std::borrow::Cow::Borrowed(*bytes)),
        trash,
    )
    .map_err(|err| match err {
        GroupError::Write(err) => err,
        GroupError::Bytes(never) => match never {},
    })
}

/// Why [`write_groups_atomic`] stopped: a file could not be written, or the bytes of a group
/// could not be made or the gate of [`write_groups_from`] failed (nothing was renamed then).
#[derive(Debug)]
pub enum GroupError<E> {
    Write(BatchError),
    Bytes(E),
}

/// [`write_all_atomic`] of groups of files, each group's files (`paths` names them, in order)
/// all getting the bytes `bytes` makes for it. The renames happen in rounds: the first file of
/// every group, in order, then the second of every group, and so on; so a crash before the end
/// leaves no later file of a group renamed while an earlier file of another is not.
///
/// The paths of a group are asked for when they are needed (to write, then to rename), not kept:
/// a batch of thousands of files holds, per file, only the few bytes that name its temp file.
///
/// The bytes are made on one thread per core but one (the calling thread one of them, and the
/// only one on two cores): the other core is left to the file system's work of creating the
/// files, which takes about as long. They are handed to the [`WRITE_THREADS`] threads that write
/// them, a bounded number at a time: the bytes of every file are never all in memory at once,
/// and the threads that wait on the disk allocate almost nothing (a thread that allocates may
/// get a malloc arena of its own, whose freed memory stays resident). When making the bytes of a
/// group fails, no more are made, nothing is renamed, and the error of the first such group in
/// order is returned.
pub fn write_groups_atomic<T: Sync, E: Send>(
    groups: &[T],
    paths: impl Fn(&T) -> Vec<PathBuf> + Sync,
    bytes: impl Fn(&T) -> Result<std::borrow::Cow<'_, [u8]>, E> + Sync,
) -> Result<(), GroupError<E>> {
    write_groups_keeping(groups, paths, bytes, None)
}

/// [`write_groups_atomic`]; with `trash`, the files replaced are freed only when it is emptied.
fn write_groups_keeping<T: Sync, E: Send>(
    groups: &[T],
    paths: impl Fn(&T) -> Vec<PathBuf> + Sync,
    bytes: impl Fn(&T) -> Result<std::borrow::Cow<'_, [u8]>, E> + Sync,
    trash: Option<&Trash>,
) -> Result<(), GroupError<E>> {
    let next = AtomicUsize::new(0);
    let source = || {
        let idx = next.fetch_add(1, Ordering::Relaxed);
        let item = groups.get(idx)?;
        Some((idx, bytes(item)))
    };
    write_groups_from(
        groups,
        (paths, |_| false),
        source,
        |_| unreachable!("every group is taken from the source in turn"),
        || Ok(()),
        trash,
    )
}

/// [`write_groups_atomic`] taking the bytes from `source` in whatever order it makes them: the
/// index of a group with its bytes or why they could not be made, or `None` when it has made all
/// it will. Each group must come once; for the first group in order that did not come at all,
/// `missing` gives the error (and nothing is renamed). `gate` runs once every temp file is
/// written, before the first rename: its error renames nothing either (a caller waits there for
/// what must be durable before any target changes). With `trash`, the files replaced are freed
/// only when it is emptied. The files of a group `new` accepts are known to be absent: they get
/// the usual permissions without a look for the file they would replace (a lookup each, a tenth
/// of the time a cold apply spends making its files).
pub fn write_groups_from<'g, T: Sync, E: Send>(
    groups: &'g [T],
    (paths, new): (
        impl Fn(&T) -> Vec<PathBuf> + Sync,
        impl Fn(&T) -> bool + Sync,
    ),
    source: impl Fn() -> Option<(usize, Result<std::borrow::Cow<'g, [u8]>, E>)> + Sync,
    missing: impl Fn(&T) -> E,
    gate: impl FnOnce() -> Result<(), E>,
    trash: Option<&Trash>,
) -> Result<(), GroupError<E>> {
    // The distinct directories (a project has few), each made before its files are written.
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut files = 0;
    for group in groups {
        for path in paths(group) {
            files += 1;
            let dir = path.parent().unwrap_or(Path::new("."));
            if !dirs.contains(dir) {
                std::fs::create_dir_all(dir).map_err(failed(dir))?;
                dirs.insert(dir.to_path_buf());
            }
        }
    }
    let durable = Durable::for_batch(&dirs, files)?;
    let mut temps = write_temps(groups, (&paths, &new), &source, &missing, &durable)?;
    durable.sync_temps()?;
    gate().map_err(GroupError::Bytes)?;
    temps.rename_all(trash)?;
    durable.sync_renames(dirs)
}

/// From how many files on a batch is made durable by file system rather than by file (see
/// [`Durable`]).
const SYNC_WHOLE_FROM: usize = 64;

/// How a batch makes its temp files durable before their renames, and the renames after.
enum Durable {
    /// An fsync of each temp file, then of each folder.
    EachFile,
    /// One `syncfs` of each file system the batch writes to, before the renames and after (Linux,
    /// from [`SYNC_WHOLE_FROM`] files on): `syncfs` writes back everything the file system has
    /// not yet written and flushes the disk's cache once, where an fsync per file waits for the
    /// disk (and flushes its cache) once per file: thousands of files take seconds that way,
    /// even 16 at a time (bench/RESULTS.md, round 10). Each folder open here since before the
    /// batch wrote anything, `syncfs` reports any write-back error of its file system since
    /// (Linux 5.8 and later). It also writes back what other programs left unwritten on the same
    /// file system: a small batch (`watch`'s) keeps to its own files.
    #[cfg(target_os = "linux")]
    Whole(Vec<(PathBuf, std::fs::File)>),
}

impl Durable {
    fn for_batch<E>(dirs: &BTreeSet<PathBuf>, files: usize) -> Result<Durable, GroupError<E>> {
        #[cfg(target_os = "linux")]
        if files >= SYNC_WHOLE_FROM {
            use std::os::unix::fs::MetadataExt as _;
            let mut devices = BTreeSet::new();
            let mut open = Vec::new();
            for dir in dirs {
                let folder = std::fs::File::open(dir).map_err(failed(dir))?;
                let device = folder.metadata().map_err(failed(dir))?.dev();
                if devices.insert(device) {
                    open.push((dir.clone(), folder));
                }
            }
            return Ok(Durable::Whole(open));
        }
        let _ = (dirs, files);
        Ok(Durable::EachFile)
    }

    /// Whether each temp file is fsynced as it is written.
    fn each_file(&self) -> bool {
        matches!(self, Durable::EachFile)
    }

    /// Makes every temp file written durable (each already is when [`Durable::EachFile`]).
    fn sync_temps<E>(&self) -> Result<(), GroupError<E>> {
        match self {
            Durable::EachFile => Ok(()),
            #[cfg(target_os = "linux")]
            Durable::Whole(folders) => syncfs_each(folders),
        }
    }

    /// Makes the renames in `dirs` durable.
    fn sync_renames<E: Send>(&self, dirs: BTreeSet<PathBuf>) -> Result<(), GroupError<E>> {
        match self {
            Durable::EachFile => {
                let dirs: Vec<PathBuf> = dirs.into_iter().collect();
                in_parallel(&dirs, |dir| sync_dir(dir).map_err(failed(dir))).map(drop)
            }
            #[cfg(target_os = "linux")]
            Durable::Whole(folders) => syncfs_each(folders),
        }
    }
}

/// A `syncfs` of the file system of each open folder.
#[cfg(target_os = "linux")]
fn syncfs_each<E>(folders: &[(PathBuf, std::fs::File)]) -> Result<(), GroupError<E>> {
    for (dir, folder) in folders {
        rustix::fs::syncfs(folder).map_err(|err| failed(dir)(err.into()))?;
    }
    Ok(())
}

/// The error of a failed write of `path`.
fn failed<E>(path: &Path) -> impl FnOnce(io::Error) -> GroupError<E> {
    let path = path.to_path_buf();
    move |source| GroupError::Write(BatchError { path, source })
}

/// How many random characters name a temp file of a batch, after [`TEMP_PREFIX`].
const TEMP_RAND: usize = 6;

/// A temp file of a batch: which file of which group it is to replace, and its name's random
/// part; `None` once it is renamed (or gone). Its directory is its target's.
type TempName = (u32, u16, Option<[u8; TEMP_RAND]>);

/// The temp files a batch wrote, waiting for their renames, sorted by group and by file within
/// it. Dropped, it removes every temp file it still names: on any error, nothing of the batch
/// is left behind.
struct Temps<'g, 'p, T, P: Fn(&T) -> Vec<PathBuf>> {
    groups: &'g [T],
    paths: &'p P,
    names: Vec<TempName>,
}

impl<T, P: Fn(&T) -> Vec<PathBuf>> Temps<'_, '_, T, P> {
    /// The path of the temp file that replaces `target`.
    fn temp_path(target: &Path, rand: [u8; TEMP_RAND]) -> PathBuf {
        let mut name = std::ffi::OsString::from(TEMP_PREFIX);
        name.push(String::from_utf8_lossy(&rand).as_ref());
        target.with_file_name(name)
    }

    /// Renames every temp file over its target, in rounds (see [`write_groups_atomic`]); the
    /// renames of a large round on one thread per core (a rename is the file system's work,
    /// and folders other than the one being written to are not locked by it). An error stops
    /// every thread; the first in order of those met is returned.
    fn rename_all<E: Send>(&mut self, trash: Option<&Trash>) -> Result<(), GroupError<E>>
    where
        T: Sync,
        P: Sync,
    {
        let rounds = self.names.iter().map(|(_, file, _)| *file).max();
        for round in rounds.into_iter().flat_map(|last| 0..=last) {
            let mut names: Vec<&mut TempName> = self
                .names
                .iter_mut()
                .filter(|(_, file, rand)| *file == round && rand.is_some())
                .collect();
            let threads = if names.len() < PARALLEL_RENAMES_FROM {
                1
            } else {
                crate::render::parallel::cores()
            };
            let chunk = names.len().div_ceil(threads).max(1);
            let stop = AtomicBool::new(false);
            let (groups, paths) = (self.groups, self.paths);
            let rename = |part: &mut [&mut TempName]| -> Result<(), GroupError<E>> {
                for name in part {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let renamed = Self::rename(groups, paths, name, trash);
                    if renamed.is_err() {
                        stop.store(true, Ordering::Relaxed);
                        return renamed;
                    }
                }
                Ok(())
            };
            let results: Vec<Result<(), GroupError<E>>> = if threads == 1 {
                vec![rename(&mut names)]
            } else {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = names
                        .chunks_mut(chunk)
                        .map(|part| scope.spawn(|| rename(part)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|handle| {
                            handle
                                .join()
                                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                        })
                        .collect()
                })
            };
            results.into_iter().collect::<Result<(), _>>()?;
        }
        Ok(())
    }

    /// Renames the temp file `name` names over its target; from then on `name` names nothing
    /// (a temp file whose rename failed is removed).
    fn rename<E>(
        groups: &[T],
        paths: &P,
        name: &mut TempName,
        trash: Option<&Trash>,
    ) -> Result<(), GroupError<E>> {
        let (group, file, rand) = name;
        let Some(random) = *rand else {
            return Ok(());
        };
        let paths = paths(&groups[*group as usize]);
        let Some(target) = paths.get(usize::from(*file)) else {
            return Ok(());
        };
        let temp = tempfile::TempPath::try_from_path(Self::temp_path(target, random))
            .map_err(failed(target))?;
        // The temp path owns the file now: a failed rename drops it, which removes it.
        *rand = None;
        if let Some(trash) = trash {
            trash.keep(target);
        }
        temp.persist(target)
            .map_err(|err| failed(target)(err.error))
    }
}

/// From how many renames on a round of [`Temps::rename_all`] runs on one thread per core.
const PARALLEL_RENAMES_FROM: usize = 128;

impl<T, P: Fn(&T) -> Vec<PathBuf>> Drop for Temps<'_, '_, T, P> {
    fn drop(&mut self) {
        for (group, file, rand) in &mut self.names {
            let Some(rand) = rand.take() else { continue };
            let paths = (self.paths)(&self.groups[*group as usize]);
            if let Some(target) = paths.get(usize::from(*file)) {
                // Dropping a temp path removes its file.
                drop(tempfile::TempPath::try_from_path(Self::temp_path(
                    target, rand,
                )));
            }
        }
    }
}

/// What one thread of [`write_temps`] did: the temp files it wrote, and its first error with the
/// group's index.
type Part<E> = (Vec<TempName>, Option<(usize, GroupError<E>)>);

/// The temp files of every group: the bytes of each made by `source` on at most one thread per
/// core, written and fsynced by up to [`WRITE_THREADS`] others (see [`write_groups_atomic`]). On
/// an error every temp file written is removed and the error of the first group in order that
/// failed is returned.
fn write_temps<'g, 'p, T: Sync, E: Send, P: Fn(&T) -> Vec<PathBuf> + Sync>(
    groups: &'g [T],
    (paths, new): (&'p P, &(impl Fn(&T) -> bool + Sync)),
    source: &(impl Fn() -> Option<(usize, Result<std::borrow::Cow<'g, [u8]>, E>)> + Sync),
    missing: &impl Fn(&T) -> E,
    durable: &Durable,
) -> Result<Temps<'g, 'p, T, P>, GroupError<E>> {
    let Ok(n_groups) = u32::try_from(groups.len()) else {
        return Err(GroupError::Write(BatchError {
            path: PathBuf::new(),
            source: io::Error::other("too many files in one batch"),
        }));
    };
    let mut temps = Temps {
        groups,
        paths,
        names: Vec::new(),
    };
    if n_groups == 0 {
        return Ok(temps);
    }
    let makers = crate::render::parallel::cores()
        .saturating_sub(1)
        .clamp(1, groups.len());
    let writers = WRITE_THREADS.min(groups.len());
    let stop = AtomicBool::new(false);
    let came: Vec<AtomicBool> = (0..groups.len()).map(|_| AtomicBool::new(false)).collect();
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
            let Some(came) = came.get(idx) else {
                continue;
            };
            let group = &groups[idx];
            let how = Made {
                fsync: durable.each_file(),
                new: new(group),
            };
            match write_group(idx, &paths(group), &made, how, &mut done) {
                Ok(()) => came.store(true, Ordering::Relaxed),
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
    let first_error = gather(parts, &mut temps.names);
    // Each group's files were written by one thread, in order: a stable sort by group keeps
    // them in order within it.
    temps.names.sort_by_key(|(group, _, _)| *group);
    temps.names.shrink_to_fit();
    if let Some((_, err)) = first_error {
        return Err(err);
    }
    if let Some(idx) = came.iter().position(|it| !it.load(Ordering::Relaxed)) {
        return Err(GroupError::Bytes(missing(&groups[idx])));
    }
    Ok(temps)
}

/// Adds the temp files each thread wrote to `names`; returns the error of the first group in
/// order that failed.
fn gather<E>(parts: Vec<Part<E>>, names: &mut Vec<TempName>) -> Option<(usize, GroupError<E>)> {
    let mut first_error: Option<(usize, GroupError<E>)> = None;
    for (done, error) in parts {
        names.extend(done);
        if let Some((idx, err)) = error
            && first_error.as_ref().is_none_or(|(first, _)| idx < *first)
        {
            first_error = Some((idx, err));
        }
    }
    first_error
}

/// Writes the temp files of the group `idx`, one per path in `paths`, and adds their names to
/// `done`. Written whole or not at all: a group whose second file fails has its first removed
/// (its temp paths become names only once every file of it is written).
fn write_group<E>(
    idx: usize,
    paths: &[PathBuf],
    bytes: &[u8],
    how: Made,
    done: &mut Vec<TempName>,
) -> Result<(), GroupError<E>> {
    let written = paths
        .iter()
        .map(|path| write_temp(path, bytes, how).map_err(failed(path)))
        .collect::<Result<Vec<_>, _>>()?;
    for (file, temp) in written.into_iter().enumerate() {
        let rand = temp
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix(TEMP_PREFIX))
            .and_then(|rand| <[u8; TEMP_RAND]>::try_from(rand.as_bytes()).ok());
        let (Some(rand), Ok(group), Ok(file)) = (rand, u32::try_from(idx), u16::try_from(file))
        else {
            return Err(failed(&temp)(io::Error::other(
                "a temp file's name is not as restack made it",
            )));
        };
        // From here on `Temps` removes it if the batch fails.
        done.push((group, file, Some(rand)));
        let _ = temp.keep();
    }
    Ok(())
}

/// How [`write_temp`] makes a temp file.
#[derive(Clone, Copy)]
struct Made {
    /// Whether it is fsynced (else the caller makes it durable).
    fsync: bool,
    /// Whether its target is known to be absent (see [`temp_file`]).
    new: bool,
}

/// Writes a temp file next to `path` (with `path`'s permissions when it exists and is not known
/// to be absent), fsyncs it when the caller does not make it durable, and closes it, keeping
/// only its name for the rename. The bytes are written as they are, without a buffer.
fn write_temp(path: &Path, bytes: &[u8], how: Made) -> io::Result<tempfile::TempPath> {
    let mut temp = temp_file(path, how.new)?;
    temp.write_all(bytes)?;
    if how.fsync {
        temp.as_file().sync_all()?;
    }
    Ok(temp.into_temp_path())
}

/// [`write_temp`] of what `fill` writes, through a buffer.
fn write_temp_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<tempfile::TempPath> {
    let mut temp = temp_file(path, false)?;
    {
        let mut out = io::BufWriter::new(temp.as_file_mut());
        fill(&mut out)?;
        out.flush()?;
    }
    temp.as_file().sync_all()?;
    Ok(temp.into_temp_path())
}

/// A new, empty temp file next to `path`, with `path`'s permissions when it exists; when `new`
/// (`path` is known to be absent), with the usual permissions without looking.
fn temp_file(path: &Path, new: bool) -> io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).rand_bytes(TEMP_RAND);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let existing = if new {
            None
        } else {
            std::fs::metadata(path).ok()
        };
        let permissions = existing.map_or_else(
            || std::fs::Permissions::from_mode(0o666),
            |meta| meta.permissions(),
        );
        builder.permissions(permissions);
    }
    #[cfg(not(unix))]
    let _ = new;
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
        // Nothing changed: nothing to make durable, no directory became empty.
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        result => result?,
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

/// Removes the file at `path` (a missing file is fine) without waiting for the removal to be
/// durable: for a file whose return after a crash is harmless (the journal of an apply whose
/// state is written, which folds into that very state).
pub fn remove_unsynced(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::path::{Path, PathBuf};

    use super::{GroupError, TEMP_PREFIX, write_groups_atomic, write_groups_from};

    /// Every file below `root`, relative, with its bytes; temp files included.
    fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|it| it.file_type().is_file())
            .map(|it| {
                let rel = it.path().strip_prefix(root).unwrap_or(it.path());
                let bytes = std::fs::read(it.path()).unwrap_or_default();
                (rel.to_string_lossy().replace('\\', "/"), bytes)
            })
            .collect();
        files.sort();
        files
    }

    fn no_temp_files(root: &Path) -> bool {
        tree(root).iter().all(|(rel, _)| !rel.contains(TEMP_PREFIX))
    }

    /// Groups of files, each named by relative paths and getting its own bytes.
    type Groups = Vec<(Vec<&'static str>, &'static [u8])>;

    fn paths_in(root: &Path) -> impl Fn(&(Vec<&'static str>, &'static [u8])) -> Vec<PathBuf> {
        let root = root.to_path_buf();
        move |(paths, _)| paths.iter().map(|it| root.join(it)).collect()
    }

    /// With a trash, the files replaced and removed keep a name in it (so nothing is freed yet)
    /// until it is emptied; the files written are exactly those written without it.
    #[test]
    fn a_trash_keeps_what_was_replaced_until_it_is_emptied() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let trash = super::Trash::new(root.join("trash")).expect("trash");
        let trashed = || {
            let mut kept: Vec<Vec<u8>> = tree(&root.join("trash"))
                .into_iter()
                .map(|(_, bytes)| bytes)
                .collect();
            kept.sort();
            kept
        };
        super::write_atomic(&root.join("a.txt"), b"old a").expect("write");
        super::write_atomic(&root.join("b.txt"), b"old b").expect("write");
        super::write_atomic(&root.join("journal"), b"j").expect("write");
        super::write_all_atomic(
            &[
                (root.join("a.txt").as_path(), b"new a"),
                (root.join("c.txt").as_path(), b"new c"),
            ],
            Some(&trash),
        )
        .expect("batch");
        super::prepare_atomic_with(&root.join("b.txt"), |out| out.write_all(b"new b"))
            .expect("prepare")
            .persist(Some(&trash))
            .expect("persist");
        trash.remove(&root.join("journal")).expect("remove");
        trash
            .remove(&root.join("missing"))
            .expect("a missing file is fine");
        let outside_trash: Vec<(String, Vec<u8>)> = tree(root)
            .into_iter()
            .filter(|(rel, _)| !rel.starts_with("trash/"))
            .collect();
        let expected: Vec<(String, Vec<u8>)> =
            [("a.txt", "new a"), ("b.txt", "new b"), ("c.txt", "new c")]
                .iter()
                .map(|(rel, bytes)| ((*rel).to_owned(), bytes.as_bytes().to_vec()))
                .collect();
        assert_eq!(outside_trash, expected);
        assert_eq!(
            trashed(),
            [b"j".to_vec(), b"old a".to_vec(), b"old b".to_vec()]
        );
        trash.empty().expect("empty");
        assert!(trashed().is_empty());
    }

    #[test]
    fn every_file_of_a_group_gets_its_bytes_and_no_temp_file_is_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        super::write_atomic(&root.join("old.txt"), b"old").expect("write");
        let groups: Groups = vec![
            (vec!["a.txt", "base/a.txt"], b"A"),
            (vec!["old.txt"], b"new"),
            (vec!["deep/er/b.txt", "base/deep/er/b.txt"], b"B"),
        ];
        let res = write_groups_atomic(&groups, paths_in(root), |(_, bytes)| {
            Ok::<_, ()>(Cow::Borrowed(*bytes))
        });
        assert!(res.is_ok(), "{res:?}");
        let expected: Vec<(String, Vec<u8>)> = [
            ("a.txt", "A"),
            ("base/a.txt", "A"),
            ("base/deep/er/b.txt", "B"),
            ("deep/er/b.txt", "B"),
            ("old.txt", "new"),
        ]
        .iter()
        .map(|(rel, bytes)| ((*rel).to_owned(), bytes.as_bytes().to_vec()))
        .collect();
        assert_eq!(tree(root), expected);
    }

    #[test]
    fn bytes_that_cannot_be_made_rename_nothing_and_leave_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        super::write_atomic(&root.join("b.txt"), b"old").expect("write");
        let groups: Groups = vec![
            (vec!["a.txt", "base/a.txt"], b"A"),
            (vec!["b.txt"], b"B"),
            (vec!["c.txt"], b"C"),
        ];
        let res = write_groups_atomic(&groups, paths_in(root), |(paths, bytes)| {
            if paths[0] == "c.txt" {
                Err("cannot make c")
            } else {
                Ok(Cow::Borrowed(*bytes))
            }
        });
        assert!(
            matches!(res, Err(GroupError::Bytes("cannot make c"))),
            "{res:?}"
        );
        assert_eq!(tree(root), vec![("b.txt".to_owned(), b"old".to_vec())]);
    }

    #[test]
    fn a_group_that_never_comes_renames_nothing_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let groups: Groups = vec![(vec!["a.txt"], b"A"), (vec!["b.txt"], b"B")];
        let next = std::sync::atomic::AtomicBool::new(true);
        // Only the first group is made.
        let source = || {
            next.swap(false, std::sync::atomic::Ordering::Relaxed)
                .then(|| (0, Ok(Cow::Borrowed(groups[0].1))))
        };
        let res = write_groups_from(
            &groups,
            (paths_in(root), |_| false),
            source,
            |(paths, _)| paths[0],
            || Ok(()),
            None,
        );
        assert!(matches!(res, Err(GroupError::Bytes("b.txt"))), "{res:?}");
        assert!(tree(root).is_empty(), "{:?}", tree(root));
    }

    #[test]
    fn a_failed_rename_stops_the_renames_and_removes_every_temp_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        // A non-empty directory where a file should go: its rename fails.
        std::fs::create_dir_all(root.join("b.txt/inside")).expect("dir");
        let groups: Groups = vec![
            (vec!["a.txt", "base/a.txt"], b"A"),
            (vec!["b.txt", "base/b.txt"], b"B"),
            (vec!["c.txt"], b"C"),
        ];
        let res = write_groups_atomic(&groups, paths_in(root), |(_, bytes)| {
            Ok::<_, ()>(Cow::Borrowed(*bytes))
        });
        let Err(GroupError::Write(err)) = res else {
            panic!("the rename of b.txt fails: {res:?}");
        };
        assert_eq!(err.path, root.join("b.txt"));
        // Renames go in rounds in group order: `a.txt` was renamed before `b.txt` failed; nothing
        // after it was, and no temp file is left.
        assert!(no_temp_files(root), "{:?}", tree(root));
        assert_eq!(tree(root), vec![("a.txt".to_owned(), b"A".to_vec())]);
    }

    /// Groups of files named by owned paths, each with its own bytes.
    type OwnedGroups = Vec<(Vec<String>, Vec<u8>)>;

    /// `n` groups, each a file in one of seven folders and its copy under `base/`.
    fn many_groups(n: usize) -> OwnedGroups {
        (0..n)
            .map(|i| {
                let rel = format!("d{}/f{i}.txt", i % 7);
                (
                    vec![rel.clone(), format!("base/{rel}")],
                    format!("file {i}").into_bytes(),
                )
            })
            .collect()
    }

    fn owned_paths_in(root: &Path) -> impl Fn(&(Vec<String>, Vec<u8>)) -> Vec<PathBuf> + Sync {
        let root = root.to_path_buf();
        move |(paths, _)| paths.iter().map(|it| root.join(it)).collect()
    }

    /// A batch this large is made durable by file system (on Linux), and its rounds of renames
    /// run on every core: every file gets its bytes all the same, and no temp file is left.
    #[test]
    fn a_large_batch_writes_every_file_and_leaves_no_temp_file() {
        const N: usize = 300;
        const _: () = assert!(N >= super::SYNC_WHOLE_FROM && N >= super::PARALLEL_RENAMES_FROM);
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        super::write_atomic(&root.join("d3/f3.txt"), b"old").expect("write");
        let groups = many_groups(N);
        let res = write_groups_atomic(&groups, owned_paths_in(root), |(_, bytes)| {
            Ok::<_, ()>(Cow::Borrowed(bytes.as_slice()))
        });
        assert!(res.is_ok(), "{res:?}");
        let mut expected: Vec<(String, Vec<u8>)> = groups
            .iter()
            .flat_map(|(paths, bytes)| paths.iter().map(|rel| (rel.clone(), bytes.clone())))
            .collect();
        expected.sort();
        assert_eq!(tree(root), expected);
    }

    /// A rename that fails in a round run on several threads stops that round: the error names
    /// the file, no later round starts (no base is in place), each file renamed has its new bytes
    /// and no temp file is left.
    #[test]
    fn a_failed_rename_in_a_large_round_stops_it_and_removes_every_temp_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let groups = many_groups(300);
        // A non-empty directory where a file should go: its rename fails.
        std::fs::create_dir_all(root.join("d2/f100.txt/inside")).expect("dir");
        let res = write_groups_atomic(&groups, owned_paths_in(root), |(_, bytes)| {
            Ok::<_, ()>(Cow::Borrowed(bytes.as_slice()))
        });
        let Err(GroupError::Write(err)) = res else {
            panic!("the rename of d2/f100.txt fails: {res:?}");
        };
        assert_eq!(err.path, root.join("d2/f100.txt"));
        assert!(no_temp_files(root), "{:?}", tree(root));
        let bytes_of: std::collections::BTreeMap<&str, &[u8]> = groups
            .iter()
            .map(|(paths, bytes)| (paths[0].as_str(), bytes.as_slice()))
            .collect();
        let written = tree(root);
        assert!(written.len() < groups.len(), "the round stopped early");
        for (rel, bytes) in &written {
            assert!(!rel.starts_with("base/"), "a base was renamed: {rel}");
            assert_eq!(bytes_of.get(rel.as_str()), Some(&bytes.as_slice()), "{rel}");
        }
    }

    /// Below the threshold each file is synced on its own; from it on (on Linux) the file
    /// systems are, one open folder for each (the folders of a temp dir share one).
    #[test]
    fn a_batch_is_synced_by_file_system_from_the_threshold_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dirs: std::collections::BTreeSet<PathBuf> = ["a", "b", "c/d"]
            .iter()
            .map(|it| dir.path().join(it))
            .collect();
        for it in &dirs {
            std::fs::create_dir_all(it).expect("dir");
        }
        let small = super::Durable::for_batch::<()>(&dirs, super::SYNC_WHOLE_FROM - 1);
        assert!(matches!(small, Ok(super::Durable::EachFile)));
        let large = super::Durable::for_batch::<()>(&dirs, super::SYNC_WHOLE_FROM);
        #[cfg(target_os = "linux")]
        assert!(matches!(&large, Ok(super::Durable::Whole(folders)) if folders.len() == 1));
        #[cfg(not(target_os = "linux"))]
        assert!(matches!(large, Ok(super::Durable::EachFile)));
    }

    /// A file replaced keeps its permissions; a file of a group known to be new gets the usual
    /// ones, those of a file made the ordinary way in the same folder.
    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_usual_ones() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let mode = |name: &str| {
            std::fs::metadata(root.join(name))
                .expect("metadata")
                .permissions()
                .mode()
                & 0o7777
        };
        std::fs::File::create(root.join("usual")).expect("create");
        std::fs::File::create(root.join("run.py")).expect("create");
        std::fs::set_permissions(root.join("run.py"), std::fs::Permissions::from_mode(0o750))
            .expect("chmod");
        let groups: Vec<(Vec<&str>, &[u8], bool)> = vec![
            (vec!["run.py"], b"replaced\n", false),
            (vec!["new.py"], b"new\n", true),
        ];
        let next = std::sync::atomic::AtomicUsize::new(0);
        let source = || {
            let idx = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            groups
                .get(idx)
                .map(|group| (idx, Ok(Cow::Borrowed(group.1))))
        };
        let paths = |(names, _, _): &(Vec<&str>, &[u8], bool)| {
            names.iter().map(|it| root.join(it)).collect::<Vec<_>>()
        };
        let res = write_groups_from(
            &groups,
            (paths, |group: &(Vec<&str>, &[u8], bool)| group.2),
            source,
            |_| (),
            || Ok(()),
            None,
        );
        assert!(res.is_ok(), "{res:?}");
        assert_eq!(
            std::fs::read(root.join("run.py")).expect("read"),
            b"replaced\n"
        );
        assert_eq!(mode("run.py"), 0o750);
        assert_eq!(mode("new.py"), mode("usual"));
    }
}
