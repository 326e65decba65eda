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
mod env;
mod error;
mod fields;
mod file_set;
mod group;
mod header;
mod isort;
mod keyed;
mod llm;
mod memo;
mod output;
mod overrides;
#[doc(hidden)]
pub(crate) mod parallel;
mod pipelines;
mod registry;
mod scaffold_check;
mod spill;
#[doc(hidden)]
pub mod testing;

pub use error::RenderError;
pub use file_set::{File, FileSet, Kind};
pub use output::Output;
pub use overrides::{OverrideProblem, Overrides, ProblemSeverity};
pub use registry::{PolicyConstant, Registration, Role};
pub use scaffold_check::{
    Checked, Expect, Expectation, ScaffoldCache, ScaffoldCheck, ScaffoldWarning, check_one,
    check_scaffolds, check_scaffolds_cached, expectations, target_of,
    warnings as scaffold_warnings,
};
pub use spill::{Spill, Spilled};

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
    render_hashes_keeping(project, overrides, 0, None)
}

/// How many bytes of texts a project's first `apply` keeps in memory from the rendering that
/// plans it ([`render_hashes_keeping`]); it spills the others (see [`Spill`]). 2 MiB holds every
/// text at N = 100 entities (461 files), so that a small project never touches the disk for
/// them, and adds little to the peak at N = 5,000.
pub const TEXTS_KEPT: usize = 2 << 20;

/// [`render_hashes`], keeping the texts too as long as they add up to at most `budget` bytes
/// (in the order they are made, so which files of a larger project keep theirs varies), and
/// putting the others in `spill` when there is one.
pub fn render_hashes_keeping(
    project: &Arc<ir::Project>,
    overrides: &Overrides,
    budget: usize,
    spill: Option<&Spill>,
) -> Result<FileSet, RenderError> {
    let keep = Keep::Upto(std::sync::atomic::AtomicUsize::new(budget), spill);
    render_inner(project, overrides, &mut RenderCache::default(), &keep).map(Arc::unwrap_or_clone)
}

/// Which texts a rendering keeps (see [`render_inner`]).
enum Keep<'s> {
    All,
    /// The texts made while they add up to at most this many bytes more; the others are hashed
    /// only, their texts spilled when there is a spill.
    Upto(std::sync::atomic::AtomicUsize, Option<&'s Spill>),
}

impl Keep<'_> {
    fn all(&self) -> bool {
        matches!(self, Keep::All)
    }

    /// The file of `path`, or its hash only when its text is not kept (and spilled, if it can
    /// be).
    fn keep(&self, path: &str, file: File) -> File {
        let Keep::Upto(left, spill) = self else {
            return file;
        };
        let len = file.text().map_or(0, str::len);
        let ordering = std::sync::atomic::Ordering::Relaxed;
        let fits = left.fetch_update(ordering, ordering, |left| left.checked_sub(len));
        if len > 0 && fits.is_ok() {
            return file;
        }
        if let (Some(spill), Some(text)) = (spill, file.text()) {
            spill.put(path, text);
        }
        file.hashed_only()
    }
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
///   they were parsed under, so that only files whose bytes changed are parsed again (a
///   memoizing cache keeps none: its memos prove the same of the files they keep);
/// - when made with [`RenderCache::memoizing`], every output as last rendered with what it read
///   (see [`memo`]), so that only the outputs whose inputs changed are rendered again.
///
/// It holds the last successful rendering only, so it never grows past one project.
#[derive(Debug, Default, Clone)]
pub struct RenderCache {
    parsed: HashSet<(crate::plan::Hash, (u8, u8))>,
    memoize: bool,
    /// The target version the last rendering parsed its Python under: every file it returned
    /// parsed under it, so a memo of a file it made proves the file parses.
    version: Option<(u8, u8)>,
    /// The memo of each output made alone, by path.
    outputs: HashMap<String, memo::Memo>,
    /// The memo of each group of outputs, by kind and entity (see [`group::Group`]).
    groups: HashMap<&'static str, HashMap<String, memo::GroupMemo>>,
    /// The order of the files of the last rendering by path, as positions in the order the
    /// project lists them (see [`sorted`]): a hint, checked before it is used.
    order: Vec<usize>,
    /// The fingerprint of the templates `groups` were rendered with
    /// ([`memo::TemplateHashes::fingerprint`]).
    templates: Option<crate::plan::Hash>,
    /// The templates of the last rendering, loaded for the overrides it was given.
    loaded: Option<Arc<Loaded>>,
    /// The digests of the parts of `policies` and `registrations` in the last rendering.
    list_parts: memo::ListParts,
    /// The reads of the groups in `groups`, once each, so that groups that read alike share
    /// them (see [`memo::GroupMemo::reads`]).
    reads: HashSet<memo::Reads>,
    /// The file set of the last rendering, for a memoizing cache (see [`assemble`]), shared
    /// with the caller it was returned to.
    set: Option<Arc<FileSet>>,
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

