//! Saved plans (`plan --out FILE`, `apply FILE`): owns the saved-plan format; does no IO.
//!
//! A saved plan is versioned JSON holding everything `apply` needs to do exactly what was shown:
//! the manifest hash, the fingerprint of the state it was made against, every change with its
//! before/after hashes and the new contents, and the state to record. `apply` refuses it as
//! stale when the manifest, the state or any file it writes or deletes changed since.
//!
//! ```json
//! {
//!   "format": "restack-plan",
//!   "version": 2,
//!   "manifest": "<blake3 hex>",
//!   "state": "<blake3 hex of the canonical state text>",
//!   "force": false,
//!   "interrupted": false,
//!   "changes": [
//!     { "path": "src/blog/service.py", "action": "update", "kind": "managed",
//!       "origin": { "entity": "project \"blog\"", "span": [0, 120] },
//!       "before": "<hex>", "after": "<hex>", "contents": "…" }
//!   ],
//!   "next": { "version": 2, "manifest": "<hex>", "files": { … } }
//! }
//! ```
//!
//! Version 2 holds a version-2 state (entries without spans) and no span for an orphan's
//! change. A version-1 plan is refused like any other: it was made against a version-1 state,
//! whose fingerprint no state this restack writes has, so it would be stale anyway.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plan::change::{Action, Change, Text};
use crate::plan::hash::Hash;
use crate::plan::path;
use crate::plan::reconcile::Plan;
use crate::plan::state::{FormatError, STATE_VERSION, State, StateFile, parse_versioned};

/// The saved-plan format version.
pub const PLAN_VERSION: u32 = 2;
const FORMAT_NAME: &str = "restack-plan";

/// A saved plan could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("not a valid restack plan: {0}")]
    Corrupt(String),
    #[error("the plan has format version `{0}`, but this restack reads version {PLAN_VERSION}")]
    UnknownVersion(u64),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    format: String,
    version: u32,
    manifest: Hash,
    state: Hash,
    force: bool,
    interrupted: bool,
    changes: Vec<Change>,
    next: StateFile,
}

impl Plan {
    /// The saved-plan text (pretty JSON, trailing newline).
    pub fn to_saved_json(&self) -> String {
        let file = PlanFile {
            format: FORMAT_NAME.to_owned(),
            version: PLAN_VERSION,
            manifest: self.manifest,
            state: self.state,
            force: self.force,
            interrupted: self.interrupted,
            changes: self.changes.clone(),
            next: StateFile {
                version: STATE_VERSION,
                manifest: self.next.manifest,
                files: self.next.files.clone(),
            },
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a saved plan, checking its version, its paths and that every content matches its
    /// hash.
    pub fn from_saved_json(text: &str) -> Result<Plan, SavedPlanError> {
        let file: PlanFile =
            parse_versioned(text, PLAN_VERSION..=PLAN_VERSION).map_err(|err| match err {
                FormatError::Version(version) => SavedPlanError::UnknownVersion(version),
                FormatError::Corrupt(message) => SavedPlanError::Corrupt(message),
            })?;
        if file.format != FORMAT_NAME {
            return Err(SavedPlanError::Corrupt(format!(
                "unknown format `{}`",
                file.format
            )));
        }
        for change in &file.changes {
            path::validate(&change.path).map_err(|err| SavedPlanError::Corrupt(err.to_string()))?;
            let writes = matches!(
                change.action,
                Action::Create | Action::Update | Action::Merge
            );
            let contents_match =
                change.contents.as_ref().and_then(Text::given).map(Hash::of) == change.after;
            if writes && !contents_match {
                return Err(SavedPlanError::Corrupt(format!(
                    "the contents of `{}` do not match its hash",
                    change.path
                )));
            }
            if let (Some(base), Some(entry)) = (&change.base, file.next.files.get(&change.path))
                && base.given().map(Hash::of) != Some(entry.hash)
            {
                return Err(SavedPlanError::Corrupt(format!(
                    "the merge base of `{}` does not match its hash",
                    change.path
                )));
            }
        }
        for rel in file.next.files.keys() {
            path::validate(rel).map_err(|err| SavedPlanError::Corrupt(err.to_string()))?;
        }
        Ok(Plan {
            manifest: file.manifest,
            state: file.state,
            force: file.force,
            interrupted: file.interrupted,
            changes: file.changes,
            next: Arc::new(State {
                manifest: file.next.manifest,
                files: file.next.files,
                pending_bases: BTreeMap::new(),
                interrupted: false,
            }),
        })
    }
}
