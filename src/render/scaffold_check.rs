//! Reads the user's scaffolds (as text handed in; no IO here) and warns where code and manifest
//! disagree: a declared agent event without a handler, an expected class or function missing.
//! Warnings only: it never changes a file.

use ruff_python_ast::{PythonVersion, Stmt, StmtClassDef};
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
use ruff_text_size::{Ranged, TextSize};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use crate::diag::Code;
use crate::ir::{self, Fingerprinted};
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
    (0..scaffold_entities(project).count())
        .map(|idx| expectation(project, idx))
        .collect()
}

/// The entity each scaffold of [`expectations`] is expected for, in the same order, by its
/// fingerprint: its expectation is a function of the entity's serde form and the package.
fn scaffold_entities(project: &ir::Project) -> impl Iterator<Item = Hash> + '_ {
    let functions = project.functions.iter().map(Fingerprinted::fingerprint);
    let workflows = project.workflows.iter().map(Fingerprinted::fingerprint);
    let agents = project.agents.iter().map(Fingerprinted::fingerprint);
    functions.chain(workflows).chain(agents)
}

/// The expectation at `idx` of [`expectations`].
fn expectation(project: &ir::Project, idx: usize) -> Expectation {
    let src = &project.package;
    let n_functions = project.functions.len();
    let n_workflows = project.workflows.len();
    if let Some(function) = project.functions.get(idx) {
        return Expectation {
            path: format!("src/{src}/functions/{}.py", function.names.module),
            expect: Expect::Function(function.names.module.clone()),
        };
    }
    if let Some(workflow) = project.workflows.get(idx - n_functions) {
        return Expectation {
            path: format!("src/{src}/workflows/{}.py", workflow.names.module),
            expect: Expect::Class {
                name: workflow.names.class.clone(),
                events: Vec::new(),
            },
        };
    }
    let agent = &project.agents[idx - n_functions - n_workflows];
    Expectation {
        path: format!("src/{src}/agents/{}.py", agent.names.module),
        expect: Expect::Class {
            name: agent.names.class.clone(),
            events: agent.events.iter().map(|it| it.name.clone()).collect(),
        },
    }
}

/// What `watch` keeps of its last scaffold check (see [`check_scaffolds_cached`]): the checks,
/// shared with the render record of the reconcile that made them, and what their expectations
/// were made of.
#[derive(Debug, Default)]
pub struct ScaffoldCache {
    /// The checks, in the order of [`expectations`].
    pub checks: Arc<Vec<ScaffoldCheck>>,
    /// The package, the number of functions, workflows and agents, the target version, and the
    /// fingerprint of the entity of each check; `None` before the first check.
    made_of: Option<MadeOf>,
}

#[derive(Debug, PartialEq, Eq)]
struct MadeOf {
    package: String,
    counts: [usize; 3],
    target: (u8, u8),
    entities: Vec<Hash>,
}

