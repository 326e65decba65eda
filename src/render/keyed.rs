//! One entity's part of a list input (`RegistrationInputs`, `PolicyInputs`): the lists derived
//! from the whole project are hashed as the digest of each entity's part, in order, and a part's
//! digest is reused from the last rendering while its entity's fingerprint is unchanged, so a save
//! serializes the parts of the entities it changed, not every entity's. Pure: no IO.
//!
//! A [`Keyed`] part always serializes as the digest of its serde form, reused or not, so the digest
//! of the inputs does not depend on what the last rendering was: inputs that serialize alike hash
//! alike, and (but for a collision of blake3) only those.

use std::cell::RefCell;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::digest;
use crate::ir::Fingerprinted;
use crate::plan::Hash;

/// The part of a list input made from one entity: `part`, a function of what `entity`
/// serializes (so of its fingerprint) that `tag` names.
pub(super) struct Keyed<'a, E, T> {
    tag: &'static str,
    entity: &'a E,
    part: T,
}

impl<'a, E: Fingerprinted, T: Serialize> Keyed<'a, E, T> {
    /// `part`, made from `entity` alone by the projection `tag` names: two parts with one tag
    /// and entities of one fingerprint are equal.
    pub(super) fn new(tag: &'static str, entity: &'a E, part: T) -> Self {
        Keyed { tag, entity, part }
    }

    /// The part, for the function the inputs are declared for.
    pub(super) fn part(&self) -> &T {
        &self.part
    }
}

/// The digest of the part, as bytes.
impl<E: Fingerprinted, T: Serialize> Serialize for Keyed<'_, E, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hash = part_digest(self.tag, self.entity, &self.part);
        serializer.serialize_bytes(hash.as_bytes())
    }
}

/// The digest of each part one list input serialized, in order, with its tag and its entity's
/// fingerprint: what [`reusing`] proves the next digest of the same input from.
#[derive(Debug, Clone, Default)]
pub(super) struct PartDigests(Arc<[(&'static str, Hash, Hash)]>);

/// The parts being digested on this thread, when a [`reusing`] runs.
struct Run {
    last: PartDigests,
    next: Vec<(&'static str, Hash, Hash)>,
}

thread_local! {
    static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
}

/// Runs `digest`, in which each [`Keyed`] part at the position a part of `last` had, with its
/// tag and its entity's fingerprint, takes that part's digest rather than serializing the part.
/// Returns `digest`'s result and the parts it digested, for the next run.
pub(super) fn reusing<R>(last: &PartDigests, digest: impl FnOnce() -> R) -> (R, PartDigests) {
    let outer = RUN.with(|run| {
        run.borrow_mut().replace(Run {
            last: last.clone(),
            next: Vec::with_capacity(last.0.len()),
        })
    });
    let res = digest();
    let run = RUN.with(|run| std::mem::replace(&mut *run.borrow_mut(), outer));
    let next = run.map(|run| run.next).unwrap_or_default();
    (res, PartDigests(next.into()))
}

/// The digest of `part`: the last run's at this position when its tag and fingerprint match.
fn part_digest<E: Fingerprinted, T: Serialize>(tag: &'static str, entity: &E, part: &T) -> Hash {
    let known = RUN.with(|run| {
        let run = run.borrow();
        let run = run.as_ref()?;
        let fingerprint = entity.fingerprint();
        let at = run.next.len();
        Some(match run.last.0.get(at) {
            Some(&(last_tag, last_fingerprint, hash))
                if last_tag == tag && last_fingerprint == fingerprint =>
            {
                (fingerprint, Some(hash))
            }
            _ => (fingerprint, None),
        })
    });
    let Some((fingerprint, hash)) = known else {
        return digest::digest(part);
    };
    // Serialized with no borrow held: the part's serialization runs code of its own.
    let hash = hash.unwrap_or_else(|| digest::digest(part));
    debug_assert_eq!(
        hash,
        digest::digest(part),
        "a part `{tag}` reused for an entity of the same fingerprint differs"
    );
    RUN.with(|run| {
        if let Some(run) = run.borrow_mut().as_mut() {
            run.next.push((tag, fingerprint, hash));
        }
    });
    hash
}
