//! `Journal`: the record `apply` writes before touching any file, and how a leftover one (an
//! interrupted apply) folds into the state. Owns the journal format; never writes.
//!
//! `.restack/journal.json` lists every intended write with its before- and after-hash, the merge
//! bases about to be stored (by their text, or, for a base that is exactly the text written to
//! its path, by name only: `written_bases`, since version 2), and the state the apply will
//! record: whole (`state`), or, since version 4, as what it changes in the state the apply was
//! planned against (`delta`: the manifest, the entries that are new or differ, the paths
//! dropped), which keeps the journal of a small change small however large the project. Files
//! are written one by one (each atomically), then the bases, then the state; the journal is
//! removed last.
//!
//! A delta is read against the state on disk, which is the state it was made against until the
//! apply replaces it, and then the very state the delta leads to (the delta applied again changes
//! nothing): either way, the journaled state is the one the apply records.
//!
//! Folding a leftover journal into the old state, path by path:
//! - a journaled write whose file now has its after-hash (or, for a delete, is gone) finished:
//!   the path takes its entry from the journaled state (these bytes are restack's, not a hand
//!   edit), and its merge base from the journal (or, in `written_bases`, from the file itself);
//! - a journaled write that did not finish keeps its old entry; the next plan simply plans it
//!   again;
//! - a path without a journaled write (only its origin or kind changed, or it was dropped) takes
//!   its entry from the journaled state.
//!
//! The manifest hash is taken from the journaled state only when every write finished.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plan::change::Change;
use crate::plan::hash::Hash;
use crate::plan::path;
use crate::plan::reconcile::next_at;
use crate::plan::state::{Entry, FormatError, State, StateFile, StateFileRef, parse_versioned};

/// The journal format version. Versions 1 (no `written_bases`), 2 (a state of version 1, with
/// spans, which are dropped) and 3 (always the whole state) are still read.
pub const JOURNAL_VERSION: u32 = 4;
/// The journal file, relative to the project root.
pub const JOURNAL_FILE: &str = ".restack/journal.json";

/// One intended file operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalWrite {
    pub path: String,
    /// The hash of the file before the apply (`None`: absent).
    pub before: Option<Hash>,
    /// The hash the file will have (`None`: it will be deleted).
    pub after: Option<Hash>,
}

/// What an apply is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    pub writes: Vec<JournalWrite>,
    /// Merge bases to store, by path.
    pub bases: BTreeMap<String, Arc<str>>,
    /// Paths whose merge base to store is the very text written to them (see `writes`).
    pub written_bases: BTreeSet<String>,
    /// The state the apply records when it finishes.
    pub state: Journaled,
}

/// The state a journal records: whole, or as a [`Delta`] of the state on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Journaled {
    Whole(State),
    Delta(Delta),
}

/// What a state changes in another: its manifest, its entries that are new or differ, and the
/// paths of the other it does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Hash>,
    #[serde(default)]
    pub files: BTreeMap<String, Entry>,
    #[serde(default)]
    pub dropped: BTreeSet<String>,
}

