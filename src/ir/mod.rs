//! The fully resolved project model that rendering consumes, and the lowering that builds it.
//!
//! Everything the checks validated is resolved here: names are converted (PascalCase classes,
//! snake_case modules), references point at declared entities, defaults and per-entity and
//! per-step overrides are merged, durations are parsed. Nothing stays an unchecked string or an
//! `Option` that the checks already ruled out.

mod cache;
mod fingerprint;
mod lower;
mod model;

pub(crate) use cache::LowerCache;
pub use fingerprint::{Fingerprint, Fingerprinted};

pub use lower::lower;
pub(crate) use lower::lower_cached;
pub use model::*;
