//! One file to render: where it goes, from which template, who owns it, and its context. Holds no
//! rendering logic.

use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;
use std::any::{Any, type_name};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::digest;
use crate::ir;
use crate::render::Kind;
use crate::render::group::Key;

/// A file of the generated project, before rendering.
///
/// The template sees the base context (`project`, `package`, `registrations`, `python_target`)
/// plus every value added with [`Output::with`] (e.g. `function`, `workflow`). Those values are
/// kept as they were given (usually references into the IR) and turned into template values only
/// when the file is rendered, so a project's contexts are never all alive at once, and `watch`
/// can hash them without building them.
pub struct Output<'a> {
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// Name of an embedded template, e.g. `core/function.py.j2`.
    pub template: &'static str,
    pub kind: Kind,
    /// The manifest entity the file is rendered for.
    pub origin: ir::Origin,
    /// Template-specific context, merged over the base context.
    pub(super) context: BTreeMap<&'static str, Box<dyn Context + 'a>>,
}

/// A value of an output's own context, turned into a template value or hashed on demand.
pub(super) trait Context: Send + Sync {
    /// The value as templates see it.
    fn value(&self) -> Value;
    /// Appends the value's serde form to `buffer`, to hash (see [`digest`]).
    fn feed(&self, buffer: &mut Vec<u8>);
    /// What identifies the value among those given to the outputs of one rendering, when
    /// several outputs share it (see [`Output::with_ref`]): `watch` then hashes it once.
    fn identity(&self) -> Option<Identity> {
        None
    }
}

/// The identity of a shared context value: its address and its type (a struct and its first
/// field share an address), and, for an `Arc`, the value itself, kept alive so that its address
/// cannot be reused while the identity is remembered.
pub(super) struct Identity {
    pub(super) key: (usize, &'static str),
    pub(super) keep: Option<Arc<dyn Any + Send + Sync>>,
}

struct Of<T>(T);

/// A value shared by reference: the IR outlives the rendering, so its address is its identity.
struct Ref<'a, T: ?Sized>(&'a T);

impl<T: Serialize + Sync + ?Sized> Context for Ref<'_, T> {
    fn value(&self) -> Value {
        Value::from(Serde(self.0))
    }

    fn feed(&self, buffer: &mut Vec<u8>) {
        digest::feed(buffer, self.0);
    }

    fn identity(&self) -> Option<Identity> {
        Some(Identity {
            key: (
                std::ptr::from_ref(self.0).cast::<()>() as usize,
                type_name::<T>(),
            ),
            keep: None,
        })
    }
}

/// A value shared through an `Arc` (a view built once for several outputs).
struct Shared<T>(Arc<T>);

impl<T: Serialize + Send + Sync + 'static> Context for Shared<T> {
    fn value(&self) -> Value {
        Value::from(Serde(&*self.0))
    }

    fn feed(&self, buffer: &mut Vec<u8>) {
        digest::feed(buffer, &*self.0);
    }

    fn identity(&self) -> Option<Identity> {
        let keep: Arc<dyn Any + Send + Sync> = self.0.clone();
        Some(Identity {
            key: (Arc::as_ptr(&self.0).cast::<()>() as usize, type_name::<T>()),
            keep: Some(keep),
        })
    }
}

/// A value told apart by its [`Key`].
struct ByKey<T>(T);

impl<T: Serialize + Key + Send + Sync> Context for ByKey<T> {
    fn value(&self) -> Value {
        Value::from(Serde(&self.0))
    }

    fn feed(&self, buffer: &mut Vec<u8>) {
        let mut bytes = Vec::new();
        self.0.key(&mut bytes);
        buffer.extend_from_slice(crate::plan::Hash::of(&bytes).as_bytes());
    }
}

impl<T: Serialize + Send + Sync> Context for Of<T> {
    fn value(&self) -> Value {
        Value::from(Serde(&self.0))
    }

    fn feed(&self, buffer: &mut Vec<u8>) {
        digest::feed(buffer, &self.0);
    }
}

impl fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("path", &self.path)
            .field("template", &self.template)
            .field("kind", &self.kind)
            .field("origin", &self.origin)
            .field("context", &self.context.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> Output<'a> {
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

    /// [`Output::with`] for a value of the IR that other outputs of the rendering are given too
    /// (the entity whose files they are): `watch` hashes it once per rendering, not per output.
    #[must_use]
    pub fn with_ref<T: Serialize + Sync + ?Sized>(
        mut self,
        key: &'static str,
        value: &'a T,
    ) -> Self {
        self.context.insert(key, Box::new(Ref(value)));
        self
    }

    /// [`Output::with`] for a value built once for several outputs and shared through an `Arc`.
    #[must_use]
    pub fn with_arc<T: Serialize + Send + Sync + 'static>(
        mut self,
        key: &'static str,
        value: Arc<T>,
    ) -> Self {
        self.context.insert(key, Box::new(Shared(value)));
        self
    }

    /// [`Output::with`] for a value made from entities of the IR (a view of several of them),
    /// which `watch` tells apart by its [`Key`] (the entities' fingerprints) instead of hashing
    /// its serde form. The serde form must be a function of what the key names.
    #[must_use]
    pub(super) fn with_keyed(
        mut self,
        key: &'static str,
        value: impl Serialize + Key + Send + Sync + 'a,
    ) -> Self {
        self.context.insert(key, Box::new(ByKey(value)));
        self
    }

    /// Adds a value to the template's context under `key`; it goes through serde when the file
    /// is rendered.
    #[must_use]
    pub fn with(mut self, key: &'static str, value: impl Serialize + Send + Sync + 'a) -> Self {
        self.context.insert(key, Box::new(Of(value)));
        self
    }

    /// The own context as a template value.
    pub(super) fn context_value(&self) -> Value {
        Value::from(
            self.context
                .iter()
                .map(|(key, value)| (*key, value.value()))
                .collect::<BTreeMap<_, _>>(),
        )
    }
}
