//! The in-memory result of rendering: the contract between `render` and `plan`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::ir::Origin;
use crate::plan::Hash;

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

impl Kind {
    /// The name the state, plans and JSON output use (`managed`, `scaffold`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Managed => "managed",
            Kind::Scaffold => "scaffold",
        }
    }
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    /// The rendered text, or `None` in a rendering made for its hashes only
    /// ([`crate::render::render_hashes`]), whose texts are rendered again when they are needed
    /// ([`crate::render::Renderer`]).
    pub contents: Option<Arc<str>>,
    /// The blake3 hash of the rendered text, kept when the text is not.
    #[serde(skip)]
    pub hash: Hash,
    pub kind: Kind,
    /// The manifest entity this file was rendered for.
    pub origin: Origin,
    /// The template it was rendered from (for error messages): one of restack's names, not
    /// copied into every file of a large project.
    pub template: Cow<'static, str>,
}

impl File {
    /// A file with its rendered text.
    pub fn rendered(
        contents: impl Into<Arc<str>>,
        kind: Kind,
        origin: Origin,
        template: impl Into<Cow<'static, str>>,
    ) -> File {
        let contents = contents.into();
        File {
            hash: Hash::of(contents.as_bytes()),
            contents: Some(contents),
            kind,
            origin,
            template: template.into(),
        }
    }

    /// The rendered text, when this rendering kept it.
    pub fn text(&self) -> Option<&str> {
        self.contents.as_deref()
    }

    /// The same file without its text (its hash stays).
    #[must_use]
    pub fn hashed_only(mut self) -> File {
        self.contents = None;
        self
    }
}

/// Every file of the generated project, keyed by its path relative to the project root, with
/// `/` separators. A `BTreeMap` so iteration is sorted and output deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileSet {
    pub files: BTreeMap<String, File>,
}
