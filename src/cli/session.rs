//! What every project command does first: find and read the manifest, analyze it, render the
//! project, and plan against the disk. Each step prints its own problems and maps them to an
//! exit status, so commands read as a short sequence of `?`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::analyze::{Analysis, analyze};
use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::config;
use crate::diag::{self, RenderOptions, Severity};
use crate::ir;
use crate::manifest;
use crate::plan::{self, Hash, Plan, PlanOptions, State};
use crate::record;
use crate::render::{
    self, FileSet, OverrideProblem, Overrides, ProblemSeverity, RenderError, ScaffoldCheck,
};

/// A manifest that was found, read and analyzed.
pub(crate) struct Loaded {
    /// The project root: the manifest's directory.
    pub root: PathBuf,
    /// The manifest's name as shown in messages (its file name).
    pub name: String,
    pub hash: Hash,
    pub analysis: Analysis,
}

/// How much of a rendering a command keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Texts {
    /// Every text: to show diffs, or save a plan.
    All,
    /// Hashes, and the few texts planning reads (merges): the project's texts are never all in
    /// memory. `apply` renders the others again as it writes them.
    Needed,
    /// [`Texts::Needed`], and, when the project has no state yet (its first apply, which writes
    /// every file), the texts: in memory as long as they add up to at most
    /// [`render::TEXTS_KEPT`] bytes, the others in a spill ([`Compiled::spilled`]). What a first
    /// `apply` writes is rendered once.
    Few,
}

impl Texts {
    /// `All` when diffs are shown, else `Needed`.
    pub(crate) fn for_diff(diff: bool) -> Texts {
        if diff { Texts::All } else { Texts::Needed }
    }

    /// `All` when diffs are shown, else `Few`.
    pub(crate) fn for_apply(diff: bool) -> Texts {
        if diff { Texts::All } else { Texts::Few }
    }
}

/// A valid manifest, rendered.
pub(crate) struct Compiled {
    pub root: PathBuf,
    pub manifest: Hash,
    /// Shared with the rendering (see [`render::render`]).
    pub project: Arc<ir::Project>,
    pub overrides: Overrides,
    /// The rendering; with [`Texts::Needed`], of hashes only until [`plan`] adds the texts it
    /// reads.
    pub files: FileSet,
    pub texts: Texts,
    /// The inputs of the rendering, hashed ([`record::key`]).
    pub key: Hash,
    /// The manifest's diagnostics (warnings: there are no errors).
    pub diagnostics: diag::Diagnostics,
    /// With [`Texts::Few`], the texts of a first apply not kept in memory (see [`render::Spill`]).
    pub spilled: Option<render::Spilled>,
}

/// A plan, with the check of every scaffold the manifest expects (against the disk as planned),
/// from which `apply` builds the render record.
pub(crate) struct Planned {
    pub plan: Plan,
    pub scaffolds: Vec<ScaffoldCheck>,
}

/// The directory the command runs in: `-C DIR`, else the working directory.
pub(crate) fn working_dir(global: &GlobalArgs, printer: &Printer) -> Result<PathBuf, ExitStatus> {
    let cwd = std::env::current_dir().map_err(|err| {
        printer.error(&format!("cannot read the working directory: {err}"));
        ExitStatus::Error
    })?;
    Ok(match &global.directory {
        Some(dir) => cwd.join(dir),
        None => cwd,
    })
}

