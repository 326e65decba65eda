//! The render record: what one rendering of the project produced, saved by `apply` in
//! `.restack/cache/render.json`, so that `plan` and `check` can prove a project unchanged without
//! analyzing and rendering it again (DESIGN.md §6: a no-op plan within 2× of reading and hashing
//! the files).
//!
//! # What it holds, and why that is enough
//!
//! Analysis and rendering are pure functions of three inputs: the manifest's bytes, the template
//! overrides (names and sources) and restack itself (its sources and templates, digested at build
//! time into `RESTACK_BUILD_ID` by `build.rs`). The record is keyed by a blake3 hash of all three
//! ([`key`]) and holds what the plan needs from a rendering:
//!
//! - every rendered path with its kind, origin and content hash (a [`crate::plan::Entry`]);
//! - the manifest's diagnostics (warnings only: a manifest with errors renders nothing);
//! - the scaffolds the manifest expects, each with the hash of the text last checked and the
//!   result, so a scaffold the user has not touched since is not parsed again (one that changed
//!   is checked again from its text, which needs no project).
//!
//! A record whose key differs, that does not parse, or that has another format version is
//! ignored: the command analyzes and renders as usual. The record is a cache, never a source of
//! truth: it is not committed (the folder holds a `.gitignore` of `*`), it is written without
//! fsync (a torn record fails to parse and is ignored), and only `apply` (and `watch`, which
//! applies) writes it, so `plan` and `check` still write nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::apply::write;
use crate::diag::{Code, Diagnostic, Diagnostics, Severity};
use crate::plan::{self, Action, BASE_DIR, Entry, Hash, Origin, Plan, STATE_DIR, State, Text};
use crate::render::{FileSet, Kind, Overrides, ScaffoldCheck, check_one, parallel};

/// The record's folder, relative to the project root.
pub const CACHE_DIR: &str = ".restack/cache";
/// The record, relative to the project root.
pub const RECORD_FILE: &str = ".restack/cache/render.json";
/// The record format this restack reads and writes.
const VERSION: u32 = 1;
/// Digest of this build's sources and templates (see `build.rs`).
const BUILD_ID: &str = env!("RESTACK_BUILD_ID");

/// The inputs a rendering is a function of, hashed: the manifest's bytes, the overrides and this
/// build of restack.
pub fn key(manifest: &[u8], overrides: &Overrides) -> Hash {
    let mut hasher = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(b"restack render record");
    field(BUILD_ID.as_bytes());
    field(manifest);
    for name in overrides.names() {
        field(name.as_bytes());
        field(overrides.get(name).unwrap_or_default().as_bytes());
    }
    Hash::from_bytes(*hasher.finalize().as_bytes())
}

/// One rendering's results (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub version: u32,
    /// [`key`] of the inputs.
    pub key: Hash,
    /// The manifest's diagnostics, in order.
    pub diagnostics: Vec<RecordedDiagnostic>,
    /// Every rendered path: kind, origin and the hash of the rendering.
    pub files: BTreeMap<String, Entry>,
    /// The Python version scaffolds are parsed under, `(major, minor)`.
    pub python: (u8, u8),
    /// The scaffolds the manifest expects, in check order.
    pub scaffolds: Vec<ScaffoldCheck>,
}

/// A [`Diagnostic`] in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedDiagnostic {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub span: (usize, usize),
    pub label: String,
    pub help: Option<String>,
    pub related: Vec<((usize, usize), String)>,
}

impl RecordedDiagnostic {
    fn of(diagnostic: &Diagnostic) -> RecordedDiagnostic {
        RecordedDiagnostic {
            code: diagnostic.code.name().to_owned(),
            severity: diagnostic.severity,
            message: diagnostic.message.clone(),
            span: (diagnostic.span.start, diagnostic.span.end),
            label: diagnostic.label.clone(),
            help: diagnostic.help.clone(),
            related: diagnostic
                .related
                .iter()
                .map(|(span, label)| ((span.start, span.end), label.clone()))
                .collect(),
        }
    }

    fn to_diagnostic(&self) -> Option<Diagnostic> {
        Some(Diagnostic {
            code: Code::from_name(&self.code)?,
            severity: self.severity,
            message: self.message.clone(),
            span: self.span.0..self.span.1,
            label: self.label.clone(),
            help: self.help.clone(),
            related: self
                .related
                .iter()
                .map(|((start, end), label)| (*start..*end, label.clone()))
                .collect(),
        })
    }
}

