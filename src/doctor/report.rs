//! Doctor findings as text for humans and as versioned JSON (docs/json-format.md). Formats
//! strings only; printing is the CLI's.

use std::fmt::Write as _;

use serde::Serialize;

use crate::doctor::{Finding, Status};

/// Version of the `doctor --json` format; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

/// One line per finding: `✓ engine reachable at localhost:7233`,
/// `✗ engine not reachable … — fix: …`; `!` for warnings, `-` for skipped checks. The check ids
/// are in the JSON only: every message names what it is about.
pub fn human(findings: &[Finding], color: bool) -> String {
    let mut out = String::new();
    for finding in findings {
        let (mark, code) = match finding.status {
            Status::Ok => ("✓", "32"),
            Status::Warn => ("!", "33"),
            Status::Fail => ("✗", "31"),
            Status::Skip => ("-", "2"),
        };
        let mark = if color {
            format!("\x1b[{code}m{mark}\x1b[0m")
        } else {
            mark.to_owned()
        };
        let _ = write!(out, "{mark} {}", finding.message);
        if let Some(fix) = &finding.fix {
            let _ = write!(out, " — fix: {fix}");
        }
        out.push('\n');
    }
    let count = |status| findings.iter().filter(|it| it.status == status).count();
    let _ = writeln!(
        out,
        "\n{} ok, {} warning(s), {} problem(s), {} skipped",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip)
    );
    out
}

#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    ok: bool,
    summary: Counts,
    findings: &'a [Finding],
}

#[derive(Serialize)]
struct Counts {
    ok: usize,
    warn: usize,
    fail: usize,
    skip: usize,
}

/// The findings as the versioned JSON document, pretty-printed, with a trailing newline.
pub fn json(findings: &[Finding]) -> String {
    let count = |status| findings.iter().filter(|it| it.status == status).count();
    let document = Document {
        format_version: JSON_VERSION,
        ok: !super::failed(findings),
        summary: Counts {
            ok: count(Status::Ok),
            warn: count(Status::Warn),
            fail: count(Status::Fail),
            skip: count(Status::Skip),
        },
        findings,
    };
    let mut text = serde_json::to_string_pretty(&document)
        .unwrap_or_else(|err| format!("{{\"version\": {JSON_VERSION}, \"error\": \"{err}\"}}"));
    text.push('\n');
    text
}
