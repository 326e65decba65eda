//! Plan output formats: owns the human (Terraform-style) and the JSON rendering of a plan, and
//! nothing else. Returns strings; printing is the CLI's job.
//!
//! The JSON format is documented in `docs/json-format.md`; bump [`JSON_FORMAT_VERSION`] on any
//! incompatible change.

use std::fmt::Write as _;

use serde_json::json;
use similar::{ChangeTag, TextDiff};

use crate::plan::change::{Action, Change, Reason};
use crate::plan::reconcile::Plan;

/// The version of the `--json` output format.
pub const JSON_FORMAT_VERSION: u32 = 2;

/// How to render a plan for humans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DisplayOptions {
    /// Colour with ANSI escapes.
    pub color: bool,
    /// Show a unified diff (3 lines of context) under each change.
    pub diff: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const BOLD_RED: &str = "\x1b[1;31m";

/// Renders `plan` for humans: one line per change that is not `keep`, optional diffs, conflict
/// hunks of blocked merges, and a one-line summary.
pub fn human(plan: &Plan, options: &DisplayOptions) -> String {
    let paint = |color: &str, text: &str| {
        if options.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    if plan.interrupted {
        out.push_str("An interrupted apply was found; the next apply completes it.\n");
    }
    for change in plan.changes.iter().filter(|it| it.action != Action::Keep) {
        let (symbol, color) = match change.action {
            Action::Create => ("+", GREEN),
            Action::Update => ("~", YELLOW),
            Action::Merge => ("⇆", CYAN),
            Action::Delete => ("-", RED),
            Action::Keep => ("=", ""),
            Action::Blocked(_) => ("!", BOLD_RED),
        };
        let label = format!("{symbol} {:<6}", change.action.to_string());
        let from = if change.action == Action::Delete || orphan(change) {
            "was "
        } else {
            ""
        };
        let _ = write!(
            out,
            "{}  {}  ({from}{})",
            paint(color, &label),
            change.path,
            change.origin.entity
        );
        if let Some(reason) = change.forced {
            let _ = write!(out, "  [forced: {}]", reason.name());
        }
        out.push('\n');
        if options.diff {
            diff(&mut out, change, options.color);
        }
        let unmergeable = change.action == Action::Blocked(crate::plan::Reason::Conflict)
            && change.conflicts.is_empty()
            && change.previous.is_none();
        if unmergeable {
            let _ = writeln!(
                out,
                "    the file is not UTF-8 text, so restack cannot merge into it; it is left untouched"
            );
        }
        for hunk in &change.conflicts {
            let _ = writeln!(out, "    conflict at line {}:", hunk.line);
            let marker = |out: &mut String, text: &str| {
                let _ = writeln!(out, "    {}", paint(BOLD, text));
            };
            let body = |out: &mut String, text: &str, color: &str| {
                for line in text.lines() {
                    let _ = writeln!(out, "    {}", paint(color, line));
                }
            };
            marker(&mut out, "<<<<<<< yours");
            body(&mut out, &hunk.ours, RED);
            marker(&mut out, "||||||| base");
            body(&mut out, &hunk.base, "");
            marker(&mut out, "=======");
            body(&mut out, &hunk.theirs, GREEN);
            marker(&mut out, ">>>>>>> restack");
        }
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    if plan.has_blocked() {
        out.push_str(
            "Blocked files are left untouched; `--force` overwrites them, losing their edits.\n",
        );
    }
    out
}

fn orphan(change: &Change) -> bool {
    change.action == Action::Blocked(Reason::OrphanEdited)
}

/// `Plan: 2 to create, 1 to update, 1 to merge, 0 to delete, 1 blocked.` or the no-change line.
pub fn summary_line(plan: &Plan) -> String {
    let summary = plan.summary();
    if plan.is_in_sync() {
        return "No changes. The project matches restack.kdl.".to_owned();
    }
    format!(
        "Plan: {} to create, {} to update, {} to merge, {} to delete, {} blocked.",
        summary.create, summary.update, summary.merge, summary.delete, summary.blocked
    )
}

fn diff(out: &mut String, change: &Change, color: bool) {
    let old = change.previous.as_deref().unwrap_or("");
    let new = match change.action {
        Action::Delete | Action::Blocked(Reason::OrphanEdited) => "",
        _ => change
            .contents
            .as_ref()
            .and_then(crate::plan::Text::given)
            .unwrap_or(old),
    };
    if old == new {
        return;
    }
    let text_diff = TextDiff::from_lines(old, new);
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let _ = writeln!(
        out,
        "    {}",
        paint(BOLD, &format!("--- a/{}", change.path))
    );
    let _ = writeln!(
        out,
        "    {}",
        paint(BOLD, &format!("+++ b/{}", change.path))
    );
    let mut unified = text_diff.unified_diff();
    unified.context_radius(3);
    for hunk in unified.iter_hunks() {
        let _ = writeln!(out, "    {}", paint(CYAN, &hunk.header().to_string()));
        for line in hunk.iter_changes() {
            let (sign, code) = match line.tag() {
                ChangeTag::Delete => ("-", RED),
                ChangeTag::Insert => ("+", GREEN),
                ChangeTag::Equal => (" ", ""),
            };
            let value = line.to_string_lossy();
            let text = format!("{sign}{}", value.strip_suffix('\n').unwrap_or(&value));
            let _ = writeln!(
                out,
                "    {}",
                if code.is_empty() {
                    text
                } else {
                    paint(code, &text)
                }
            );
            if line.missing_newline() {
                let _ = writeln!(out, "    \\ No newline at end of file");
            }
        }
    }
}

/// Renders `plan` as the versioned JSON of `docs/json-format.md` (pretty, trailing newline).
pub fn json(plan: &Plan) -> String {
    let changes: Vec<_> = plan
        .changes
        .iter()
        .map(|change| {
            json!({
                "path": change.path,
                "action": change.action.name(),
                "reason": match change.action {
                    Action::Blocked(reason) => Some(reason.name()),
                    _ => None,
                },
                "forced": change.forced.map(Reason::name),
                "kind": change.kind,
                "origin": {
                    "entity": change.origin.entity,
                    "span": change.origin.span.map(|(start, end)| [start, end]),
                },
                "before": change.before,
                "after": change.after,
            })
        })
        .collect();
    let summary = plan.summary();
    let value = json!({
        "format_version": JSON_FORMAT_VERSION,
        "in_sync": plan.is_in_sync(),
        "interrupted": plan.interrupted,
        "changes": changes,
        "summary": summary,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}
