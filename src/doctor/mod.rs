//! `restack doctor`: environment and project health. Checks are pure functions from gathered
//! [`Facts`] to [`Finding`]s, each failing finding with a concrete fix; all IO (running Python,
//! connecting to the engine, git, reading the disk) is in [`probe`]. Must not print.

pub mod pep440;
pub mod probe;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::ir;
use crate::plan::{Action, Plan, Reason};
use crate::render::{OverrideProblem, ProblemSeverity};
use pep440::{Version, satisfies};

pub use report::{JSON_VERSION, human, json};

/// The packages whose installed versions doctor asks the interpreter for.
pub const PACKAGES: &[&str] = &[
    "restack-ai",
    "fastmcp",
    "mcp",
    "pydantic",
    "websockets",
    "temporalio",
];

/// The id of every check, in report order (a finding's `check`); docs/troubleshooting.md explains
/// each one and its fix.
pub const CHECKS: &[&str] = &[
    "manifest",
    "overrides",
    "python",
    "venv",
    "restack-ai",
    "fastmcp",
    "conflicts",
    "engine",
    "engine-api",
    "service-import",
    "tools-config",
    "llm-keys",
    "git",
    "state",
];

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth knowing, not wrong: does not fail doctor.
    Warn,
    /// Wrong: doctor exits 1.
    Fail,
    /// Could not be checked (a prerequisite is missing, which has its own finding).
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id of the check (`engine`, `python`, …; docs/json-format.md lists them).
    pub check: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do about it; every `fail` and `warn` has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    fn skip(check: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Skip,
            message: message.into(),
            fix: None,
        }
    }

    fn fail(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Whether any finding fails.
pub fn failed(findings: &[Finding]) -> bool {
    findings.iter().any(|it| it.status == Status::Fail)
}

/// How the interpreter was found (the discovery order, first wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    /// `python` in the restack configuration (`RESTACK_PYTHON`, config files).
    Config,
    /// `.venv/bin/python` in the project.
    ProjectVenv,
    /// `$VIRTUAL_ENV/bin/python`.
    VirtualEnv,
    /// `python3` (then `python`) on `PATH`.
    Path,
}

/// The interpreter doctor and `run` use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub path: PathBuf,
    pub found: Found,
}

/// What the interpreter said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonInfo {
    pub version: String,
    /// `sys.prefix != sys.base_prefix`.
    pub in_venv: bool,
    /// Installed distribution versions of [`PACKAGES`] (`None` = not installed).
    pub packages: BTreeMap<String, Option<String>>,
}

/// The manifest, as far as it could be read.
#[derive(Debug, Clone)]
pub enum ManifestFacts {
    NotFound {
        dir: PathBuf,
    },
    Unreadable {
        message: String,
    },
    Invalid {
        name: String,
        errors: usize,
    },
    Valid {
        name: String,
        /// Shared with the probe's rendering (see `render::render`).
        project: Arc<ir::Project>,
    },
}

/// The project's state against its rendering.
#[derive(Debug, Clone)]
pub enum Sync {
    /// Rendering failed (a bad override or a restack bug).
    RenderFailed {
        message: String,
    },
    /// State or disk could not be read.
    Unreadable {
        message: String,
    },
    Planned(Box<Plan>),
}

/// Whether an LLM key variable is set (its value is never read beyond "non-empty").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Env,
    DotEnv,
    Missing,
}

/// Git's view of the generated files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitFacts {
    NoGit,
    NotARepo,
    Failed {
        message: String,
    },
    /// `git status --porcelain` lines of generated paths (empty = clean).
    Status {
        lines: Vec<String>,
    },
}

