//! `Origin`: the manifest entity (and span) that caused a file; owns nothing else.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ir;

/// The provenance of a file or change: the manifest entity that caused it and its byte span.
///
/// A copy of [`ir::Origin`] that can also be read back from state and saved plans. The entity's
/// name is shared: a plan's change and the next state's entry for one file hold one copy.
///
/// The state records the entity only ([`Origin::recorded`]): a span is a place in one version
/// of the manifest, and an edit moves the span of every entity below it, which would rewrite
/// the state's entry of every file those entities own (a diff of thousands of lines in the
/// committed state for a one-line edit, and work for `watch` on every save).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Origin {
    /// Human name of the entity, e.g. `function "SendEmail"`.
    pub entity: Arc<str>,
    /// Byte span `[start, end)` of the entity's node in the manifest; `None` where the manifest
    /// does not hold the entity (an orphan's change, a state entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<(usize, usize)>,
}

impl Origin {
    /// The origin as the state records it: the entity, without a span.
    #[must_use]
    pub fn recorded(&self) -> Origin {
        Origin {
            entity: Arc::clone(&self.entity),
            span: None,
        }
    }
}

impl From<ir::Origin> for Origin {
    fn from(origin: ir::Origin) -> Origin {
        Origin {
            entity: Arc::from(origin.entity),
            span: Some(origin.span),
        }
    }
}

impl From<&ir::Origin> for Origin {
    fn from(origin: &ir::Origin) -> Origin {
        Origin {
            entity: Arc::from(origin.entity.as_str()),
            span: Some(origin.span),
        }
    }
}
