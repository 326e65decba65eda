//! `restack run [-- ARGS]` starts the generated service with the project's own Python;
//! `restack run schedule NAME [--input JSON] [--wait]` schedules a workflow, pipeline or agent
//! through the generated `scripts/schedule_*.py`. Finds the interpreter like `doctor`
//! (`doctor::probe::discover`), streams the child's output, and maps its exit status.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::{GlobalArgs, RunAction, session};
use crate::doctor::probe;
use crate::ir;

/// Exit 0 when the child succeeded or was stopped with Ctrl-C, 1 when it failed (or the manifest
/// is invalid, or no interpreter was found), 2 when it could not be started or was killed.
pub(crate) fn run(
    global: &GlobalArgs,
    printer: &Printer,
    action: Option<&RunAction>,
    rest: &[String],
) -> ExitStatus {
    let go = || -> Result<ExitStatus, ExitStatus> {
        let loaded = session::load(global, printer)?;
        let Some(project) = loaded.analysis.project else {
            printer.err(&format!("{}: invalid; nothing was run\n", loaded.name));
            return Err(ExitStatus::Failure);
        };
        let root = loaded.root;
        let command = match action {
            None => service_command(global, printer, &root, &project)?,
            Some(RunAction::Schedule { name, input, wait }) => {
                schedule_command(global, printer, &root, &project, name, input, *wait)?
            }
        };
        let mut command = command;
        command.args(rest);
        Ok(supervise(printer, command))
    };
    go().unwrap_or_else(|status| status)
}

/// The interpreter and a command for it running in the project root with `src` on the path.
fn python(global: &GlobalArgs, printer: &Printer, root: &Path) -> Result<Command, ExitStatus> {
    let virtual_env = std::env::var_os("VIRTUAL_ENV").map(std::path::PathBuf::from);
    let Some(interpreter) = probe::discover(
        Some(root),
        global.config.python.as_deref(),
        virtual_env.as_deref(),
        std::env::var_os("PATH").as_deref(),
    ) else {
        printer.error(
            "no Python interpreter found (looked for `.venv/bin/python`, `$VIRTUAL_ENV/bin/python`, `python3` and `python` on PATH)",
        );
        printer.err("fix: `python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'`, or set RESTACK_PYTHON\n");
        return Err(ExitStatus::Failure);
    };
    if printer.verbose {
        printer.err(&format!("using `{}`\n", interpreter.path.display()));
    }
    let mut command = Command::new(&interpreter.path);
    command
        .current_dir(root)
        .env("PYTHONPATH", probe::python_path(root));
    Ok(command)
}

fn service_command(
    global: &GlobalArgs,
    printer: &Printer,
    root: &Path,
    project: &ir::Project,
) -> Result<Command, ExitStatus> {
    let service = format!("src/{}/service.py", project.package);
    if !root.join(&service).is_file() {
        printer.error(&format!(
            "`{service}` does not exist; run `restack apply` first"
        ));
        return Err(ExitStatus::Failure);
    }
    let mut command = python(global, printer, root)?;
    command
        .arg("-m")
        .arg(format!("{}.service", project.package));
    Ok(command)
}

/// What can be scheduled: `(declared name, class, is agent)`.
fn schedulable(project: &ir::Project) -> Vec<(&str, &str, bool)> {
    let workflows = project
        .workflows
        .iter()
        .map(|it| &it.names)
        .chain(project.pipelines.iter().map(|it| &it.names))
        .map(|it| (it.declared.as_str(), it.class.as_str(), false));
    let agents = project
        .agents
        .iter()
        .map(|it| (it.names.declared.as_str(), it.names.class.as_str(), true));
    workflows.chain(agents).collect()
}

fn schedule_command(
    global: &GlobalArgs,
    printer: &Printer,
    root: &Path,
    project: &ir::Project,
    name: &str,
    input: &str,
    wait: bool,
) -> Result<Command, ExitStatus> {
    let candidates = schedulable(project);
    let Some((_, class, agent)) = candidates
        .iter()
        .find(|(declared, class, _)| *declared == name || *class == name)
        .copied()
    else {
        let suggestion = candidates
            .iter()
            .map(|(declared, _, _)| (strsim::jaro_winkler(name, declared), *declared))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, it)| format!("; did you mean `{it}`?"))
            .unwrap_or_default();
        printer.error(&format!(
            "`{name}` is not a workflow, pipeline or agent of restack.kdl{suggestion}"
        ));
        return Err(ExitStatus::Failure);
    };
    match serde_json::from_str::<serde_json::Value>(input) {
        Ok(value) if value.is_object() => {}
        Ok(_) => {
            printer.error(&format!("`--input` must be a JSON object, got `{input}`"));
            return Err(ExitStatus::Failure);
        }
        Err(err) => {
            printer.error(&format!("`--input` is not JSON (`{input}`): {err}"));
            return Err(ExitStatus::Failure);
        }
    }
    if wait && agent {
        printer.error(&format!(
            "`--wait` waits for a workflow's result; `{name}` is an agent, which runs until stopped"
        ));
        return Err(ExitStatus::Failure);
    }
    let script = if agent {
        "scripts/schedule_agent.py"
    } else {
        "scripts/schedule_workflow.py"
    };
    if !root.join(script).is_file() {
        printer.error(&format!(
            "`{script}` does not exist; run `restack apply` first"
        ));
        return Err(ExitStatus::Failure);
    }
    let mut command = python(global, printer, root)?;
    command.arg(script).arg(class).arg("--input").arg(input);
    if wait {
        command.arg("--wait");
    }
    Ok(command)
}

/// Counts SIGINTs into `counter` (with `signal-hook`, as `watch` does). If the handler cannot be
/// installed, Ctrl-C keeps its default effect, which still reaches the child.
#[cfg(unix)]
fn count_interrupts(counter: Arc<AtomicUsize>) {
    use signal_hook::consts::signal::SIGINT;
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT]) {
        std::thread::spawn(move || {
            for _ in signals.forever() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
}

/// Elsewhere Ctrl-C keeps its default effect, which reaches the child too.
#[cfg(not(unix))]
fn count_interrupts(_counter: Arc<AtomicUsize>) {}

/// Runs the child with inherited stdio until it exits. Ctrl-C reaches the child directly (same
/// process group); restack keeps waiting so the child can shut down cleanly, and a second Ctrl-C
/// kills it.
fn supervise(printer: &Printer, mut command: Command) -> ExitStatus {
    let interrupts = Arc::new(AtomicUsize::new(0));
    count_interrupts(Arc::clone(&interrupts));
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            printer.error(&format!(
                "cannot start `{}`: {err}",
                command.get_program().to_string_lossy()
            ));
            return ExitStatus::Error;
        }
    };
    let mut killed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                if interrupts.load(Ordering::SeqCst) >= 2 && !killed {
                    let _ = child.kill();
                    killed = true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => {
                printer.error(&format!("cannot wait for the child: {err}"));
                return ExitStatus::Error;
            }
        }
    };
    if killed {
        printer.err("stopped\n");
        return ExitStatus::Error;
    }
    if status.success() || interrupts.load(Ordering::SeqCst) > 0 {
        return ExitStatus::Success;
    }
    if let Some(code) = status.code() {
        if !printer.quiet {
            printer.err(&format!("exited with status {code}\n"));
        }
        ExitStatus::Failure
    } else {
        printer.error("the child was killed by a signal");
        ExitStatus::Error
    }
}
