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

mod base;
mod check;
mod chunks;
mod core;
mod digest;
mod env;
mod error;
mod fields;
mod file_set;
mod header;
mod isort;
mod llm;
mod memo;
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
    Checked, Expect, Expectation, ScaffoldCheck, ScaffoldWarning, check_one, check_scaffolds,
    expectations, target_of, warnings as scaffold_warnings,
};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::ir;

/// Renders the whole generated project into memory.
///
/// The project is taken shared, not borrowed, because template values are `'static`: the parts
/// templates read are converted from it when they read them (see `base.rs`), where converting it
/// all up front, or copying it, would cost memory for what no template reads.
///
/// Every `.py` file is parsed with `ruff_python_parser` (target: the lower bound of
/// `project.python`) before anything is returned; a template that produced invalid Python is an
/// internal error ([`RenderError::InvalidPython`]).
pub fn render(project: &Arc<ir::Project>) -> Result<FileSet, RenderError> {
    render_with(project, &Overrides::default())
}

/// [`render`] with user template overrides replacing embedded templates of the same name. Run
/// [`Overrides::check`] first to report bad overrides with their file and line; an error that
/// still happens here names the template (see [`RenderError::template`]), so a caller can tell a
/// failing override (the user's) from a failing built-in (restack's).
pub fn render_with(
    project: &Arc<ir::Project>,
    overrides: &Overrides,
) -> Result<FileSet, RenderError> {
    render_cached(project, overrides, &mut RenderCache::default())
}

/// [`render_with`], keeping of each file its hash, kind and origin but not its text: everything
/// planning needs, in a small part of the memory of the whole project. Every check runs as in
/// [`render_with`] (each `.py` file is parsed), so the same errors are returned. A text needed
/// later (to write it, merge into it or show a diff) is rendered again with a [`Renderer`];
/// rendering is deterministic, so it is the text that was hashed.
pub fn render_hashes(
    project: &Arc<ir::Project>,
    overrides: &Overrides,
) -> Result<FileSet, RenderError> {
    render_inner(project, overrides, &mut RenderCache::default(), false)
}

/// Renders single files of a project again, on demand: the texts a rendering made with
/// [`render_hashes`] did not keep. Shareable between threads, but renders at most as many files
/// at once as there are cores: more would not be faster, and each render in flight holds its
/// text.
///
/// The outputs are made as they are needed, in the project's order, and only the wanted ones
/// are kept until rendered: taking the files in that order ([`Renderer::next`]) holds only the
/// contexts of the files being rendered, while asking for a path ([`Renderer::render`]) keeps
/// the wanted outputs made before it.
pub struct Renderer<'a> {
    env: minijinja::Environment<'static>,
    base: minijinja::Value,
    pending: std::sync::Mutex<Pending<'a>>,
    slots: parallel::Slots,
}

/// The outputs of a [`Renderer`] not yet rendered: those made and kept, by path, and the rest,
/// not made yet.
struct Pending<'a> {
    kept: BTreeMap<String, Output<'a>>,
    rest: Box<dyn Iterator<Item = Output<'a>> + Send + 'a>,
}

impl std::fmt::Debug for Renderer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl<'a> Renderer<'a> {
    /// A renderer of the files of `project` whose path `wanted` accepts.
    pub fn new(
        project: &'a Arc<ir::Project>,
        overrides: &Overrides,
        wanted: impl Fn(&str) -> bool + Send + 'a,
    ) -> Renderer<'a> {
        Renderer {
            env: env::environment(overrides),
            base: memo::Tracked::value(Arc::new(base::Base::new(project))),
            pending: std::sync::Mutex::new(Pending {
                kept: BTreeMap::new(),
                rest: Box::new(outputs(project).filter(move |output| wanted(&output.path))),
            }),
            slots: parallel::Slots::per_core(),
        }
    }

    /// The text of the file at `path`, header included, exactly as [`render_with`] renders it;
    /// `None` when the project has no such file (or `wanted` did not accept it). Each file is
    /// rendered once: its context is freed as it renders, and asking again (or taking it with
    /// [`Renderer::next`]) gives `None`.
    pub fn render(&self, path: &str) -> Option<Result<String, RenderError>> {
        let output = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match pending.kept.remove(path) {
                Some(output) => output,
                None => loop {
                    let output = pending.rest.next()?;
                    if output.path == path {
                        break output;
                    }
                    pending.kept.insert(output.path.clone(), output);
                },
            }
        };
        Some(self.render_output(&output))
    }

    /// The next wanted file not yet rendered, with its path: those kept by [`Renderer::render`]
    /// first, in path order, then the others in the project's order; `None` when every wanted
    /// file was rendered.
    pub fn next(&self) -> Option<(String, Result<String, RenderError>)> {
        let output = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match pending.kept.pop_first() {
                Some((_, output)) => output,
                None => pending.rest.next()?,
            }
        };
        let text = self.render_output(&output);
        Some((output.path, text))
    }

    /// The text of `output`, header included.
    fn render_output(&self, output: &Output<'_>) -> Result<String, RenderError> {
        let _slot = self.slots.take();
        memo::tracking(|| env::render_output(&self.env, &self.base, output))
            .0
            .map(|body| header::with_header(&output.path, output.kind, body))
    }
}

