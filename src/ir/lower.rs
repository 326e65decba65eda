//! Lowering: checks cross-references and builds the resolved [`Project`] from the AST.

use crate::diag::Diagnostics;
use crate::ir::Project;
use crate::manifest::Manifest;

/// Checks the manifest as a whole and resolves it. Pure: no IO.
pub fn lower(_manifest: &Manifest) -> Result<Project, Diagnostics> {
    Err(Diagnostics::new())
}