    /// The templates for `overrides`: those of the last rendering when it had the same.
    fn load(&mut self, overrides: &Overrides) -> Arc<Loaded> {
        if let Some(loaded) = self.loaded.as_ref().filter(|loaded| {
            Arc::ptr_eq(&loaded.overrides, &overrides.templates)
                || loaded.overrides == overrides.templates
        }) {
            return Arc::clone(loaded);
        }
        let hashes = memo::TemplateHashes::new(overrides);
        let loaded = Arc::new(Loaded {
            overrides: Arc::clone(&overrides.templates),
            env: env::environment(overrides),
            fingerprint: hashes.fingerprint(),
            hashes,
        });
        self.loaded = Some(Arc::clone(&loaded));
        loaded
    }
}

/// The templates of a memoizing cache's renderings, kept from one rendering to the next while
/// the overrides stay the same (they are a function of them): the environment, which compiles
/// each template once, when it is first rendered, and the hash of each template's closure.
#[derive(Debug)]
struct Loaded {
    overrides: Arc<BTreeMap<String, String>>,
    env: minijinja::Environment<'static>,
    hashes: memo::TemplateHashes,
    fingerprint: crate::plan::Hash,
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
    render_shared(project, overrides, cache).map(Arc::unwrap_or_clone)
}

/// [`render_cached`], sharing the file set returned with a memoizing cache, which keeps it to
/// bring it up to date in place at the next rendering: a copy is made then only if a caller
/// still holds this one (`watch` drops it once the loop is idle), so a rendering that changed
/// a few files costs a few files, not a copy of the project's.
pub fn render_shared(
    project: &Arc<ir::Project>,
    overrides: &Overrides,
    cache: &mut RenderCache,
) -> Result<Arc<FileSet>, RenderError> {
    render_inner(project, overrides, cache, &Keep::All)
}

/// Whether the file at `path` is Python, so parsed before it is returned.
fn is_python(path: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|ext| ext == "py")
}

/// One output rendered (or reused) by [`render_inner`].
struct Done {
    path: String,
    file: File,
    /// The parse key of a `.py` file, known to parse.
    parsed: Option<(crate::plan::Hash, (u8, u8))>,
    /// The output's memo: new when it was rendered, the last one when it was reused (kept only
    /// within a group made again).
    memo: Option<memo::Memo>,
    reused: bool,
}

/// What a rendered group leaves in the cache.
enum GroupUpdate<'a> {
    /// Outputs made alone: their memos are kept by path.
    Alone,
    /// A group made again: its new memo.
    Made((&'static str, &'a str), memo::GroupMemo),
}

