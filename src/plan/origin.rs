//! `Origin`: the manifest entity (and span) that caused a file; owns nothing else.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ir;

/// The provenance of a file or change: the manifest entity that caused it and its byte span.
///
/// A copy of [`ir::Origin`] that can also be read back from state and saved plans. The entity's
/// name is shared: a plan's change and the next state's entry for one file hold one copy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Origin {
    /// Human name of the entity, e.g. `function "SendEmail"`.
    pub entity: Arc<str>,
    /// Byte span `[start, end)` of the entity's node in the manifest.
    pub span: (usize, usize),
}

impl From<ir::Origin> for Origin {
    fn from(origin: ir::Origin) -> Origin {
        Origin {
            entity: Arc::from(origin.entity),
            span: origin.span,
        }
    }
}

impl From<&ir::Origin> for Origin {
    fn from(origin: &ir::Origin) -> Origin {
        Origin {
            entity: Arc::from(origin.entity.as_str()),
            span: origin.span,
        }
    }
}
