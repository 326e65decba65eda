//! `scan`: reads what is on disk for every path the plan needs. Reads only; never writes.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::plan::hash::Hash;
use crate::plan::path::{self, PathError};
use crate::plan::state::{BASE_DIR, Entry, State};
use crate::render::{File, FileSet, Kind, parallel};

/// One file on disk: its hash and, unless the scan kept hashes only ([`scan_hashes_only`]), its
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDisk {
    pub hash: Hash,
    /// Shared, so that a cached read (see [`ScanCache`]) is not copied on every scan.
    pub bytes: Option<Arc<[u8]>>,
}

impl OnDisk {
    /// The contents as text, when they were kept and are UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes.as_deref()?).ok()
    }
}

/// The stored merge base of a scaffold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Always the state's hash for the path: a base that does not match it is not one.
    pub hash: Hash,
    /// The text, unless the scan kept hashes only.
    pub text: Option<Arc<str>>,
}

/// What the disk holds for the paths of a file set and a state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every existing file among the paths, by path. A path not here does not exist.
    pub files: BTreeMap<String, OnDisk>,
    /// The merge base of each scaffold in the state, when it is available and matches the
    /// state's hash (otherwise absent, and a merge treats the base as empty).
    pub bases: BTreeMap<String, Base>,
}

/// Scanning failed: an unsafe path or an IO error. Exit status 2 at the CLI.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("`{path}` is not a regular file")]
    NotAFile { path: String },
    #[error("cannot read `{path}`")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Reads every path in `files` or in `state` under `root` (contents and hash), never following a
/// symlink, plus the merge bases of the state's scaffolds.
pub fn scan(root: &Path, files: &FileSet, state: &State) -> Result<Snapshot, ScanError> {
    scan_with(root, files, state, true)
}

/// [`scan`] keeping only hashes: what a plan needs for every path but the few whose texts it
/// reads ([`super::texts_needed`]), which [`Snapshot::load_texts`] adds. Every file is still read
/// once (to hash it), but the project's bytes are never all in memory.
pub fn scan_hashes_only(
    root: &Path,
    files: &FileSet,
    state: &State,
) -> Result<Snapshot, ScanError> {
    scan_with(root, files, state, false)
}

impl Snapshot {
    /// Reads the bytes of the given files and the texts of their merge bases (of the paths that
    /// have them in this snapshot), as [`scan`] would have kept them. A file whose hash is no
    /// longer the scanned one is an error: it changed during planning.
    pub fn load_texts(
        &mut self,
        root: &Path,
        state: &State,
        paths: &[String],
    ) -> Result<(), ScanError> {
        for rel in paths {
            if let Some(on_disk) = self.files.get_mut(rel)
                && on_disk.bytes.is_none()
            {
                let bytes = read_file(root, rel)?.unwrap_or_default();
                if Hash::of(&bytes) != on_disk.hash {
                    return Err(changed(rel));
                }
                on_disk.bytes = Some(bytes.into());
            }
            if let Some(base) = self.bases.get_mut(rel)
                && base.text.is_none()
            {
                let text = if let Some(text) = state.pending_bases.get(rel) {
                    Some(Arc::clone(text))
                } else {
                    let full = path::resolve_unchecked(root, &format!("{BASE_DIR}/{rel}"))?;
                    read_at(&full, rel)?
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .map(Arc::from)
                };
                match text {
                    Some(text) if Hash::of(text.as_bytes()) == base.hash => base.text = Some(text),
                    _ => return Err(changed(&format!("{BASE_DIR}/{rel}"))),
                }
            }
        }
        Ok(())
    }
}

/// A file that changed between two reads of one plan.
fn changed(rel: &str) -> ScanError {
    ScanError::Io {
        path: rel.to_owned(),
        source: io::Error::other("the file changed while restack was planning; plan again"),
    }
}

/// Files a long-running caller (`watch`) read before, by full path, with the metadata they had
/// then, so that [`scan_cached`] reads again only the files whose metadata changed.
///
/// The trade-off, as in git's index: a file counts as unchanged when its size, inode, device,
/// modification and status-change times (ctime, which no user tool can set back) are all as
/// recorded. Any write, rename or replace changes the ctime, so a hand edit is still seen. A write
/// within the same clock tick as restack's own read could keep the ctime, so a file is recorded
/// only when its ctime was already [`SETTLED`] old when it was read; a file changed more recently
/// is read again next time. A wall clock set backwards can defeat this; the one-shot commands never
/// use the cache.
///
/// A caller that is told of every change in some directories (`watch`, by the file watcher)
/// names them ([`ScanCache::watching`]) and reports each changed path ([`ScanCache::forget`]):
/// a remembered file in such a directory is then served without even its metadata being read,
/// and a file read there is remembered however recent its last change (a change after the read
/// is reported, and forgets it).
#[derive(Debug, Default)]
pub struct ScanCache {
    files: HashMap<PathBuf, (Stamp, OnDisk)>,
    watched: HashSet<PathBuf>,
    /// Every watched directory and each of its ancestors: the paths whose change may be that
    /// of a watched directory (see [`ScanCache::forget`]), found by one lookup.
    holding: HashSet<PathBuf>,
    /// Watched directories whose files have not been checked since the watch began: served
    /// after one more check of their metadata.
    unchecked: HashSet<PathBuf>,
    /// The last snapshot, while it can be brought up to date path by path: while every change
    /// in the watched directories is reported, only the paths added to the scan, the paths
    /// reported changed and the paths not remembered in a watched directory need looking at.
    last: Option<Last>,
}