/// What a record holds of one rendering, gathered before it is applied; [`Rendering::record`]
/// completes it with the plan.
#[derive(Debug)]
pub struct Rendering {
    /// [`key`] of the inputs.
    pub key: Hash,
    /// The manifest's diagnostics.
    pub diagnostics: Diagnostics,
    /// Every rendered path ([`Record::entries`]).
    pub files: BTreeMap<String, Entry>,
    /// The Python version scaffolds are parsed under ([`crate::render::target_of`]).
    pub python: (u8, u8),
    /// The scaffold checks made against the disk the plan was made against
    /// ([`crate::render::check_scaffolds`]).
    pub scaffolds: Vec<ScaffoldCheck>,
}

impl Rendering {
    /// The record of this rendering with `plan` applied: a scaffold apply wrote is checked again
    /// from the bytes written, one it deleted is absent, every other keeps its check.
    ///
    /// A text the plan does not hold (a rendering made for hashes only) is read back from the
    /// project at `root`, which apply just wrote.
    pub fn record(self, plan: &Plan, root: &Path) -> Record {
        let python = self.python;
        let scaffolds = parallel::map_owned(self.scaffolds, |mut scaffold| {
            let change = plan
                .changes
                .binary_search_by(|it| it.path.as_str().cmp(&scaffold.expectation.path))
                .ok()
                .map(|at| &plan.changes[at]);
            match change.map(|it| (it.action, it.contents.as_ref())) {
                Some((Action::Create | Action::Update | Action::Merge, Some(text))) => {
                    let written = match text {
                        Text::Given(text) => Some(Arc::clone(text)),
                        Text::Rendering => crate::plan::scan_one(root, &scaffold.expectation.path)
                            .ok()
                            .flatten()
                            .and_then(|bytes| String::from_utf8(bytes).ok())
                            .map(Arc::from),
                    };
                    scaffold.checked = written.map(|text| {
                        let checked = check_one(&scaffold.expectation, &text, python);
                        (Hash::of(text.as_bytes()), checked)
                    });
                }
                Some((Action::Delete, _)) => scaffold.checked = None,
                _ => {}
            }
            scaffold
        });
        Record {
            version: VERSION,
            key: self.key,
            diagnostics: self
                .diagnostics
                .iter()
                .map(RecordedDiagnostic::of)
                .collect(),
            files: self.files,
            python,
            scaffolds,
        }
    }
}

impl Record {
    /// What the record keeps of a rendering: each path's kind, origin and hash.
    pub fn entries(files: &FileSet) -> BTreeMap<String, Entry> {
        files
            .files
            .iter()
            .map(|(rel, file)| {
                let entry = Entry {
                    kind: file.kind,
                    origin: Origin::from(&file.origin),
                    hash: file.hash,
                };
                (rel.clone(), entry)
            })
            .collect()
    }

    /// [`Record::entries`] of a rendering that is no longer needed: its paths and entity names are
    /// moved into the entries, not copied, and the rest of it is freed.
    pub fn into_entries(files: FileSet) -> BTreeMap<String, Entry> {
        files
            .files
            .into_iter()
            .map(|(rel, file)| {
                let entry = Entry {
                    kind: file.kind,
                    origin: Origin::from(file.origin),
                    hash: file.hash,
                };
                (rel, entry)
            })
            .collect()
    }

    /// The project's record, if there is one for exactly these inputs (`key`). Anything else (no
    /// record, another key or format, unreadable, corrupt) is `None`: the caller renders.
    pub fn load(root: &Path, key: Hash) -> Option<Record> {
        // Never read through a symlink (see `plan::path`).
        let full = crate::plan::path::resolve_unchecked(root, RECORD_FILE).ok()?;
        if !std::fs::symlink_metadata(&full).ok()?.is_file() {
            return None;
        }
        let bytes = std::fs::read(full).ok()?;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        let valid = record.version == VERSION
            && record.key == key
            && record
                .files
                .keys()
                .chain(record.scaffolds.iter().map(|it| &it.expectation.path))
                .all(|path| crate::plan::path::validate(path).is_ok());
        valid.then_some(record)
    }

    /// The manifest's diagnostics; `None` if one names a code this restack does not know.
    pub fn diagnostics(&self) -> Option<Diagnostics> {
        self.diagnostics
            .iter()
            .map(RecordedDiagnostic::to_diagnostic)
            .collect::<Option<Vec<_>>>()
            .map(Diagnostics::from)
    }

