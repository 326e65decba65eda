//! `restack doctor [--json]`: gathers facts (`doctor::probe`), runs the checks, prints the
//! findings. Computes nothing of its own.

use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::doctor::{self, probe};

/// Exit 0 when nothing is wrong (warnings allowed), 1 when a check fails, 2 when doctor itself
/// could not run.
pub(crate) fn doctor(global: &GlobalArgs, printer: &Printer, json: bool) -> ExitStatus {
    let dir = match session::working_dir(global, printer) {
        Ok(dir) => dir,
        Err(status) => return status,
    };
    let facts = probe::gather(&probe::ProbeOptions {
        dir,
        manifest: global.manifest.clone(),
        config: global.config.clone(),
    });
    let findings = doctor::diagnose(&facts);
    if json {
        printer.out(&doctor::json(&findings));
    } else {
        printer.out(&doctor::human(&findings, printer.color));
    }
    if doctor::failed(&findings) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}
