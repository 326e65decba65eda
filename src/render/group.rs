//! The outputs of one entity, made together from inputs the group declares, so that `watch` can
//! prove them unchanged without making them: a group's outputs are made by a plain function
//! (`fn`, which captures nothing) of its inputs, so inputs that serialize to the same bytes as
//! last time make the same outputs. Holds no rendering logic.

use serde::Serialize;

use crate::ir;
use crate::render::{Output, digest};

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
    /// Appends the serde form of the inputs (see [`digest`]); nothing for outputs given as
    /// they are.
    fn feed(&self, buffer: &mut Vec<u8>);
    fn make(self: Box<Self>) -> Vec<Output<'a>>;
}

/// Outputs made by `make` from `inputs`.
struct Made<'a, I> {
    inputs: I,
    make: fn(I) -> Vec<Output<'a>>,
}

impl<'a, I: Serialize + Send> Source<'a> for Made<'a, I> {
    fn feed(&self, buffer: &mut Vec<u8>) {
        digest::feed(buffer, &self.inputs);
    }

    fn make(self: Box<Self>) -> Vec<Output<'a>> {
        (self.make)(self.inputs)
    }
}

/// Outputs given as they are.
struct Ready<'a>(Vec<Output<'a>>);

impl<'a> Source<'a> for Ready<'a> {
    fn feed(&self, _buffer: &mut Vec<u8>) {}

    fn make(self: Box<Self>) -> Vec<Output<'a>> {
        self.0
    }
}

impl<'a> Group<'a> {
    /// The outputs `make` makes of `inputs`, all with origin `origin`; `kind` names `make`
    /// (`"function"`, `"pipeline"`), one name per function.
    ///
    /// `make` must read nothing of its inputs that their serde form leaves out: the only such
    /// value in the IR is an origin's span, and `make` gives every output the entity's origin as
    /// it is (the memo gives a reused file the origin of now). Since `make` captures nothing,
    /// inputs that serialize alike make outputs alike.
    pub(super) fn made<I: Serialize + Send + 'a>(
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

    /// Appends what identifies the group's outputs to `buffer`: the kind of group and the serde
    /// form of its inputs.
    pub(super) fn feed(&self, buffer: &mut Vec<u8>) {
        if let Some((kind, _)) = self.memo {
            digest::feed(buffer, kind);
        }
        self.source.feed(buffer);
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
