//! Reads the user's scaffolds (as text handed in; no IO here) and warns where code and manifest
//! disagree: a declared agent event without a handler, an expected class or function missing.
//! Warnings only: it never changes a file.

use ruff_python_ast::{Stmt, StmtClassDef};
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
use ruff_text_size::{Ranged, TextSize};

use crate::diag::Code;
use crate::ir;
use crate::render::{check, parallel};

/// One disagreement between a scaffold and the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldWarning {
    /// Path of the scaffold, relative to the project root.
    pub path: String,
    /// 1-based line the warning points at (the class, or 1 when the whole file is concerned).
    pub line: usize,
    pub code: Code,
    pub message: String,
}

/// Checks the function, workflow and agent scaffolds of `project`. `contents(path)` returns the
/// current text of a project-relative path, or `None` when the file does not exist (then there
/// is nothing to check: a missing file is the plan's business).
pub fn check_scaffolds(
    project: &ir::Project,
    contents: impl Fn(&str) -> Option<String> + Sync,
) -> Vec<ScaffoldWarning> {
    let src = format!("src/{}", project.package);
    let target = check::target_version(&project.python);

    let mut expected: Vec<(String, Expect<'_>)> = Vec::new();
    for function in &project.functions {
        let path = format!("{src}/functions/{}.py", function.names.module);
        expected.push((path, Expect::Function(&function.names.module)));
    }
    for workflow in &project.workflows {
        let path = format!("{src}/workflows/{}.py", workflow.names.module);
        expected.push((path, Expect::Class(&workflow.names.class, &[])));
    }
    for agent in &project.agents {
        let path = format!("{src}/agents/{}.py", agent.names.module);
        expected.push((path, Expect::Class(&agent.names.class, &agent.events)));
    }

    // Each scaffold is parsed on its own (in parallel); a file that does not parse gives one
    // warning and no checks. Warnings come out as before: every parse failure first, then every
    // mismatch, each in scaffold order.
    let checked = parallel::map(&expected, |(path, expect)| {
        let text = contents(path)?;
        let parsed = parse_unchecked(
            &text,
            ParseOptions::from(Mode::Module).with_target_version(target),
        );
        if let Some(error) = parsed.errors().first() {
            let (line, _) = check::line_column(&text, error.location.start());
            return Some(Err(ScaffoldWarning {
                path: path.clone(),
                line,
                code: Code::ScaffoldMismatch,
                message: format!("`{path}` does not parse: {}", error.error),
            }));
        }
        let module = parsed.try_into_module()?.into_syntax();
        Some(Ok(check_module(path, &text, &module.body, expect)))
    });
    let mut warnings = Vec::new();
    let mut found = Vec::new();
    for result in checked.into_iter().flatten() {
        match result {
            Err(unparsable) => warnings.push(unparsable),
            Ok(mismatches) => found.extend(mismatches),
        }
    }
    warnings.extend(found);
    warnings
}

/// What a scaffold must define at top level.
enum Expect<'a> {
    /// An (async) function with this name.
    Function(&'a str),
    /// A class with this name and one method per event.
    Class(&'a str, &'a [ir::Event]),
}

fn check_module(
    path: &str,
    text: &str,
    body: &[Stmt],
    expect: &Expect<'_>,
) -> Vec<ScaffoldWarning> {
    let warn = |line: usize, code: Code, message: String| ScaffoldWarning {
        path: path.to_owned(),
        line,
        code,
        message,
    };
    match expect {
        Expect::Function(name) => {
            let present = body
                .iter()
                .any(|stmt| matches!(stmt, Stmt::FunctionDef(def) if def.name.as_str() == *name));
            if present {
                Vec::new()
            } else {
                vec![warn(
                    1,
                    Code::ScaffoldMismatch,
                    format!("function `{name}` is not defined in `{path}`"),
                )]
            }
        }
        Expect::Class(name, events) => {
            let class = body.iter().find_map(|stmt| match stmt {
                Stmt::ClassDef(def) if def.name.as_str() == *name => Some(def),
                _ => None,
            });
            let Some(class) = class else {
                return vec![warn(
                    1,
                    Code::ScaffoldMismatch,
                    format!("class `{name}` is not defined in `{path}`"),
                )];
            };
            let line = line_of(text, class.start());
            events
                .iter()
                .filter(|event| !has_method(class, &event.name))
                .map(|event| {
                    warn(
                        line,
                        Code::MissingHandler,
                        format!(
                            "event `{}` has no handler: `{name}` has no `@agent.event` method `{}`",
                            event.name, event.name
                        ),
                    )
                })
                .collect()
        }
    }
}

fn has_method(class: &StmtClassDef, name: &str) -> bool {
    class
        .body
        .iter()
        .any(|stmt| matches!(stmt, Stmt::FunctionDef(def) if def.name.as_str() == name))
}

fn line_of(text: &str, offset: TextSize) -> usize {
    check::line_column(text, offset).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testing;

    fn check(files: &[(&str, &str)]) -> Vec<(String, usize, Code)> {
        let project = testing::blog();
        check_scaffolds(&project, |path| {
            files
                .iter()
                .find(|(candidate, _)| *candidate == path)
                .map(|(_, text)| (*text).to_owned())
        })
        .into_iter()
        .map(|it| (it.path, it.line, it.code))
        .collect()
    }

    #[test]
    fn rendered_scaffolds_have_no_warnings() {
        let project = testing::blog();
        let set = crate::render::render(&project).expect("renders");
        let warnings = check_scaffolds(&project, |path| {
            set.files.get(path).map(|it| it.contents.clone())
        });
        assert_eq!(warnings, Vec::new());
    }

    #[test]
    fn missing_handler_and_missing_class() {
        let agent =
            "import x\n\n\nclass Onboarding:\n    async def user_signed_up(self):\n        pass\n";
        assert_eq!(
            check(&[
                ("src/blog/agents/onboarding.py", agent),
                (
                    "src/blog/workflows/email_campaign.py",
                    "class Other:\n    pass\n"
                ),
                (
                    "src/blog/functions/send_email.py",
                    "def send_mail():\n    pass\n"
                ),
            ]),
            vec![
                (
                    "src/blog/functions/send_email.py".to_owned(),
                    1,
                    Code::ScaffoldMismatch
                ),
                (
                    "src/blog/workflows/email_campaign.py".to_owned(),
                    1,
                    Code::ScaffoldMismatch
                ),
                (
                    "src/blog/agents/onboarding.py".to_owned(),
                    4,
                    Code::MissingHandler
                ),
            ]
        );
    }

    #[test]
    fn unparsable_scaffold_is_reported_once() {
        assert_eq!(
            check(&[("src/blog/functions/send_email.py", "def send_email(:\n")]),
            vec![(
                "src/blog/functions/send_email.py".to_owned(),
                1,
                Code::ScaffoldMismatch
            )]
        );
    }
}
