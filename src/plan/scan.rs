//! `scan`: reads what is on disk for every path the plan needs. Reads only; never writes.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use crate::plan::hash::Hash;
use crate::plan::path::{self, PathError};
use crate::plan::state::{BASE_DIR, Entry, State};
use crate::render::{FileSet, Kind, parallel};

/// The bytes of one file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDisk {
    pub hash: Hash,
    pub bytes: Vec<u8>,
}

impl OnDisk {
    /// The contents as text, when they are UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

/// What the disk holds for the paths of a file set and a state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every existing file among the paths, by path. A path not here does not exist.
    pub files: BTreeMap<String, OnDisk>,
    /// The merge base of each scaffold in the state, when it is available and matches the
    /// state's hash (otherwise absent, and a merge treats the base as empty).
    pub bases: BTreeMap<String, String>,
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
    let paths: BTreeSet<&String> = files.files.keys().chain(state.files.keys()).collect();
    let paths: Vec<&String> = paths.into_iter().collect();
    // Reading and hashing is spread over the cores; the first error in path order wins, as if
    // the paths were read one by one.
    let read = parallel::map(&paths, |rel| {
        read_file(root, rel).map(|found| {
            found.map(|bytes| OnDisk {
                hash: Hash::of(&bytes),
                bytes,
            })
        })
    });
    let mut snapshot = Snapshot::default();
    for (rel, found) in paths.into_iter().zip(read) {
        if let Some(on_disk) = found? {
            snapshot.files.insert(rel.clone(), on_disk);
        }
    }
    let scaffolds: Vec<(&String, &Entry)> = state
        .files
        .iter()
        .filter(|(_, entry)| entry.kind == Kind::Scaffold)
        .collect();
    let bases = parallel::map(&scaffolds, |(rel, entry)| {
        let base = match state.pending_bases.get(*rel) {
            Some(base) => Some(base.clone()),
            None => read_base(root, rel)?,
        };
        Ok::<_, ScanError>(base.filter(|it| Hash::of(it) == entry.hash))
    });
    for ((rel, _), base) in scaffolds.into_iter().zip(bases) {
        if let Some(base) = base? {
            snapshot.bases.insert(rel.clone(), base);
        }
    }
    Ok(snapshot)
}

/// Reads `root/rel` if it exists, refusing unsafe paths, symlinks and directories.
pub(crate) fn read_file(root: &Path, rel: &str) -> Result<Option<Vec<u8>>, ScanError> {
    let full = path::resolve(root, rel)?;
    read_at(&full, rel)
}

fn read_base(root: &Path, rel: &str) -> Result<Option<String>, ScanError> {
    path::validate(rel)?;
    let full = path::resolve_unchecked(root, &format!("{BASE_DIR}/{rel}"))?;
    Ok(read_at(&full, rel)?.and_then(|bytes| String::from_utf8(bytes).ok()))
}

fn read_at(full: &Path, rel: &str) -> Result<Option<Vec<u8>>, ScanError> {
    match std::fs::symlink_metadata(full) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(ScanError::NotAFile {
                path: rel.to_owned(),
            });
        }
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(source) => {
            return Err(ScanError::Io {
                path: rel.to_owned(),
                source,
            });
        }
    }
    std::fs::read(full)
        .map(Some)
        .map_err(|source| ScanError::Io {
            path: rel.to_owned(),
            source,
        })
}
