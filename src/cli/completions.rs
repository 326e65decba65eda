//! `restack completions SHELL`: prints a completion script generated from the clap definition.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Args;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;

/// Prints the script for `shell` on stdout (install it as the shell's docs say).
pub(crate) fn completions(printer: &Printer, shell: Shell) -> ExitStatus {
    let mut command = Args::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "restack", &mut script);
    printer.out(&String::from_utf8_lossy(&script));
    ExitStatus::Success
}
