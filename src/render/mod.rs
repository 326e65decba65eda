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
mod overrides;
#[doc(hidden)]
pub(crate) mod parallel;
mod pipelines;
mod registry;
mod scaffold_check;
#[doc(hidden)]
pub mod testing;

pub use error::RenderError;
pub use file_set::{File, FileSet, Kind};
pub use output::Output;
pub use overrides::{OverrideProblem, Overrides, ProblemSeverity};
pub use registry::{PolicyConstant, Registration, Role};
pub use scaffold_check::{
    Checked, Expect, Expectation, ScaffoldWarning, check_one, check_scaffolds,
    collect as collect_scaffold_warnings, expectations, target_of,
};

use std::collections::HashSet;

use crate::ir;

/// Renders the whole generated project into memory.
///
/// Every `.py` file is parsed with `ruff_python_parser` (target: the lower bound of
/// `project.python`) before anything is returned; a template that produced invalid Python is an
/// internal error ([`RenderError::InvalidPython`]).
pub fn render(project: &ir::Project) -> Result<FileSet, RenderError> {
    render_with(project, &Overrides::default())
}

/// [`render`] with user template overrides replacing embedded templates of the same name. Run
/// [`Overrides::check`] first to report bad overrides with their file and line; an error that
/// still happens here names the template (see [`RenderError::template`]), so a caller can tell a
/// failing override (the user's) from a failing built-in (restack's).
pub fn render_with(project: &ir::Project, overrides: &Overrides) -> Result<FileSet, RenderError> {
    render_cached(project, overrides, &mut RenderCache::default())
}

/// Python renderings already known to parse: the blake3 hash of the bytes with the target
/// version they were parsed under. A long-running caller (`watch`) keeps one and passes it to
/// every [`render_cached`], so that only the files whose bytes changed are parsed again. It holds
/// the `.py` files of the last successful rendering only, so it never grows past one project.
#[derive(Debug, Default, Clone)]
pub struct RenderCache {
    parsed: HashSet<([u8; 32], (u8, u8))>,
}

/// [`render_with`], skipping the parse of every `.py` file whose exact bytes `cache` has seen
/// parse under the same target version (parsing is a pure function of the two), and updating
/// `cache`. The result, errors included, is the same as [`render_with`]'s.
pub fn render_cached(
    project: &ir::Project,
    overrides: &Overrides,
    cache: &mut RenderCache,
) -> Result<FileSet, RenderError> {
    let env = env::environment(overrides);
    let registrations = registrations(project);
    let policies = policies(project);
    let base = env::base_context(project, &registrations, &policies);
    let target = check::target_version(&project.python);
    let version = (target.major, target.minor);
    let outputs = outputs(project);
    let known = &cache.parsed;
    // Each output is consumed by its job: its context is freed as soon as its file is rendered.
    let rendered = parallel::map_owned(outputs, |output| {
        let body = env::render_output(&env, &base, &output)?;
        let contents = header::with_header(&output.path, output.kind, &body);
        let mut parsed = None;
        if std::path::Path::new(&output.path)
            .extension()
            .is_some_and(|ext| ext == "py")
        {
            let key = (*blake3::hash(contents.as_bytes()).as_bytes(), version);
            if !known.contains(&key) {
                check::python(&output, &contents, target)?;
            }
            parsed = Some(key);
        }
        let file = File {
            contents,
            kind: output.kind,
            origin: output.origin,
            template: output.template.to_owned(),
        };
        Ok((output.path, file, parsed))
    });
    let mut set = FileSet::default();
    let mut parsed = HashSet::new();
    // The first error in output order, whatever thread met it first: the same error every run.
    for res in rendered {
        let (path, file, key) = res?;
        parsed.extend(key);
        debug_assert!(
            !set.files.contains_key(&path),
            "two outputs render the same path `{path}`"
        );
        set.files.insert(path, file);
    }
    cache.parsed = parsed;
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

/// The names of every embedded template, from every area, in table order.
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

#[cfg(test)]
mod tests {
    use super::{RenderCache, render, render_cached};
    use crate::render::testing;

    #[test]
    fn a_cache_changes_nothing_but_the_work() {
        let project = testing::blog();
        let plain = render(&project).expect("blog renders");
        let mut cache = RenderCache::default();
        let first = render_cached(&project, &super::Overrides::default(), &mut cache)
            .expect("blog renders");
        let n_python = plain
            .files
            .keys()
            .filter(|it| {
                std::path::Path::new(it)
                    .extension()
                    .is_some_and(|ext| ext == "py")
            })
            .count();
        assert_eq!(cache.parsed.len(), n_python);
        let second = render_cached(&project, &super::Overrides::default(), &mut cache)
            .expect("blog renders");
        assert_eq!(plain, first);
        assert_eq!(plain, second);
        assert_eq!(cache.parsed.len(), n_python);
    }
}
