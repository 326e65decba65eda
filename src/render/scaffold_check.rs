//! Reads the user's scaffolds (as text handed in; no IO here) and warns where code and manifest
//! disagree: a declared agent event without a handler, an expected class or function missing.
//! Warnings only: it never changes a file.

use ruff_python_ast::{PythonVersion, Stmt, StmtClassDef};
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
use ruff_text_size::{Ranged, TextSize};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::diag::Code;
use crate::ir;
use crate::plan::Hash;
use crate::render::{check, parallel};

/// One disagreement between a scaffold and the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaffoldWarning {
    /// Path of the scaffold, relative to the project root.
    pub path: String,
    /// 1-based line the warning points at (the class, or 1 when the whole file is concerned).
    pub line: usize,
    #[serde(with = "code_name")]
    pub code: Code,
    pub message: String,
}

impl std::fmt::Display for ScaffoldWarning {
    /// The line printed for it: `warning[code]: path:line: message`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "warning[{}]: {}:{}: {}",
            self.code.name(),
            self.path,
            self.line,
            self.message
        )
    }
}

/// A scaffold the manifest expects, and what it must define. Owned and serializable, so that a
/// record of an earlier run ([`crate::record`]) can check a scaffold again without the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    /// Path of the scaffold, relative to the project root.
    pub path: String,
    pub expect: Expect,
}

/// What a scaffold must define at top level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// An (async) function with this name.
    Function(String),
    /// A class with this name and one method per event.
    Class { name: String, events: Vec<String> },
}

/// The check of one scaffold's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checked {
    /// The file does not parse: one warning, no checks.
    Unparsable(ScaffoldWarning),
    /// The file parses; every mismatch found (none when it agrees).
    Parsed(Vec<ScaffoldWarning>),
}

/// One scaffold the manifest expects and the last check of it; kept between runs (by `watch`,
/// and in the render record) so that an unchanged scaffold is not parsed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaffoldCheck {
    pub expectation: Expectation,
    /// The hash of the text checked and the result; `None` when there was no text (the file is
    /// absent, or not UTF-8: a missing file is the plan's business).
    pub checked: Option<(Hash, Checked)>,
}

/// Checks the function, workflow and agent scaffolds of `project` against their current text,
/// `text_of(path)` with its hash (`None`: absent, or not UTF-8; borrowed from a snapshot that
/// holds it, or read for the check and dropped after it), reusing from `previous` the check
/// of a scaffold whose expectation and text hash are unchanged: a check is a pure function of the
/// two. Each scaffold is parsed on its own, in parallel.
pub fn check_scaffolds<'a>(
    project: &ir::Project,
    previous: &[ScaffoldCheck],
    text_of: impl Fn(&str) -> Option<(Hash, std::borrow::Cow<'a, str>)> + Sync,
) -> Vec<ScaffoldCheck> {
    let target = target_of(project);
    let known: HashMap<&str, &ScaffoldCheck> = previous
        .iter()
        .map(|it| (it.expectation.path.as_str(), it))
        .collect();
    parallel::map_owned(expectations(project), |expectation| {
        let checked = text_of(&expectation.path).map(|(hash, text)| {
            let reused = known
                .get(expectation.path.as_str())
                .filter(|it| it.expectation == expectation)
                .and_then(|it| it.checked.as_ref())
                .filter(|(at, _)| *at == hash);
            match reused {
                Some((_, checked)) => (hash, checked.clone()),
                None => (hash, check_one(&expectation, &text, target)),
            }
        });
        ScaffoldCheck {
            expectation,
            checked,
        }
    })
}

/// Every scaffold `project` expects, in a fixed order: functions, workflows, agents.
pub fn expectations(project: &ir::Project) -> Vec<Expectation> {
    let src = format!("src/{}", project.package);
    let mut expected = Vec::new();
    for function in &project.functions {
        expected.push(Expectation {
            path: format!("{src}/functions/{}.py", function.names.module),
            expect: Expect::Function(function.names.module.clone()),
        });
    }
    for workflow in &project.workflows {
        expected.push(Expectation {
            path: format!("{src}/workflows/{}.py", workflow.names.module),
            expect: Expect::Class {
                name: workflow.names.class.clone(),
                events: Vec::new(),
            },
        });
    }
    for agent in &project.agents {
        expected.push(Expectation {
            path: format!("{src}/agents/{}.py", agent.names.module),
            expect: Expect::Class {
                name: agent.names.class.clone(),
                events: agent.events.iter().map(|it| it.name.clone()).collect(),
            },
        });
    }
    expected
}