/// The last snapshot of [`scan_cached`] and what it was taken of.
#[derive(Debug)]
struct Last {
    root: PathBuf,
    snapshot: Snapshot,
    /// The paths scanned (rendered and recorded), in order.
    paths: Vec<String>,
    /// The state's scaffolds and their hashes, in order: the merge bases scanned.
    scaffolds: Vec<(String, Hash)>,
    /// Paths the next scan looks at again: files not remembered in a watched directory (missing
    /// ones included) and files reported changed since.
    recheck: HashSet<String>,
    /// The same for merge bases, by the path of their scaffold (a base an interrupted apply left
    /// pending, which is no file, included).
    recheck_bases: HashSet<String>,
}

impl Last {
    fn new(root: &Path) -> Last {
        Last {
            root: root.to_path_buf(),
            snapshot: Snapshot::default(),
            paths: Vec::new(),
            scaffolds: Vec::new(),
            recheck: HashSet::new(),
            recheck_bases: HashSet::new(),
        }
    }

    /// Marks the file (or merge base) at `full` to be looked at again. False when `full` is
    /// under the root but cannot be named as a relative path (the snapshot is then dropped).
    fn mark_changed(&mut self, full: &Path) -> bool {
        let Ok(rel) = full.strip_prefix(&self.root) else {
            // Outside the project: not in any scan.
            return true;
        };
        let Some(parts) = rel
            .components()
            .map(|part| part.as_os_str().to_str())
            .collect::<Option<Vec<&str>>>()
        else {
            return false;
        };
        let rel = parts.join("/");
        match rel
            .strip_prefix(BASE_DIR)
            .and_then(|it| it.strip_prefix('/'))
        {
            Some(scaffold) => self.recheck_bases.insert(scaffold.to_owned()),
            None => self.recheck.insert(rel),
        };
        true
    }
}

impl ScanCache {
    /// From now on, every change of a file directly in one of `dirs` is reported to
    /// [`ScanCache::forget`]. Files remembered in a directory that was not watched before are
    /// checked by their metadata once more: they may have changed before the watch began.
    pub fn watching(&mut self, dirs: impl IntoIterator<Item = PathBuf>) {
        let dirs: HashSet<PathBuf> = dirs.into_iter().collect();
        if dirs != self.watched {
            // Which files may be served unchecked changed: the next scan looks at every path.
            self.last = None;
        }
        let old = std::mem::take(&mut self.watched);
        self.unchecked
            .extend(dirs.iter().filter(|dir| !old.contains(*dir)).cloned());
        self.unchecked.retain(|dir| dirs.contains(dir));
        if dirs != old {
            // A path every directory starts with, the empty one, is no ancestor of an absolute
            // one: added for the same answer as asking each directory.
            let empty = (!dirs.is_empty()).then(|| Path::new(""));
            self.holding = dirs
                .iter()
                .flat_map(|dir| dir.ancestors())
                .chain(empty)
                .map(Path::to_path_buf)
                .collect();
        }
        self.watched = dirs;
    }

    /// Forgets `path` and, when it is (or was) a directory holding a watched one, everything
    /// below it. (A file elsewhere is checked by its metadata anyway, so most events, about one
    /// file, cost one lookup.)
    pub fn forget(&mut self, path: &Path) {
        // `holding` holds exactly the paths some watched directory starts with.
        if self.files.remove(path).is_none() && self.holding.contains(path) {
            self.files.retain(|full, _| !full.starts_with(path));
            self.last = None;
        }
        if let Some(last) = &mut self.last
            && !last.mark_changed(path)
        {
            self.last = None;
        }
    }

    /// Forgets every file (changes may have gone unreported); the directories stay watched.
    pub fn forget_all(&mut self) {
        self.files.clear();
        self.last = None;
    }

    /// The remembered file at `full`, when it is in a watched directory, as a scan finds it.
    fn watched_hit(&self, full: PathBuf) -> Stamped {
        let dir = full.parent()?;
        if !self.watched.contains(dir) || self.unchecked.contains(dir) {
            return None;
        }
        let (stamp, on_disk) = self.files.get(&full)?;
        Some((full, on_disk.clone(), Some(stamp.clone())))
    }

    /// Remembers the file at `full` as a scan found it, with the stamp to remember it by (forgets
    /// it without one). Returns whether the next scan may serve it without looking: remembered,
    /// in a watched directory.
    fn remember(&mut self, full: PathBuf, stamp: Option<Stamp>, on_disk: &OnDisk) -> bool {
        let trusted =
            stamp.is_some() && full.parent().is_some_and(|dir| self.watched.contains(dir));
        match stamp {
            Some(stamp) => {
                self.files.insert(full, (stamp, on_disk.clone()));
            }
            None => {
                self.files.remove(&full);
            }
        }
        trusted
    }
}

/// How old a file's ctime must be, when it is read, for its bytes to be remembered: well above
/// the tick of the file system's coarse clock.
const SETTLED: Duration = Duration::from_secs(1);

