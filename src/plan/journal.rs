//! `Journal`: the record `apply` writes before touching any file, and how a leftover one (an
//! interrupted apply) folds into the state. Owns the journal format; never writes.
//!
//! `.restack/journal.json` lists every intended write with its before- and after-hash, the merge
//! bases about to be stored (by their text, or, for a base that is exactly the text written to
//! its path, by name only: `written_bases`, since version 2), and the complete state the apply
//! will record. Files are written one
//! by one (each atomically), then the bases, then the state; the journal is removed last.
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
use crate::plan::state::{Entry, FormatError, State, StateFile, StateFileRef, parse_versioned};

/// The journal format version. Versions 1 (no `written_bases`) and 2 (a state of version 1,
/// with spans, which are dropped) are still read.
pub const JOURNAL_VERSION: u32 = 3;
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
    pub state: State,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalFile {
    version: u32,
    writes: Vec<JournalWrite>,
    bases: BTreeMap<String, Arc<str>>,
    #[serde(default)]
    written_bases: BTreeSet<String>,
    state: StateFile,
}

/// [`JournalFile`] borrowing its parts, for writing: `W` serializes as the list of writes, `B`
/// as the set of written bases. Without a state, it is the head of a journal whose state's text
/// follows ([`JournalRef::write_json_with_state`]).
#[derive(Serialize)]
struct JournalFileRef<'a, W, B> {
    version: u32,
    writes: W,
    bases: &'a BTreeMap<String, Arc<str>>,
    written_bases: B,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<StateFileRef<'a>>,
}

/// A [`Journal`] borrowing its parts, for writing one: its writes are the changes of a plan that
/// touch a file, its state to record the plan's, so that journaling copies no path.
#[derive(Debug, Clone, Copy)]
pub struct JournalRef<'a> {
    /// The changes of the apply, in order; those that touch a file are the writes.
    pub changes: &'a [Change],
    pub bases: &'a BTreeMap<String, Arc<str>>,
    pub written_bases: &'a BTreeSet<&'a str>,
    pub state: &'a State,
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
                state: Some(self.state.file_ref()),
            },
        )
    }

    /// [`JournalRef::write_json`], given the text of the state ([`State::to_json`]'s, as
    /// [`crate::plan::StateCache::text`] makes it): the same JSON document, with the state's text
    /// copied in instead of serialized again (indented as a top-level document).
    pub fn write_json_with_state(
        &self,
        out: &mut dyn std::io::Write,
        state: &[u8],
    ) -> std::io::Result<()> {
        let head = JournalFileRef {
            version: JOURNAL_VERSION,
            writes: Writes(self.changes),
            bases: self.bases,
            written_bases: self.written_bases,
            state: None,
        };
        // The head without its closing `\n}`, then the state as its last field.
        let mut open = HoldBack {
            out: &mut *out,
            held: Vec::new(),
        };
        serde_json::to_writer_pretty(&mut open, &head)?;
        if open.held != b"\n}" {
            return Err(std::io::Error::other(
                "unexpected end of the journal's head",
            ));
        }
        out.write_all(b",\n  \"state\": ")?;
        out.write_all(state.strip_suffix(b"\n").unwrap_or(state))?;
        out.write_all(b"\n}\n")
    }
}

/// Passes every byte on to `out` but the last two, which it holds.
struct HoldBack<'a> {
    out: &'a mut dyn std::io::Write,
    held: Vec<u8>,
}

impl std::io::Write for HoldBack<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.held.extend_from_slice(bytes);
        if self.held.len() > 2 {
            let pass = self.held.len() - 2;
            self.out.write_all(&self.held[..pass])?;
            self.held.drain(..pass);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
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
        write_json(
            out,
            &JournalFileRef {
                version: JOURNAL_VERSION,
                writes: &self.writes,
                bases: &self.bases,
                written_bases: &self.written_bases,
                state: Some(self.state.file_ref()),
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
        let paths = file
            .writes
            .iter()
            .map(|it| it.path.as_str())
            .chain(file.bases.keys().map(String::as_str))
            .chain(file.written_bases.iter().map(String::as_str))
            .chain(file.state.files.keys().map(String::as_str));
        for rel in paths {
            path::validate(rel).map_err(|err| FormatError::Corrupt(err.to_string()))?;
        }
        let mut files = file.state.files;
        for entry in files.values_mut() {
            entry.origin.span = None;
        }
        Ok(Journal {
            writes: file.writes,
            bases: file.bases,
            written_bases: file.written_bases,
            state: State {
                manifest: file.state.manifest,
                files,
                pending_bases: BTreeMap::new(),
                interrupted: false,
            },
        })
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
        let paths: BTreeSet<&String> = old.files.keys().chain(self.state.files.keys()).collect();
        let mut files: BTreeMap<String, Entry> = BTreeMap::new();
        let mut pending_bases = old.pending_bases.clone();
        for rel in paths {
            let from_new = finished.get(rel.as_str()).copied().unwrap_or(true);
            let entry = if from_new {
                self.state.files.get(rel)
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
                self.state.manifest
            } else {
                old.manifest
            },
            files,
            pending_bases,
            interrupted: true,
        })
    }
}