/// The Python version scaffolds are parsed under, as `(major, minor)`.
pub fn target_of(project: &ir::Project) -> (u8, u8) {
    let target = check::target_version(&project.python);
    (target.major, target.minor)
}

/// Checks one scaffold's `text` against what it must define, parsing it under `target`.
pub fn check_one(expectation: &Expectation, text: &str, target: (u8, u8)) -> Checked {
    let path = &expectation.path;
    let (major, minor) = target;
    let parsed = parse_unchecked(
        text,
        ParseOptions::from(Mode::Module).with_target_version(PythonVersion { major, minor }),
    );
    if let Some(error) = parsed.errors().first() {
        let (line, _) = check::line_column(text, error.location.start());
        return Checked::Unparsable(ScaffoldWarning {
            path: path.clone(),
            line,
            code: Code::ScaffoldMismatch,
            message: format!("`{path}` does not parse: {}", error.error),
        });
    }
    match parsed.try_into_module() {
        Some(module) => Checked::Parsed(check_module(
            path,
            text,
            &module.into_syntax().body,
            &expectation.expect,
        )),
        None => Checked::Parsed(Vec::new()),
    }
}

/// The warnings of scaffold checks, in the order they are reported: every parse failure first,
/// then every mismatch, each in scaffold order.
pub fn warnings(checks: &[ScaffoldCheck]) -> Vec<ScaffoldWarning> {
    let mut warnings = Vec::new();
    let mut found = Vec::new();
    for (_, result) in checks.iter().filter_map(|it| it.checked.as_ref()) {
        match result {
            Checked::Unparsable(unparsable) => warnings.push(unparsable.clone()),
            Checked::Parsed(mismatches) => found.extend(mismatches.iter().cloned()),
        }
    }
    warnings.extend(found);
    warnings
}

/// Serializes a [`Code`] as its stable name.
mod code_name {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::diag::Code;

    #[expect(
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's `with` passes fields by reference"
    )]
    pub(super) fn serialize<S: Serializer>(code: &Code, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(code.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Code, D::Error> {
        let name = String::deserialize(deserializer)?;
        Code::from_name(&name).ok_or_else(|| D::Error::custom(format!("unknown code `{name}`")))
    }
}

fn check_module(path: &str, text: &str, body: &[Stmt], expect: &Expect) -> Vec<ScaffoldWarning> {
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
                .any(|stmt| matches!(stmt, Stmt::FunctionDef(def) if def.name.as_str() == name));
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
        Expect::Class { name, events } => {
            let class = body.iter().find_map(|stmt| match stmt {
                Stmt::ClassDef(def) if def.name.as_str() == name => Some(def),
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
                .filter(|event| !has_method(class, event))
                .map(|event| {
                    warn(
                        line,
                        Code::MissingHandler,
                        format!(
                            "event `{event}` has no handler: `{name}` has no `@agent.event` method `{event}`"
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
        let checks = check_scaffolds(&project, &[], |path| {
            files
                .iter()
                .find(|(candidate, _)| *candidate == path)
                .map(|(_, text)| (Hash::of(text), (*text).into()))
        });
        warnings(&checks)
            .into_iter()
            .map(|it| (it.path, it.line, it.code))
            .collect()
    }

    #[test]
    fn rendered_scaffolds_have_no_warnings() {
        let project = std::sync::Arc::new(testing::blog());
        let set = crate::render::render(&project).expect("renders");
        let checks = check_scaffolds(&project, &[], |path| {
            set.files
                .get(path)
                .map(|it| (it.hash, it.text().unwrap_or_default().into()))
        });
        assert_eq!(warnings(&checks), Vec::new());
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
