//! `scan`: reads what is on disk for every path the plan needs. Reads only; never writes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::plan::hash::Hash;
use crate::plan::path::{self, PathError};
use crate::plan::state::{BASE_DIR, Entry, State};
use crate::render::{FileSet, Kind, parallel};

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
    scan_with(root, files, state, None, true)
}

/// [`scan`] keeping only hashes: what a plan needs for every path but the few whose texts it
/// reads ([`super::texts_needed`]), which [`Snapshot::load_texts`] adds. Every file is still read
/// once (to hash it), but the project's bytes are never all in memory.
pub fn scan_hashes_only(
    root: &Path,
    files: &FileSet,
    state: &State,
) -> Result<Snapshot, ScanError> {
    scan_with(root, files, state, None, false)
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
    /// Watched directories whose files have not been checked since the watch began: served
    /// after one more check of their metadata.
    unchecked: HashSet<PathBuf>,
}

impl ScanCache {
    /// From now on, every change of a file directly in one of `dirs` is reported to
    /// [`ScanCache::forget`]. Files remembered in a directory that was not watched before are
    /// checked by their metadata once more: they may have changed before the watch began.
    pub fn watching(&mut self, dirs: impl IntoIterator<Item = PathBuf>) {
        let dirs: HashSet<PathBuf> = dirs.into_iter().collect();
        let old = std::mem::take(&mut self.watched);
        self.unchecked
            .extend(dirs.iter().filter(|dir| !old.contains(*dir)).cloned());
        self.unchecked.retain(|dir| dirs.contains(dir));
        self.watched = dirs;
    }

    /// Forgets `path` and, when it is (or was) a directory holding a watched one, everything
    /// below it. (A file elsewhere is checked by its metadata anyway, so most events, about one
    /// file, cost one lookup.)
    pub fn forget(&mut self, path: &Path) {
        if self.files.remove(path).is_none() && self.watched.iter().any(|dir| dir.starts_with(path))
        {
            self.files.retain(|full, _| !full.starts_with(path));
        }
    }

    /// Forgets every file (changes may have gone unreported); the directories stay watched.
    pub fn forget_all(&mut self) {
        self.files.clear();
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
}

/// How old a file's ctime must be, when it is read, for its bytes to be remembered: well above
/// the tick of the file system's coarse clock.
const SETTLED: Duration = Duration::from_secs(1);

/// The metadata that any change of a file's bytes changes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
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
    fn of(meta: &Metadata) -> Option<Self> {
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

    /// True when the ctime is at least [`SETTLED`] before `read_at`.
    fn settled(&self, read_at: SystemTime) -> bool {
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

/// [`scan`], reading only the files whose metadata changed since `cache` recorded them (see
/// [`ScanCache`]), and updating `cache` with the paths of this scan only.
pub fn scan_cached(
    root: &Path,
    files: &FileSet,
    state: &State,
    cache: &mut ScanCache,
) -> Result<Snapshot, ScanError> {
    let mut fresh = HashMap::with_capacity(cache.files.len());
    let snapshot = scan_with(root, files, state, Some((&*cache, &mut fresh)), true)?;
    cache.files = fresh;
    // Every file of this scan was checked (or read) after its directory was watched.
    cache.unchecked.clear();
    Ok(snapshot)
}

type Seen = HashMap<PathBuf, (Stamp, OnDisk)>;

fn scan_with(
    root: &Path,
    files: &FileSet,
    state: &State,
    cache: Option<(&ScanCache, &mut Seen)>,
    keep_bytes: bool,
) -> Result<Snapshot, ScanError> {
    debug_assert!(
        keep_bytes || cache.is_none(),
        "a cache serves bytes: it is filled by scans that keep them"
    );
    let (old, mut fresh) = match cache {
        Some((old, fresh)) => (Some(old), Some(fresh)),
        None => (None, None),
    };
    let paths: BTreeSet<&String> = files.files.keys().chain(state.files.keys()).collect();
    let paths: Vec<&String> = paths.into_iter().collect();
    // Reading and hashing is spread over the cores; the first error in path order wins, as if
    // the paths were read one by one.
    let resolver = path::Resolver::new(root);
    let read = parallel::map(&paths, |rel| {
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
        Ok::<_, ScanError>(found)
    });
    let mut snapshot = Snapshot::default();
    for (rel, found) in paths.into_iter().zip(read) {
        if let Some((full, on_disk, stamp)) = found? {
            if let (Some(fresh), Some(stamp)) = (fresh.as_deref_mut(), stamp) {
                fresh.insert(full, (stamp, on_disk.clone()));
            }
            snapshot.files.insert(rel.clone(), on_disk);
        }
    }
    let scaffolds: Vec<(&String, &Entry)> = state
        .files
        .iter()
        .filter(|(_, entry)| entry.kind == Kind::Scaffold)
        .collect();
    let bases = parallel::map(&scaffolds, |(rel, entry)| {
        if let Some(base) = state.pending_bases.get(*rel) {
            return Ok((
                (Hash::of(base.as_bytes()) == entry.hash).then(|| Base {
                    hash: entry.hash,
                    text: keep_bytes.then(|| Arc::clone(base)),
                }),
                None,
            ));
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
        let Some((full, on_disk, stamp)) = found else {
            return Ok((None, None));
        };
        let text = on_disk
            .bytes
            .as_deref()
            .and_then(|bytes| std::str::from_utf8(bytes).ok());
        // A base is text (it is a rendering): one that is not UTF-8 is not one.
        let base = (on_disk.hash == entry.hash)
            .then_some(text)
            .flatten()
            .map(|text| Base {
                hash: entry.hash,
                text: keep_bytes.then(|| Arc::from(text)),
            });
        Ok::<_, ScanError>((base, stamp.map(|stamp| (full, stamp, on_disk))))
    });
    for ((rel, _), found) in scaffolds.into_iter().zip(bases) {
        let (base, stamped) = found?;
        if let (Some(fresh), Some((full, stamp, on_disk))) = (fresh.as_deref_mut(), stamped) {
            fresh.insert(full, (stamp, on_disk));
        }
        if let Some(base) = base {
            snapshot.bases.insert(rel.clone(), base);
        }
    }
    Ok(snapshot)
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
    let after = std::fs::symlink_metadata(&full)
        .ok()
        .as_ref()
        .and_then(Stamp::of);
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
        let first = scan_cached(root, &set, &state, &mut cache).expect("scan");
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
        let edited = scan_cached(root, &set, &state, &mut cache).expect("scan");
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
        assert_eq!(text(&scanned).as_deref(), Some("old\n"));
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
            assert_eq!(text(&scanned), Some(served.clone()), "round {round}");
            forget(&mut cache, &full);
            let scanned = scan_cached(root, &set, &state, &mut cache).expect("scan");
            assert_eq!(text(&scanned), Some(now.clone()), "round {round}");
            served = now;
        }
        // A directory no longer watched is back to the metadata check.
        cache.watching(std::iter::empty());
        std::fs::write(&full, "last, and longer\n").expect("write");
        let scanned = scan_cached(root, &set, &state, &mut cache).expect("scan");
        assert_eq!(text(&scanned).as_deref(), Some("last, and longer\n"));
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
