//! `State`: what restack recorded about the files it wrote (`.restack/state.json` plus the merge
//! bases in `.restack/base/`). Owns the state format and reading it; never writes (only
//! `apply` does).
//!
//! # Format
//!
//! `.restack/state.json` is pretty JSON with sorted keys and a trailing newline, so it diffs well
//! and is byte-identical for equal states:
//!
//! ```json
//! {
//!   "version": 1,
//!   "manifest": "<blake3 hex of restack.kdl as last applied>",
//!   "files": {
//!     "src/blog/service.py": {
//!       "kind": "managed",
//!       "origin": { "entity": "project \"blog\"", "span": [0, 120] },
//!       "hash": "<blake3 hex>"
//!     }
//!   }
//! }
//! ```
//!
//! What `hash` means depends on the kind:
//! - **managed**: the hash of the bytes restack last wrote. A file on disk with another hash was
//!   edited by hand.
//! - **scaffold**: the hash of what restack last *rendered* for the path, which is also the merge
//!   base stored verbatim in `.restack/base/<path>`. Usually restack wrote exactly that; after a
//!   3-way merge it wrote the merged text, which contains the user's edits. Comparing the disk with
//!   the last rendering (not with the merged text) is what keeps those edits the user's: a file
//!   equal to the rendering carries no user work and may be replaced or deleted, any other content
//!   is merged or kept.
//!
//! The state and the base files are meant to be committed: they are all a fresh clone needs for
//! `restack check`.
//!
//! # Interrupted applies
//!
//! If `.restack/journal.json` exists, an apply was interrupted. [`State::load`] folds it in
//! memory (see [`super::journal`]) so that restack's own finished writes are not mistaken for
//! hand edits; the next `apply` makes the fold permanent. [`State::interrupted`] says this
//! happened.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plan::hash::Hash;
use crate::plan::journal::Journal;
use crate::plan::origin::Origin;
use crate::plan::path;
use crate::render::Kind;

/// The state format version this restack reads and writes.
pub const STATE_VERSION: u32 = 1;
/// restack's folder in the project root.
pub const STATE_DIR: &str = ".restack";
/// The state file, relative to the project root.
pub const STATE_FILE: &str = ".restack/state.json";
/// The folder of merge bases, relative to the project root.
pub const BASE_DIR: &str = ".restack/base";

/// What restack recorded about one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub kind: Kind,
    pub origin: Origin,
    /// Managed: hash of what restack last wrote. Scaffold: hash of the last rendering (the base).
    pub hash: Hash,
}

/// Everything restack recorded about the project, keyed by relative path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The hash of the manifest bytes at the last apply (`None` before the first).
    pub manifest: Option<Hash>,
    pub files: BTreeMap<String, Entry>,
    /// Merge bases that an interrupted apply was about to store, by path. [`crate::plan::scan`]
    /// reads them before `.restack/base/`; `apply` writes them.
    pub pending_bases: BTreeMap<String, Arc<str>>,
    /// An interrupted apply was found and folded in.
    pub interrupted: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    pub(crate) version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) manifest: Option<Hash>,
    #[serde(default)]
    pub(crate) files: BTreeMap<String, Entry>,
}

/// [`StateFile`] borrowing its entries, for writing.
#[derive(Serialize)]
pub(crate) struct StateFileRef<'a> {
    version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<Hash>,
    files: &'a BTreeMap<String, Entry>,
}

/// Reading the state failed. The CLI reports these with exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "`{path}` has format version `{version}`, but this restack reads version {STATE_VERSION}; upgrade restack"
    )]
    UnknownVersion { path: PathBuf, version: u64 },
}

impl State {
    /// Reads `.restack/state.json` under `root` (missing means empty) and folds in the journal of
    /// an interrupted apply, if any.
    pub fn load(root: &Path) -> Result<State, StateError> {
        let state_path = root.join(STATE_FILE);
        let mut state = match read_optional(&state_path)? {
            None => State::default(),
            Some(text) => State::from_json(&text).map_err(|message| match message {
                FormatError::Version(version) => StateError::UnknownVersion {
                    path: state_path.clone(),
                    version,
                },
                FormatError::Corrupt(message) => StateError::Corrupt {
                    path: state_path.clone(),
                    message,
                },
            })?,
        };
        let journal_path = root.join(crate::plan::journal::JOURNAL_FILE);
        if let Some(text) = read_optional(&journal_path)? {
            let journal = Journal::from_json(&text).map_err(|message| match message {
                FormatError::Version(version) => StateError::UnknownVersion {
                    path: journal_path.clone(),
                    version,
                },
                FormatError::Corrupt(message) => StateError::Corrupt {
                    path: journal_path.clone(),
                    message,
                },
            })?;
            state = journal
                .fold(&state, |rel| disk_bytes(root, rel))
                .map_err(|message| StateError::Corrupt {
                    path: journal_path.clone(),
                    message,
                })?;
        }
        Ok(state)
    }

    /// Parses the text of a state file.
    pub(crate) fn from_json(text: &str) -> Result<State, FormatError> {
        let file: StateFile = parse_versioned(text, STATE_VERSION..=STATE_VERSION)?;
        for rel in file.files.keys() {
            path::validate(rel).map_err(|err| FormatError::Corrupt(err.to_string()))?;
        }
        Ok(State {
            manifest: file.manifest,
            files: file.files,
            pending_bases: BTreeMap::new(),
            interrupted: false,
        })
    }