/// What the job of one group gives.
enum Rendered<'a, 'c> {
    /// A memoized group whose memo of last time is still valid: its files as they were, with
    /// the origin of now. Nothing of the group is made.
    Reused((&'static str, &'a str), &'c memo::GroupMemo, &'a ir::Origin),
    /// Outputs made, each rendered or reused.
    Done(Vec<Done>, GroupUpdate<'a>),
}

/// [`render_cached`]; `keep` other than [`Keep::All`] drops a file's text once it is hashed and
/// checked, so that the texts of a project are never all in memory.
///
/// For a memoizing cache, a group whose key (see [`group::Key`]: a few fingerprints hashed) and
/// reads are those of last time is reused as it is, without being made, and its files are taken
/// from its memo on this thread.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the groups, each step the memo's proof of the next"
)]
fn render_inner<'p>(
    project: &'p Arc<ir::Project>,
    overrides: &Overrides,
    cache: &mut RenderCache,
    keep: &Keep,
) -> Result<Arc<FileSet>, RenderError> {
    let memoize = cache.memoize;
    let loaded = memoize.then(|| cache.load(overrides));
    let fresh_env;
    let env = if let Some(loaded) = &loaded {
        &loaded.env
    } else {
        fresh_env = env::environment(overrides);
        &fresh_env
    };
    // Converted to template values name by name, as templates look them up (see `base.rs`).
    let base_context = Arc::new(base::Base::new(project));
    let base = memo::Tracked::value(Arc::clone(&base_context));
    let target = check::target_version(&project.python);
    let version = (target.major, target.minor);
    let templates = loaded.as_ref().map(|loaded| &loaded.hashes);
    // A group's memo proves its outputs' own keys only for the templates it was rendered with:
    // with others, each output made is proved on its own (its own key names its templates).
    let fingerprint = loaded.as_ref().map(|loaded| loaded.fingerprint);
    let same_templates = fingerprint.is_some() && cache.templates == fingerprint;
    let known = &cache.parsed;
    let memos = &cache.outputs;
    let group_memos = &cache.groups;
    let hashes = memo::DepHashes::new(&base_context, &cache.list_parts);
    let shared = memo::SharedDigests::default();
    // A memo is of a file of the last rendering, which parsed under the version it had.
    let same_version = cache.version == Some(version);
    // The parse check of a `.py` file, skipped when its bytes are known to parse (`proved`:
    // they are the bytes of a file of the last rendering, under the same version).
    let checked = |path: &str, python: bool, file: &File, proved: bool| {
        if !python {
            return Ok(None);
        }
        let key = (file.hash, version);
        let known_to_parse = (proved && same_version) || known.contains(&key);
        if !known_to_parse {
            check::python(
                path,
                &file.template,
                file.text().unwrap_or_default(),
                target,
            )?;
        }
        Ok(Some(key))
    };
    // One output made: reused when its last memo (`previous`) is still valid, else rendered.
    let render_one = |output: Output<'_>, previous: Option<&memo::Memo>| {
        debug_assert!(
            output.context.keys().all(|key| !base::NAMES.contains(key)),
            "an output context shadows a base key"
        );
        let own = templates.map(|templates| memo::own_key(&output, templates, &shared));
        let reused = own.and_then(|own| previous.filter(|memo| memo.still_valid(own, &hashes)));
        let python = is_python(&output.path);
        let (file, memo) = if let Some(memo) = reused {
            (memo.file_from(&output.origin), Some(memo.clone()))
        } else {
            let (body, reads) = memo::tracking(|| env::render_output(env, &base, &output));
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
                    .map(|dep| (dep, hashes.get(dep)))
                    .collect(),
                file: file.clone(),
                python,
            });
            (file, memo)
        };
        let proved =
            reused.is_some() || previous.is_some_and(|previous| previous.file.hash == file.hash);
        let parsed = checked(&output.path, python, &file, proved)?;
        let file = keep.keep(&output.path, file);
        Ok(Done {
            path: output.path,
            file,
            parsed,
            memo,
            reused: reused.is_some(),
        })
    };
    // What the memo knows of a group made from inputs, before it is made, with its key of now
    // written to `key`.
    let lookup = |group: &group::Group<'p>, key: &mut Vec<u8>| {
        let (kind, origin) = group.memo.filter(|_| memoize)?;
        let keyed = group.key(key);
        debug_assert!(keyed, "a group made from inputs has a key");
        let last = group_memos
            .get(kind)
            .and_then(|memos| memos.get(origin.entity.as_str()));
        Some(((kind, origin.entity.as_str()), origin, last))
    };
    // Each group to make is made when a thread is free to render it, and consumed by its job:
    // its contexts are freed as soon as its files are rendered.
    let job = |group: group::Group<'p>, lookup: Option<Lookup<'p, '_>>| {
        let Some(Lookup { id, key, last }) = lookup else {
            let done = group
                .outputs()
                .into_iter()
                .map(|output| {
                    let previous = memos.get(&output.path);
                    render_one(output, previous)
                })
                .collect::<Result<Vec<Done>, RenderError>>()?;
            return Ok(Rendered::Done(done, GroupUpdate::Alone));
        };
        let mut done = group
            .outputs()
            .into_iter()
            .map(|output| {
                let previous = last.and_then(|last| last.output(&output.path));
                render_one(output, previous)
            })
            .collect::<Result<Vec<Done>, RenderError>>()?;
        let outputs = done
            .iter_mut()
            .filter_map(|it| Some((it.path.clone(), it.memo.take()?)))
            .collect();
        Ok(Rendered::Done(
            done,
            GroupUpdate::Made(id, memo::GroupMemo::new(key, outputs)),
        ))
    };
    let rendered = if memoize {
        // The groups the memo proves are taken on this thread, one lookup each; only the others
        // go to the threads (an edit of one entity leaves a few).
        let mut rendered = Vec::new();
        let mut todo = Vec::new();
        let mut key = Vec::new();
        // Whether each list of reads checked so far is unchanged: groups that read alike share
        // their list (see `memo::GroupMemo::reads`), so there are a few.
        let mut verdicts: Vec<(&memo::Reads, bool)> = Vec::new();
        for group in groups(project) {
            let Some((id, origin, last)) = lookup(&group, &mut key) else {
                todo.push((rendered.len(), group, None));
                rendered.push(None);
                continue;
            };
            // A group whose key is that of last time (with the same templates), and whose
            // outputs read nothing that changed, is reused as it was, without being made.
            let proved = last.filter(|last| {
                same_templates && *last.key == *key && {
                    let known = verdicts
                        .iter()
                        .find(|(reads, _)| Arc::ptr_eq(reads, &last.reads));
                    if let Some((_, unchanged)) = known {
                        *unchanged
                    } else {
                        let unchanged = last.reads_unchanged(&hashes);
                        // Bounded, should lists stop being shared.
                        if verdicts.len() < MAX_VERDICTS {
                            verdicts.push((&last.reads, unchanged));
                        }
                        unchanged
                    }
                }
            });
            if let Some(last) = proved {
                rendered.push(Some(Ok(Rendered::Reused(id, last, origin))));
            } else {
                let lookup = Lookup {
                    id,
                    key: key.as_slice().into(),
                    last,
                };
                todo.push((rendered.len(), group, Some(lookup)));
                rendered.push(None);
            }
        }
        let made = parallel::map_lazy(todo.into_iter(), |(idx, group, lookup)| {
            (idx, job(group, lookup))
        });
        for (idx, res) in made {
            rendered[idx] = Some(res);
        }
        debug_assert!(rendered.iter().all(Option::is_some), "every group is taken");
        rendered.into_iter().flatten().collect()
    } else {
        parallel::map_lazy(groups(project), |group| job(group, None))
    };
    // Each in a slot of its own, to be taken in path order by `sorted`.
    let mut files = Vec::with_capacity(cache.order.len());
    let mut parsed = HashSet::new();
    let mut counts = Counts::default();
    let mut fresh: Vec<(String, memo::Memo)> = Vec::new();
    let mut made = Vec::new();
    let mut live = Vec::new();
    let mut n_alone = 0;
    // The first error in output order, whatever thread met it first: the same error every run.
    for res in rendered {
        let (done, update) = match res? {
            Rendered::Reused(id, last, origin) => {
                for (path, memo) in &last.outputs {
                    // Under the same version, the memo's file is one the last rendering parsed.
                    if !same_version {
                        checked(path, memo.python, &memo.file, true)?;
                    }
                    files.push(Some(Entry::Kept(path, memo, origin)));
                }
                counts.reused += last.outputs.len();
                live.push(id);
                continue;
            }
            Rendered::Done(done, update) => (done, update),
        };
        if let GroupUpdate::Alone = update {
            n_alone += done.len();
        }
        for Done {
            path,
            file,
            parsed: key,
            memo,
            reused,
        } in done
        {
            if !memoize {
                parsed.extend(key);
            }
            if reused {
                counts.reused += 1;
            } else {
                counts.rendered += 1;
            }
            if let Some(memo) = memo.filter(|_| !reused) {
                fresh.push((path.clone(), memo));
            }
            files.push(Some(Entry::Made(path, file)));
        }
        if let GroupUpdate::Made(id, memo) = update {
            live.push(id);
            made.push((id, memo));
        }
    }
    if !(memoize && keep.all()) {
        cache.set = None;
    }
    let last = (memoize && keep.all()).then_some(&mut cache.set);
    let set = assemble(files, &mut cache.order, last, keep);
    // Only now, with the groups' memos: a failed rendering leaves the cache as it was.
    cache.list_parts = hashes.list_parts();
    cache.templates = fingerprint;
    cache.parsed = parsed;
    cache.version = Some(version);
    cache.last = counts;
    cache.remember(&set, n_alone, fresh, made, &live);
    Ok(set)
}