/// A manifest that was found and read.
pub(crate) struct Source {
    /// The directory the command runs in.
    pub dir: PathBuf,
    pub path: PathBuf,
    /// The manifest's name as shown in messages (its file name).
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Finds the manifest (`-m`, else upward from the working directory) and reads it. A manifest
/// that cannot be found or read is `Error` (exit 2).
pub(crate) fn read(global: &GlobalArgs, printer: &Printer) -> Result<Source, ExitStatus> {
    let dir = working_dir(global, printer)?;
    let path = manifest::locate(global.manifest.as_deref(), &dir).map_err(|err| {
        printer.error(&err.to_string());
        ExitStatus::Error
    })?;
    let bytes = manifest::read(&path).map_err(|err| {
        printer.error(&err.to_string());
        ExitStatus::Error
    })?;
    Ok(Source {
        name: display_name(&path),
        dir,
        path,
        bytes,
    })
}

/// Finds, reads and analyzes the manifest, printing every diagnostic. Errors in the manifest are
/// `Failure` (exit 1); a manifest that cannot be found or read is `Error` (exit 2).
pub(crate) fn load(global: &GlobalArgs, printer: &Printer) -> Result<Loaded, ExitStatus> {
    let source = read(global, printer)?;
    Ok(load_source(printer, &source))
}

/// Analyzes a manifest that was read, printing every diagnostic.
fn load_source(printer: &Printer, source: &Source) -> Loaded {
    let Source { name, bytes, .. } = source;
    let analysis = analyze(name, bytes);
    print_diagnostics(printer, name, &analysis.text, &analysis.diagnostics);
    Loaded {
        root: source.root(),
        name: name.clone(),
        hash: Hash::of(bytes),
        analysis,
    }
}

impl Source {
    /// The project root: the manifest's directory.
    pub(crate) fn root(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| self.dir.clone(), Path::to_path_buf)
    }
}

/// Loads the manifest and renders the project. An invalid manifest is `Failure`; a template that
/// produced invalid output is an internal error (`Error`).
pub(crate) fn compile(
    global: &GlobalArgs,
    printer: &Printer,
    texts: Texts,
) -> Result<Compiled, ExitStatus> {
    let source = read(global, printer)?;
    compile_source(global, printer, &source, texts)
}

/// [`compile`] of a manifest that was read.
fn compile_source(
    global: &GlobalArgs,
    printer: &Printer,
    source: &Source,
    texts: Texts,
) -> Result<Compiled, ExitStatus> {
    let Loaded {
        root,
        name,
        hash,
        analysis,
    } = load_source(printer, source);
    // Only the project and the diagnostics are needed from here on: the decoded manifest and its
    // text are freed before rendering, the peak of a command's memory.
    let Analysis {
        project,
        diagnostics,
        manifest,
        text,
    } = analysis;
    drop((manifest, text));
    let Some(project) = project else {
        printer.err(&format!("{name}: invalid; nothing was planned\n"));
        return Err(ExitStatus::Failure);
    };
    let project = Arc::new(project);
    let overrides = overrides(global, printer, &root)?;
    let mut spilled = None;
    let rendered = match texts {
        Texts::All => render::render_with(&project, &overrides),
        Texts::Needed => render::render_hashes(&project, &overrides),
        Texts::Few if root.join(plan::STATE_FILE).exists() => {
            // Only a first apply writes every file; a later one, the few that changed, which it
            // renders again at little cost.
            render::render_hashes(&project, &overrides)
        }
        Texts::Few => {
            // Without a temp file, what is not kept is rendered again.
            let spill = render::Spill::new().ok();
            let rendered = render::render_hashes_keeping(
                &project,
                &overrides,
                render::TEXTS_KEPT,
                spill.as_ref(),
            );
            spilled = spill.map(render::Spill::finish).filter(|it| !it.is_empty());
            rendered
        }
    };
    let files = rendered.map_err(|err| {
        if overrides.contains(err.template()) {
            printer.error(&override_error(&overrides, &err));
            return ExitStatus::Failure;
        }
        printer.error(&format!("{err}"));
        if overrides.is_empty() {
            printer.err("this is a bug in restack; please report it\n");
        } else {
            let names: Vec<_> = overrides.names().map(|it| overrides.file(it)).collect();
            printer.err(&format!(
                "this is a bug in restack, or caused by a template override ({}); please report it if not\n",
                names.join(", ")
            ));
        }
        ExitStatus::Error
    })?;
    Ok(Compiled {
        key: record::key(&source.bytes, &overrides),
        root,
        manifest: hash,
        project,
        overrides,
        files,
        texts,
        diagnostics,
        spilled,
    })
}

/// Loads the project's template overrides (`restack-templates/` by default) and checks them like
/// built-ins, printing every problem: an override that does not compile is `Failure` (it is user
/// input), an unknown name a warning; an unreadable folder is `Error`.
pub(crate) fn overrides(
    global: &GlobalArgs,
    printer: &Printer,
    root: &Path,
) -> Result<Overrides, ExitStatus> {
    let overrides = config::overrides::load(root, &global.config.templates).map_err(|err| {
        printer.error(&err.to_string());
        if err.is_users() {
            ExitStatus::Failure
        } else {
            ExitStatus::Error
        }
    })?;
    report_overrides(printer, overrides.check())?;
    Ok(overrides)
}