impl Delta {
    /// `base` changed by this delta.
    pub fn applied_to(&self, base: &State) -> State {
        let mut files = base.files.clone();
        files.retain(|rel, _| !self.dropped.contains(rel));
        for (rel, entry) in &self.files {
            files.insert(rel.clone(), entry.clone());
        }
        State {
            manifest: self.manifest,
            files,
            pending_bases: BTreeMap::new(),
            interrupted: false,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalFile {
    version: u32,
    writes: Vec<JournalWrite>,
    bases: BTreeMap<String, Arc<str>>,
    #[serde(default)]
    written_bases: BTreeSet<String>,
    #[serde(default)]
    state: Option<StateFile>,
    #[serde(default)]
    delta: Option<Delta>,
}

/// [`JournalFile`] borrowing its parts, for writing: `W` serializes as the list of writes, `B`
/// as the set of written bases, `D` as the delta.
#[derive(Serialize)]
struct JournalFileRef<'a, W, B, D> {
    version: u32,
    writes: W,
    bases: &'a BTreeMap<String, Arc<str>>,
    written_bases: B,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<StateFileRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<D>,
}

/// A [`Journal`] borrowing its parts, for writing one: its writes are the changes of a plan that
/// touch a file, its state to record the plan's, as a delta of the state the plan was made
/// against, so that journaling copies no path and writes only what changes.
#[derive(Debug, Clone, Copy)]
pub struct JournalRef<'a> {
    /// The changes of the apply, in order; those that touch a file are the writes.
    pub changes: &'a [Change],
    pub bases: &'a BTreeMap<String, Arc<str>>,
    pub written_bases: &'a BTreeSet<&'a str>,
    /// The state the apply records.
    pub state: &'a State,
    /// The state the plan was made against (the one on disk).
    pub base: &'a State,
}

/// The [`Delta`] of `next` from `base`, serialized as it walks both (in path order).
struct DeltaRef<'a> {
    next: &'a State,
    base: &'a State,
}

impl Serialize for DeltaRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;

        /// Entries of `next` that `base` does not have alike.
        struct Files<'a>(&'a DeltaRef<'a>);
        impl Serialize for Files<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // Both in path order: walked together rather than searched.
                let mut base = self.0.base.files.iter().peekable();
                serializer.collect_map(
                    self.0
                        .next
                        .files
                        .iter()
                        .filter(|(rel, entry)| next_at(&mut base, rel) != Some(*entry)),
                )
            }
        }
        /// Paths of `base` that `next` does not have.
        struct Dropped<'a>(&'a DeltaRef<'a>);
        impl Serialize for Dropped<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut next = self.0.next.files.iter().peekable();
                serializer.collect_seq(
                    self.0
                        .base
                        .files
                        .keys()
                        .filter(|rel| next_at(&mut next, rel).is_none()),
                )
            }
        }
        let manifest = self.next.manifest;
        let mut out = serializer.serialize_struct("Delta", 3)?;
        if manifest.is_some() {
            out.serialize_field("manifest", &manifest)?;
        } else {
            out.skip_field("manifest")?;
        }
        out.serialize_field("files", &Files(self))?;
        out.serialize_field("dropped", &Dropped(self))?;
        out.end()
    }
}

/// The writes of a [`JournalRef`], serialized as a list of [`JournalWrite`]s.
struct Writes<'a>(&'a [Change]);

impl Serialize for Writes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// [`JournalWrite`] borrowing its path.
        #[derive(Serialize)]
        struct WriteRef<'a> {
            path: &'a str,
            before: Option<Hash>,
            after: Option<Hash>,
        }
        serializer.collect_seq(
            self.0
                .iter()
                .filter(|change| change.action.touches_file())
                .map(|change| WriteRef {
                    path: &change.path,
                    before: change.before,
                    after: change.after,
                }),
        )
    }
}

impl JournalRef<'_> {
    /// Writes the journal's JSON text to `out`, without building it in memory.
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        write_json(
            out,
            &JournalFileRef {
                version: JOURNAL_VERSION,
                writes: Writes(self.changes),
                bases: self.bases,
                written_bases: self.written_bases,
                state: None,
                delta: Some(DeltaRef {
                    next: self.state,
                    base: self.base,
                }),
            },
        )
    }
}

/// Writes `file` as pretty JSON with a trailing newline.
fn write_json(out: &mut dyn std::io::Write, file: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, file)?;
    out.write_all(b"\n")
}

