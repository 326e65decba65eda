//! `restack check --workspace [ROOT]`: every project below ROOT, checked in parallel
//! (`crate::workspace`), one line per project and a total. Computes nothing of its own.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::workspace::{self, Outcome};

/// Version of the `check --workspace --json` format.
const JSON_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document {
    format_version: u32,
    projects: Vec<Project>,
    summary: Counts,
}

#[derive(Serialize)]
struct Project {
    manifest: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Serialize, Default)]
struct Counts {
    in_sync: usize,
    drift: usize,
    invalid: usize,
    failed: usize,
}

/// Exit 0 when every project is in sync, 1 when one drifted or is invalid (or none was found),
/// 2 when restack failed on one.
pub(crate) fn check(global: &GlobalArgs, printer: &Printer, root: &Path, json: bool) -> ExitStatus {
    let root = match session::working_dir(global, printer) {
        Ok(dir) => dir.join(root),
        Err(status) => return status,
    };
    let manifests = match workspace::discover(&root) {
        Ok(manifests) => manifests,
        Err(err) => {
            printer.error(&format!("cannot walk `{}`: {err}", root.display()));
            return ExitStatus::Error;
        }
    };
    let outcomes = workspace::check_all(&manifests, workspace::default_jobs());
    let mut counts = Counts::default();
    let mut projects = Vec::new();
    for (path, outcome) in manifests.iter().zip(&outcomes) {
        let shown = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string()
            .replace('\\', "/");
        let (status, message) = match outcome {
            Outcome::InSync => {
                counts.in_sync += 1;
                ("in-sync", None)
            }
            Outcome::Drift(summary) => {
                counts.drift += 1;
                (
                    "drift",
                    Some(format!(
                        "{} to create, {} to update, {} to merge, {} to delete, {} blocked",
                        summary.create,
                        summary.update,
                        summary.merge,
                        summary.delete,
                        summary.blocked
                    )),
                )
            }
            Outcome::Invalid(message) => {
                counts.invalid += 1;
                ("invalid", Some(message.clone()))
            }
            Outcome::Failed(message) => {
                counts.failed += 1;
                ("failed", Some(message.clone()))
            }
        };
        projects.push(Project {
            manifest: shown,
            status,
            message,
        });
    }
    if json {
        let document = Document {
            format_version: JSON_VERSION,
            projects,
            summary: counts,
        };
        let text = serde_json::to_string_pretty(&document).unwrap_or_default();
        printer.out(&format!("{text}\n"));
        return status_of(&document.summary, manifests.len());
    }
    let mut out = String::new();
    for project in &projects {
        let mark = match project.status {
            "in-sync" => "✓",
            "drift" | "invalid" => "✗",
            _ => "!",
        };
        let detail = project
            .message
            .as_deref()
            .map(|it| format!(": {it}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{mark} {} {}{detail}",
            project.manifest, project.status
        );
    }
    let _ = writeln!(
        out,
        "{} project(s): {} in sync, {} drifted, {} invalid, {} failed",
        manifests.len(),
        counts.in_sync,
        counts.drift,
        counts.invalid,
        counts.failed
    );
    printer.out(&out);
    if manifests.is_empty() {
        printer.error(&format!("no restack.kdl below `{}`", root.display()));
    }
    status_of(&counts, manifests.len())
}

fn status_of(counts: &Counts, found: usize) -> ExitStatus {
    if counts.failed > 0 {
        ExitStatus::Error
    } else if counts.drift > 0 || counts.invalid > 0 || found == 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}