    /// The canonical text of `.restack/state.json`: pretty, sorted, with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_json(&mut bytes);
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// Writes [`State::to_json`]'s text to `out`, without building it in memory.
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &self.file_ref())?;
        out.write_all(b"\n")
    }

    /// The hash of [`State::to_json`]: what a plan was made against.
    pub fn fingerprint(&self) -> Hash {
        let mut hasher = blake3::Hasher::new();
        // Writing to a hasher cannot fail.
        let _ = self.write_json(&mut hasher);
        Hash::from_bytes(*hasher.finalize().as_bytes())
    }

    /// The state file's form, borrowing the entries.
    pub(crate) fn file_ref(&self) -> StateFileRef<'_> {
        StateFileRef {
            version: STATE_VERSION,
            manifest: self.manifest,
            files: &self.files,
        }
    }
}

/// Why a versioned JSON document could not be read.
#[derive(Debug)]
pub(crate) enum FormatError {
    Version(u64),
    Corrupt(String),
}

/// Parses `text` as `T` after checking its `"version"` is not newer than `version`.
///
/// The version is read first on its own (every other field skipped), then the whole text straight
/// into `T`: never through a `serde_json::Value` tree, which for a large state costs several
/// times the memory and time of the typed parse.
pub(crate) fn parse_versioned<T: serde::de::DeserializeOwned>(
    text: &str,
    versions: std::ops::RangeInclusive<u32>,
) -> Result<T, FormatError> {
    /// Only the version; a document that is not an object has none.
    struct Probe(Option<serde_json::Value>);

    impl<'de> Deserialize<'de> for Probe {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Probe, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Probe;

                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("any JSON value")
                }

                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Probe, A::Error> {
                    let mut found = None;
                    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                        if key == "version" && found.is_none() {
                            found = Some(map.next_value::<serde_json::Value>()?);
                        } else {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                    Ok(Probe(found))
                }

                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Probe, A::Error> {
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(Probe(None))
                }

                fn visit_unit<E>(self) -> Result<Probe, E> {
                    Ok(Probe(None))
                }

                fn visit_bool<E>(self, _: bool) -> Result<Probe, E> {
                    Ok(Probe(None))
                }

                fn visit_i64<E>(self, _: i64) -> Result<Probe, E> {
                    Ok(Probe(None))
                }

                fn visit_u64<E>(self, _: u64) -> Result<Probe, E> {
                    Ok(Probe(None))
                }

                fn visit_f64<E>(self, _: f64) -> Result<Probe, E> {
                    Ok(Probe(None))
                }

                fn visit_str<E>(self, _: &str) -> Result<Probe, E> {
                    Ok(Probe(None))
                }
            }
            deserializer.deserialize_any(Visit)
        }
    }

    let Probe(found) =
        serde_json::from_str(text).map_err(|err| FormatError::Corrupt(err.to_string()))?;
    match found.as_ref().and_then(serde_json::Value::as_u64) {
        Some(found) if versions.contains(&u32::try_from(found).unwrap_or(u32::MAX)) => {}
        Some(found) if found > u64::from(*versions.end()) => {
            return Err(FormatError::Version(found));
        }
        Some(found) => {
            return Err(FormatError::Corrupt(format!(
                "unsupported format version `{found}`"
            )));
        }
        None => {
            return Err(FormatError::Corrupt("missing `version` number".to_owned()));
        }
    }
    serde_json::from_str(text).map_err(|err| FormatError::Corrupt(err.to_string()))
}

/// Reads a file that may be missing.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, StateError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) if err.kind() == io::ErrorKind::InvalidData => Err(StateError::Corrupt {
            path: path.to_path_buf(),
            message: "not UTF-8".to_owned(),
        }),
        Err(source) => Err(StateError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The bytes of the file at `rel`, `None` when it is missing or unsafe to read.
pub(crate) fn disk_bytes(root: &Path, rel: &str) -> Option<Vec<u8>> {
    let full = path::resolve(root, rel).ok()?;
    std::fs::read(full).ok()
}

#[cfg(test)]
mod version_tests {
    use super::{FormatError, State, parse_versioned};

    fn corrupt(text: &str) -> String {
        match parse_versioned::<serde_json::Value>(text, 1..=1) {
            Err(FormatError::Corrupt(message)) => message,
            other => panic!("{text}: expected corrupt, got {other:?}"),
        }
    }

    #[test]
    fn the_version_is_checked_before_the_rest_is_read() {
        assert!(matches!(
            parse_versioned::<serde_json::Value>(r#"{"files": 3, "version": 7}"#, 1..=1),
            Err(FormatError::Version(7))
        ));
        for missing in ["[1, 2]", "3", "null", "\"x\"", "{}", r#"{"version": "1"}"#] {
            assert_eq!(corrupt(missing), "missing `version` number", "{missing}");
        }
        assert_eq!(
            corrupt(r#"{"version": 0}"#),
            "unsupported format version `0`"
        );
        assert!(!corrupt("{").is_empty());
        assert!(matches!(
            State::from_json(r#"{"version": 1, "files": []}"#),
            Err(FormatError::Corrupt(_))
        ));
        let state = State::from_json(r#"{"version": 1, "files": {}}"#).expect("a valid state");
        assert!(state.files.is_empty());
    }
}