impl Journal {
    /// Writes [`Journal::to_json`]'s text to `out`, without building it in memory.
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let (state, delta) = match &self.state {
            Journaled::Whole(state) => (Some(state.file_ref()), None),
            Journaled::Delta(delta) => (None, Some(delta)),
        };
        write_json(
            out,
            &JournalFileRef {
                version: JOURNAL_VERSION,
                writes: &self.writes,
                bases: &self.bases,
                written_bases: &self.written_bases,
                state,
                delta,
            },
        )
    }

    /// The journal's JSON text.
    pub fn to_json(&self) -> String {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_json(&mut bytes);
        String::from_utf8(bytes).unwrap_or_default()
    }

    pub(crate) fn from_json(text: &str) -> Result<Journal, FormatError> {
        let file: JournalFile = parse_versioned(text, 1..=JOURNAL_VERSION)?;
        let mut state = match (file.state, file.delta) {
            (Some(state), None) => Journaled::Whole(State {
                manifest: state.manifest,
                files: state.files,
                pending_bases: BTreeMap::new(),
                interrupted: false,
            }),
            (None, Some(delta)) if file.version >= 4 => Journaled::Delta(delta),
            _ => {
                return Err(FormatError::Corrupt(
                    "a journal records its state whole (`state`) or, since version 4, as a \
                     `delta`, and not both"
                        .to_owned(),
                ));
            }
        };
        let (files, dropped) = match &mut state {
            Journaled::Whole(state) => (&mut state.files, None),
            Journaled::Delta(Delta { files, dropped, .. }) => (files, Some(&*dropped)),
        };
        let paths = file
            .writes
            .iter()
            .map(|it| it.path.as_str())
            .chain(file.bases.keys().map(String::as_str))
            .chain(file.written_bases.iter().map(String::as_str))
            .chain(files.keys().map(String::as_str))
            .chain(dropped.into_iter().flatten().map(String::as_str));
        for rel in paths {
            path::validate(rel).map_err(|err| FormatError::Corrupt(err.to_string()))?;
        }
        for entry in files.values_mut() {
            entry.origin.span = None;
        }
        Ok(Journal {
            writes: file.writes,
            bases: file.bases,
            written_bases: file.written_bases,
            state,
        })
    }

    /// The state this journal records, for `old`, the state on disk (see the module docs).
    fn journaled(&self, old: &State) -> std::borrow::Cow<'_, State> {
        match &self.state {
            Journaled::Whole(state) => std::borrow::Cow::Borrowed(state),
            Journaled::Delta(delta) => std::borrow::Cow::Owned(delta.applied_to(old)),
        }
    }

    /// Folds this journal into `old` (the state on disk), asking `disk` for the current bytes
    /// of a path (`None`: missing). See the module docs for the rules.
    pub fn fold(
        &self,
        old: &State,
        disk: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<State, String> {
        let mut finished = BTreeMap::new();
        let mut written: BTreeMap<&str, Arc<str>> = BTreeMap::new();
        for write in &self.writes {
            let bytes = disk(&write.path);
            let done = bytes.as_ref().map(Hash::of) == write.after;
            finished.insert(write.path.as_str(), done);
            if done
                && self.written_bases.contains(&write.path)
                && let Some(text) = bytes.and_then(|it| String::from_utf8(it).ok())
            {
                written.insert(write.path.as_str(), Arc::from(text));
            }
        }
        let all_finished = finished.values().all(|done| *done);
        let journaled = self.journaled(old);
        let paths: BTreeSet<&String> = old.files.keys().chain(journaled.files.keys()).collect();
        let mut files: BTreeMap<String, Entry> = BTreeMap::new();
        let mut pending_bases = old.pending_bases.clone();
        for rel in paths {
            let from_new = finished.get(rel.as_str()).copied().unwrap_or(true);
            let entry = if from_new {
                journaled.files.get(rel)
            } else {
                old.files.get(rel)
            };
            if let Some(entry) = entry {
                files.insert(rel.clone(), entry.clone());
                let base = self.bases.get(rel).or_else(|| written.get(rel.as_str()));
                if from_new && let Some(base) = base {
                    if Hash::of(base.as_bytes()) != entry.hash {
                        return Err(format!("the base of `{rel}` does not match its hash"));
                    }
                    pending_bases.insert(rel.clone(), base.clone());
                }
            }
        }
        Ok(State {
            manifest: if all_finished {
                journaled.manifest
            } else {
                old.manifest
            },
            files,
            pending_bases,
            interrupted: true,
        })
    }
}