/// Everything doctor looks at, gathered by [`probe::gather`].
#[derive(Debug, Clone)]
pub struct Facts {
    pub manifest: ManifestFacts,
    /// Rendered `pyproject.toml` dependencies: normalized name → spec (`fastmcp` → `>=2.12.4,<2.13`).
    pub pins: BTreeMap<String, String>,
    pub overrides: Vec<String>,
    pub override_problems: Vec<OverrideProblem>,
    pub interpreter: Option<Interpreter>,
    /// `None` when there is no interpreter; `Err` when asking it failed.
    pub python: Option<Result<PythonInfo, String>>,
    /// `.venv` in the project, or `$VIRTUAL_ENV`.
    pub venv: Option<PathBuf>,
    /// The engine address and the connection outcome; `None` without a valid manifest.
    pub engine: Option<(String, Result<(), String>)>,
    /// The same for the engine API (`api-address`), which service endpoints register with.
    pub engine_api: Option<(String, Result<(), String>)>,
    /// `import <package>.service`: `None` when not attempted (see `service_skipped`).
    pub service_import: Option<Result<(), String>>,
    pub service_skipped: Option<String>,
    pub keys: Vec<(String, KeySource)>,
    pub git: GitFacts,
    pub sync: Option<Sync>,
}

/// Runs every check, in report order.
pub fn diagnose(facts: &Facts) -> Vec<Finding> {
    let mut findings = vec![check_manifest(&facts.manifest)];
    findings.extend(check_overrides(facts));
    findings.push(check_python(facts));
    findings.push(check_venv(facts));
    findings.extend(check_packages(facts));
    findings.push(check_conflicts(facts));
    findings.push(check_engine(facts));
    findings.push(check_engine_api(facts));
    findings.push(check_service(facts));
    findings.push(check_tools(facts));
    findings.push(check_keys(facts));
    findings.push(check_git(facts));
    findings.push(check_state(facts));
    findings
}

fn project(facts: &Facts) -> Option<&ir::Project> {
    match &facts.manifest {
        ManifestFacts::Valid { project, .. } => Some(project),
        _ => None,
    }
}

fn check_manifest(manifest: &ManifestFacts) -> Finding {
    const CHECK: &str = "manifest";
    match manifest {
        ManifestFacts::NotFound { dir } => Finding::fail(
            CHECK,
            format!("no restack.kdl in `{}` or its parents", dir.display()),
            "run `restack init` here, or point restack at a project with `-C DIR` or `-m PATH`",
        ),
        ManifestFacts::Unreadable { message } => Finding::fail(
            CHECK,
            message.clone(),
            "check the file's permissions and path",
        ),
        ManifestFacts::Invalid { name, errors } => Finding::fail(
            CHECK,
            format!("{name} has {errors} error(s)"),
            "run `restack validate` and fix what it reports",
        ),
        ManifestFacts::Valid { name, project } => Finding::ok(
            CHECK,
            format!("{name} is valid (project `{}`)", project.name),
        ),
    }
}

fn check_overrides(facts: &Facts) -> Vec<Finding> {
    const CHECK: &str = "overrides";
    let mut findings: Vec<Finding> = facts
        .override_problems
        .iter()
        .map(|problem| {
            let line = problem.line.map(|it| format!(":{it}")).unwrap_or_default();
            let message = format!("{}{line}: {}", problem.file, problem.message);
            match problem.severity {
                ProblemSeverity::Error => Finding::fail(
                    CHECK,
                    message,
                    "fix the template, or delete the file to use the built-in",
                ),
                ProblemSeverity::Warning => Finding::warn(
                    CHECK,
                    message,
                    "rename the file to an embedded template's name (docs/configuration.md), or delete it",
                ),
            }
        })
        .collect();
    if !facts.overrides.is_empty() && findings.iter().all(|it| it.status != Status::Fail) {
        findings.insert(
            0,
            Finding::ok(
                CHECK,
                format!(
                    "{} template override(s): {}",
                    facts.overrides.len(),
                    facts.overrides.join(", ")
                ),
            ),
        );
    }
    findings
}

fn python_label(facts: &Facts) -> String {
    facts
        .interpreter
        .as_ref()
        .map_or_else(String::new, |it| format!("`{}`", it.path.display()))
}