/// The metadata that any change of a file's bytes (or of a folder's entries) changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    ino: u64,
    dev: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    #[cfg(unix)]
    #[expect(
        clippy::unnecessary_wraps,
        reason = "the same signature as off unix, where there is no stamp"
    )]
    pub(crate) fn of(meta: &Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        Some(Stamp {
            len: meta.len(),
            ino: meta.ino(),
            dev: meta.dev(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    fn of(_meta: &Metadata) -> Option<Self> {
        None
    }

    /// The stamp of what is at `path` now (not following a symlink); `None` when nothing is or
    /// it cannot be told.
    pub(crate) fn at(path: &Path) -> Option<Self> {
        Stamp::of(&std::fs::symlink_metadata(path).ok()?)
    }

    /// True when the ctime is at least [`SETTLED`] before `read_at`.
    pub(crate) fn settled(&self, read_at: SystemTime) -> bool {
        let (secs, nanos) = self.ctime;
        let (Ok(secs), Ok(nanos)) = (u64::try_from(secs), u32::try_from(nanos)) else {
            return false;
        };
        let ctime =
            SystemTime::UNIX_EPOCH + Duration::new(secs, 0) + Duration::from_nanos(nanos.into());
        read_at
            .duration_since(ctime)
            .is_ok_and(|age| age >= SETTLED)
    }
}

/// [`scan`], reading only what may have changed since `cache` last scanned: the paths added to
/// the scan, the files reported changed (see [`ScanCache::forget`]) and the files not remembered
/// in a watched directory, the last by their metadata (see [`ScanCache`]). Updates `cache` with
/// the paths of this scan only.
pub fn scan_cached<'c>(
    root: &Path,
    files: &FileSet,
    state: &State,
    cache: &'c mut ScanCache,
) -> Result<&'c Snapshot, ScanError> {
    let last = cache.last.take().filter(|last| {
        last.root == root && cache.unchecked.is_empty() && state.pending_bases.is_empty()
    });
    let last = update(root, files, state, cache, last)?;
    // Every file of this scan was checked (or read) after its directory was watched.
    cache.unchecked.clear();
    Ok(&cache.last.insert(last).snapshot)
}

/// Brings `last` up to date (or, without one, scans every path): reads the paths added since
/// and the paths to look at again, and drops the paths gone. The files `cache` remembers become
/// those of this scan. Changes nothing when it fails.
fn update(
    root: &Path,
    files: &FileSet,
    state: &State,
    cache: &mut ScanCache,
    last: Option<Last>,
) -> Result<Last, ScanError> {
    let fresh = last.is_none();
    let mut last = last.unwrap_or_else(|| Last::new(root));
    let (todo, gone, same_paths) = last.files_to_scan(files, state);
    let (base_todo, bases_gone, same_scaffolds) = last.bases_to_scan(state);
    // Reading and hashing is spread over the cores; the first error in path order wins, files
    // before bases, as if the paths were read one by one.
    let resolver = path::Resolver::new(root);
    let old = &*cache;
    let read = parallel::map(&todo, |rel| {
        scan_file(root, &resolver, rel, Some(old), true)
    });
    let read_bases = parallel::map(&base_todo, |(rel, hash)| {
        scan_base(root, &resolver, state, rel, *hash, Some(old), true)
    });
    let read: Vec<Stamped> = read.into_iter().collect::<Result<_, _>>()?;
    let read_bases: Vec<FoundBase> = read_bases.into_iter().collect::<Result<_, _>>()?;

    // Nothing fails from here on.
    if fresh {
        cache.files.clear();
    }
    for rel in &gone {
        last.snapshot.files.remove(rel);
        cache.files.remove(&root.join(rel));
    }
    for (rel, found) in todo.into_iter().zip(read) {
        let trusted = if let Some((full, on_disk, stamp)) = found {
            let trusted = cache.remember(full, stamp, &on_disk);
            last.snapshot.files.insert(rel.clone(), on_disk);
            trusted
        } else {
            cache.files.remove(&root.join(rel));
            last.snapshot.files.remove(rel);
            false
        };
        look_again(&mut last.recheck, rel, !trusted);
    }
    if !same_paths {
        last.paths = paths(files, state).cloned().collect();
    }
    // Changes reported of paths that are not scanned (any file in a watched directory).
    last.recheck
        .retain(|rel| files.files.contains_key(rel) || state.files.contains_key(rel));

    let base_dir = root.join(BASE_DIR);
    for rel in &bases_gone {
        last.snapshot.bases.remove(rel);
        cache.files.remove(&base_dir.join(rel));
    }
    for ((rel, _), (base, found)) in base_todo.into_iter().zip(read_bases) {
        match base {
            Some(base) => last.snapshot.bases.insert(rel.clone(), base),
            None => last.snapshot.bases.remove(rel),
        };
        let trusted = if let Some((full, on_disk, stamp)) = found {
            cache.remember(full, stamp, &on_disk)
        } else {
            cache.files.remove(&base_dir.join(rel));
            false
        };
        look_again(&mut last.recheck_bases, rel, !trusted);
    }
    match same_scaffolds {
        Same::All => {}
        // An edit changes the hashes of a few scaffolds, not their paths: no path is copied.
        Same::Paths => {
            for ((_, known), (_, hash)) in last.scaffolds.iter_mut().zip(scaffolds(state)) {
                *known = hash;
            }
        }
        Same::Nothing => {
            last.scaffolds = scaffolds(state)
                .map(|(rel, hash)| (rel.clone(), hash))
                .collect();
        }
    }
    last.recheck_bases.retain(|rel| {
        state
            .files
            .get(rel)
            .is_some_and(|entry| entry.kind == Kind::Scaffold)
    });
    Ok(last)
}

/// Adds `rel` to the paths a scan looks at again, or takes it out.
fn look_again(paths: &mut HashSet<String>, rel: &String, again: bool) {
    if again {
        paths.insert(rel.clone());
    } else {
        paths.remove(rel);
    }
}

impl Last {
    /// The paths of this scan to read (new ones and ones to look at again), the paths of the
    /// last scan that this one does not have, and whether both scans have the same paths.
    fn files_to_scan<'a>(
        &self,
        files: &'a FileSet,
        state: &'a State,
    ) -> (Vec<&'a String>, Vec<String>, bool) {
        let mut todo = Vec::new();
        let mut gone = Vec::new();
        let mut same = true;
        let mut old = self.paths.iter().peekable();
        for rel in paths(files, state) {
            // Each old path is compared with a new one once.
            let known = loop {
                match old.peek().map(|it| it.as_str().cmp(rel)) {
                    Some(Ordering::Less) => gone.extend(old.next().cloned()),
                    Some(Ordering::Equal) => {
                        old.next();
                        break true;
                    }
                    Some(Ordering::Greater) | None => break false,
                }
            };
            same &= known;
            if !known {
                todo.push(rel);
            }
        }
        gone.extend(old.cloned());
        same &= gone.is_empty();
        // The paths to look at again are few: each is found among this scan's paths by a lookup
        // (rather than every path looked up among them) and merged in, in path order.
        if !self.recheck.is_empty() {
            let mut again: Vec<&'a String> = self
                .recheck
                .iter()
                .filter_map(|rel| {
                    let rendered = files.files.get_key_value(rel).map(|(rel, _)| rel);
                    rendered.or_else(|| state.files.get_key_value(rel).map(|(rel, _)| rel))
                })
                .collect();
            again.sort_unstable();
            let added = std::mem::take(&mut todo);
            todo = Vec::with_capacity(added.len() + again.len());
            let mut added = added.into_iter().peekable();
            for rel in again {
                todo.extend(std::iter::from_fn(|| added.next_if(|it| *it < rel)));
                // A path both added and to look at again is read once.
                let _ = added.next_if(|it| *it == rel);
                todo.push(rel);
            }
            todo.extend(added);
        }
        (todo, gone, same)
    }

    /// The scaffolds whose merge bases this scan reads (new ones, ones recorded with another
    /// hash, ones to look at again), the scaffolds of the last scan that this one does not have,
    /// and what both scans have in common.
    fn bases_to_scan<'a>(&self, state: &'a State) -> (Vec<(&'a String, Hash)>, Vec<String>, Same) {
        let mut todo = Vec::new();
        let mut gone = Vec::new();
        let mut same_paths = true;
        let mut same_hashes = true;
        let mut old = self.scaffolds.iter().peekable();
        for (rel, hash) in scaffolds(state) {
            // Each old scaffold is compared with a new one once.
            let known = loop {
                match old.peek().map(|(it, _)| it.as_str().cmp(rel)) {
                    Some(Ordering::Less) => gone.extend(old.next().map(|(it, _)| it.clone())),
                    Some(Ordering::Equal) => break old.next().map(|(_, known)| *known),
                    Some(Ordering::Greater) | None => break None,
                }
            };
            same_paths &= known.is_some();
            same_hashes &= known == Some(hash);
            if known != Some(hash)
                || (!self.recheck_bases.is_empty() && self.recheck_bases.contains(rel))
            {
                todo.push((rel, hash));
            }
        }
        gone.extend(old.map(|(it, _)| it.clone()));
        same_paths &= gone.is_empty();
        let same = match (same_paths, same_hashes) {
            (true, true) => Same::All,
            (true, false) => Same::Paths,
            (false, _) => Same::Nothing,
        };
        (todo, gone, same)
    }
}

