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
//!   "version": 2,
//!   "manifest": "<blake3 hex of restack.kdl as last applied>",
//!   "files": {
//!     "src/blog/service.py": {
//!       "kind": "managed",
//!       "origin": { "entity": "project \"blog\"" },
//!       "hash": "<blake3 hex>"
//!     }
//!   }
//! }
//! ```
//!
//! An entry names the entity that owns the path, not where it is in the manifest (see
//! [`Origin`]): an edit rewrites the entries of the files it changes, and no others. Version 1
//! (which also recorded each entity's span) is still read; its spans are dropped.
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
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plan::hash::Hash;
use crate::plan::journal::Journal;
use crate::plan::origin::Origin;
use crate::plan::path;
use crate::plan::scan::Stamp;
use crate::render::Kind;

/// The state format version this restack writes; it reads this one and version 1.
pub const STATE_VERSION: u32 = 2;
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
        "`{path}` has format version `{version}`, newer than this restack reads; upgrade restack"
    )]
    UnknownVersion { path: PathBuf, version: u64 },
}

impl State {
    /// Reads `.restack/state.json` under `root` (missing means empty) and folds in the journal of
    /// an interrupted apply, if any.
    pub fn load(root: &Path) -> Result<State, StateError> {
        let state_path = root.join(STATE_FILE);
        let state = match read_optional(&state_path)? {
            None => State::default(),
            Some(text) => State::parse_at(&text, &state_path)?,
        };
        State::fold_journal(root, state)
    }

    /// [`State::load`] through `cache`, with the state's [`fingerprint`](State::fingerprint).
    /// When `state.json` holds the bytes the cache last read or wrote (and no journal is left),
    /// the state is the cache's: the file is read and compared a block at a time, not parsed and
    /// serialized again (nor copied whole). The comparison is exact, so `apply`, which loads the
    /// state through the same cache under the lock, sees exactly what is on disk.
    pub fn load_cached(
        root: &Path,
        cache: &mut StateCache,
    ) -> Result<(Arc<State>, Hash), StateError> {
        let state_path = root.join(STATE_FILE);
        let journal = root.join(crate::plan::journal::JOURNAL_FILE);
        if let Some(known) = &mut cache.known
            && let Some(Held(stamp)) = holds(&state_path, &known.text)
            && std::fs::symlink_metadata(&journal).is_err()
        {
            known.stamp = stamp;
            return Ok((Arc::clone(&known.state), known.fingerprint));
        }
        // Taken before the read: a change while reading makes it differ next time.
        let stamp = Stamp::at(&state_path);
        let text = read_optional(&state_path)?;
        let Some(text) = text.filter(|_| std::fs::symlink_metadata(&journal).is_err()) else {
            // No state yet, or an interrupted apply to fold in: as `load` does, never cached.
            cache.known = None;
            let state = State::load(root)?;
            let fingerprint = state.fingerprint();
            return Ok((Arc::new(state), fingerprint));
        };
        let state = State::parse_at(&text, &state_path)?;
        let fingerprint = Hash::of(cache.text(&state));
        let state = Arc::new(state);
        cache.known = Some(Known {
            text: text.into_bytes(),
            state: Arc::clone(&state),
            fingerprint,
            stamp,
        });
        Ok((state, fingerprint))
    }

    /// [`State::load_cached`] for a plan that is checked again before it is applied: while the
    /// state file's metadata (size, inode, modification and status-change times) is as `cache`
    /// last saw it, and there is no journal, the cached state, without reading the file. Apply
    /// loads the state with [`State::load_cached`] under its lock, which compares every byte, so
    /// a change this does not see makes the plan stale (and planned again), never applied.
    pub fn load_for_plan(
        root: &Path,
        cache: &mut StateCache,
    ) -> Result<(Arc<State>, Hash), StateError> {
        if let Some(known) = &cache.known
            && known.stamp.is_some()
        {
            let journal = root.join(crate::plan::journal::JOURNAL_FILE);
            if Stamp::at(&root.join(STATE_FILE)) == known.stamp
                && std::fs::symlink_metadata(&journal).is_err()
            {
                return Ok((Arc::clone(&known.state), known.fingerprint));
            }
        }
        State::load_cached(root, cache)
    }

    fn parse_at(text: &str, state_path: &Path) -> Result<State, StateError> {
        State::from_json(text).map_err(|err| err.at(state_path))
    }