/// How many lists of reads a rendering remembers the verdict of (see [`render_inner`]): more
/// than groups tend to have distinct lists, few enough to look through.
const MAX_VERDICTS: usize = 64;

/// What the memo knows of a group made from inputs before it is made (see [`render_inner`]).
struct Lookup<'a, 'c> {
    id: (&'static str, &'a str),
    /// The key of its inputs now.
    key: Box<[u8]>,
    /// Its memo of last time.
    last: Option<&'c memo::GroupMemo>,
}

/// A file of a rendering, in the project's order.
enum Entry<'c> {
    /// A file of a reused group: its memo, and the origin of now.
    Kept(&'c str, &'c memo::Memo, &'c ir::Origin),
    /// A file made (rendered, or reused alone).
    Made(String, File),
}

impl Entry<'_> {
    fn path(&self) -> &str {
        match self {
            Entry::Kept(path, ..) => path,
            Entry::Made(path, _) => path,
        }
    }
}

/// The file set of a rendering, from its files in the project's order (see [`sorted`] for
/// `order`). With `last`, the file set of the last rendering of a memoizing cache, kept by it:
/// when the paths are those of `last` in the same order (no file came or went), `last` is
/// brought up to date in place (the files made replace theirs, and a kept file takes the origin
/// of now) and shared again, which copies no entry unless a caller still holds `last` (then
/// each entry is copied once, instead of sorting and building the map anew).
fn assemble(
    mut files: Vec<Option<Entry<'_>>>,
    order: &mut Vec<usize>,
    mut last: Option<&mut Option<Arc<FileSet>>>,
    keep: &Keep,
) -> Arc<FileSet> {
    let same_paths = |set: &FileSet, order: &[usize], files: &[Option<Entry<'_>>]| {
        set.files.len() == files.len()
            && order.len() == files.len()
            && set.files.keys().zip(order).all(|(path, idx)| {
                files[*idx]
                    .as_ref()
                    .is_some_and(|entry| entry.path() == path)
            })
    };
    if let Some(shared) = last
        .as_mut()
        .and_then(|it| it.as_mut())
        .filter(|set| same_paths(set, order, &files))
    {
        let set = Arc::make_mut(shared);
        for (file, idx) in set.files.values_mut().zip(order.iter()) {
            match files[*idx].take() {
                Some(Entry::Kept(_, memo, origin)) => {
                    // The file is its memo's (the memo was kept with it), but the memo is what
                    // proves it: the hashes are compared rather than assumed alike.
                    if file.hash != memo.file.hash {
                        *file = memo.file_from(origin);
                    } else if file.origin != *origin {
                        // Mostly a moved entity: its name's allocation is reused.
                        let ir::Origin { entity, span } = origin;
                        file.origin.entity.clone_from(entity);
                        file.origin.span = *span;
                    }
                }
                Some(Entry::Made(_, made)) => *file = made,
                None => debug_assert!(false, "every file is taken once"),
            }
        }
        return Arc::clone(shared);
    }
    let files = files
        .into_iter()
        .map(|entry| {
            Some(match entry? {
                Entry::Kept(path, memo, origin) => {
                    let file = keep.keep(path, memo.file_from(origin));
                    (path.to_owned(), file)
                }
                Entry::Made(path, file) => (path, file),
            })
        })
        .collect();
    let set = Arc::new(FileSet {
        files: sorted(files, order),
    });
    if let Some(last) = last {
        *last = Some(Arc::clone(&set));
    }
    set
}