fn check_python(facts: &Facts) -> Finding {
    const CHECK: &str = "python";
    let requirement = project(facts).map(|it| it.python.as_str());
    let Some(interpreter) = &facts.interpreter else {
        return Finding::fail(
            CHECK,
            "no Python interpreter found (looked for `.venv/bin/python`, `$VIRTUAL_ENV/bin/python`, `python3` and `python` on PATH)",
            format!(
                "install Python{} and create the project's venv: `python3 -m venv .venv`",
                requirement.map(|it| format!(" {it}")).unwrap_or_default()
            ),
        );
    };
    let info = match &facts.python {
        Some(Ok(info)) => info,
        Some(Err(message)) => {
            return Finding::fail(
                CHECK,
                format!("{} does not run: {message}", python_label(facts)),
                "recreate the venv (`rm -rf .venv && python3 -m venv .venv`), or set `RESTACK_PYTHON` to a working interpreter",
            );
        }
        None => {
            return Finding::skip(
                CHECK,
                "Python version not checked: the interpreter was not asked",
            );
        }
    };
    let label = format!(
        "Python {} at `{}`",
        info.version,
        interpreter.path.display()
    );
    let Some(requirement) = requirement else {
        return Finding::ok(CHECK, label);
    };
    match Version::parse(&info.version).map(|version| satisfies(&version, requirement)) {
        Some(Ok(true)) => Finding::ok(CHECK, format!("{label} satisfies `{requirement}`")),
        Some(Ok(false)) => Finding::fail(
            CHECK,
            format!("{label} does not satisfy `{requirement}` (project python)"),
            format!(
                "create the venv with a matching Python, e.g. `python3.12 -m venv .venv`, or change `python` in restack.kdl (now `{requirement}`)"
            ),
        ),
        Some(Err(clause)) => Finding::warn(
            CHECK,
            format!("{label}; cannot read `{clause}` in the project's python requirement"),
            "write the requirement as PEP 440 clauses, e.g. `>=3.10,<3.14`",
        ),
        None => Finding::warn(
            CHECK,
            format!(
                "cannot read the version `{}` of {}",
                info.version,
                python_label(facts)
            ),
            "check the interpreter with `python --version`",
        ),
    }
}

fn check_venv(facts: &Facts) -> Finding {
    const CHECK: &str = "venv";
    if let Some(venv) = &facts.venv {
        return Finding::ok(
            CHECK,
            format!("virtual environment at `{}`", venv.display()),
        );
    }
    if let Some(Ok(info)) = &facts.python
        && info.in_venv
    {
        return Finding::ok(
            CHECK,
            format!("{} runs in a virtual environment", python_label(facts)),
        );
    }
    Finding::fail(
        CHECK,
        "no virtual environment (no `.venv` in the project, `$VIRTUAL_ENV` unset)",
        "`python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'`",
    )
}

/// What the interpreter says about one package.
enum Installed<'a> {
    /// No working interpreter to ask.
    Unknown,
    Missing,
    Version(&'a str),
}

fn installed<'a>(facts: &'a Facts, name: &str) -> Installed<'a> {
    match &facts.python {
        Some(Ok(info)) => match info.packages.get(name).and_then(|it| it.as_deref()) {
            Some(version) => Installed::Version(version),
            None => Installed::Missing,
        },
        _ => Installed::Unknown,
    }
}

fn check_packages(facts: &Facts) -> Vec<Finding> {
    ["restack-ai", "fastmcp"]
        .into_iter()
        .map(|name| check_package(facts, name))
        .collect()
}

fn check_package(facts: &Facts, name: &str) -> Finding {
    let check = if name == "restack-ai" {
        "restack-ai"
    } else {
        "fastmcp"
    };
    let pin = facts.pins.get(name).map(String::as_str);
    let requirement = format!("{name}{}", pin.unwrap_or_default());
    let version = match installed(facts, name) {
        Installed::Unknown => {
            return Finding::skip(check, format!("{name}: no working Python to ask"));
        }
        Installed::Missing => {
            return Finding::fail(
                check,
                format!("{name} is not installed in {}", python_label(facts)),
                "install the project: `.venv/bin/pip install -e '.[dev]'`",
            );
        }
        Installed::Version(version) => version,
    };
    let Some(pin) = pin.filter(|it| !it.is_empty()) else {
        return Finding::ok(check, format!("{name} {version} installed (no pin)"));
    };
    match Version::parse(version).map(|it| satisfies(&it, pin)) {
        Some(Ok(true)) => Finding::ok(check, format!("{name} {version} matches `{pin}`")),
        Some(Ok(false)) => Finding::fail(
            check,
            format!("{name} {version} does not match the pin `{pin}`"),
            format!("`.venv/bin/pip install '{requirement}'`"),
        ),
        Some(Err(clause)) => Finding::warn(
            check,
            format!("{name} {version}; cannot read the pin clause `{clause}`"),
            "write the pin as PEP 440 clauses",
        ),
        None => Finding::warn(
            check,
            format!("cannot read the installed version `{version}` of {name}"),
            format!("reinstall it: `.venv/bin/pip install --force-reinstall '{requirement}'`"),
        ),
    }
}

