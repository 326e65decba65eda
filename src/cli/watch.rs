//! `restack watch [--debounce MS] [--run [--python PATH]] [--json-events]`: keeps the project
//! reconciled while the manifest is edited. Turns `watch::Report`s into lines; computes nothing.
//!
//! Human output (stdout), one line per reconcile: `reconciled in 4.2 ms: 1 created, 2 updated`,
//! `no changes (0.8 ms)`, `invalid manifest: 2 errors (0.9 ms)` (diagnostics on stderr),
//! `reconcile failed: …`; plus `! blocked (reason) path` lines and `[service] …` lines.
//! `--json-events` prints one JSON object per line instead (docs/watch.md).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::diag::{self, RenderOptions, Severity};
use crate::manifest;
use crate::plan::{self, Action, DisplayOptions};
use crate::watch::{self, Options, Outcome, Reconciled, Report, RunOptions};

/// Flags of `restack watch`.
#[derive(Debug, Clone)]
pub(crate) struct WatchFlags {
    pub debounce_ms: u64,
    pub run: bool,
    pub python: Option<PathBuf>,
    pub grace_ms: u64,
    pub json_events: bool,
}

/// Exit 0 when stopped by SIGINT or SIGTERM; 2 when watching could not start.
pub(crate) fn watch(global: &GlobalArgs, printer: &Printer, flags: &WatchFlags) -> ExitStatus {
    let run = || -> Result<ExitStatus, ExitStatus> {
        let dir = session::working_dir(global, printer)?;
        let manifest = manifest::locate(global.manifest.as_deref(), &dir).map_err(|err| {
            printer.error(&err.to_string());
            ExitStatus::Error
        })?;
        let root = manifest.parent().unwrap_or(&dir).to_path_buf();
        let options = Options {
            manifest,
            debounce: Duration::from_millis(flags.debounce_ms),
            run: flags.run.then(|| RunOptions {
                python: watch::resolve_python(
                    &root,
                    flags.python.as_ref().map(|it| dir.join(it)).as_deref(),
                ),
                grace: Duration::from_millis(flags.grace_ms),
            }),
            overrides: global.config.templates.clone(),
            lock_timeout: global.config.lock_timeout,
        };
        let mut show = |report: Report<'_>| {
            if flags.json_events {
                printer.out(&format!("{}\n", json_event(&report)));
            } else {
                human(printer, &report);
            }
            if let Report::Outcome { name, outcome } = &report {
                details(printer, name, outcome);
            }
        };
        watch::watch(&options, &mut show).map_err(|err| {
            printer.error(&err.to_string());
            ExitStatus::Error
        })?;
        Ok(ExitStatus::Success)
    };
    run().unwrap_or_else(|status| status)
}

fn human(printer: &Printer, report: &Report<'_>) {
    let line = match report {
        Report::Watching { manifest, debounce } => {
            if printer.quiet {
                return;
            }
            format!(
                "watching {} (debounce {} ms); Ctrl-C stops",
                name_of(manifest),
                debounce.as_millis()
            )
        }
        Report::Outcome { outcome, .. } => outcome_line(printer, outcome),
        Report::ManifestMissing { manifest } => format!(
            "{} is missing; keeping the last good project until it is back",
            name_of(manifest)
        ),
        Report::HandEdit { path } => format!("! blocked (modified) {path}"),
        Report::Missing { path } => format!("! missing {path} (restoring it)"),
        Report::WatchError { message } => format!("watch error: {message}"),
        Report::ServiceStarted { pid } => format!("[service] started (pid {pid})"),
        Report::ServiceFailed { message } => format!("[service] {message}"),
        Report::ServiceOutput { line } => format!("[service] {line}"),
        Report::ServiceExited { pid, code } => match code {
            Some(code) => format!("[service] exited with status {code} (pid {pid})"),
            None => format!("[service] killed by a signal (pid {pid})"),
        },
        Report::ServiceStopped { pid } => format!("[service] stopped (pid {pid})"),
        Report::Stopping => {
            if printer.quiet {
                return;
            }
            "stopping".to_owned()
        }
    };
    printer.out(&format!("{line}\n"));
}

fn outcome_line(printer: &Printer, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Applied(reconciled) => {
            let mut text = String::new();
            if printer.verbose {
                let display = DisplayOptions {
                    color: printer.color,
                    diff: false,
                };
                text.push_str(&plan::display::human(&reconciled.plan, &display));
            }
            for change in &reconciled.plan.changes {
                if let Action::Blocked(reason) = change.action {
                    let _ = writeln!(text, "! blocked ({}) {}", reason.name(), change.path);
                }
            }
            text.push_str(&summary(reconciled));
            text
        }
        Outcome::Invalid { analysis, elapsed } => {
            let errors = analysis
                .diagnostics
                .iter()
                .filter(|it| it.severity == Severity::Error)
                .count();
            let noun = if errors == 1 { "error" } else { "errors" };
            format!("invalid manifest: {errors} {noun} ({})", ms(*elapsed))
        }
        Outcome::Failed { message } => format!("reconcile failed: {message}"),
    }
}