/// The files of a rendering, from the project's order into path order, using `order`: the
/// positions in the project's order of the files of the last rendering, in path order. Taking
/// them in that order is checked to give paths in strictly increasing order, which only the
/// sorted order does; when it does not (paths came or went), `order` is computed anew.
fn sorted(
    mut files: Vec<Option<(String, File)>>,
    order: &mut Vec<usize>,
) -> BTreeMap<String, File> {
    let path = |idx: usize| {
        files
            .get(idx)
            .and_then(Option::as_ref)
            .map(|(path, _)| path)
    };
    let increasing = |order: &[usize]| {
        order.len() == files.len()
            && order.first().is_none_or(|idx| path(*idx).is_some())
            && order.windows(2).all(|pair| {
                matches!((path(pair[0]), path(pair[1])), (Some(first), Some(second)) if first < second)
            })
    };
    if !increasing(order) {
        *order = (0..files.len()).collect();
        order.sort_by(|a, b| path(*a).cmp(&path(*b)));
        debug_assert!(increasing(order), "two outputs render the same path");
    }
    order.iter().filter_map(|idx| files[*idx].take()).collect()
}

impl RenderCache {
    /// Keeps the memos of the outputs of the last rendering only: reused ones as they were,
    /// `fresh` (of the `n_alone` outputs made alone) and `made` (groups) new; `live` names every
    /// group.
    fn remember(
        &mut self,
        set: &FileSet,
        n_alone: usize,
        fresh: Vec<(String, memo::Memo)>,
        made: Vec<((&'static str, &str), memo::GroupMemo)>,
        live: &[(&'static str, &str)],
    ) {
        if !self.memoize {
            return;
        }
        self.outputs.extend(fresh);
        // Every output made alone has a memo, so there are more only when paths went away.
        if self.outputs.len() != n_alone {
            self.outputs.retain(|path, _| set.files.contains_key(path));
        }
        let n_made = made.len();
        for ((kind, entity), mut memo) in made {
            match self.reads.get(&memo.reads) {
                Some(known) => memo.reads = Arc::clone(known),
                None => {
                    self.reads.insert(Arc::clone(&memo.reads));
                }
            }
            self.groups
                .entry(kind)
                .or_default()
                .insert(entity.to_owned(), memo);
        }
        let n_groups: usize = self.groups.values().map(HashMap::len).sum();
        if n_groups != live.len() {
            let live: HashSet<(&str, &str)> = live.iter().copied().collect();
            for (kind, memos) in &mut self.groups {
                memos.retain(|entity, _| live.contains(&(*kind, entity.as_str())));
            }
        }
        if n_made > 0 || n_groups != live.len() {
            // Only the lists some group still holds.
            self.reads.retain(|reads| Arc::strong_count(reads) > 1);
        }
    }
}

/// Every file to render, from every area, made as they are taken (see the areas' `outputs`).
fn outputs(project: &ir::Project) -> impl Iterator<Item = Output<'_>> + Send {
    groups(project).flat_map(group::Group::outputs)
}

/// Every file to render, in groups (see [`group::Group`]), made as they are taken.
fn groups(project: &ir::Project) -> impl Iterator<Item = group::Group<'_>> + Send {
    core::outputs(project)
        .chain(pipelines::outputs(project))
        .chain(std::iter::once_with(|| llm::groups(project)).flatten())
}

/// Every Python symbol the service registers, from every area, sorted and deduplicated.
pub fn registrations(project: &ir::Project) -> Vec<Registration> {
    RegistrationInputs::of(project).registrations()
}

/// Every named step policy `common/retries.py` defines, from every area, sorted by name.
pub fn policies(project: &ir::Project) -> Vec<PolicyConstant> {
    PolicyInputs::of(project).policies()
}

/// What [`registrations`] are made of, declared by each area: the project's registrations are a
/// function of these alone, so `watch` hashes these (names, mostly) to know whether the list
/// changed, instead of building and hashing the list.
#[derive(serde::Serialize)]
struct RegistrationInputs<'a>(
    core::RegistrationInputs<'a>,
    pipelines::RegistrationInputs<'a>,
    llm::RegistrationInputs<'a>,
);

impl<'a> RegistrationInputs<'a> {
    fn of(project: &'a ir::Project) -> Self {
        RegistrationInputs(
            core::RegistrationInputs::of(project),
            pipelines::RegistrationInputs::of(project),
            llm::RegistrationInputs::of(project),
        )
    }

