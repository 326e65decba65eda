//! `restack validate`: find and read the manifest, analyze it, print every diagnostic.
//!
//! Parses nothing and checks nothing itself: the work is `analyze::analyze`, through
//! `session::load`, which also draws the diagnostics.

use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::diag;

/// Exit 0 when the manifest is valid (warnings allowed), 1 when it has an error, 2 when it could
/// not be found or read.
pub(crate) fn validate(global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let loaded = match session::load(global, printer) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let name = &loaded.name;
    let diagnostics = &loaded.analysis.diagnostics;
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
