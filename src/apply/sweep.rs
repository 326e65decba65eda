//! Finding the merge bases nobody needs: every file under `.restack/base/` that is not the base
//! of a scaffold of the next state (a scaffold that left the project, or a file put there by
//! hand). Reads only; apply removes what it finds.
//!
//! A one-shot apply lists every folder. `watch` keeps a [`SweepCache`]: the entries of each
//! folder as last listed, with the folder's metadata. Adding, removing or renaming an entry
//! changes a folder's modification and status-change times, so a folder whose metadata is as
//! recorded has the same entries; with the same scaffolds as the last sweep (which left no stale
//! file behind), it has no stale file either, and is not listed again. This is the trade-off of
//! the scan's cache ([`crate::plan::ScanCache`]): a folder is recorded only when its last change
//! was already settled (a second old) when it was listed, so that a change in the same clock tick as the
//! listing cannot go unseen.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::plan::{Stamp, State};
use crate::render::Kind;

/// The folders under `.restack/base/` as the last sweep found them (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct SweepCache {
    /// The scaffolds of the state the last sweep kept bases for, in order.
    scaffolds: Vec<String>,
    /// Each folder listed, by its path below `.restack/base/` (`""` for the folder itself).
    folders: BTreeMap<String, Listing>,
    /// How many folders were listed (read), for tests.
    listed: usize,
}

#[derive(Debug)]
struct Listing {
    stamp: Option<Stamp>,
    files: Vec<OsString>,
    folders: Vec<OsString>,
}

/// Every file under `base_root` that is not the base of a scaffold of `next`, in no particular
/// order. With a cache, only folders changed since it recorded them are listed (see the module
/// docs); `now` is the time the settle rule compares with.
pub(super) fn stale_bases(
    base_root: &Path,
    next: &State,
    cache: Option<&mut SweepCache>,
    now: SystemTime,
) -> io::Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    let Some(cache) = cache else {
        let mut sweep = Sweep {
            next,
            old: None,
            fresh: None,
            now,
            listed: 0,
        };
        sweep.folder(base_root, String::new(), &mut stale)?;
        return Ok(stale);
    };
    let scaffolds = next
        .files
        .iter()
        .filter(|(_, entry)| entry.kind == Kind::Scaffold)
        .map(|(rel, _)| rel);
    let same_scaffolds = scaffolds.clone().eq(cache.scaffolds.iter());
    let old = std::mem::take(&mut cache.folders);
    let mut sweep = Sweep {
        next,
        // Listings are a proof only for the scaffolds they were checked against.
        old: same_scaffolds.then_some(old),
        fresh: Some(BTreeMap::new()),
        now,
        listed: 0,
    };
    // A failed sweep leaves the cache empty: the next one lists everything.
    sweep.folder(base_root, String::new(), &mut stale)?;
    cache.folders = sweep.fresh.unwrap_or_default();
    cache.listed += sweep.listed;
    if !same_scaffolds {
        cache.scaffolds = scaffolds.cloned().collect();
    }
    Ok(stale)
}

struct Sweep<'a> {
    next: &'a State,
    old: Option<BTreeMap<String, Listing>>,
    fresh: Option<BTreeMap<String, Listing>>,
    now: SystemTime,
    listed: usize,
}

impl Sweep<'_> {
    /// Sweeps the folder `full` (`rel` below the base root) and the folders below it.
    fn folder(&mut self, full: &Path, rel: String, stale: &mut Vec<PathBuf>) -> io::Result<()> {
        let meta = match std::fs::symlink_metadata(full) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        if !meta.is_dir() {
            return Ok(());
        }
        // Taken before the listing: a change while listing makes it differ next time.
        let stamp = Stamp::of(&meta);
        let known = self
            .old
            .as_mut()
            .and_then(|old| old.remove(&rel))
            .filter(|known| stamp.is_some() && known.stamp == stamp);
        let listing = if let Some(known) = known {
            known
        } else {
            self.listed += 1;
            let listing = list(full, stamp)?;
            let child = |name: &OsString| join(&rel, name);
            for name in &listing.files {
                let needed = self
                    .next
                    .files
                    .get(&child(name))
                    .is_some_and(|entry| entry.kind == Kind::Scaffold);
                if !needed {
                    stale.push(full.join(name));
                }
            }
            listing
        };
        for name in &listing.folders {
            self.folder(&full.join(name), join(&rel, name), stale)?;
        }
        if let Some(fresh) = &mut self.fresh
            && listing
                .stamp
                .as_ref()
                .is_some_and(|stamp| stamp.settled(self.now))
        {
            fresh.insert(rel, listing);
        }
        Ok(())
    }
}