/// Prints the problems of the overrides; an invalid one is `Failure`.
fn report_overrides(printer: &Printer, problems: Vec<OverrideProblem>) -> Result<(), ExitStatus> {
    let mut failed = false;
    for problem in problems {
        let line = problem.line.map(|it| format!(":{it}")).unwrap_or_default();
        match problem.severity {
            ProblemSeverity::Error => {
                failed = true;
                printer.error(&format!("{}{line}: {}", problem.file, problem.message));
            }
            ProblemSeverity::Warning if !printer.quiet => {
                printer.err(&format!(
                    "warning: {}{line}: {}\n",
                    problem.file, problem.message
                ));
            }
            ProblemSeverity::Warning => {}
        }
    }
    if failed {
        printer.err("a template override is invalid; nothing was planned\n");
        return Err(ExitStatus::Failure);
    }
    Ok(())
}

/// A render error caused by an override, naming the override's file and line.
fn override_error(overrides: &Overrides, err: &RenderError) -> String {
    match err {
        RenderError::Template {
            template,
            line,
            message,
            ..
        } => {
            let line = line.map(|it| format!(":{it}")).unwrap_or_default();
            let first = message.lines().next().unwrap_or_default();
            format!("{}{line}: {first}", overrides.file(template))
        }
        RenderError::InvalidPython {
            path,
            template,
            line,
            column,
            message,
        } => format!(
            "{}: renders invalid Python in `{path}` at {line}:{column}: {message}",
            overrides.file(template)
        ),
    }
}

/// Plans the compiled project against the disk and the recorded state, and prints warnings about
/// scaffolds that disagree with the manifest. A rendering of hashes only is planned against a
/// scan of hashes only, with the texts planning reads loaded (and rendered) first.
pub(crate) fn plan(
    compiled: &mut Compiled,
    force: bool,
    printer: &Printer,
) -> Result<Planned, ExitStatus> {
    let failed = |message: String| {
        printer.error(&message);
        ExitStatus::Error
    };
    let root = &compiled.root;
    let state = State::load(root).map_err(|err| failed(err.to_string()))?;
    let mut snapshot = match compiled.texts {
        Texts::All => plan::scan(root, &compiled.files, &state),
        Texts::Needed | Texts::Few => plan::scan_hashes_only(root, &compiled.files, &state),
    }
    .map_err(|err| failed(err.to_string()))?;
    let scaffolds = render::check_scaffolds(&compiled.project, &[], |path| {
        let on_disk = snapshot.files.get(path)?;
        if on_disk.bytes.is_some() {
            return Some((on_disk.hash, on_disk.text()?.into()));
        }
        // Read for the check only, then dropped.
        let bytes = plan::scan_one(root, path).ok()??;
        let text = String::from_utf8(bytes).ok()?;
        Some((Hash::of(text.as_bytes()), text.into()))
    });
    print_scaffold_warnings(printer, &scaffolds);
    if compiled.texts != Texts::All {
        let needed = plan::texts_needed(&compiled.files, &snapshot, &state);
        snapshot
            .load_texts(root, &state, &needed)
            .map_err(|err| failed(err.to_string()))?;
        // The texts the rendering did not keep.
        let unkept: Vec<&String> = needed
            .iter()
            .filter(|rel| {
                (compiled.files.files.get(rel.as_str())).is_some_and(|it| it.contents.is_none())
            })
            .collect();
        render_again(compiled, &unkept).map_err(failed)?;
    }
    let options = PlanOptions {
        manifest: compiled.manifest,
        force,
    };
    Ok(Planned {
        plan: plan::plan(&compiled.files, &snapshot, &state, &options),
        scaffolds,
    })
}