    fn registrations(&self) -> Vec<Registration> {
        let mut all = core::registrations(&self.0);
        all.extend(pipelines::registrations(&self.1));
        all.extend(llm::registrations(&self.2));
        all.sort();
        all.dedup();
        all
    }
}

/// What [`policies`] are made of, declared by each area (as for [`RegistrationInputs`]). The LLM
/// area adds no policy.
#[derive(serde::Serialize)]
struct PolicyInputs<'a>(core::PolicyInputs<'a>, pipelines::PolicyInputs<'a>);

impl<'a> PolicyInputs<'a> {
    fn of(project: &'a ir::Project) -> Self {
        PolicyInputs(
            core::PolicyInputs::of(project),
            pipelines::PolicyInputs::of(project),
        )
    }

    fn policies(&self) -> Vec<PolicyConstant> {
        let mut all = core::policies(&self.0);
        all.extend(pipelines::policies(&self.1));
        all.sort_by(|a, b| a.name.cmp(&b.name));
        debug_assert!(
            all.windows(2).all(|pair| pair[0].name != pair[1].name),
            "two policy constants share a name"
        );
        all
    }
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
    use crate::ir;
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

    /// Renders `before` and then `after` with one memoizing cache, and checks the second
    /// rendering against a rendering of `after` from scratch: the memo never reuses a stale
    /// file, whatever it proved from the first. Returns the counts of the second.
    fn check_memo(before: &ir::Project, after: ir::Project) -> super::Counts {
        let overrides = super::Overrides::default();
        let mut cache = RenderCache::memoizing();
        render_cached(&Arc::new(before.clone()), &overrides, &mut cache).expect("renders");
        let after = Arc::new(after);
        let cached = render_cached(&after, &overrides, &mut cache).expect("renders");
        let plain = render(&after).expect("renders");
        assert_eq!(cached, plain);
        cache.last
    }