/// What earlier renderings proved, for a long-running caller (`watch`) that passes one to every
/// [`render_cached`]:
///
/// - the Python renderings known to parse: the blake3 hash of the bytes with the target version
///   they were parsed under, so that only files whose bytes changed are parsed again;
/// - when made with [`RenderCache::memoizing`], every output as last rendered with what it read
///   (see [`memo`]), so that only the outputs whose inputs changed are rendered again.
///
/// It holds the last successful rendering only, so it never grows past one project.
#[derive(Debug, Default, Clone)]
pub struct RenderCache {
    parsed: HashSet<(crate::plan::Hash, (u8, u8))>,
    memoize: bool,
    outputs: HashMap<String, memo::Memo>,
    /// How many outputs the last rendering rendered, and how many it reused.
    pub last: Counts,
}

/// Outputs rendered and reused by one [`render_cached`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub rendered: usize,
    pub reused: usize,
}

impl RenderCache {
    /// A cache that also remembers every output and renders again only what changed.
    pub fn memoizing() -> RenderCache {
        RenderCache {
            memoize: true,
            ..RenderCache::default()
        }
    }
}

/// [`render_with`], skipping the parse of every `.py` file whose exact bytes `cache` has seen
/// parse under the same target version (parsing is a pure function of the two), and, for a
/// memoizing cache, the rendering of every output whose inputs did not change; updating `cache`.
/// The result, errors included, is the same as [`render_with`]'s.
pub fn render_cached(
    project: &Arc<ir::Project>,
    overrides: &Overrides,
    cache: &mut RenderCache,
) -> Result<FileSet, RenderError> {
    render_inner(project, overrides, cache, true)
}