/// Renders again the texts of `paths` (sorted) into the compiled rendering, which holds their
/// hashes only; each must hash as it did.
fn render_again(compiled: &mut Compiled, paths: &[&String]) -> Result<(), String> {
    if paths.is_empty() {
        return Ok(());
    }
    let renderer = render::Renderer::new(&compiled.project, &compiled.overrides, |path| {
        paths.binary_search_by(|it| it.as_str().cmp(path)).is_ok()
    });
    for rel in paths {
        let Some(file) = compiled.files.files.get_mut(rel.as_str()) else {
            continue;
        };
        match renderer.render(rel) {
            Some(Ok(text)) if Hash::of(text.as_bytes()) == file.hash => {
                file.contents = Some(text.into());
            }
            _ => {
                return Err(format!(
                    "`{rel}` renders differently from a moment ago; this is a bug in restack, please report it"
                ));
            }
        }
    }
    Ok(())
}

/// The plan for `plan` and `check`, printing what they print. When the render record proves the
/// project unchanged since the last apply ([`unchanged`]), it is made from hashes alone, without
/// analyzing or rendering; otherwise the manifest is analyzed and rendered as usual. Both roads
/// print the same diagnostics and give the same plan.
pub(crate) fn plan_read_only(
    global: &GlobalArgs,
    printer: &Printer,
    texts: Texts,
) -> Result<Plan, ExitStatus> {
    let source = read(global, printer)?;
    if let Some(proof) = unchanged(global, &source) {
        let text = String::from_utf8_lossy(&source.bytes);
        print_diagnostics(printer, &source.name, &text, &proof.diagnostics);
        report_overrides(printer, proof.override_problems)?;
        print_scaffold_warnings(printer, &proof.scaffolds);
        return Ok(proof.plan);
    }
    let mut compiled = compile_source(global, printer, &source, texts)?;
    Ok(plan(&mut compiled, false, printer)?.plan)
}

/// What [`unchanged`] proves: the plan, and what the full road would have printed.
struct Unchanged {
    plan: Plan,
    diagnostics: diag::Diagnostics,
    override_problems: Vec<OverrideProblem>,
    scaffolds: Vec<ScaffoldCheck>,
}

/// The plan of a project whose render record matches the manifest, the overrides and this
/// restack, when that plan changes nothing (see [`record::prove_unchanged`]). `None` for anything
/// else, including every error: the full road then reports it. Prints nothing.
fn unchanged(global: &GlobalArgs, source: &Source) -> Option<Unchanged> {
    let root = source.root();
    let overrides = config::overrides::load(&root, &global.config.templates).ok()?;
    let override_problems = overrides.check();
    if override_problems
        .iter()
        .any(|it| it.severity == ProblemSeverity::Error)
    {
        return None;
    }
    let proof = record::prove_unchanged(&root, &source.bytes, &overrides)?;
    Some(Unchanged {
        plan: proof.plan,
        diagnostics: proof.diagnostics,
        override_problems,
        scaffolds: proof.scaffolds,
    })
}

/// Prints the warnings of the scaffold checks (not under `-q`).
fn print_scaffold_warnings(printer: &Printer, scaffolds: &[ScaffoldCheck]) {
    if printer.quiet {
        return;
    }
    for warning in render::scaffold_warnings(scaffolds) {
        printer.err(&format!("{warning}\n"));
    }
}

/// At most this many diagnostics are drawn; the summary lines still count them all. Drawing one
/// costs time proportional to the file, so a pathological manifest must not print thousands.
const MAX_SHOWN: usize = 50;

/// Draws the diagnostics of the manifest called `name` (only errors under `-q`), at most
/// [`MAX_SHOWN`] of them.
pub(crate) fn print_diagnostics(
    printer: &Printer,
    name: &str,
    text: &str,
    diagnostics: &diag::Diagnostics,
) {
    let diagnostics: Vec<_> = diagnostics
        .iter()
        .filter(|it| !printer.quiet || it.severity == Severity::Error)
        .cloned()
        .collect();
    let shown = diagnostics.len().min(MAX_SHOWN);
    if shown == 0 {
        return;
    }
    let options = RenderOptions {
        color: printer.color,
        ..RenderOptions::default()
    };
    printer.err(&diag::render(name, text, &diagnostics[..shown], options));
    if diagnostics.len() > shown {
        printer.err(&format!(
            "{name}: {} more problems not shown\n",
            diagnostics.len() - shown
        ));
    }
}

/// The manifest's name as shown in diagnostics: its file name, so output does not depend on
/// where the project lives.
pub(crate) fn display_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| PathBuf::from(path), PathBuf::from)
        .display()
        .to_string()
}