/// What the scaffolds of two scans have in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Same {
    /// The same paths with the same hashes.
    All,
    /// The same paths, in the same order.
    Paths,
    Nothing,
}

/// The paths of `files` and of `state`, in order, each once: the paths a scan and a plan look at.
pub(crate) fn paths<'a>(files: &'a FileSet, state: &'a State) -> impl Iterator<Item = &'a String> {
    pairs(files, state).map(|(rel, _, _)| rel)
}

/// [`paths`], each with its rendered file and its state entry (either may be missing, not both):
/// one walk over both maps instead of a lookup in each per path.
pub(crate) fn pairs<'a>(
    files: &'a FileSet,
    state: &'a State,
) -> impl Iterator<Item = (&'a String, Option<&'a File>, Option<&'a Entry>)> {
    let mut rendered = files.files.iter().peekable();
    let mut recorded = state.files.iter().peekable();
    std::iter::from_fn(move || match (rendered.peek(), recorded.peek()) {
        (Some((one, _)), Some((other, _))) => match one.cmp(other) {
            Ordering::Less => rendered.next().map(|(rel, file)| (rel, Some(file), None)),
            Ordering::Greater => recorded.next().map(|(rel, entry)| (rel, None, Some(entry))),
            Ordering::Equal => {
                let entry = recorded.next().map(|(_, entry)| entry);
                rendered.next().map(|(rel, file)| (rel, Some(file), entry))
            }
        },
        (Some(_), None) => rendered.next().map(|(rel, file)| (rel, Some(file), None)),
        (None, _) => recorded.next().map(|(rel, entry)| (rel, None, Some(entry))),
    })
}

