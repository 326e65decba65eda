//! `restack fmt [--check]`: canonical formatting of the manifest, every comment kept.
//!
//! The formatting itself is `manifest::format`; this file finds the manifest, refuses an invalid
//! one, prints a diff under `--check` and writes through `apply::write::write_atomic`.

use std::fmt::Write as _;

use similar::TextDiff;

use crate::apply;
use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::manifest::format::{FormatError, format};

/// Exit 0 when the manifest is (now) formatted, 1 when it is invalid or, under `--check`, not
/// formatted, 2 when it cannot be read or written or formatting would change its meaning.
pub(crate) fn fmt(global: &GlobalArgs, printer: &Printer, check: bool) -> ExitStatus {
    let run = || -> Result<ExitStatus, ExitStatus> {
        let loaded = session::load(global, printer)?;
        if loaded.analysis.diagnostics.has_errors() {
            printer.err(&format!("{}: invalid; not formatted\n", loaded.name));
            return Err(ExitStatus::Failure);
        }
        let text = &loaded.analysis.text;
        let formatted = format(text).map_err(|err| {
            printer.error(&err.to_string());
            if let FormatError::Unsafe(_) = err {
                printer.err("this is a bug in restack; please report it\n");
            }
            ExitStatus::Error
        })?;
        if &formatted == text {
            if !printer.quiet {
                printer.err(&format!("{}: already formatted\n", loaded.name));
            }
            return Ok(ExitStatus::Success);
        }
        if check {
            printer.out(&diff(&loaded.name, text, &formatted, printer.color));
            printer.err(&format!(
                "{}: not formatted; `restack fmt` formats it\n",
                loaded.name
            ));
            return Ok(ExitStatus::Failure);
        }
        let path = loaded.root.join(&loaded.name);
        apply::write::write_atomic(&path, formatted.as_bytes()).map_err(|err| {
            printer.error(&format!("cannot write `{}`: {err}", path.display()));
            ExitStatus::Error
        })?;
        if !printer.quiet {
            printer.err(&format!("Formatted {}.\n", loaded.name));
        }
        Ok(ExitStatus::Success)
    };
    run().unwrap_or_else(|status| status)
}

/// A unified diff of `old` → `new`, coloured when asked.
pub(crate) fn diff(name: &str, old: &str, new: &str, color: bool) -> String {
    let text = TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string();
    if !color {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = match line.as_bytes().first() {
            Some(b'+') if !line.starts_with("+++") => "\x1b[32m",
            Some(b'-') if !line.starts_with("---") => "\x1b[31m",
            Some(b'@') => "\x1b[36m",
            _ => "",
        };
        if code.is_empty() {
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(out, "{code}{line}\x1b[0m");
        }
    }
    out
}
