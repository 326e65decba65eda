//! The command line: argument parsing, dispatch, printing, exit codes.
//!
//! Each `cli/<command>.rs` parses nothing and computes nothing of its own: it calls the library
//! and hands results to [`printer`]. Only `printer` writes to stdout or stderr.

mod apply;
mod args;
mod check;
mod exit_status;
mod graph;
mod new;
mod plan;
pub mod printer;
mod session;
mod validate;
mod watch;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Args, Command, GlobalArgs};
pub use exit_status::ExitStatus;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // clap prints help/version to stdout and usage errors to stderr itself.
            let status = if err.use_stderr() {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            };
            let _ = err.print();
            return status.into();
        }
    };
    run(&args).into()
}

/// Runs one parsed command line.
pub fn run(args: &Args) -> ExitStatus {
    let printer = printer::Printer::new(&args.global);
    match &args.command {
        Command::Explain { code } => explain(&printer, code),
        Command::Validate => validate::validate(&args.global, &printer),
        Command::New { dir, example } => new::new(&args.global, &printer, dir, example.as_deref()),
        Command::Init => new::init(&args.global, &printer),
        Command::Plan { diff, json, out } => {
            plan::plan(&args.global, &printer, *diff, *json, out.as_deref())
        }
        Command::Apply { file, force, diff } => {
            apply::apply(&args.global, &printer, file.as_deref(), *force, *diff)
        }
        Command::Check { json, diff } => check::check(&args.global, &printer, *json, *diff),
        Command::Graph { name, format } => graph::graph(&args.global, &printer, name, *format),
        Command::Watch {
            debounce,
            run,
            python,
            grace,
            json_events,
        } => watch::watch(
            &args.global,
            &printer,
            &watch::WatchFlags {
                debounce_ms: *debounce,
                run: *run,
                python: python.clone(),
                grace_ms: *grace,
                json_events: *json_events,
            },
        ),
    }
}

fn explain(printer: &printer::Printer, code: &str) -> ExitStatus {
    let Some(code) = crate::diag::Code::from_name(code.trim_start_matches("restack::")) else {
        printer.error(&format!("unknown diagnostic code `{code}`"));
        return ExitStatus::Failure;
    };
    printer.out(&format!(
        "{}: {}\n\n{}\n",
        code.name(),
        code.summary(),
        code.explanation()
    ));
    ExitStatus::Success
}
