//! What every project command does first: find and read the manifest, analyze it, render the
//! project, and plan against the disk. Each step prints its own problems and maps them to an
//! exit status, so commands read as a short sequence of `?`.

use std::path::{Path, PathBuf};

use crate::analyze::{Analysis, analyze};
use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::config;
use crate::diag::{self, RenderOptions, Severity};
use crate::ir;
use crate::manifest;
use crate::plan::{self, Hash, Plan, PlanOptions, State};
use crate::render::{self, FileSet, Overrides, ProblemSeverity, RenderError};

/// A manifest that was found, read and analyzed.
pub(crate) struct Loaded {
    /// The project root: the manifest's directory.
    pub root: PathBuf,
    /// The manifest's name as shown in messages (its file name).
    pub name: String,
    pub hash: Hash,
    pub analysis: Analysis,
}

/// A valid manifest, rendered.
pub(crate) struct Compiled {
    pub root: PathBuf,
    pub manifest: Hash,
    pub project: ir::Project,
    pub files: FileSet,
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
    let Source {
        dir,
        path,
        name,
        bytes,
    } = read(global, printer)?;
    let analysis = analyze(&name, &bytes);
    print_diagnostics(printer, &name, &analysis.text, &analysis.diagnostics);
    let root = path.parent().map_or_else(|| dir.clone(), Path::to_path_buf);
    Ok(Loaded {
        root,
        name,
        hash: Hash::of(&bytes),
        analysis,
    })
}

/// Loads the manifest and renders the project. An invalid manifest is `Failure`; a template that
/// produced invalid output is an internal error (`Error`).
pub(crate) fn compile(global: &GlobalArgs, printer: &Printer) -> Result<Compiled, ExitStatus> {
    let loaded = load(global, printer)?;
    let Some(project) = loaded.analysis.project else {
        printer.err(&format!("{}: invalid; nothing was planned\n", loaded.name));
        return Err(ExitStatus::Failure);
    };
    let overrides = overrides(global, printer, &loaded.root)?;
    let files = render::render_with(&project, &overrides).map_err(|err| {
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
        root: loaded.root,
        manifest: loaded.hash,
        project,
        files,
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
    let mut failed = false;
    for problem in overrides.check() {
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
    Ok(overrides)
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
/// scaffolds that disagree with the manifest.
pub(crate) fn plan(
    compiled: &Compiled,
    force: bool,
    printer: &Printer,
) -> Result<Plan, ExitStatus> {
    let state = State::load(&compiled.root).map_err(|err| {
        printer.error(&err.to_string());
        ExitStatus::Error
    })?;
    let snapshot = plan::scan(&compiled.root, &compiled.files, &state).map_err(|err| {
        printer.error(&err.to_string());
        ExitStatus::Error
    })?;
    let warnings = render::check_scaffolds(&compiled.project, |path| {
        snapshot
            .files
            .get(path)
            .and_then(|it| it.text())
            .map(str::to_owned)
    });
    if !printer.quiet {
        for warning in warnings {
            printer.err(&format!(
                "warning[{}]: {}:{}: {}\n",
                warning.code.name(),
                warning.path,
                warning.line,
                warning.message
            ));
        }
    }
    let options = PlanOptions {
        manifest: compiled.manifest,
        force,
    };
    Ok(plan::plan(&compiled.files, &snapshot, &state, &options))
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