/// `spec` admits `version` (a spec that cannot be read admits nothing, it is reported elsewhere).
fn admits(spec: Option<&String>, version: &str) -> bool {
    let Some(version) = Version::parse(version) else {
        return false;
    };
    spec.is_none_or(|spec| satisfies(&version, spec).unwrap_or(false))
}

fn at_least(version: Option<&str>, floor: &str) -> bool {
    match (version.and_then(Version::parse), Version::parse(floor)) {
        (Some(version), Some(floor)) => satisfies(&version, &format!(">={floor}")).unwrap_or(false),
        _ => false,
    }
}

/// The pins' known conflicts (notes/restack-sdk.md §0), in the installed set and in the pins.
fn check_conflicts(facts: &Facts) -> Finding {
    const CHECK: &str = "conflicts";
    let mut problems: Vec<(String, String)> = Vec::new();
    if let Some(Ok(info)) = &facts.python {
        let get = |name: &str| info.packages.get(name).and_then(|it| it.as_deref());
        if let Some(restack) = get("restack-ai") {
            if let Some(fastmcp) = get("fastmcp").filter(|it| at_least(Some(it), "2.13")) {
                problems.push((
                    format!(
                        "fastmcp {fastmcp} requires websockets>=15.0.1, which restack-ai {restack} forbids (websockets<15)"
                    ),
                    "`.venv/bin/pip install 'fastmcp>=2.12.4,<2.13'`".to_owned(),
                ));
            } else if let Some(websockets) = get("websockets").filter(|it| at_least(Some(it), "15"))
            {
                problems.push((
                    format!("websockets {websockets} is installed, but restack-ai {restack} needs websockets<15"),
                    "`.venv/bin/pip install 'websockets>=13.1,<15'`".to_owned(),
                ));
            }
        }
        if let (Some(mcp), Some(pydantic)) = (get("mcp"), get("pydantic"))
            && !at_least(Some(mcp), "1.17")
            && at_least(Some(pydantic), "2.14")
        {
            problems.push((
                format!(
                    "mcp {mcp} imports `eval_type_backport`, which pydantic {pydantic} removed: `import fastmcp` fails"
                ),
                "`.venv/bin/pip install 'pydantic>=2.11.7,<2.14'`".to_owned(),
            ));
        }
    }
    if !facts.pins.is_empty() {
        let fastmcp = facts.pins.get("fastmcp");
        if facts.pins.contains_key("restack-ai") && fastmcp.is_some() && admits(fastmcp, "2.13.0") {
            problems.push((
                format!(
                    "the pin `fastmcp{}` admits fastmcp 2.13+, which conflicts with restack-ai (websockets)",
                    fastmcp.map(String::as_str).unwrap_or_default()
                ),
                "pin `fastmcp>=2.12.4,<2.13` (a template override may have changed it)".to_owned(),
            ));
        }
        if fastmcp.is_some() && admits(facts.pins.get("pydantic"), "2.14.0") {
            problems.push((
                "the pydantic pin admits 2.14+, which breaks mcp<1.17 (needed by fastmcp<2.13)"
                    .to_owned(),
                "pin `pydantic>=2.11.7,<2.14`".to_owned(),
            ));
        }
    }
    if problems.is_empty() {
        return Finding::ok(
            CHECK,
            "no known conflicts among restack-ai, fastmcp, mcp, pydantic and websockets",
        );
    }
    let (messages, fixes): (Vec<_>, Vec<_>) = problems.into_iter().unzip();
    Finding::fail(CHECK, messages.join("; "), fixes.join("; "))
}

