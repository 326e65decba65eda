//! The fingerprint of a lowered entity: the digest of its serde form, computed once, so that
//! `watch` can tell that an entity is the one it rendered last time by comparing 32 bytes rather
//! than serializing the entity again. Does no IO and knows nothing of rendering.
//!
//! The serde form is what templates can see of an entity (an origin's span is not part of it),
//! so two entities with one fingerprint render alike wherever either is rendered. An entity
//! lowered for `watch` has its fingerprint computed when it is lowered, and a kept entity (see
//! `cache.rs`) is reused with it, so a save digests only the entities it lowered again.

use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::digest;
use crate::ir::{Agent, Function, Pipeline, ToolServer, Workflow};
use crate::plan::Hash;

/// The digest of the entity holding it, computed when first asked for and kept with the entity
/// (a clone keeps it). Empty in an entity built by hand (`Fingerprint::default()`).
///
/// It describes the entity as it was when it was computed: an entity changed after that must be
/// given a new, empty fingerprint. Debug builds check every fingerprint read against the
/// entity's digest of now.
#[derive(Clone, Default)]
pub struct Fingerprint(OnceLock<Hash>);

/// Says nothing of whether the digest is computed yet: it is a cache of what the entity's other
/// fields show, so two entities alike print alike (`watch` tests compare cached and fresh
/// analyses by their debug form).
impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprint")
    }
}

impl Fingerprint {
    fn of<T: Serialize>(&self, entity: &T) -> Hash {
        let hash = *self.0.get_or_init(|| digest::digest(entity));
        debug_assert!(
            hash == digest::digest(entity),
            "the fingerprint of `{}` describes it as it was before it changed",
            std::any::type_name::<T>()
        );
        hash
    }
}

/// An entity with a [`Fingerprint`].
pub trait Fingerprinted: Serialize {
    /// The digest of the entity's serde form: equal for two entities exactly when they
    /// serialize alike (but for a collision of blake3).
    fn fingerprint(&self) -> Hash;
}

macro_rules! fingerprinted {
    ($($entity:ty),*) => {
        $(impl Fingerprinted for $entity {
            fn fingerprint(&self) -> Hash {
                self.fingerprint.of(self)
            }
        })*
    };
}

fingerprinted!(Function, Workflow, Agent, Pipeline, ToolServer);

/// A shared entity (the project's entities are `Arc`s) is the entity.
impl<T: Fingerprinted> Fingerprinted for Arc<T> {
    fn fingerprint(&self) -> Hash {
        T::fingerprint(self)
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprinted;
    use crate::ir;

    fn function(doc: &str, span: (usize, usize)) -> ir::Function {
        let policy = ir::Policy {
            timeout: ir::Millis(1),
            heartbeat: ir::Millis(2),
            retry: ir::Retry {
                attempts: 1,
                initial: ir::Millis(3),
                backoff: 2.0,
                max_interval: ir::Millis(4),
            },
        };
        ir::Function {
            names: ir::Names {
                declared: "SendEmail".to_owned(),
                class: "SendEmail".to_owned(),
                module: "send_email".to_owned(),
            },
            doc: Some(doc.to_owned()),
            input: Vec::new(),
            output: ir::Type::Str,
            policy,
            origin: ir::Origin {
                entity: "function \"SendEmail\"".to_owned(),
                span,
            },
            fingerprint: super::Fingerprint::default(),
        }
    }

    /// A fingerprint tells contents apart, not positions, and a clone keeps it.
    #[test]
    fn fingerprints_follow_content_not_span() {
        let first = function("Sends.", (0, 10));
        let moved = function("Sends.", (40, 50));
        let edited = function("Sends mail.", (0, 10));
        assert_eq!(first.fingerprint(), moved.fingerprint());
        assert_ne!(first.fingerprint(), edited.fingerprint());
        let clone = first.clone();
        assert_eq!(clone.fingerprint.0.get(), first.fingerprint.0.get());
        assert!(clone.fingerprint.0.get().is_some(), "a clone keeps it");
    }
}
