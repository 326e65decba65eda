//! `restack plan [--diff] [--json] [--out FILE]`: what apply would do. Writes nothing but the
//! saved plan file asked for with `--out`.

use std::path::Path;

use crate::apply;
use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::plan::{self, DisplayOptions};

/// Exit 0 when the plan has no blocked change, 1 when the manifest is invalid or a change is
/// blocked (apply would refuse it), 2 when restack failed.
pub(crate) fn plan(
    global: &GlobalArgs,
    printer: &Printer,
    diff: bool,
    json: bool,
    out: Option<&Path>,
) -> ExitStatus {
    let run = || -> Result<ExitStatus, ExitStatus> {
        // A saved plan holds every text it writes.
        let texts = session::Texts::for_diff(diff || out.is_some());
        let plan = session::plan_read_only(global, printer, texts)?;
        if json {
            printer.out(&plan::display::json(&plan));
        } else {
            printer.out(&plan::display::human(
                &plan,
                &DisplayOptions {
                    color: printer.color,
                    diff,
                },
            ));
        }
        if let Some(out) = out {
            let target = session::working_dir(global, printer)?.join(out);
            apply::write::write_atomic(&target, plan.to_saved_json().as_bytes()).map_err(
                |err| {
                    printer.error(&format!("cannot write `{}`: {err}", target.display()));
                    ExitStatus::Error
                },
            )?;
            if !printer.quiet {
                printer.err(&format!(
                    "Saved the plan to `{}`; `restack apply {}` applies exactly it.\n",
                    out.display(),
                    out.display()
                ));
            }
        }
        Ok(if plan.has_blocked() {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        })
    };
    run().unwrap_or_else(|status| status)
}