fn check_engine(facts: &Facts) -> Finding {
    const CHECK: &str = "engine";
    let Some((address, outcome)) = &facts.engine else {
        return Finding::skip(
            CHECK,
            "engine not checked: no valid manifest, so no address",
        );
    };
    match outcome {
        Ok(()) => Finding::ok(CHECK, format!("engine reachable at {address}")),
        Err(message) => Finding::fail(
            CHECK,
            format!("engine not reachable at {address} ({message})"),
            format!(
                "start it (`docker run -d -p 5233:5233 -p 6233:6233 -p 7233:7233 ghcr.io/restackio/restack:main`, or a Temporal dev server: `temporal server start-dev --port {}`), or correct `engine address=` in restack.kdl",
                address.rsplit(':').next().unwrap_or("7233")
            ),
        ),
    }
}

/// The engine API is needed only when the service registers endpoints (the default); a bare
/// Temporal server has none, so this is a warning.
fn check_engine_api(facts: &Facts) -> Finding {
    const CHECK: &str = "engine-api";
    let Some((address, outcome)) = &facts.engine_api else {
        return Finding::skip(
            CHECK,
            "engine API not checked: no valid manifest, so no address",
        );
    };
    let package = project(facts).map_or("<package>", |it| it.package.as_str());
    match outcome {
        Ok(()) => Finding::ok(CHECK, format!("engine API reachable at {address}")),
        Err(message) => Finding::warn(
            CHECK,
            format!(
                "engine API not reachable at {address} ({message}); the service registers its endpoints there"
            ),
            format!(
                "start the Restack engine, correct `api-address=` in restack.kdl, or run against a bare Temporal server with `service.endpoints: false` in config/settings.yaml (or `{}_SERVICE_ENDPOINTS=false`)",
                package.to_uppercase()
            ),
        ),
    }
}

fn check_service(facts: &Facts) -> Finding {
    const CHECK: &str = "service-import";
    let package = project(facts).map_or("<package>", |it| it.package.as_str());
    match (&facts.service_import, &facts.service_skipped) {
        (Some(Ok(())), _) => Finding::ok(CHECK, format!("`import {package}.service` works")),
        (Some(Err(message)), _) => Finding::fail(
            CHECK,
            format!("`import {package}.service` fails: {message}"),
            format!(
                "see the traceback: `PYTHONPATH=src .venv/bin/python -c 'import {package}.service'`; install the project (`.venv/bin/pip install -e '.[dev]'`) if a dependency is missing"
            ),
        ),
        (None, Some(reason)) => Finding::skip(
            CHECK,
            format!("`import {package}.service` not checked: {reason}"),
        ),
        (None, None) => Finding::skip(CHECK, format!("`import {package}.service` not checked")),
    }
}

/// The path of the tool servers config in the generated project.
pub const TOOLS_CONFIG: &str = "config/tools.yaml";

fn check_tools(facts: &Facts) -> Finding {
    const CHECK: &str = "tools-config";
    let Some(project) = project(facts) else {
        return Finding::skip(CHECK, "tools config not checked: no valid manifest");
    };
    if project.tool_servers.is_empty() {
        return Finding::ok(CHECK, "no tool servers declared");
    }
    let Some(Sync::Planned(plan)) = &facts.sync else {
        return Finding::skip(
            CHECK,
            "tools config not checked: the project could not be planned",
        );
    };
    let Some(change) = plan.changes.iter().find(|it| it.path == TOOLS_CONFIG) else {
        return Finding::skip(
            CHECK,
            format!("{TOOLS_CONFIG} is not generated by this version of restack"),
        );
    };
    let servers: Vec<_> = project
        .tool_servers
        .iter()
        .map(|it| it.names.declared.as_str())
        .collect();
    match &change.action {
        Action::Keep => Finding::ok(
            CHECK,
            format!(
                "{TOOLS_CONFIG} is as generated and names {}",
                servers.join(", ")
            ),
        ),
        Action::Blocked(Reason::Modified) => Finding::fail(
            CHECK,
            format!("{TOOLS_CONFIG} was edited by hand; the tool servers come from restack.kdl"),
            "move the change into restack.kdl's `tool-server` blocks, then `restack apply --force`",
        ),
        _ => Finding::fail(
            CHECK,
            format!(
                "{TOOLS_CONFIG} does not match the declared tool servers ({})",
                servers.join(", ")
            ),
            "`restack apply`",
        ),
    }
}