/// [`render_cached`]; `keep_texts: false` drops each file's text once it is hashed and checked,
/// so that the texts of a project are never all in memory.
fn render_inner(
    project: &Arc<ir::Project>,
    overrides: &Overrides,
    cache: &mut RenderCache,
    keep_texts: bool,
) -> Result<FileSet, RenderError> {
    let env = env::environment(overrides);
    // Converted to template values name by name, as templates look them up (see `base.rs`).
    let base_context = Arc::new(base::Base::new(project));
    let base = memo::Tracked::value(Arc::clone(&base_context));
    let target = check::target_version(&project.python);
    let version = (target.major, target.minor);
    let known = &cache.parsed;
    let memos = &cache.outputs;
    let memoize = cache.memoize;
    let templates = memoize.then(|| memo::TemplateHashes::new(overrides));
    let hashes = memo::DepHashes::new(&base_context);
    let shared = memo::SharedDigests::default();
    // Each output is made when a thread is free to render it, and consumed by its job: its
    // context is freed as soon as its file is rendered.
    let rendered = parallel::map_lazy(outputs(project), |output| {
        debug_assert!(
            output.context.keys().all(|key| !base::NAMES.contains(key)),
            "an output context shadows a base key"
        );
        let own = templates
            .as_ref()
            .map(|templates| memo::own_key(&output, templates, &shared));
        let reused = own.and_then(|own| {
            memos
                .get(&output.path)
                .filter(|memo| memo.still_valid(own, &hashes))
        });
        let (file, memo) = if let Some(memo) = reused {
            let file = File {
                origin: output.origin.clone(),
                ..memo.file.clone()
            };
            (file, None)
        } else {
            let (body, reads) = memo::tracking(|| env::render_output(&env, &base, &output));
            let contents = header::with_header(&output.path, output.kind, body?);
            let file = File::rendered(
                contents,
                output.kind,
                output.origin.clone(),
                output.template,
            );
            let memo = own.map(|own| memo::Memo {
                own,
                deps: reads
                    .into_iter()
                    .map(|dep| {
                        let hash = hashes.get(&dep);
                        (dep, hash)
                    })
                    .collect(),
                file: file.clone(),
            });
            (file, memo)
        };
        let mut parsed = None;
        if std::path::Path::new(&output.path)
            .extension()
            .is_some_and(|ext| ext == "py")
        {
            let key = (file.hash, version);
            if !known.contains(&key) {
                check::python(&output, file.text().unwrap_or_default(), target)?;
            }
            parsed = Some(key);
        }
        let file = if keep_texts { file } else { file.hashed_only() };
        Ok((output.path, file, parsed, memo, reused.is_some()))
    });
    let mut set = FileSet::default();
    let mut parsed = HashSet::new();
    let mut counts = Counts::default();
    let mut fresh: Vec<(String, memo::Memo)> = Vec::new();
    // The first error in output order, whatever thread met it first: the same error every run.
    for res in rendered {
        let (path, file, key, memo, reused) = res?;
        parsed.extend(key);
        if reused {
            counts.reused += 1;
        } else {
            counts.rendered += 1;
        }
        if let Some(memo) = memo {
            fresh.push((path.clone(), memo));
        }
        debug_assert!(
            !set.files.contains_key(&path),
            "two outputs render the same path `{path}`"
        );
        set.files.insert(path, file);
    }
    cache.parsed = parsed;
    cache.last = counts;
    cache.remember(&set, fresh);
    Ok(set)
}

impl RenderCache {
    /// Keeps the memos of the paths of `set` only: reused ones as they were, `fresh` ones new.
    fn remember(&mut self, set: &FileSet, fresh: Vec<(String, memo::Memo)>) {
        if !self.memoize {
            return;
        }
        self.outputs.retain(|path, _| set.files.contains_key(path));
        self.outputs.extend(fresh);
    }
}

/// Every file to render, from every area, made as they are taken (see the areas' `outputs`).
fn outputs(project: &ir::Project) -> impl Iterator<Item = Output<'_>> + Send {
    core::outputs(project)
        .chain(pipelines::outputs(project))
        .chain(std::iter::once_with(|| llm::outputs(project)).flatten())
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
    use std::sync::Arc;

    use super::{RenderCache, Renderer, render, render_cached};
    use crate::render::testing;

    #[test]
    fn a_cache_changes_nothing_but_the_work() {
        let project = Arc::new(testing::blog());
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

    #[test]
    fn a_renderer_makes_each_wanted_file_once_as_rendered() {
        let project = Arc::new(testing::blog());
        let all = render(&project).expect("blog renders");
        let text = |path: &str| all.files[path].text().map(str::to_owned);
        // Every other file is wanted; one is asked for by path first.
        let wanted: Vec<&String> = all.files.keys().step_by(2).collect();
        let asked = wanted[wanted.len() / 2].clone();
        let overrides = super::Overrides::default();
        let renderer = Renderer::new(&project, &overrides, |path| {
            wanted.iter().any(|it| it.as_str() == path)
        });
        let first = renderer.render(&asked).map(|it| it.expect("renders"));
        assert_eq!(first, text(&asked));
        assert!(
            renderer.render(&asked).is_none(),
            "each file is rendered once"
        );
        let mut made = vec![asked.clone()];
        while let Some((path, res)) = renderer.next() {
            assert_eq!(Some(res.expect("renders")), text(&path), "{path}");
            made.push(path);
        }
        made.sort();
        let mut expected: Vec<String> = wanted.iter().map(|it| (*it).clone()).collect();
        expected.sort();
        assert_eq!(made, expected);
        assert!(renderer.render(&asked).is_none());
        assert!(renderer.render("no/such/file.py").is_none());
    }
}