    /// An edit of only what a workflow calls makes the workflow's files again: a group is keyed
    /// by the fingerprints of the entities it reads, not only by its own.
    #[test]
    fn an_edited_callee_renders_its_caller_again() {
        let before = testing::blog();
        let mut after = testing::blog();
        let function = Arc::make_mut(&mut after.functions[0]);
        function.input.push(before.functions[0].input[0].clone());
        function.input[3].name = "cc".to_owned();
        let counts = check_memo(&before, after.clone());
        assert!(counts.rendered > 0);
        // The workflow itself is unchanged; its scaffold lists the callee's input.
        let plain = render(&Arc::new(after)).expect("renders");
        let scaffold = plain.files["src/blog/workflows/email_campaign.py"]
            .text()
            .unwrap_or_default();
        assert!(scaffold.contains("cc"), "{scaffold}");
    }

    /// An entity only moved (its span, which templates never see) is reused, with its origin
    /// of now.
    #[test]
    fn a_moved_entity_is_reused_where_it_now_is() {
        let before = testing::blog();
        let mut after = testing::blog();
        for function in &mut after.functions {
            let function = Arc::make_mut(function);
            function.origin.span = (function.origin.span.0 + 7, function.origin.span.1 + 7);
        }
        for workflow in &mut after.workflows {
            let workflow = Arc::make_mut(workflow);
            workflow.origin.span = (workflow.origin.span.0 + 7, workflow.origin.span.1 + 7);
        }
        let counts = check_memo(&before, after);
        assert_eq!(counts.rendered, 0);
    }