    fn fold_journal(root: &Path, mut state: State) -> Result<State, StateError> {
        let journal_path = root.join(crate::plan::journal::JOURNAL_FILE);
        if let Some(text) = read_optional(&journal_path)? {
            let journal = Journal::from_json(&text).map_err(|err| err.at(&journal_path))?;
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
        let mut file: StateFile = parse_versioned(text, 1..=STATE_VERSION)?;
        for (rel, entry) in &mut file.files {
            path::validate(rel).map_err(|err| FormatError::Corrupt(err.to_string()))?;
            // Version 1 recorded spans.
            entry.origin.span = None;
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
        // Buffered: the serializer writes a token at a time, and the hasher is fastest fed in
        // large blocks. Writing to a hasher cannot fail.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, blake3::Hasher::new());
        let _ = self.write_json(&mut out);
        let _ = out.flush();
        let (hasher, _) = out.into_parts();
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

/// What `watch` keeps of the state between reconciles: the text of `state.json` as this process
/// last read or wrote it, with the state it holds and its fingerprint, and the text of every
/// entry as [`State::write_json`] writes it. Loading through it reads and compares the file
/// instead of parsing it ([`State::load_cached`]); the text of a state that differs from the last
/// in a few entries is built from the others' texts ([`StateCache::text`]).
#[derive(Debug, Default)]
pub struct StateCache {
    known: Option<Known>,
    /// The text of each entry inside `files` (indented, without the separating comma), with the
    /// entry it is the text of, in path order (the order of the last state built).
    entries: Vec<(String, Entry, Box<[u8]>)>,
}

#[derive(Debug)]
struct Known {
    text: Vec<u8>,
    state: Arc<State>,
    fingerprint: Hash,
    /// The file's metadata when it was last found or written to hold `text` (see
    /// [`State::load_for_plan`]).
    stamp: Option<Stamp>,
}

impl StateCache {
    /// [`State::to_json`]'s text of `state`, byte for byte; only the entries this cache has not
    /// seen (or saw with other values) are serialized.
    pub fn text(&mut self, state: &State) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(64 + self.entries.iter().map(|it| it.2.len() + 2).sum::<usize>());
        out.extend_from_slice(b"{\n  \"version\": ");
        out.extend_from_slice(STATE_VERSION.to_string().as_bytes());
        if let Some(manifest) = state.manifest {
            out.extend_from_slice(b",\n  \"manifest\": \"");
            out.extend_from_slice(manifest.to_hex().as_bytes());
            out.push(b'"');
        }
        if state.files.is_empty() {
            out.extend_from_slice(b",\n  \"files\": {}");
        } else {
            out.extend_from_slice(b",\n  \"files\": {\n");
        }
        // Both in path order: one walk pairs each entry with its last text.
        let mut known = std::mem::take(&mut self.entries).into_iter().peekable();
        let mut entries = Vec::with_capacity(state.files.len());
        for (index, (rel, entry)) in state.files.iter().enumerate() {
            if index > 0 {
                out.extend_from_slice(b",\n");
            }
            while known.next_if(|(it, _, _)| it < rel).is_some() {}
            let item = match known.next_if(|(it, _, _)| it == rel) {
                Some(item) if item.1 == *entry => item,
                _ => (rel.clone(), entry.clone(), entry_text(rel, entry)),
            };
            out.extend_from_slice(&item.2);
            entries.push(item);
        }
        if !state.files.is_empty() {
            out.extend_from_slice(b"\n  }");
        }
        out.extend_from_slice(b"\n}\n");
        self.entries = entries;
        out
    }

    /// Remembers that `state.json` (at `path`) now holds `text`, the text of `state`.
    pub(crate) fn wrote(&mut self, path: &Path, text: Vec<u8>, state: Arc<State>) {
        let fingerprint = Hash::of(&text);
        let stamp = Stamp::at(path);
        self.known = Some(Known {
            text,
            state,
            fingerprint,
            stamp,
        });
    }

    /// The text of `state.json` when this cache knows it (see [`State::load_cached`]).
    pub(crate) fn known_text(&self) -> Option<&[u8]> {
        self.known.as_ref().map(|it| it.text.as_slice())
    }
}

/// One entry of `files` as [`State::write_json`] writes it (serde_json's pretty form, two levels
/// deep), written directly: `    "<rel>": {` … `    }`. The strings go through serde_json, so
/// they are escaped exactly as it escapes them.
fn entry_text(rel: &str, entry: &Entry) -> Box<[u8]> {
    let string = |out: &mut Vec<u8>, text: &str| {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    };
    let mut out = Vec::with_capacity(rel.len() + entry.origin.entity.len() + 200);
    out.extend_from_slice(b"    ");
    string(&mut out, rel);
    out.extend_from_slice(b": {\n      \"kind\": \"");
    out.extend_from_slice(entry.kind.name().as_bytes());
    out.extend_from_slice(b"\",\n      \"origin\": {\n        \"entity\": ");
    string(&mut out, &entry.origin.entity);
    out.extend_from_slice(b"\n      },\n      \"hash\": \"");
    out.extend_from_slice(entry.hash.to_hex().as_bytes());
    out.extend_from_slice(b"\"\n    }");
    out.into_boxed_slice()
}

/// Why a versioned JSON document could not be read.
#[derive(Debug)]
pub(crate) enum FormatError {
    Version(u64),
    Corrupt(String),
}

impl FormatError {
    /// The error of reading the file at `path`.
    fn at(self, path: &Path) -> StateError {
        match self {
            FormatError::Version(version) => StateError::UnknownVersion {
                path: path.to_path_buf(),
                version,
            },
            FormatError::Corrupt(message) => StateError::Corrupt {
                path: path.to_path_buf(),
                message,
            },
        }
    }
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

/// What [`holds`] found: the file holds the text, and had this metadata before it was read.
struct Held(Option<Stamp>);

/// Whether the file at `path` holds exactly `text`: read a block at a time and compared, so the
/// text of a large state is neither copied whole nor checked as UTF-8 again (`text` is). Any
/// doubt (an error, another length) is `None`, and the caller reads the file as usual.
fn holds(path: &Path, text: &[u8]) -> Option<Held> {
    use std::io::Read;

    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if Some(meta.len()) != u64::try_from(text.len()).ok() {
        return None;
    }
    let mut block = vec![0; 1 << 16];
    let mut rest = text;
    loop {
        match file.read(&mut block) {
            Ok(0) => return rest.is_empty().then(|| Held(Stamp::of(&meta))),
            Ok(n_read) => {
                let (head, tail) = rest.split_at_checked(n_read)?;
                if *head != block[..n_read] {
                    return None;
                }
                rest = tail;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
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
    use super::{Entry, FormatError, State, parse_versioned};
    use crate::plan::{Hash, Origin};
    use crate::render::Kind;

    fn corrupt(text: &str) -> String {
        match parse_versioned::<serde_json::Value>(text, 1..=1) {
            Err(FormatError::Corrupt(message)) => message,
            other => panic!("{text}: expected corrupt, got {other:?}"),
        }
    }

    /// A state written by a restack that recorded spans (version 1) reads as the same entries
    /// without them, and is written back as version 2.
    #[test]
    fn a_version_1_state_is_read_without_its_spans() {
        let hash = Hash::of(b"x").to_hex();
        let old = format!(
            r#"{{"version": 1, "files": {{"a.py": {{"kind": "managed", "origin": {{"entity": "e", "span": [3, 9]}}, "hash": "{hash}"}}}}}}"#
        );
        let state = State::from_json(&old).unwrap();
        let entry = Entry {
            kind: Kind::Managed,
            origin: Origin {
                entity: "e".into(),
                span: None,
            },
            hash: Hash::of(b"x"),
        };
        assert_eq!(state.files["a.py"], entry);
        let text = state.to_json();
        assert!(text.contains("\"version\": 2"), "{text}");
        assert!(!text.contains("span"), "{text}");
        assert_eq!(State::from_json(&text).unwrap(), state);
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

#[cfg(test)]
mod cache_tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::{Entry, State, StateCache};
    use crate::plan::journal::{Journal, JournalRef, Journaled};
    use crate::plan::{Hash, Origin};
    use crate::render::Kind;

    fn entry(kind: Kind, entity: &str, seed: &str) -> Entry {
        Entry {
            kind,
            origin: Origin {
                entity: entity.into(),
                span: None,
            },
            hash: Hash::of(seed.as_bytes()),
        }
    }

    fn state(paths: &[(&str, &str)]) -> State {
        State {
            manifest: Some(Hash::of(b"manifest")),
            files: paths
                .iter()
                .map(|(rel, seed)| {
                    (
                        (*rel).to_owned(),
                        entry(Kind::Managed, "function \"F\"", seed),
                    )
                })
                .collect(),
            ..State::default()
        }
    }

    /// The text built from remembered entries is `to_json`'s, byte for byte, through a series of
    /// states that add, change, drop and re-add entries.
    #[test]
    fn cached_text_is_the_serialized_state() {
        let mut cache = StateCache::default();
        let mut states = vec![
            State::default(),
            State {
                manifest: Some(Hash::of(b"m")),
                ..State::default()
            },
            state(&[("a.py", "1")]),
            state(&[
                ("a.py", "1"),
                ("dir/b \"quoted\" \\ é.py", "2"),
                ("z.md", "3"),
            ]),
            state(&[("a.py", "changed"), ("dir/b \"quoted\" \\ é.py", "2")]),
            state(&[("dir/b \"quoted\" \\ é.py", "2")]),
            state(&[
                ("a.py", "1"),
                ("dir/b \"quoted\" \\ é.py", "2"),
                ("z.md", "3"),
            ]),
        ];
        let mut scaffold = state(&[("a.py", "1"), ("s.py", "2")]);
        scaffold.files.insert(
            "s.py".to_owned(),
            entry(Kind::Scaffold, "agent \"A\" \u{7}\n", "2"),
        );
        scaffold.manifest = None;
        states.push(scaffold);
        for state in &states {
            let text = cache.text(state);
            assert_eq!(String::from_utf8(text).unwrap(), state.to_json());
            assert_eq!(cache.text(state), state.to_json().into_bytes(), "again");
        }
    }

    /// A journal written by apply records the next state as a delta of the state it was planned
    /// against; folded into that state, or into the next state itself (the state was replaced,
    /// the journal not yet removed), it gives what the whole state's journal gives.
    #[test]
    fn a_delta_journal_folds_as_the_whole_state() {
        let mut base = state(&[("a.py", "1"), ("b.py", "2"), ("gone.py", "3")]);
        base.manifest = Some(Hash::of(b"old"));
        let mut next = state(&[("a.py", "1"), ("b.py", "changed"), ("new.py", "4")]);
        next.manifest = Some(Hash::of(b"new"));
        let changes: Vec<crate::plan::Change> = [
            ("b.py", Some("2"), Some("changed")),
            ("new.py", None, Some("4")),
            ("gone.py", Some("3"), None),
        ]
        .into_iter()
        .map(|(rel, before, after)| crate::plan::Change {
            path: rel.to_owned(),
            action: match (before, after) {
                (None, _) => crate::plan::Action::Create,
                (_, None) => crate::plan::Action::Delete,
                _ => crate::plan::Action::Update,
            },
            kind: Kind::Managed,
            origin: Origin {
                entity: "function \"F\"".into(),
                span: Some((0, 1)),
            },
            before: before.map(|it| Hash::of(it.as_bytes())),
            after: after.map(|it| Hash::of(it.as_bytes())),
            forced: None,
            contents: None,
            base: None,
            previous: None,
            conflicts: Vec::new(),
        })
        .collect();
        let bases = BTreeMap::new();
        let written_bases = BTreeSet::new();
        let journal = JournalRef {
            changes: &changes,
            bases: &bases,
            written_bases: &written_bases,
            state: &next,
            base: &base,
        };
        let mut text = Vec::new();
        journal.write_json(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        // Only what changes is written.
        assert!(!text.contains("a.py"), "{text}");
        let delta = Journal::from_json(&text).unwrap();
        let whole = Journal {
            state: Journaled::Whole(next.clone()),
            ..delta.clone()
        };
        assert!(matches!(delta.state, Journaled::Delta(_)));
        assert_eq!(Journal::from_json(&whole.to_json()).unwrap(), whole);
        // Every write finished, some, or none, with the old state on disk; and, once every
        // write finished, the new state on disk (replaced before the journal was removed).
        let old_files = [("a.py", "1"), ("b.py", "2"), ("gone.py", "3")];
        let new_files = [("a.py", "1"), ("b.py", "changed"), ("new.py", "4")];
        let on_disk = |done: &'static [&'static str]| {
            move |rel: &str| {
                let files = if done.contains(&rel) {
                    &new_files
                } else {
                    &old_files
                };
                let (_, seed) = files.iter().find(|(it, _)| *it == rel)?;
                Some(seed.as_bytes().to_vec())
            }
        };
        let all: &[&str] = &["b.py", "new.py", "gone.py"];
        for done in [&[][..], &["b.py"][..], all] {
            let folded = delta.fold(&base, on_disk(done)).unwrap();
            assert_eq!(
                folded,
                whole.fold(&base, on_disk(done)).unwrap(),
                "{done:?}"
            );
        }
        let folded = delta.fold(&next, on_disk(all)).unwrap();
        assert_eq!(folded, whole.fold(&next, on_disk(all)).unwrap());
        assert_eq!(folded.files, next.files);
        assert_eq!(folded.manifest, next.manifest);
    }

    /// Loading through the cache gives `load`'s state and fingerprint, reads a changed file
    /// again, and folds a leftover journal as `load` does.
    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "the test writes the state as another restack (or a user) would"
    )]
    fn loading_through_the_cache_is_loading() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut cache = StateCache::default();
        let check = |cache: &mut StateCache| {
            let (state, fingerprint) = State::load_cached(root, cache).unwrap();
            let loaded = State::load(root).unwrap();
            assert_eq!(*state, loaded);
            assert_eq!(fingerprint, loaded.fingerprint());
        };
        check(&mut cache);
        std::fs::create_dir_all(root.join(".restack")).unwrap();
        let write = |state: &State| {
            std::fs::write(root.join(super::STATE_FILE), state.to_json()).unwrap();
        };
        write(&state(&[("a.py", "1")]));
        check(&mut cache);
        check(&mut cache);
        write(&state(&[("a.py", "2"), ("b.py", "1")]));
        check(&mut cache);
        // The same length, other bytes: compared, not trusted.
        write(&state(&[("a.py", "3"), ("b.py", "1")]));
        check(&mut cache);
        // A state of many blocks, then one byte of its last block changed.
        let paths: Vec<(String, &str)> = (0..3000)
            .map(|idx| (format!("m{idx:05}.py"), "1"))
            .collect();
        let many: Vec<(&str, &str)> = paths
            .iter()
            .map(|(rel, seed)| (rel.as_str(), *seed))
            .collect();
        write(&state(&many));
        check(&mut cache);
        check(&mut cache);
        let last = many.len() - 1;
        let mut edited = many.clone();
        edited[last].1 = "2";
        write(&state(&edited));
        check(&mut cache);
        // Not the canonical text: the fingerprint is still that of the state's own text.
        std::fs::write(
            root.join(super::STATE_FILE),
            state(&[("c.py", "1")]).to_json().replace('\n', "\n\n"),
        )
        .unwrap();
        check(&mut cache);
        let next = state(&[("c.py", "1"), ("d.py", "4")]);
        let journal = Journal {
            writes: Vec::new(),
            bases: BTreeMap::new(),
            written_bases: BTreeSet::new(),
            state: Journaled::Whole(next),
        };
        std::fs::write(
            root.join(crate::plan::journal::JOURNAL_FILE),
            journal.to_json(),
        )
        .unwrap();
        check(&mut cache);
        assert!(State::load_cached(root, &mut cache).unwrap().0.interrupted);
    }

    /// Loading for a plan gives the cached state only while the file is the one the cache last
    /// saw: another file put in its place (as every writer of the state does, by renaming), or a
    /// leftover journal, is loaded.
    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "the test writes the state as another restack (or a user) would"
    )]
    fn loading_for_a_plan_sees_another_state() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".restack")).unwrap();
        let replace = |state: &State| {
            let temp = root.join(".restack/state.json.new");
            std::fs::write(&temp, state.to_json()).unwrap();
            std::fs::rename(&temp, root.join(super::STATE_FILE)).unwrap();
        };
        let mut cache = StateCache::default();
        let plan = |cache: &mut StateCache| {
            let (state, fingerprint) = State::load_for_plan(root, cache).unwrap();
            assert_eq!(fingerprint, state.fingerprint());
            state
        };
        let first = state(&[("a.py", "1")]);
        replace(&first);
        assert_eq!(*plan(&mut cache), first);
        assert_eq!(*plan(&mut cache), first);
        // The same length, and the old file still open elsewhere: another inode all the same.
        let kept = std::fs::File::open(root.join(super::STATE_FILE)).unwrap();
        let second = state(&[("a.py", "2")]);
        replace(&second);
        assert_eq!(*plan(&mut cache), second);
        drop(kept);
        let third = state(&[("a.py", "2"), ("b.py", "1")]);
        replace(&third);
        assert_eq!(*plan(&mut cache), third);
        let journal = Journal {
            writes: Vec::new(),
            bases: BTreeMap::new(),
            written_bases: BTreeSet::new(),
            state: Journaled::Whole(state(&[("c.py", "1")])),
        };
        std::fs::write(
            root.join(crate::plan::journal::JOURNAL_FILE),
            journal.to_json(),
        )
        .unwrap();
        assert!(plan(&mut cache).interrupted);
    }
}
