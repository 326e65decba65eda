//! Unit tests of the pure checks over hand-built facts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

fn project() -> ir::Project {
    let text = include_str!("../../restack.kdl.example");
    crate::analyze::analyze("restack.kdl", text.as_bytes())
        .project
        .expect("the example is valid")
}

fn info(version: &str, packages: &[(&str, Option<&str>)]) -> PythonInfo {
    PythonInfo {
        version: version.to_owned(),
        in_venv: true,
        packages: packages
            .iter()
            .map(|(name, version)| ((*name).to_owned(), version.map(str::to_owned)))
            .collect(),
    }
}

fn healthy() -> Facts {
    Facts {
        manifest: ManifestFacts::Valid {
            name: "restack.kdl".to_owned(),
            project: Arc::new(project()),
        },
        pins: BTreeMap::from([
            ("restack-ai".to_owned(), "==0.0.121".to_owned()),
            ("fastmcp".to_owned(), ">=2.12.4,<2.13".to_owned()),
            ("pydantic".to_owned(), ">=2.11.7,<2.14".to_owned()),
        ]),
        overrides: Vec::new(),
        override_problems: Vec::new(),
        interpreter: Some(Interpreter {
            path: PathBuf::from("/p/.venv/bin/python"),
            found: Found::ProjectVenv,
        }),
        python: Some(Ok(info(
            "3.11.7",
            &[
                ("restack-ai", Some("0.0.121")),
                ("fastmcp", Some("2.12.5")),
                ("mcp", Some("1.16.0")),
                ("pydantic", Some("2.13.5")),
                ("websockets", Some("14.2")),
            ],
        ))),
        venv: Some(PathBuf::from("/p/.venv")),
        engine: Some(("localhost:7233".to_owned(), Ok(()))),
        engine_api: Some(("localhost:6233".to_owned(), Ok(()))),
        service_import: Some(Ok(())),
        service_skipped: None,
        keys: vec![
            ("OPENAI_API_KEY".to_owned(), KeySource::Env),
            ("ANTHROPIC_API_KEY".to_owned(), KeySource::DotEnv),
        ],
        git: GitFacts::Status { lines: Vec::new() },
        sync: None,
    }
}

fn finding<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
    findings
        .iter()
        .find(|it| it.check == check)
        .unwrap_or_else(|| panic!("no `{check}` finding in {findings:#?}"))
}

#[test]
fn a_healthy_environment_has_no_failures() {
    let findings = diagnose(&healthy());
    assert!(!failed(&findings), "{findings:#?}");
    assert_eq!(
        finding(&findings, "engine").message,
        "engine reachable at localhost:7233"
    );
    assert_eq!(finding(&findings, "python").status, Status::Ok);
    assert_eq!(finding(&findings, "fastmcp").status, Status::Ok);
    assert_eq!(finding(&findings, "conflicts").status, Status::Ok);
    for it in &findings {
        if matches!(it.status, Status::Fail | Status::Warn) {
            assert!(it.fix.is_some(), "{it:?} has no fix");
        }
    }
}

#[test]
fn unreachable_engine_fails_with_a_fix() {
    let mut facts = healthy();
    facts.engine = Some((
        "localhost:1".to_owned(),
        Err("connection refused".to_owned()),
    ));
    let findings = diagnose(&facts);
    let engine = finding(&findings, "engine");
    assert_eq!(engine.status, Status::Fail);
    assert!(engine.message.contains("localhost:1"), "{engine:?}");
    assert!(
        engine
            .fix
            .as_deref()
            .is_some_and(|it| it.contains("--port 1"))
    );
    assert!(failed(&findings));
}

#[test]
fn unreachable_engine_api_is_a_warning() {
    let mut facts = healthy();
    facts.engine_api = Some((
        "localhost:6233".to_owned(),
        Err("connection refused".to_owned()),
    ));
    let findings = diagnose(&facts);
    let api = finding(&findings, "engine-api");
    assert_eq!(api.status, Status::Warn);
    assert!(
        api.fix
            .as_deref()
            .is_some_and(|it| it.contains("BLOG_SERVICE_ENDPOINTS=false"))
    );
    assert!(!failed(&findings));
}

#[test]
fn no_python_is_a_finding_and_dependent_checks_skip() {
    let mut facts = healthy();
    facts.interpreter = None;
    facts.python = None;
    facts.venv = None;
    facts.service_import = None;
    facts.service_skipped = Some("no working Python interpreter".to_owned());
    let findings = diagnose(&facts);
    assert_eq!(finding(&findings, "python").status, Status::Fail);
    assert_eq!(finding(&findings, "venv").status, Status::Fail);
    assert_eq!(finding(&findings, "restack-ai").status, Status::Skip);
    assert_eq!(finding(&findings, "service-import").status, Status::Skip);
}

