//! Rendering: the resolved project becomes files in memory. Pure and deterministic: no IO, no
//! clock, sorted iteration everywhere.
//!
//! The framework is small on purpose:
//!
//! - Each area owns one module that lists its [`Output`]s (`core`, `pipelines`, `llm`) and its
//!   embedded templates (`TEMPLATES`, an `include_str!` table). Adding a file to the generated
//!   project means adding an `Output` there and, if needed, a template to that table: no edits
//!   here.
//! - Each area also lists the Python symbols the Restack service must register
//!   ([`Registration`]); `core` renders them all into the managed `registry.py`.
//! - The framework adds the generated-code header to every file (managed or scaffold, in the
//!   comment syntax of the file type) and parses every `.py` with `ruff_python_parser` before the
//!   file set is returned, so a template bug can never reach the disk.

mod check;
mod core;
mod env;
mod error;
mod file_set;
mod header;
mod isort;
mod llm;
mod output;
mod pipelines;
mod registry;
mod scaffold_check;
#[doc(hidden)]
pub mod testing;

pub use error::RenderError;
pub use file_set::{File, FileSet, Kind};
pub use output::Output;
pub use registry::{PolicyConstant, Registration, Role};
pub use scaffold_check::{ScaffoldWarning, check_scaffolds};

use std::collections::BTreeMap;

use crate::ir;

/// Renders the whole generated project into memory.
///
/// Every `.py` file is parsed with `ruff_python_parser` (target: the lower bound of
/// `project.python`) before anything is returned; a template that produced invalid Python is an
/// internal error ([`RenderError::InvalidPython`]).
pub fn render(project: &ir::Project) -> Result<FileSet, RenderError> {
    render_with_overrides(project, &BTreeMap::new())
}

/// [`render`] with user template overrides: `overrides` maps an embedded template's name (e.g.
/// `core/function.py.j2`) to the source that replaces it. Names that match no embedded template
/// are ignored here; overrides go through the same Python check as built-ins.
pub fn render_with_overrides(
    project: &ir::Project,
    overrides: &BTreeMap<String, String>,
) -> Result<FileSet, RenderError> {
    let env = env::environment(overrides.clone());
    let registrations = registrations(project);
    let policies = policies(project);
    let base = env::base_context(project, &registrations, &policies);
    let target = check::target_version(&project.python);
    let mut set = FileSet::default();
    for output in outputs(project) {
        let body = env::render_output(&env, &base, &output)?;
        let contents = header::with_header(&output.path, output.kind, &body);
        if std::path::Path::new(&output.path)
            .extension()
            .is_some_and(|ext| ext == "py")
        {
            check::python(&output, &contents, target)?;
        }
        debug_assert!(
            !set.files.contains_key(&output.path),
            "two outputs render the same path `{}`",
            output.path
        );
        set.files.insert(
            output.path,
            File {
                contents,
                kind: output.kind,
                origin: output.origin,
                template: output.template.to_owned(),
            },
        );
    }
    Ok(set)
}

/// Every file to render, from every area.
fn outputs(project: &ir::Project) -> Vec<Output> {
    let mut all = core::outputs(project);
    all.extend(pipelines::outputs(project));
    all.extend(llm::outputs(project));
    all
}

/// Every Python symbol the service registers, from every area, sorted and deduplicated.
pub fn registrations(project: &ir::Project) -> Vec<Registration> {
    let mut all = core::registrations(project);
    all.extend(pipelines::registrations(project));
    all.extend(llm::registrations(project));
    all.sort();
    all.dedup();
    all
}

/// Every named step policy `common/retries.py` defines, from every area, sorted by name.
pub fn policies(project: &ir::Project) -> Vec<PolicyConstant> {
    let mut all = core::policies(project);
    all.extend(pipelines::policies(project));
    all.extend(llm::policies(project));
    all.sort_by(|a, b| a.name.cmp(&b.name));
    debug_assert!(
        all.windows(2).all(|pair| pair[0].name != pair[1].name),
        "two policy constants share a name"
    );
    all
}

/// Names of every embedded template, from every area (to validate override folders).
pub fn template_names() -> Vec<&'static str> {
    core::TEMPLATES
        .iter()
        .chain(pipelines::TEMPLATES)
        .chain(llm::TEMPLATES)
        .map(|(name, _)| *name)
        .collect()
}

/// The embedded template with this name, from any area.
fn template_source(name: &str) -> Option<&'static str> {
    core::TEMPLATES
        .iter()
        .chain(pipelines::TEMPLATES)
        .chain(llm::TEMPLATES)
        .find(|(candidate, _)| *candidate == name)
        .map(|(_, source)| *source)
}