fn summary(reconciled: &Reconciled) -> String {
    let applied = &reconciled.applied;
    let counts = [
        (applied.created.len(), "created"),
        (applied.updated.len(), "updated"),
        (applied.merged.len(), "merged"),
        (applied.deleted.len(), "deleted"),
        (applied.blocked.len(), "blocked"),
    ];
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if parts.is_empty() {
        format!("no changes ({})", ms(reconciled.elapsed))
    } else {
        format!(
            "reconciled in {}: {}",
            ms(reconciled.elapsed),
            parts.join(", ")
        )
    }
}

/// Diagnostics (stderr) and scaffold warnings that come with a reconcile.
fn details(printer: &Printer, name: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Invalid { analysis, .. } => {
            let diagnostics: Vec<_> = analysis
                .diagnostics
                .iter()
                .filter(|it| !printer.quiet || it.severity == Severity::Error)
                .cloned()
                .collect();
            let options = RenderOptions {
                color: printer.color,
                ..RenderOptions::default()
            };
            printer.err(&diag::render(name, &analysis.text, &diagnostics, options));
        }
        Outcome::Applied(reconciled) if !printer.quiet => {
            for warning in &reconciled.warnings {
                printer.err(&format!("{warning}\n"));
            }
        }
        Outcome::Applied(_) | Outcome::Failed { .. } => {}
    }
}

/// The `--json-events` form of a report (version 1, docs/watch.md).
fn json_event(report: &Report<'_>) -> Value {
    let mut event = match report {
        Report::Watching { manifest, debounce } => json!({
            "event": "watching",
            "manifest": name_of(manifest),
            "debounce_ms": u64::try_from(debounce.as_millis()).unwrap_or(u64::MAX),
        }),
        Report::Outcome { outcome, .. } => match outcome {
            Outcome::Applied(reconciled) => {
                let applied = &reconciled.applied;
                let blocked: Vec<Value> = reconciled
                    .plan
                    .changes
                    .iter()
                    .filter_map(|change| match change.action {
                        Action::Blocked(reason) => {
                            Some(json!({"path": change.path, "reason": reason.name()}))
                        }
                        _ => None,
                    })
                    .collect();
                json!({
                    "event": "reconciled",
                    "ms": millis(reconciled.elapsed),
                    "created": applied.created,
                    "updated": applied.updated,
                    "merged": applied.merged,
                    "deleted": applied.deleted,
                    "blocked": blocked,
                    "timings_ms": {
                        "analyze": millis(reconciled.timings.analyze),
                        "render": millis(reconciled.timings.render),
                        "scan": millis(reconciled.timings.scan),
                        "plan": millis(reconciled.timings.plan),
                        "apply": millis(reconciled.timings.apply),
                    },
                })
            }
            Outcome::Invalid { analysis, elapsed } => json!({
                "event": "invalid",
                "ms": millis(*elapsed),
                "errors": analysis
                    .diagnostics
                    .iter()
                    .filter(|it| it.severity == Severity::Error)
                    .count(),
            }),
            Outcome::Failed { message } => json!({"event": "failed", "message": message}),
        },
        Report::ManifestMissing { manifest } => {
            json!({"event": "manifest_missing", "manifest": name_of(manifest)})
        }
        Report::HandEdit { path } => {
            json!({"event": "blocked", "reason": "modified", "path": path})
        }
        Report::Missing { path } => json!({"event": "missing", "path": path}),
        Report::WatchError { message } => json!({"event": "watch_error", "message": message}),
        Report::ServiceStarted { pid } => json!({"event": "service_started", "pid": pid}),
        Report::ServiceFailed { message } => {
            json!({"event": "service_failed", "message": message})
        }
        Report::ServiceOutput { line } => json!({"event": "service_output", "line": line}),
        Report::ServiceExited { pid, code } => {
            json!({"event": "service_exited", "pid": pid, "code": code})
        }
        Report::ServiceStopped { pid } => json!({"event": "service_stopped", "pid": pid}),
        Report::Stopping => json!({"event": "stopping"}),
    };
    if let Value::Object(map) = &mut event {
        map.insert("v".to_owned(), json!(1));
        map.insert("unix_ms".to_owned(), json!(unix_ms()));
    }
    event
}

fn name_of(path: &Path) -> String {
    session::display_name(path)
}

/// Milliseconds with one decimal, for humans.
fn ms(elapsed: Duration) -> String {
    format!("{:.1} ms", elapsed.as_secs_f64() * 1000.0)
}

/// Milliseconds with microsecond precision, for machines.
fn millis(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Wall-clock time of an event, so a benchmark can relate it to its own clock.
fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |it| (it.as_secs_f64() * 1_000_000.0).round() / 1000.0)
}