/// The scaffolds of `state` with their recorded hashes, in order: the merge bases a scan reads.
fn scaffolds(state: &State) -> impl Iterator<Item = (&String, Hash)> {
    state
        .files
        .iter()
        .filter(|(_, entry)| entry.kind == Kind::Scaffold)
        .map(|(rel, entry)| (rel, entry.hash))
}

fn scan_with(
    root: &Path,
    files: &FileSet,
    state: &State,
    keep_bytes: bool,
) -> Result<Snapshot, ScanError> {
    let paths: Vec<&String> = paths(files, state).collect();
    // Reading and hashing is spread over the cores; the first error in path order wins, as if
    // the paths were read one by one.
    let resolver = path::Resolver::new(root);
    let read = parallel::map(&paths, |rel| {
        scan_file(root, &resolver, rel, None, keep_bytes)
    });
    let mut snapshot = Snapshot::default();
    for (rel, found) in paths.into_iter().zip(read) {
        if let Some((_, on_disk, _)) = found? {
            snapshot.files.insert(rel.clone(), on_disk);
        }
    }
    let scaffolds: Vec<(&String, Hash)> = scaffolds(state).collect();
    let bases = parallel::map(&scaffolds, |(rel, hash)| {
        scan_base(root, &resolver, state, rel, *hash, None, keep_bytes)
    });
    for ((rel, _), found) in scaffolds.into_iter().zip(bases) {
        if let (Some(base), _) = found? {
            snapshot.bases.insert(rel.clone(), base);
        }
    }
    Ok(snapshot)
}

/// What a scan finds at one rendered or recorded path: served from `old` when it may be (see
/// [`ScanCache`]), else read.
fn scan_file(
    root: &Path,
    resolver: &path::Resolver,
    rel: &str,
    old: Option<&ScanCache>,
    keep_bytes: bool,
) -> Result<Stamped, ScanError> {
    if let Some(old) = old
        && path::validate(rel).is_ok()
        && let Some(hit) = old.watched_hit(root.join(rel))
    {
        return Ok(Some(hit));
    }
    let (full, meta) = resolver.resolve_with_metadata(rel)?;
    let mut found = read_stamped(full, rel, regular(meta, rel)?, old)?;
    // Dropped here, in the job, so that the bytes of every file are never held at once. (A
    // cache remembers bytes: only the uncached scans keep hashes only.)
    if let Some((_, on_disk, _)) = &mut found
        && !keep_bytes
    {
        on_disk.bytes = None;
    }
    Ok(found)
}

/// What a scan finds of the merge base of the scaffold `rel` (recorded with `hash`): the base,
/// when it is one, and the file read for it (none for a base an interrupted apply left pending,
/// or a missing file).
type FoundBase = (Option<Base>, Stamped);

fn scan_base(
    root: &Path,
    resolver: &path::Resolver,
    state: &State,
    rel: &str,
    hash: Hash,
    old: Option<&ScanCache>,
    keep_bytes: bool,
) -> Result<FoundBase, ScanError> {
    if let Some(base) = state.pending_bases.get(rel) {
        let base = (Hash::of(base.as_bytes()) == hash).then(|| Base {
            hash,
            text: keep_bytes.then(|| Arc::clone(base)),
        });
        return Ok((base, None));
    }
    path::validate(rel)?;
    let base_rel = format!("{BASE_DIR}/{rel}");
    let hit = old.and_then(|old| old.watched_hit(root.join(&base_rel)));
    let found = if let Some(hit) = hit {
        Some(hit)
    } else {
        let (full, meta) = resolver.resolve_unchecked_with_metadata(&base_rel)?;
        read_stamped(full, rel, regular(meta, rel)?, old)?
    };
    let Some((full, mut on_disk, stamp)) = found else {
        return Ok((None, None));
    };
    let text = on_disk
        .bytes
        .as_deref()
        .and_then(|bytes| std::str::from_utf8(bytes).ok());
    // A base is text (it is a rendering): one that is not UTF-8 is not one.
    let base = (on_disk.hash == hash)
        .then_some(text)
        .flatten()
        .map(|text| Base {
            hash,
            text: keep_bytes.then(|| Arc::from(text)),
        });
    // As in `scan_file`: the bytes of every base are never held at once.
    if !keep_bytes {
        on_disk.bytes = None;
    }
    Ok((base, Some((full, on_disk, stamp))))
}