fn check_keys(facts: &Facts) -> Finding {
    const CHECK: &str = "llm-keys";
    if project(facts).is_none() {
        return Finding::skip(CHECK, "LLM keys not checked: no valid manifest");
    }
    if facts.keys.is_empty() {
        return Finding::ok(CHECK, "no LLM key variables declared");
    }
    let missing: Vec<_> = facts
        .keys
        .iter()
        .filter(|(_, source)| *source == KeySource::Missing)
        .map(|(name, _)| name.as_str())
        .collect();
    let names: Vec<_> = facts.keys.iter().map(|(name, _)| name.as_str()).collect();
    if missing.is_empty() {
        return Finding::ok(
            CHECK,
            format!("LLM key variables set: {}", names.join(", ")),
        );
    }
    let fix = format!(
        "export {} (or add it to `.env`, see `.env.example`)",
        missing
            .iter()
            .map(|it| format!("{it}=…"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let message = format!("LLM key variable(s) not set: {}", missing.join(", "));
    if missing.len() == facts.keys.len() {
        Finding::fail(CHECK, message, fix)
    } else {
        Finding::warn(CHECK, format!("{message} (fallbacks have theirs)"), fix)
    }
}

fn check_git(facts: &Facts) -> Finding {
    const CHECK: &str = "git";
    match &facts.git {
        GitFacts::NoGit => Finding::skip(CHECK, "git status not checked: git is not installed"),
        GitFacts::NotARepo => Finding::skip(
            CHECK,
            "git status not checked: the project is not in a git repository",
        ),
        GitFacts::Failed { message } => Finding::warn(
            CHECK,
            format!("`git status` failed: {message}"),
            "run `git status` to see why",
        ),
        GitFacts::Status { lines } if lines.is_empty() => {
            Finding::ok(CHECK, "generated files are committed")
        }
        GitFacts::Status { lines } => {
            let mut shown: Vec<_> = lines.iter().take(5).map(String::as_str).collect();
            if lines.len() > 5 {
                shown.push("…");
            }
            Finding::warn(
                CHECK,
                format!(
                    "{} generated file(s) not committed: {}",
                    lines.len(),
                    shown.join(", ")
                ),
                "commit them with the manifest (`git add -A && git commit`) so CI's `restack check` sees the same tree",
            )
        }
    }
}

fn check_state(facts: &Facts) -> Finding {
    const CHECK: &str = "state";
    match &facts.sync {
        None => Finding::skip(CHECK, "state not checked: no valid manifest"),
        Some(Sync::RenderFailed { message }) => Finding::fail(
            CHECK,
            format!("rendering failed: {message}"),
            "fix the template override it names (or report a restack bug if none is involved)",
        ),
        Some(Sync::Unreadable { message }) => Finding::fail(
            CHECK,
            message.clone(),
            "restore `.restack/` from git, or check its permissions",
        ),
        Some(Sync::Planned(plan)) if plan.is_in_sync() => {
            Finding::ok(CHECK, "in sync: the project matches restack.kdl")
        }
        Some(Sync::Planned(plan)) => {
            let summary = plan.summary();
            Finding::fail(
                CHECK,
                format!(
                    "drift: {} to create, {} to update, {} to merge, {} to delete, {} blocked",
                    summary.create, summary.update, summary.merge, summary.delete, summary.blocked
                ),
                "`restack plan --diff` to see it, then `restack apply`",
            )
        }
    }
}

#[cfg(test)]
mod tests;