    /// Saves the record in the project at `root`, replacing the file atomically (without fsync:
    /// it is a cache). Does nothing unless `.restack/` exists (`apply` made it), so no command
    /// creates restack's folder just for a cache. Best effort: a record that cannot be written is
    /// only a slower next plan, so errors are returned for the caller to ignore or log.
    pub fn save(&self, root: &Path) -> std::io::Result<()> {
        if !root.join(STATE_DIR).is_dir() {
            return Ok(());
        }
        ignore_cache(root)?;
        // Never write through a symlink (see `plan::path`): a symlinked `.restack/cache` could
        // point outside the project.
        let record = crate::plan::path::resolve_unchecked(root, RECORD_FILE)
            .map_err(std::io::Error::other)?;
        // Streamed to the file: the text of a large project's record is never built in memory.
        write::replace_unsynced_with(&record, |out| {
            serde_json::to_writer(out, self).map_err(std::io::Error::other)
        })
    }
}

/// Makes `.restack/cache/` (in the project at `root`) hold its `.gitignore` of everything, unless
/// it does already. Never through a symlink (see `plan::path`): a symlinked `.restack/cache`
/// could point outside the project.
pub(crate) fn ignore_cache(root: &Path) -> std::io::Result<()> {
    let ignore = crate::plan::path::resolve_unchecked(root, &format!("{CACHE_DIR}/.gitignore"))
        .map_err(std::io::Error::other)?;
    if std::fs::symlink_metadata(&ignore).is_err() {
        write::replace_unsynced(&ignore, b"# restack's cache: never commit it.\n*\n")?;
    }
    Ok(())
}

/// What [`prove_unchanged`] proves: the plan of the project, and what analyzing and rendering
/// it would have reported.
#[derive(Debug)]
pub struct Proof {
    /// A pure no-op plan, equal to the one the full road makes.
    pub plan: Plan,
    /// The manifest's diagnostics.
    pub diagnostics: Diagnostics,
    /// The scaffold checks against the disk as it is now.
    pub scaffolds: Vec<ScaffoldCheck>,
}

/// The plan of the project at `root` from its render record and the hashes of the files alone,
/// without analyzing or rendering: `Some` only when the record matches these inputs (`manifest`
/// bytes, `overrides`, this build) and the plan changes nothing (see
/// [`crate::plan::plan_unchanged`]). Anything else, every error included, is `None`, and the
/// caller takes the full road, which reports it. Reads only.
pub fn prove_unchanged(root: &Path, manifest: &[u8], overrides: &Overrides) -> Option<Proof> {
    let record = Record::load(root, key(manifest, overrides))?;
    let diagnostics = record.diagnostics()?;
    let state = State::load(root).ok()?;
    let mut paths: Vec<&str> = record
        .files
        .keys()
        .chain(
            state
                .files
                .keys()
                .filter(|it| !record.files.contains_key(*it)),
        )
        .map(String::as_str)
        .collect();
    let n_files = paths.len();
    let bases: Vec<String> = state
        .files
        .iter()
        .filter(|(_, entry)| entry.kind == Kind::Scaffold)
        .map(|(rel, _)| format!("{BASE_DIR}/{rel}"))
        .collect();
    paths.extend(bases.iter().map(String::as_str));
    let hashes = plan::scan_hashes(root, &paths)?;
    let mut disk = plan::Hashes::default();
    for (at, (rel, hash)) in paths.iter().zip(&hashes).enumerate() {
        let Some(hash) = hash else { continue };
        if at < n_files {
            disk.files.insert(rel, *hash);
        } else {
            let rel = rel
                .strip_prefix(BASE_DIR)
                .and_then(|it| it.strip_prefix('/'))?;
            disk.bases.insert(rel, *hash);
        }
    }
    let plan = plan::plan_unchanged(&record.files, &disk, &state, Hash::of(manifest))?;
    // A scaffold whose text changed since its last check is checked again, from its text alone.
    let scaffolds = record
        .scaffolds
        .iter()
        .map(|scaffold| {
            let now = disk.files.get(scaffold.expectation.path.as_str());
            let checked = match (&scaffold.checked, now) {
                (_, None) => None,
                (Some((hash, checked)), Some(now)) if hash == now => Some((*hash, checked.clone())),
                (_, Some(_)) => {
                    let bytes = std::fs::read(root.join(&scaffold.expectation.path)).ok()?;
                    match String::from_utf8(bytes) {
                        Ok(text) => Some((
                            Hash::of(&text),
                            check_one(&scaffold.expectation, &text, record.python),
                        )),
                        Err(_) => None,
                    }
                }
            };
            Some(ScaffoldCheck {
                expectation: scaffold.expectation.clone(),
                checked,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Proof {
        plan,
        diagnostics,
        scaffolds,
    })
}
