//! The only place that writes to stdout and stderr.

use std::io::{IsTerminal, Write};

use crate::cli::args::{Color, GlobalArgs};

/// Writes command output (stdout) and messages (stderr), honouring `--color`, `NO_COLOR`, `-q`.
#[derive(Debug, Clone)]
pub struct Printer {
    pub color: bool,
    pub quiet: bool,
    pub verbose: bool,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Printer {
        let color = match global.color.unwrap_or(Color::Auto) {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|it| it.is_empty())
                    && std::io::stderr().is_terminal()
            }
        };
        Printer {
            color,
            quiet: global.quiet,
            verbose: global.verbose,
        }
    }

    /// Command output on stdout (plans, graphs, explanations).
    pub fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// Diagnostics and progress on stderr.
    pub fn err(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
    }

    /// An operational error: `error: message`.
    pub fn error(&self, message: &str) {
        self.err(&format!("error: {message}\n"));
    }
}