    /// What the files read besides their entities (`defaults`, `llm`, the project's name) makes
    /// them again when it changes.
    #[test]
    fn edits_outside_the_entities_render_their_readers_again() {
        let before = testing::blog();
        let mut after = testing::blog();
        after.defaults.retry.attempts += 1;
        assert!(check_memo(&before, after).rendered > 0);
        let mut after = testing::blog();
        if let Some(llm) = &mut after.llm {
            llm.circuit_breaker.failures += 1;
        }
        assert!(check_memo(&before, after).rendered > 0);
        let mut after = testing::blog();
        after.package = "blog2".to_owned();
        assert!(check_memo(&before, after).rendered > 0);
        let mut after = testing::variety();
        after.name.push('2');
        check_memo(&testing::variety(), after);
    }

    /// A memoizing cache brings the file set it keeps up to date when no path comes or goes
    /// (files made replace theirs, kept ones take the origin of now), and builds it anew when one
    /// does: every rendering of a sequence is that of a fresh render.
    #[test]
    fn the_kept_file_set_follows_edits_moves_and_new_paths() {
        let overrides = super::Overrides::default();
        let mut cache = RenderCache::memoizing();
        let edited = || {
            let mut project = testing::blog();
            let function = Arc::make_mut(&mut project.functions[0]);
            function.doc = Some("Edited.".to_owned());
            function.origin.span = (function.origin.span.0 + 3, function.origin.span.1 + 3);
            project
        };
        let renamed = || {
            let mut project = edited();
            Arc::make_mut(&mut project.functions[0])
                .names
                .module
                .push('2');
            project
        };
        for project in [
            testing::blog(),
            edited(),
            testing::blog(),
            renamed(),
            renamed(),
            edited(),
        ] {
            let project = Arc::new(project);
            let cached = render_cached(&project, &overrides, &mut cache).expect("renders");
            assert_eq!(cached, render(&project).expect("renders"));
        }
    }

    /// The fingerprint of an entity is computed from it as it is: a project built alike is
    /// rendered alike, and every file is reused.
    #[test]
    fn an_unchanged_project_is_reused_whole() {
        let counts = check_memo(&testing::variety(), testing::variety());
        assert_eq!(counts.rendered, 0);
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
