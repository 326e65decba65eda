//! `Change`, `Action`, `Reason`: one planned step for one path. Data only; decides nothing.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plan::hash::Hash;
use crate::plan::merge::ConflictHunk;
use crate::plan::origin::Origin;
use crate::render::Kind;

/// What apply will do to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action", content = "reason")]
pub enum Action {
    /// The file does not exist; it will be written.
    Create,
    /// The file will be replaced by the new rendering.
    Update,
    /// A scaffold the user edited: the manifest change is 3-way merged into it.
    Merge,
    /// An orphan restack wrote and nobody edited: it will be removed.
    Delete,
    /// Nothing to write (the state may still record a new origin or merge base).
    Keep,
    /// restack will not touch the file; see the reason.
    Blocked(Reason),
}

/// Why a change is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A managed file was edited by hand.
    Modified,
    /// A file restack never wrote is in the way.
    Unowned,
    /// A scaffold merge conflicts with the user's edits.
    Conflict,
    /// The entity is gone but its file was edited: kept and reported.
    OrphanEdited,
}

impl Action {
    /// The lowercase name used in output: `create`, …, `blocked`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Merge => "merge",
            Action::Delete => "delete",
            Action::Keep => "keep",
            Action::Blocked(_) => "blocked",
        }
    }

    /// Whether apply writes or removes the file.
    pub fn touches_file(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update | Action::Merge | Action::Delete
        )
    }
}

impl Reason {
    /// The kebab-case name used in output: `modified`, `unowned`, `conflict`, `orphan-edited`.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Modified => "modified",
            Reason::Unowned => "unowned",
            Reason::Conflict => "conflict",
            Reason::OrphanEdited => "orphan-edited",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Blocked(reason) => write!(f, "blocked ({})", reason.name()),
            other => f.write_str(other.name()),
        }
    }
}

/// One planned step for one path.
///
/// `before` and `after` are blake3 hashes of the whole file on disk:
///
/// | action     | `before`                       | `after`                                  |
/// |------------|--------------------------------|------------------------------------------|
/// | `Create`   | `None` (the file is absent)    | hash of `contents`                       |
/// | `Update`   | hash of the file on disk       | hash of `contents`                       |
/// | `Merge`    | hash of the user's file        | hash of the merged `contents`            |
/// | `Delete`   | hash of the file on disk       | `None`                                   |
/// | `Keep`     | hash of the file on disk       | the same hash (nothing is written)       |
/// | `Blocked`  | hash of the file on disk       | hash the file *would* have (`None` for an orphan) |
///
/// `apply` refuses (stale plan) when a file it would write or delete no longer has `before`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Relative path, `/`-separated.
    pub path: String,
    #[serde(flatten)]
    pub action: Action,
    pub kind: Kind,
    /// The manifest entity that caused the change (for an orphan: the one that used to own it).
    pub origin: Origin,
    pub before: Option<Hash>,
    pub after: Option<Hash>,
    /// Set when `--force` overrode a block; `action` is then what will be done instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<Reason>,
    /// The bytes to write (`Create`, `Update`, `Merge`; for `Blocked`, what would be written, to
    /// show a diff; for a blocked conflict, the new rendering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<Text>,
    /// For scaffolds: the new rendering to store as the merge base, when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Text>,
    /// The file's current contents (when it exists and is UTF-8), for diffs; `None` for a `keep`,
    /// which has no diff. Not saved in plans.
    #[serde(skip)]
    pub previous: Option<String>,
    /// For `Blocked(Conflict)`: the conflicting hunks, to show the user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConflictHunk>,
}

/// A text a change writes: held by the plan, or the new rendering of the change's path, which a
/// plan made from hashes only ([`crate::render::render_hashes`]) does not hold and `apply` renders
/// again when it writes it (checking it against the hash the plan recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    Given(Arc<str>),
    /// The rendering of this change's path: the text whose hash is the change's `after` (for
    /// `contents`) or the next state's entry (for `base`).
    Rendering,
}

impl Text {
    /// The text, when the plan holds it.
    pub fn given(&self) -> Option<&str> {
        match self {
            Text::Given(text) => Some(text),
            Text::Rendering => None,
        }
    }
}

impl From<Arc<str>> for Text {
    fn from(text: Arc<str>) -> Text {
        Text::Given(text)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Text::Given(text) => serializer.serialize_str(text),
            Text::Rendering => Err(serde::ser::Error::custom(
                "a plan made from hashes only has no texts to save",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        Arc::<str>::deserialize(deserializer).map(Text::Given)
    }
}