#[test]
fn python_version_outside_the_requirement() {
    let mut facts = healthy();
    facts.python = Some(Ok(info("3.9.18", &[])));
    let python = diagnose(&facts).into_iter().find(|it| it.check == "python");
    let python = python.expect("python finding");
    assert_eq!(python.status, Status::Fail);
    assert!(python.message.contains("`>=3.10,<3.14`"), "{python:?}");
}

#[test]
fn pins_and_installed_versions() {
    let mut facts = healthy();
    facts.python = Some(Ok(info(
        "3.12.1",
        &[("restack-ai", Some("0.0.120")), ("fastmcp", None)],
    )));
    let findings = diagnose(&facts);
    let restack = finding(&findings, "restack-ai");
    assert_eq!(restack.status, Status::Fail);
    assert!(restack.message.contains("0.0.120") && restack.message.contains("==0.0.121"));
    assert!(
        restack
            .fix
            .as_deref()
            .is_some_and(|it| it.contains("restack-ai==0.0.121"))
    );
    assert_eq!(finding(&findings, "fastmcp").status, Status::Fail);
}

#[test]
fn known_conflicts() {
    let mut facts = healthy();
    facts.python = Some(Ok(info(
        "3.12.1",
        &[
            ("restack-ai", Some("0.0.121")),
            ("fastmcp", Some("2.14.7")),
            ("mcp", Some("1.16.0")),
            ("pydantic", Some("2.14.3")),
        ],
    )));
    let conflicts = diagnose(&facts)
        .into_iter()
        .find(|it| it.check == "conflicts")
        .expect("conflicts finding");
    assert_eq!(conflicts.status, Status::Fail);
    assert!(
        conflicts.message.contains("websockets>=15.0.1"),
        "{conflicts:?}"
    );
    assert!(
        conflicts.message.contains("eval_type_backport"),
        "{conflicts:?}"
    );

    let mut facts = healthy();
    facts.pins.insert("fastmcp".to_owned(), ">=2.12".to_owned());
    facts
        .pins
        .insert("pydantic".to_owned(), ">=2.11".to_owned());
    let conflicts = diagnose(&facts)
        .into_iter()
        .find(|it| it.check == "conflicts")
        .expect("conflicts finding");
    assert_eq!(conflicts.status, Status::Fail);
    assert!(
        conflicts.message.contains("admits fastmcp 2.13+"),
        "{conflicts:?}"
    );
    assert!(
        conflicts.message.contains("pydantic pin admits 2.14+"),
        "{conflicts:?}"
    );
}

#[test]
fn keys_report_names_only() {
    let mut facts = healthy();
    facts.keys[1].1 = KeySource::Missing;
    let keys = diagnose(&facts)
        .into_iter()
        .find(|it| it.check == "llm-keys")
        .expect("keys finding");
    assert_eq!(keys.status, Status::Warn);
    assert!(keys.message.contains("ANTHROPIC_API_KEY"));
    facts.keys[0].1 = KeySource::Missing;
    assert!(failed(&diagnose(&facts)));
}

#[test]
fn dirty_generated_files_warn() {
    let mut facts = healthy();
    facts.git = GitFacts::Status {
        lines: vec!["?? src/blog/service.py".to_owned()],
    };
    let findings = diagnose(&facts);
    assert_eq!(finding(&findings, "git").status, Status::Warn);
    assert!(!failed(&findings));
}

#[test]
fn override_problems_are_listed() {
    let mut facts = healthy();
    facts.overrides = vec!["core/service.py.j2".to_owned()];
    assert_eq!(finding(&diagnose(&facts), "overrides").status, Status::Ok);
    facts.override_problems.push(OverrideProblem {
        file: "restack-templates/core/service.py.j2".to_owned(),
        line: Some(3),
        message: "syntax error".to_owned(),
        severity: ProblemSeverity::Error,
    });
    let findings = diagnose(&facts);
    let overrides = finding(&findings, "overrides");
    assert_eq!(overrides.status, Status::Fail);
    assert!(
        overrides
            .message
            .starts_with("restack-templates/core/service.py.j2:3:")
    );
}

#[test]
fn reports() {
    let findings = diagnose(&healthy());
    let text = human(&findings, false);
    assert!(
        text.contains("✓ engine reachable at localhost:7233\n"),
        "{text}"
    );
    let value: serde_json::Value = serde_json::from_str(&json(&findings)).expect("json");
    assert_eq!(value["format_version"], JSON_VERSION);
    assert_eq!(value["ok"], true);
    assert!(
        value["findings"]
            .as_array()
            .is_some_and(|it| !it.is_empty())
    );
}
