//! The outputs of one entity, made together from inputs the group declares, so that `watch` can
//! prove them unchanged without making them: a group's outputs are made by a plain function
//! (`fn`, which captures nothing) of its inputs, so inputs with the same key as last time make
//! the same outputs. Holds no rendering logic.
//!
//! A key is the bytes of the inputs, stopping at entities: an entity of the IR is keyed by its
//! fingerprint ([`ir::Fingerprint`], the digest of its serde form, computed when it was lowered),
//! so keying a group costs a few dozen bytes written and compared, not a serialization of what
//! it reads (nor a hash: the bytes are short, and compared with the last ones as they are).

use crate::ir::{self, Fingerprinted};
use crate::render::Output;

/// Outputs made together, either from declared inputs (an entity's files, which the memo can
/// reuse as a whole) or as they are (project-wide files, each proved on its own).
pub(super) struct Group<'a> {
    /// For a group made from inputs: which kind of group it is (which `make`) and the entity
    /// its outputs are rendered for. Every output of such a group has this origin.
    pub(super) memo: Option<(&'static str, &'a ir::Origin)>,
    source: Box<dyn Source<'a> + 'a>,
}

/// Where a group's outputs come from.
trait Source<'a>: Send {
    /// Writes the key of the inputs to `bytes` (see [`Key`]); nothing for outputs given as
    /// they are.
    fn key(&self, bytes: &mut Vec<u8>);
    fn make(self: Box<Self>) -> Vec<Output<'a>>;
}

/// A group's inputs, as the memo tells them apart: two values with the same key are equal but
/// for what their serde form leaves out (an origin's span). Each part of an input is fed
/// whole, so that the key is a function of every part (self-delimiting: lengths and tags
/// first), and an entity is fed as its fingerprint, the digest of its whole serde form.
pub(super) trait Key {
    /// Appends the key to `bytes`.
    fn key(&self, bytes: &mut Vec<u8>);
}

impl Key for str {
    fn key(&self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&(self.len() as u64).to_le_bytes());
        bytes.extend_from_slice(self.as_bytes());
    }
}

impl Key for String {
    fn key(&self, bytes: &mut Vec<u8>) {
        self.as_str().key(bytes);
    }
}

/// An entity of the IR: its fingerprint, which names its type (its serde form names its struct).
impl<T: Fingerprinted> Key for &T {
    fn key(&self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(self.fingerprint().as_bytes());
    }
}

impl Key for usize {
    fn key(&self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&(*self as u64).to_le_bytes());
    }
}

/// An origin as the files take it: the entity it names. Its span only labels the files (the memo
/// gives a reused file the origin of now).
impl Key for &ir::Origin {
    fn key(&self, bytes: &mut Vec<u8>) {
        self.entity.key(bytes);
    }
}

impl<T: Key> Key for Option<T> {
    fn key(&self, bytes: &mut Vec<u8>) {
        match self {
            None => {
                bytes.push(0);
            }
            Some(it) => {
                bytes.push(1);
                it.key(bytes);
            }
        }
    }
}

impl<T: Key> Key for Vec<T> {
    fn key(&self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for it in self {
            it.key(bytes);
        }
    }
}

impl<A: Key, B: Key> Key for (A, B) {
    fn key(&self, bytes: &mut Vec<u8>) {
        self.0.key(bytes);
        self.1.key(bytes);
    }
}

impl<A: Key, B: Key, C: Key> Key for (A, B, C) {
    fn key(&self, bytes: &mut Vec<u8>) {
        self.0.key(bytes);
        self.1.key(bytes);
        self.2.key(bytes);
    }
}

/// A declared function or workflow an entity's files read (a callee, a step's target), as an
/// input: `make` builds what the files read of it from the entity, so the group is keyed by the
/// entity's fingerprint.
#[derive(Debug, Clone, Copy)]
pub(super) enum Called<'a> {
    Function(&'a ir::Function),
    Workflow(&'a ir::Workflow),
}

impl Key for Called<'_> {
    fn key(&self, bytes: &mut Vec<u8>) {
        // Fingerprints name their type, but a tag costs nothing.
        match self {
            Called::Function(it) => {
                bytes.push(0);
                it.key(bytes);
            }
            Called::Workflow(it) => {
                bytes.push(1);
                it.key(bytes);
            }
        }
    }
}

/// Outputs made by `make` from `inputs`.
struct Made<'a, I> {
    inputs: I,
    make: fn(I) -> Vec<Output<'a>>,
}

impl<'a, I: Key + Send> Source<'a> for Made<'a, I> {
    fn key(&self, bytes: &mut Vec<u8>) {
        self.inputs.key(bytes);
    }

    fn make(self: Box<Self>) -> Vec<Output<'a>> {
        (self.make)(self.inputs)
    }
}

/// Outputs given as they are.
struct Ready<'a>(Vec<Output<'a>>);

impl<'a> Source<'a> for Ready<'a> {
    fn key(&self, _bytes: &mut Vec<u8>) {}

    fn make(self: Box<Self>) -> Vec<Output<'a>> {
        self.0
    }
}

impl<'a> Group<'a> {
    /// The outputs `make` makes of `inputs`, all with origin `origin`; `kind` names `make`
    /// (`"function"`, `"pipeline"`), one name per function.
    ///
    /// `make` must read nothing of its inputs that their key leaves out: the only such value in
    /// the IR is an origin's span, and `make` gives every output the entity's origin as it is
    /// (the memo gives a reused file the origin of now). Since `make` captures nothing, inputs
    /// with one key make outputs alike.
    pub(super) fn made<I: Key + Send + 'a>(
        kind: &'static str,
        origin: &'a ir::Origin,
        inputs: I,
        make: fn(I) -> Vec<Output<'a>>,
    ) -> Group<'a> {
        Group {
            memo: Some((kind, origin)),
            source: Box::new(Made { inputs, make }),
        }
    }

    /// Outputs given as they are; each is proved unchanged (or not) on its own.
    pub(super) fn ready(outputs: Vec<Output<'a>>) -> Group<'a> {
        Group {
            memo: None,
            source: Box::new(Ready(outputs)),
        }
    }

    /// What identifies the group's outputs, written to `bytes` (cleared first): the kind of
    /// group and the key of its inputs (see [`Key`]). False, with `bytes` empty, for outputs
    /// given as they are.
    pub(super) fn key(&self, bytes: &mut Vec<u8>) -> bool {
        bytes.clear();
        let Some((kind, _)) = self.memo else {
            return false;
        };
        kind.key(bytes);
        self.source.key(bytes);
        true
    }

    /// The group's outputs.
    pub(super) fn outputs(self) -> Vec<Output<'a>> {
        let outputs = self.source.make();
        debug_assert!(
            self.memo
                .is_none_or(|(_, origin)| outputs.iter().all(|it| it.origin == *origin)),
            "every output of a group has the group's origin"
        );
        outputs
    }
}