/// The entries of the folder `full`: folders, and everything else (a symlink is not followed).
fn list(full: &Path, stamp: Option<Stamp>) -> io::Result<Listing> {
    let mut files = Vec::new();
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(full)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            folders.push(entry.file_name());
        } else {
            files.push(entry.file_name());
        }
    }
    Ok(Listing {
        stamp,
        files,
        folders,
    })
}

/// The path below the base root of the entry `name` of the folder `rel`, `/`-separated.
fn join(rel: &str, name: &OsString) -> String {
    let name = name.to_string_lossy();
    if rel.is_empty() {
        name.into_owned()
    } else {
        format!("{rel}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, SystemTime};

    use super::{SweepCache, stale_bases};
    use crate::plan::{Entry, Hash, Origin, State};
    use crate::render::Kind;

    fn state(scaffolds: &[&str]) -> State {
        let files: BTreeMap<String, Entry> = scaffolds
            .iter()
            .map(|rel| {
                let entry = Entry {
                    kind: Kind::Scaffold,
                    origin: Origin {
                        entity: "function \"F\"".into(),
                        span: None,
                    },
                    hash: Hash::of(rel.as_bytes()),
                };
                ((*rel).to_owned(), entry)
            })
            .collect();
        State {
            files,
            ..State::default()
        }
    }

    #[expect(clippy::disallowed_methods, reason = "a test fixture")]
    fn put(root: &Path, rel: &str) {
        let full = root.join(rel);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, rel).expect("write");
    }

    fn sorted(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
        paths.sort();
        paths
    }

    /// With a cache, a sweep lists only the folders that changed, and finds exactly what a sweep
    /// without one finds: a stray file in an old folder or a new one, the base of a scaffold that
    /// left. (Every folder counts as settled: `now` is far ahead.)
    #[test]
    fn a_cached_sweep_lists_changed_folders_only_and_finds_what_a_full_one_finds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let later = SystemTime::now() + Duration::from_hours(1);
        let bases = [
            "README.md",
            "src/a/one.py",
            "src/a/two.py",
            "src/b/three.py",
        ];
        for rel in bases {
            put(root, rel);
        }
        let mut next = state(&bases);
        let mut cache = SweepCache::default();
        let sweep = |next: &State, cache: &mut SweepCache| {
            let cached = sorted(stale_bases(root, next, Some(cache), later).expect("sweep"));
            let full = sorted(stale_bases(root, next, None, later).expect("sweep"));
            assert_eq!(cached, full);
            cached
        };
        assert!(sweep(&next, &mut cache).is_empty());
        assert_eq!(cache.listed, 4, "every folder, once");
        assert!(sweep(&next, &mut cache).is_empty());
        assert_eq!(cache.listed, 4, "nothing changed: nothing listed");

        put(root, "src/a/stray.py");
        assert_eq!(sweep(&next, &mut cache), [root.join("src/a/stray.py")]);
        assert_eq!(cache.listed, 5, "the folder that changed");
        std::fs::remove_file(root.join("src/a/stray.py")).expect("remove");

        put(root, "src/c/d/stray.py");
        assert_eq!(sweep(&next, &mut cache), [root.join("src/c/d/stray.py")]);
        std::fs::remove_dir_all(root.join("src/c")).expect("remove");

        next = state(&["README.md", "src/a/one.py", "src/b/three.py"]);
        assert_eq!(sweep(&next, &mut cache), [root.join("src/a/two.py")]);
        std::fs::remove_file(root.join("src/a/two.py")).expect("remove");
        assert!(sweep(&next, &mut cache).is_empty());
    }

    /// A folder changed within the settle time of its listing is listed again next time.
    #[test]
    fn a_folder_changed_just_before_its_listing_is_listed_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        put(root, "one.py");
        let next = state(&["one.py"]);
        let mut cache = SweepCache::default();
        let now = SystemTime::now();
        assert!(
            stale_bases(root, &next, Some(&mut cache), now)
                .expect("sweep")
                .is_empty()
        );
        assert!(cache.folders.is_empty(), "not settled: not kept");
        put(root, "stray.py");
        assert_eq!(
            stale_bases(root, &next, Some(&mut cache), now).expect("sweep"),
            [root.join("stray.py")]
        );
    }
}