/// The blake3 hash of every file of `paths` under `root` (`None` for a missing one), in order,
/// reading each file once and keeping only its hash. For proving a project unchanged
/// ([`crate::plan::plan_unchanged`]); `paths` must have passed [`path::validate`] (or be a merge
/// base under `.restack/base/`).
///
/// Returns `None` when anything is unusual: a symlink anywhere below the root, something other
/// than a regular file, an IO error. The caller then takes the full road ([`scan`]), which
/// reports it. Each directory is checked for symlinks once, not once per file below it.
pub fn scan_hashes(root: &Path, paths: &[&str]) -> Option<Vec<Option<Hash>>> {
    let resolver = path::Resolver::new(root);
    let hashes = parallel::map(paths, |rel| {
        // A symlink anywhere or an IO error is an error here: `None`, the full road.
        let (full, meta) = resolver.resolve_unchecked_with_metadata(rel).ok()?;
        match meta {
            None => Some(None),
            Some(meta) if meta.is_file() => {
                std::fs::read(&full).ok().map(|bytes| Some(Hash::of(bytes)))
            }
            Some(_) => None,
        }
    });
    hashes.into_iter().collect()
}

/// A file read and hashed, or taken from `old` when its [`Stamp`] is unchanged; with the stamp to
/// remember it by, when it is settled.
type Stamped = Option<(PathBuf, OnDisk, Option<Stamp>)>;

/// `meta` is the file's metadata (not following symlinks), `None` when it does not exist.
fn read_stamped(
    full: PathBuf,
    rel: &str,
    meta: Option<Metadata>,
    old: Option<&ScanCache>,
) -> Result<Stamped, ScanError> {
    let Some(meta) = meta else {
        return Ok(None);
    };
    let Some(old) = old else {
        let bytes = read_bytes(&full, rel)?;
        let on_disk = OnDisk {
            hash: Hash::of(&bytes),
            bytes: Some(bytes.into()),
        };
        return Ok(Some((full, on_disk, None)));
    };
    let stamp = Stamp::of(&meta);
    if let (Some(stamp), Some((known, on_disk))) = (&stamp, old.files.get(&full))
        && stamp == known
    {
        let on_disk = on_disk.clone();
        return Ok(Some((full, on_disk, Some(stamp.clone()))));
    }
    let read_at = SystemTime::now();
    let bytes = read_bytes(&full, rel)?;
    // Remember the bytes only if nothing changed the file while it was read, and its last change
    // is old enough that a later one must move its ctime.
    let after = Stamp::at(&full);
    // In a watched directory, a change after the read is reported: no need to wait for it to
    // settle.
    let watched = full.parent().is_some_and(|dir| old.watched.contains(dir));
    let stamp = stamp.filter(|it| after.as_ref() == Some(it) && (watched || it.settled(read_at)));
    let on_disk = OnDisk {
        hash: Hash::of(&bytes),
        bytes: Some(bytes.into()),
    };
    Ok(Some((full, on_disk, stamp)))
}

/// Reads `root/rel` if it exists, refusing unsafe paths, symlinks and directories.
pub(crate) fn read_file(root: &Path, rel: &str) -> Result<Option<Vec<u8>>, ScanError> {
    let full = path::resolve(root, rel)?;
    read_at(&full, rel)
}

fn read_at(full: &Path, rel: &str) -> Result<Option<Vec<u8>>, ScanError> {
    if metadata(full, rel)?.is_none() {
        return Ok(None);
    }
    read_bytes(full, rel).map(Some)
}

/// `meta` if it is a regular file's, `None` if there is none; an error for anything else.
fn regular(meta: Option<Metadata>, rel: &str) -> Result<Option<Metadata>, ScanError> {
    match meta {
        Some(meta) if !meta.is_file() => Err(ScanError::NotAFile {
            path: rel.to_owned(),
        }),
        meta => Ok(meta),
    }
}

/// The metadata of a regular file, `None` if it does not exist; an error for anything else.
fn metadata(full: &Path, rel: &str) -> Result<Option<Metadata>, ScanError> {
    match std::fs::symlink_metadata(full) {
        Ok(meta) if meta.is_file() => Ok(Some(meta)),
        Ok(_) => Err(ScanError::NotAFile {
            path: rel.to_owned(),
        }),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(source) => Err(ScanError::Io {
            path: rel.to_owned(),
            source,
        }),
    }
}

