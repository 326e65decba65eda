//! Pipeline outputs (orchestrators, steps, conditions, their tests). Filled by the pipeline
//! templates work; until then a project's pipelines render no files of their own.

use crate::ir;
use crate::render::{Output, PolicyConstant, Registration};

/// Embedded templates of this area: `(name, source)`.
pub(super) const TEMPLATES: &[(&str, &str)] = &[];

/// The files this area renders.
pub(super) fn outputs(_project: &ir::Project) -> Vec<Output> {
    Vec::new()
}

/// The symbols this area asks the service to register.
pub(super) fn registrations(_project: &ir::Project) -> Vec<Registration> {
    Vec::new()
}

/// The step policies this area adds to `common/retries.py`.
pub(super) fn policies(_project: &ir::Project) -> Vec<PolicyConstant> {
    Vec::new()
}
