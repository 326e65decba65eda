//! The in-memory result of rendering: the contract between `render` and `plan`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ir::Origin;

/// Who owns a file after restack wrote it (DESIGN.md §4).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Wholly derived from the manifest; a hand edit is detected and blocked.
    Managed,
    /// Created once, then the user's; manifest changes are 3-way merged into it.
    Scaffold,
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    pub contents: String,
    pub kind: Kind,
    /// The manifest entity this file was rendered for.
    pub origin: Origin,
    /// The template it was rendered from (for error messages).
    pub template: String,
}

/// Every file of the generated project, keyed by its path relative to the project root, with
/// `/` separators. A `BTreeMap` so iteration is sorted and output deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileSet {
    pub files: BTreeMap<String, File>,
}
