//! `restack new DIR [--example NAME]` and `restack init`: write a manifest, and (for `new`) apply
//! it. The manifests are embedded in the binary, so both work offline on a fresh machine.

use std::path::Path;

use heck::ToSnakeCase;

use crate::apply;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::{GlobalArgs, apply as apply_cmd, session};
use crate::manifest;

/// The embedded example manifests `restack new --example NAME` can start from; the first is the
/// default.
pub(crate) const EXAMPLES: &[(&str, &str)] = &[("blog", include_str!("../../restack.kdl.example"))];

/// Writes `DIR/restack.kdl` from an embedded example and applies it. Refuses (exit 1) when the
/// directory already has a manifest.
pub(crate) fn new(
    global: &GlobalArgs,
    printer: &Printer,
    dir: &Path,
    example: Option<&str>,
) -> ExitStatus {
    let example = example.unwrap_or(EXAMPLES[0].0);
    let Some((_, text)) = EXAMPLES.iter().find(|(name, _)| *name == example) else {
        let names: Vec<_> = EXAMPLES
            .iter()
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        printer.error(&format!(
            "unknown example `{example}`; the examples are {}",
            names.join(", ")
        ));
        return ExitStatus::Failure;
    };
    let root = match session::working_dir(global, printer) {
        Ok(cwd) => cwd.join(dir),
        Err(status) => return status,
    };
    if let Err(status) = write_manifest(printer, &root, text) {
        return status;
    }
    let global = GlobalArgs {
        manifest: None,
        directory: Some(root),
        ..global.clone()
    };
    apply_cmd::apply(&global, printer, None, false, false)
}

/// Writes a starter `restack.kdl` into the working directory. Refuses (exit 1) when one exists.
pub(crate) fn init(global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let root = match session::working_dir(global, printer) {
        Ok(root) => root,
        Err(status) => return status,
    };
    let name = root.file_name().map_or_else(
        || "app".to_owned(),
        |it| package_name(&it.to_string_lossy()),
    );
    let text = STARTER.replace("{name}", &name);
    if let Err(status) = write_manifest(printer, &root, &text) {
        return status;
    }
    if !printer.quiet {
        printer.err(&format!(
            "Wrote {}. `restack plan` shows what it generates; `restack apply` writes it.\n",
            manifest::FILE_NAME
        ));
    }
    ExitStatus::Success
}

fn write_manifest(printer: &Printer, root: &Path, text: &str) -> Result<(), ExitStatus> {
    let path = root.join(manifest::FILE_NAME);
    if path.exists() {
        printer.error(&format!(
            "`{}` already exists; edit it and run `restack apply` there",
            path.display()
        ));
        return Err(ExitStatus::Failure);
    }
    std::fs::create_dir_all(root)
        .and_then(|()| apply::write::write_atomic(&path, text.as_bytes()))
        .map_err(|err| {
            printer.error(&format!("cannot write `{}`: {err}", path.display()));
            ExitStatus::Error
        })
}

/// A project name usable as a Python package, from a directory name (`My Project` → `my_project`).
fn package_name(dir_name: &str) -> String {
    let snake: String = dir_name
        .to_snake_case()
        .chars()
        .filter(|it| it.is_ascii_alphanumeric() || *it == '_')
        .collect();
    match snake.chars().next() {
        Some(first) if first.is_ascii_lowercase() => snake,
        Some(_) => format!("app_{snake}"),
        None => "app".to_owned(),
    }
}

const STARTER: &str = r#"// The manifest of this Restack project. `restack plan` shows what it generates, `restack apply`
// writes it, `restack check` fails CI when the project drifts. `restack explain CODE` explains a
// diagnostic. The full language: https://github.com/restack/restack/blob/main/docs/manifest.md
project "{name}" {
    python ">=3.10,<3.14"
}

function "Greet" {
    doc "Say hello to someone."
    input { field "name" "str"; }
    output "str"
}

workflow "Greeting" {
    doc "Greets one person."
    input { field "name" "str"; }
    output "str"
    calls "Greet"
}
"#;
