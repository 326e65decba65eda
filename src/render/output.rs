//! One file to render: where it goes, from which template, who owns it, and its context. Holds no
//! rendering logic.

use std::collections::BTreeMap;

use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;

use crate::ir;
use crate::render::Kind;

/// A file of the generated project, before rendering.
///
/// The template sees the base context (`project`, `package`, `registrations`, `python_target`)
/// plus every value added with [`Output::with`] (e.g. `function`, `workflow`).
#[derive(Debug, Clone)]
pub struct Output {
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// Name of an embedded template, e.g. `core/function.py.j2`.
    pub template: &'static str,
    pub kind: Kind,
    /// The manifest entity the file is rendered for.
    pub origin: ir::Origin,
    /// Template-specific context, merged over the base context.
    pub context: BTreeMap<&'static str, Value>,
}

impl Output {
    /// A file wholly derived from the manifest.
    pub fn managed(path: impl Into<String>, template: &'static str, origin: &ir::Origin) -> Self {
        Self::new(path.into(), template, Kind::Managed, origin)
    }

    /// A file created once, then the user's.
    pub fn scaffold(path: impl Into<String>, template: &'static str, origin: &ir::Origin) -> Self {
        Self::new(path.into(), template, Kind::Scaffold, origin)
    }

    fn new(path: String, template: &'static str, kind: Kind, origin: &ir::Origin) -> Self {
        Output {
            path,
            template,
            kind,
            origin: origin.clone(),
            context: BTreeMap::new(),
        }
    }

    /// Adds a value to the template's context under `key`; IR values go through serde.
    #[must_use]
    pub fn with(mut self, key: &'static str, value: impl Serialize) -> Self {
        self.context.insert(key, Value::from(Serde(value)));
        self
    }
}