/// [`check_scaffolds`] for `watch`, updating `cache` in place: only the scaffolds whose entity's
/// fingerprint changed have their expectation made again, and only the scaffolds whose
/// expectation or on-disk hash changed are checked again (`hash_of(path)`: the hash of the file,
/// `None` when absent; `text_of` as for [`check_scaffolds`], asked only for those). A check is a
/// pure function of its expectation, its text (by hash) and the target version, so the checks
/// are exactly those [`check_scaffolds`] returns (tests compare the two across edits). When the
/// package, the target or the number of entities of a kind changed, every expectation is made
/// again (the checks of unchanged texts are still reused).
pub fn check_scaffolds_cached<'a>(
    project: &ir::Project,
    cache: &mut ScaffoldCache,
    hash_of: impl Fn(&str) -> Option<Hash>,
    text_of: impl Fn(&str) -> Option<(Hash, std::borrow::Cow<'a, str>)> + Sync,
) {
    let target = target_of(project);
    let counts = [
        project.functions.len(),
        project.workflows.len(),
        project.agents.len(),
    ];
    let same_shape = cache.made_of.as_ref().is_some_and(|it| {
        it.package == project.package && it.counts == counts && it.target == target
    });
    let Some(made_of) = cache.made_of.as_mut().filter(|_| same_shape) else {
        let checks = check_scaffolds(project, &cache.checks, text_of);
        cache.checks = Arc::new(checks);
        cache.made_of = Some(MadeOf {
            package: project.package.clone(),
            counts,
            target,
            entities: scaffold_entities(project).collect(),
        });
        return;
    };
    // Shared only while the record of the last reconcile is unsaved; then copied once.
    let checks = Arc::make_mut(&mut cache.checks);
    debug_assert_eq!(checks.len(), made_of.entities.len(), "a check per entity");
    let mut todo = Vec::new();
    for (idx, (entity, known)) in scaffold_entities(project)
        .zip(made_of.entities.iter_mut())
        .enumerate()
    {
        let check = &mut checks[idx];
        let mut again = false;
        if entity != *known {
            *known = entity;
            let expectation = expectation(project, idx);
            again = expectation != check.expectation;
            check.expectation = expectation;
        }
        // A text checked before is UTF-8 and, with the same hash, the same text: its check
        // stands. A file not checked (absent, or not UTF-8) that exists is looked at again.
        let hash = hash_of(&check.expectation.path);
        let checked = check.checked.as_ref().map(|(at, _)| *at);
        match (hash, checked) {
            (None, _) => check.checked = None,
            (Some(hash), Some(at)) if hash == at && !again => {}
            (Some(_), _) => todo.push(idx),
        }
    }
    let done = parallel::map(&todo, |idx| {
        let expectation = &checks[*idx].expectation;
        text_of(&expectation.path).map(|(hash, text)| (hash, check_one(expectation, &text, target)))
    });
    for (idx, checked) in todo.into_iter().zip(done) {
        checks[idx].checked = checked;
    }
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

    /// Across edits of scaffolds and of entities, the checks `watch` updates in place are the
    /// checks made from nothing.
    #[test]
    fn cached_checks_are_fresh_checks_across_edits() {
        use std::collections::BTreeMap;

        let mut project = testing::blog();
        let set = crate::render::render(&Arc::new(project.clone())).expect("renders");
        let mut disk: BTreeMap<String, String> = set
            .files
            .iter()
            .filter_map(|(rel, file)| Some((rel.clone(), file.text()?.to_owned())))
            .collect();
        let mut cache = ScaffoldCache::default();
        let step = |project: &ir::Project,
                    disk: &BTreeMap<String, String>,
                    cache: &mut ScaffoldCache,
                    what: &str| {
            check_scaffolds_cached(
                project,
                cache,
                |path| disk.get(path).map(Hash::of),
                |path| disk.get(path).map(|it| (Hash::of(it), it.as_str().into())),
            );
            let fresh = check_scaffolds(project, &[], |path| {
                disk.get(path).map(|it| (Hash::of(it), it.as_str().into()))
            });
            assert_eq!(*cache.checks, fresh, "{what}");
        };
        step(&project, &disk, &mut cache, "first");
        step(&project, &disk, &mut cache, "unchanged");
        let function = "src/blog/functions/send_email.py";
        disk.insert(
            function.to_owned(),
            "def send_mail():\n    pass\n".to_owned(),
        );
        step(&project, &disk, &mut cache, "a scaffold edited");
        disk.insert(function.to_owned(), "def send_email(:\n".to_owned());
        step(&project, &disk, &mut cache, "a scaffold broken");
        disk.remove(function);
        step(&project, &disk, &mut cache, "a scaffold deleted");
        disk.insert(
            function.to_owned(),
            "def send_email():\n    pass\n".to_owned(),
        );
        step(&project, &disk, &mut cache, "a scaffold restored");
        // A record still holding the checks: updated in a copy.
        let held = Arc::clone(&cache.checks);
        let mut agent = (*project.agents[0]).clone();
        agent.events.pop();
        agent.fingerprint = ir::Fingerprint::default();
        project.agents[0] = Arc::new(agent);
        step(&project, &disk, &mut cache, "an agent's event removed");
        assert_ne!(held, cache.checks);
        let mut function = (*project.functions[0]).clone();
        function.names.module = "send_mail".to_owned();
        function.fingerprint = ir::Fingerprint::default();
        project.functions[0] = Arc::new(function);
        step(&project, &disk, &mut cache, "a function renamed");
        disk.insert(
            "src/blog/functions/send_mail.py".to_owned(),
            "def send_mail():\n    pass\n".to_owned(),
        );
        step(&project, &disk, &mut cache, "its scaffold written");
        let removed = project.functions.remove(0);
        step(&project, &disk, &mut cache, "a function removed");
        project.functions.push(removed);
        step(&project, &disk, &mut cache, "a function added");
        project.package = "other".to_owned();
        step(&project, &disk, &mut cache, "the package renamed");
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
