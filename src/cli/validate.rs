//! `restack validate`: find and read the manifest, analyze it, print every diagnostic.
//!
//! Parses nothing and checks nothing itself: the work is `analyze::analyze`.

use std::path::PathBuf;

use crate::analyze::analyze;
use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::diag::{self, RenderOptions};
use crate::manifest;

/// At most this many diagnostics are drawn; the summary still counts them all. Drawing one
/// costs time proportional to the file, so a pathological manifest must not print thousands.
const MAX_SHOWN: usize = 50;

/// Exit 0 when the manifest is valid (warnings allowed), 1 when it has an error, 2 when it could
/// not be found or read.
pub(crate) fn validate(global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let dir = match &global.directory {
        Some(dir) => dir.clone(),
        None => match std::env::current_dir() {
            Ok(dir) => dir,
            Err(err) => {
                printer.error(&format!("cannot read the working directory: {err}"));
                return ExitStatus::Error;
            }
        },
    };
    let path = match manifest::locate(global.manifest.as_deref(), &dir) {
        Ok(path) => path,
        Err(err) => {
            printer.error(&err.to_string());
            return ExitStatus::Error;
        }
    };
    let bytes = match manifest::read(&path) {
        Ok(bytes) => bytes,
        Err(err) => {
            printer.error(&err.to_string());
            return ExitStatus::Error;
        }
    };
    let name = display_name(&path);
    let analysis = analyze(&name, &bytes);
    let diagnostics: Vec<_> = analysis.diagnostics.iter().cloned().collect();
    let options = RenderOptions {
        color: printer.color,
        ..RenderOptions::default()
    };
    let shown = diagnostics.len().min(MAX_SHOWN);
    if shown > 0 {
        printer.err(&diag::render(
            &name,
            &analysis.text,
            &diagnostics[..shown],
            options,
        ));
    }
    if diagnostics.len() > shown {
        printer.err(&format!(
            "{name}: {} more problems not shown\n",
            diagnostics.len() - shown
        ));
    }
    let n_errors = diagnostics
        .iter()
        .filter(|it| it.severity == diag::Severity::Error)
        .count();
    let n_warnings = diagnostics.len() - n_errors;
    if n_errors > 0 {
        printer.err(&format!(
            "{name}: {n_errors} error{}, {n_warnings} warning{}\n",
            plural(n_errors),
            plural(n_warnings)
        ));
        return ExitStatus::Failure;
    }
    if !printer.quiet {
        printer.err(&format!(
            "{name}: valid ({n_warnings} warning{})\n",
            plural(n_warnings)
        ));
    }
    ExitStatus::Success
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The manifest's name as shown in diagnostics: its file name, so output does not depend on
/// where the project lives.
fn display_name(path: &std::path::Path) -> String {
    path.file_name()
        .map_or_else(|| PathBuf::from(path), PathBuf::from)
        .display()
        .to_string()
}