fn read_bytes(full: &Path, rel: &str) -> Result<Vec<u8>, ScanError> {
    std::fs::read(full).map_err(|source| ScanError::Io {
        path: rel.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir;
    use crate::render::File;

    fn one_file(rel: &str) -> FileSet {
        let mut set = FileSet::default();
        set.files.insert(
            rel.to_owned(),
            File::rendered(
                "x\n",
                Kind::Managed,
                ir::Origin {
                    entity: "function \"F\"".to_owned(),
                    span: (0, 1),
                },
                "test.j2",
            ),
        );
        set
    }

    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "the test edits a file in place, as a user would"
    )]
    fn the_cache_serves_unchanged_files_and_rereads_changed_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let full = root.join("a.py");
        std::fs::write(&full, "disk\n").expect("write");
        let set = one_file("a.py");
        let state = State::default();
        let mut cache = ScanCache::default();
        let first = scan_cached(root, &set, &state, &mut cache)
            .expect("scan")
            .clone();
        assert_eq!(first, scan(root, &set, &state).expect("scan"));
        // Just written: not settled, so not remembered.
        assert!(cache.files.is_empty());

        // A remembered stamp that matches is served from the cache (here a marked copy).
        let meta = std::fs::symlink_metadata(&full).expect("metadata");
        let stamp = Stamp::of(&meta).expect("unix stamp");
        let marked = OnDisk {
            hash: Hash::of(b"cached\n"),
            bytes: Some(b"cached\n".to_vec().into()),
        };
        cache
            .files
            .insert(full.clone(), (stamp.clone(), marked.clone()));
        let hit = scan_cached(root, &set, &state, &mut cache).expect("scan");
        assert_eq!(hit.files.get("a.py"), Some(&marked));

        // Any write moves the stamp: the file is read again.
        std::fs::write(&full, "edited by hand\n").expect("write");
        cache.files.insert(full.clone(), (stamp, marked));
        let edited = scan_cached(root, &set, &state, &mut cache)
            .expect("scan")
            .clone();
        assert_eq!(edited, scan(root, &set, &state).expect("scan"));
        assert_eq!(
            edited.files.get("a.py").and_then(|it| it.bytes.as_deref()),
            Some(b"edited by hand\n".as_slice())
        );
    }

    /// In a watched directory a remembered file is served until its change is reported, even a
    /// file just written; the first scan after the watch begins checks metadata once more.
    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "the test edits a file in place, as a user would"
    )]
    fn watched_files_are_served_until_a_change_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let full = root.join("a.py");
        let text = |snapshot: &Snapshot| {
            snapshot
                .files
                .get("a.py")
                .and_then(|it| it.text())
                .map(str::to_owned)
        };
        std::fs::write(&full, "old\n").expect("write");
        let set = one_file("a.py");
        let state = State::default();
        let mut cache = ScanCache::default();
        cache.watching([root.to_path_buf()]);
        // Unchecked since the watch began: read (and remembered, though just written).
        let scanned = scan_cached(root, &set, &state, &mut cache).expect("scan");
        assert_eq!(text(scanned).as_deref(), Some("old\n"));
        assert_eq!(cache.files.len(), 1);
        // A change nobody reported is not seen: the file is served from memory. Reported (the
        // file, its directory, or everything forgotten), it is read again.
        let forgets: [fn(&mut ScanCache, &Path); 3] = [
            |cache, full| cache.forget(full),
            |cache, full| cache.forget(full.parent().expect("dir")),
            |cache, _| cache.forget_all(),
        ];
        let mut served = "old\n".to_owned();
        for (round, forget) in forgets.into_iter().enumerate() {
            let now = format!("edit {round}\n");
            std::fs::write(&full, &now).expect("write");
            let scanned = scan_cached(root, &set, &state, &mut cache).expect("scan");
            assert_eq!(text(scanned), Some(served.clone()), "round {round}");
            forget(&mut cache, &full);
            let scanned = scan_cached(root, &set, &state, &mut cache).expect("scan");
            assert_eq!(text(scanned), Some(now.clone()), "round {round}");
            served = now;
        }
        // A directory no longer watched is back to the metadata check.
        cache.watching(std::iter::empty());
        std::fs::write(&full, "last, and longer\n").expect("write");
        let scanned = scan_cached(root, &set, &state, &mut cache).expect("scan");
        assert_eq!(text(scanned).as_deref(), Some("last, and longer\n"));
    }

    /// A watching scan brought up to date path by path equals a fresh scan through edits,
    /// deletions, paths and scaffolds coming and going, merge bases changing and a pending base,
    /// as long as every change is reported; and a change nobody reported is not looked for.
    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "the test edits files in place, as a user would"
    )]
    #[expect(clippy::too_many_lines, reason = "one sequence of steps, each checked")]
    fn a_watching_scan_updated_path_by_path_equals_a_fresh_scan() {
        use crate::plan::{Entry, Origin};
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let origin = ir::Origin {
            entity: "function \"F\"".to_owned(),
            span: (0, 1),
        };
        let write = |rel: &str, text: &str| {
            let full = root.join(rel);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(&full, text).expect("write");
            full
        };
        let render = |set: &mut FileSet, rel: &str, text: &str, kind: Kind| {
            set.files.insert(
                rel.to_owned(),
                File::rendered(text, kind, origin.clone(), "test.j2"),
            );
        };
        let record = |state: &mut State, rel: &str, text: &str, kind: Kind| {
            state.files.insert(
                rel.to_owned(),
                Entry {
                    kind,
                    origin: Origin::from(&origin),
                    hash: Hash::of(text.as_bytes()),
                },
            );
        };
        let mut set = FileSet::default();
        let mut state = State::default();
        for (rel, text) in [("a/x.py", "x\n"), ("a/y.py", "y\n"), ("b/z.py", "z\n")] {
            write(rel, text);
            render(&mut set, rel, text, Kind::Managed);
            record(&mut state, rel, text, Kind::Managed);
        }
        for (rel, text) in [("s/one.py", "one\n"), ("s/two.py", "two\n")] {
            write(rel, text);
            write(&format!("{BASE_DIR}/{rel}"), text);
            render(&mut set, rel, text, Kind::Scaffold);
            record(&mut state, rel, text, Kind::Scaffold);
        }
        let dirs: Vec<PathBuf> = ["", "a", "b", "s", ".restack/base/s"]
            .iter()
            .map(|it| root.join(it))
            .collect();
        let mut cache = ScanCache::default();
        cache.watching(dirs.iter().cloned());
        let check = |cache: &mut ScanCache, set: &FileSet, state: &State, step: &str| {
            let cached = scan_cached(root, set, state, cache).expect("scan").clone();
            assert_eq!(cached, scan(root, set, state).expect("scan"), "{step}");
        };
        check(&mut cache, &set, &state, "first scan");
        check(&mut cache, &set, &state, "nothing changed");

        let edited = write("a/x.py", "edited by hand\n");
        cache.forget(&edited);
        check(&mut cache, &set, &state, "a file edited");

        write("c/new.py", "new\n");
        render(&mut set, "c/new.py", "new\n", Kind::Managed);
        check(
            &mut cache,
            &set,
            &state,
            "a path added, in a folder not watched",
        );
        write("c/new.py", "changed, unreported\n");
        check(
            &mut cache,
            &set,
            &state,
            "a folder not watched is looked at",
        );

        set.files.remove("a/y.py");
        check(
            &mut cache,
            &set,
            &state,
            "a path no longer rendered, still recorded",
        );
        state.files.remove("a/y.py");
        check(&mut cache, &set, &state, "a path gone");

        let base = write(&format!("{BASE_DIR}/s/one.py"), "one, again\n");
        cache.forget(&base);
        record(&mut state, "s/one.py", "one, again\n", Kind::Scaffold);
        check(&mut cache, &set, &state, "a merge base replaced");

        record(
            &mut state,
            "s/two.py",
            "another rendering\n",
            Kind::Scaffold,
        );
        check(
            &mut cache,
            &set,
            &state,
            "a merge base that no longer matches",
        );

        let deleted = root.join(BASE_DIR).join("s/one.py");
        std::fs::remove_file(&deleted).expect("remove");
        cache.forget(&deleted);
        check(&mut cache, &set, &state, "a merge base deleted");

        let deleted = root.join("b/z.py");
        std::fs::remove_file(&deleted).expect("remove");
        cache.forget(&deleted);
        check(&mut cache, &set, &state, "a file deleted");
        let back = write("b/z.py", "back\n");
        cache.forget(&back);
        check(&mut cache, &set, &state, "a file back");

        write("s/three.py", "three\n");
        write(&format!("{BASE_DIR}/s/three.py"), "three\n");
        render(&mut set, "s/three.py", "three\n", Kind::Scaffold);
        record(&mut state, "s/three.py", "three\n", Kind::Scaffold);
        check(&mut cache, &set, &state, "a scaffold added");
        state.files.remove("s/two.py");
        check(&mut cache, &set, &state, "a scaffold no longer recorded");

        state
            .pending_bases
            .insert("s/three.py".to_owned(), Arc::from("three\n"));
        check(&mut cache, &set, &state, "a pending base");
        state.pending_bases.clear();
        check(&mut cache, &set, &state, "no pending base");

        // Trusted: a change nobody reported is not seen.
        write("a/x.py", "changed, unreported\n");
        let cached = scan_cached(root, &set, &state, &mut cache)
            .expect("scan")
            .clone();
        assert_eq!(
            cached.files.get("a/x.py").and_then(OnDisk::text),
            Some("edited by hand\n")
        );
        cache.forget(&root.join("a"));
        check(&mut cache, &set, &state, "a folder reported");
    }

    /// A path is looked up among the watched directories and their ancestors: the same answer
    /// as asking whether some watched directory starts with it, for paths in, above, beside and
    /// below them, spelled with and without a trailing separator or a `.`.
    #[test]
    fn forgetting_finds_the_directories_holding_watched_ones() {
        let dirs = [
            "/p",
            "/p/src/a",
            "/p/src/a/b",
            "/p/.restack/base/src/a",
            "rel/x",
        ];
        let probes = [
            "",
            "/",
            "/p",
            "/p/",
            "/p/src",
            "/p/src/",
            "/p/./src",
            "/p/src/a",
            "/p/src/a/b",
            "/p/src/a/b/c",
            "/p/src/ab",
            "/p/sr",
            "/p/.restack",
            "/p/.restack/base/src",
            "/p/.restack/base/src/a/f.py",
            "/q",
            "rel",
            "rel/",
            "rel/x",
            "rel/x/y",
            "re",
            ".",
            "/p/src/a/f.py",
        ];
        let mut cache = ScanCache::default();
        for watched in [&dirs[..], &dirs[1..2], &[][..]] {
            cache.watching(watched.iter().map(PathBuf::from));
            for probe in probes {
                let probe = Path::new(probe);
                let holds = watched.iter().any(|dir| Path::new(dir).starts_with(probe));
                assert_eq!(
                    cache.holding.contains(probe),
                    holds,
                    "{probe:?} in {watched:?}"
                );
            }
        }
    }

    #[test]
    fn a_settled_file_is_one_changed_a_second_before_its_read() {
        let stamp = Stamp {
            len: 1,
            ino: 1,
            dev: 1,
            mtime: (100, 0),
            ctime: (100, 0),
        };
        let at = |secs, nanos| SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        assert!(stamp.settled(at(101, 0)));
        assert!(!stamp.settled(at(100, 999_999_999)));
        assert!(!stamp.settled(at(99, 0)));
    }
}
