//! The one place exit codes are defined (DESIGN.md §5).

use std::process::ExitCode;

/// The exit status of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success, in sync, nothing to do.
    Success,
    /// 1: findings — an invalid manifest, drift under `check`, blocked changes under `apply`.
    Failure,
    /// 2: restack itself failed — IO, lock, stale plan, internal error.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        match status {
            ExitStatus::Success => ExitCode::from(0),
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}
