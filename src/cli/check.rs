//! `restack check [--json]`: is the project in sync with the manifest? For CI.

use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::plan::{self, DisplayOptions};

/// Exit 0 when in sync, 1 when the manifest is invalid or the project drifted (the drift is
/// printed as the plan that would fix it), 2 when restack failed.
pub(crate) fn check(global: &GlobalArgs, printer: &Printer, json: bool, diff: bool) -> ExitStatus {
    let run = || -> Result<ExitStatus, ExitStatus> {
        let plan = session::plan_read_only(global, printer, session::Texts::for_diff(diff))?;
        if json {
            printer.out(&plan::display::json(&plan));
        } else if !plan.is_in_sync() {
            printer.out(&plan::display::human(
                &plan,
                &DisplayOptions {
                    color: printer.color,
                    diff,
                },
            ));
        }
        if plan.is_in_sync() {
            if !printer.quiet && !json {
                printer.err("In sync: the project matches restack.kdl.\n");
            }
            Ok(ExitStatus::Success)
        } else {
            if !json {
                printer.err("Drift: the project does not match restack.kdl; `restack plan --diff` shows it.\n");
            }
            Ok(ExitStatus::Failure)
        }
    };
    run().unwrap_or_else(|status| status)
}
