//! `restack check --workspace`: discovery (respecting `.gitignore`), parallel checks, summary
//! lines and exit codes, with the real binary in temp dirs.

use std::path::Path;
use std::process::{Command, Output};

fn restack(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restack"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("restack runs")
}

#[expect(clippy::disallowed_methods, reason = "test fixture, not an apply")]
fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

fn new_project(root: &Path, name: &str) {
    let out = restack(root, &["new", name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_drifted_project_fails_the_workspace_and_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    new_project(root.path(), "clean");
    new_project(root.path(), "services/drifted");
    let service = root.path().join("services/drifted/src/blog/service.py");
    let text = std::fs::read_to_string(&service).expect("read");
    write(&service, &format!("{text}# hand edit\n"));

    let out = restack(root.path(), &["check", "--workspace"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("✓ clean/restack.kdl in-sync\n"), "{stdout}");
    assert!(
        stdout.contains("✗ services/drifted/restack.kdl drift: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 project(s): 1 in sync, 1 drifted, 0 invalid, 0 failed"),
        "{stdout}"
    );

    let out = restack(root.path(), &["check", "--workspace", "clean"]);
    assert_eq!(out.status.code(), Some(0));

    let out = restack(root.path(), &["check", "--workspace", ".", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(value["format_version"], 1);
    assert_eq!(value["summary"]["drift"], 1);
    assert_eq!(
        value["projects"][1]["manifest"],
        "services/drifted/restack.kdl"
    );
}

#[test]
fn gitignored_projects_are_skipped() {
    let root = tempfile::tempdir().expect("tempdir");
    new_project(root.path(), "app");
    new_project(root.path(), "vendor/other");
    write(&root.path().join("vendor/other/restack.kdl"), "not kdl {");
    let out = restack(root.path(), &["check", "--workspace"]);
    assert_eq!(out.status.code(), Some(1), "the invalid project is checked");
    assert!(String::from_utf8_lossy(&out.stdout).contains("vendor/other/restack.kdl invalid"));

    write(&root.path().join(".gitignore"), "vendor/\n");
    let out = restack(root.path(), &["check", "--workspace"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("vendor"), "{stdout}");
    assert!(stdout.contains("1 project(s): 1 in sync"), "{stdout}");
}

#[test]
fn an_empty_workspace_is_a_finding() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = restack(root.path(), &["check", "--workspace"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn discovery_is_sorted_and_checks_run_in_parallel() {
    let root = tempfile::tempdir().expect("tempdir");
    for name in ["c", "a", "b"] {
        new_project(root.path(), name);
    }
    let found = restack::workspace::discover(root.path()).expect("walks");
    let names: Vec<_> = found
        .iter()
        .map(|it| {
            it.strip_prefix(root.path())
                .expect("below root")
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["a/restack.kdl", "b/restack.kdl", "c/restack.kdl"]);
    let outcomes = restack::workspace::check_all(&found, 2);
    assert!(
        outcomes
            .iter()
            .all(|it| *it == restack::workspace::Outcome::InSync)
    );
}
