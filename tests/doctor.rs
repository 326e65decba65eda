//! `restack doctor` end to end: the real binary in temp dirs, with a controlled environment
//! (no Python on PATH unless a test puts one there).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

fn restack(dir: &Path, args: &[&str], path: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restack"))
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("XDG_CONFIG_HOME", dir)
        .env("NO_COLOR", "1")
        .env_remove("VIRTUAL_ENV")
        .env_remove("RESTACK_PYTHON")
        .env_remove("RESTACK_ENGINE_TIMEOUT")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .expect("restack runs")
}

#[expect(clippy::disallowed_methods, reason = "test fixture, not an apply")]
fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// A new blog project whose engine address is `address`, applied.
fn project(address: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = include_str!("../restack.kdl.example").replace("localhost:7233", address);
    write(&dir.path().join("restack.kdl"), &manifest);
    let out = restack(dir.path(), &["apply"], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn findings(out: &Output) -> Vec<serde_json::Value> {
    let value: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON");
    assert_eq!(value["format_version"], 1);
    value["findings"].as_array().expect("findings").clone()
}

fn finding<'a>(findings: &'a [serde_json::Value], check: &str) -> &'a serde_json::Value {
    findings
        .iter()
        .find(|it| it["check"] == check)
        .unwrap_or_else(|| panic!("no `{check}` finding"))
}

#[test]
fn closed_engine_port_is_a_finding_with_a_fix() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let address = format!("127.0.0.1:{port}");
    let dir = project(&address);
    let out = restack(dir.path(), &["doctor", "--json"], "");
    assert_eq!(out.status.code(), Some(1));
    let findings = findings(&out);
    let engine = finding(&findings, "engine");
    assert_eq!(engine["status"], "fail");
    assert!(
        engine["message"]
            .as_str()
            .is_some_and(|it| it.contains(&address))
    );
    assert!(engine["fix"].as_str().is_some_and(|it| !it.is_empty()));
    let text = restack(dir.path(), &["doctor"], "");
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(&format!("✗ engine not reachable at {address}")),
        "{stdout}"
    );
    assert!(stdout.contains(" — fix: "), "{stdout}");
}

#[test]
fn listening_engine_port_passes() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let dir = project(&address);
    let out = restack(dir.path(), &["doctor", "--json"], "");
    let findings = findings(&out);
    let engine = finding(&findings, "engine");
    assert_eq!(engine["status"], "ok", "{engine}");
    assert_eq!(
        engine["message"].as_str(),
        Some(format!("engine reachable at {address}").as_str())
    );
    assert_eq!(finding(&findings, "state")["status"], "ok");
    assert_eq!(finding(&findings, "manifest")["status"], "ok");
}

#[test]
fn missing_python_is_a_finding_not_a_crash() {
    let dir = project("127.0.0.1:1");
    let empty = tempfile::tempdir().expect("tempdir");
    let path = empty.path().to_str().expect("utf-8 path");
    let out = restack(dir.path(), &["doctor", "--json"], path);
    assert_eq!(out.status.code(), Some(1));
    let findings = findings(&out);
    let python = finding(&findings, "python");
    assert_eq!(python["status"], "fail");
    assert!(python["fix"].as_str().is_some_and(|it| it.contains("venv")));
    assert_eq!(finding(&findings, "restack-ai")["status"], "skip");
    assert_eq!(finding(&findings, "service-import")["status"], "skip");
    assert_eq!(finding(&findings, "git")["status"], "skip");
}

#[test]
fn key_names_are_reported_never_values() {
    let dir = project("127.0.0.1:1");
    write(&dir.path().join(".env"), "OPENAI_API_KEY=sk-secret-value\n");
    let out = restack(dir.path(), &["doctor", "--json"], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("sk-secret-value"));
    let findings = findings(&out);
    let keys = finding(&findings, "llm-keys");
    assert_eq!(keys["status"], "warn", "{keys}");
    assert!(
        keys["message"]
            .as_str()
            .is_some_and(|it| it.contains("ANTHROPIC_API_KEY"))
    );
}

#[test]
fn drift_and_no_manifest_are_findings() {
    let dir = project("127.0.0.1:1");
    let service = dir.path().join("src/blog/service.py");
    let text = std::fs::read_to_string(&service).expect("read");
    write(&service, &format!("{text}# edited\n"));
    let drifted = findings(&restack(dir.path(), &["doctor", "--json"], ""));
    let state = finding(&drifted, "state");
    assert_eq!(state["status"], "fail");
    assert!(
        state["message"]
            .as_str()
            .is_some_and(|it| it.contains("1 blocked"))
    );

    let empty = tempfile::tempdir().expect("tempdir");
    let out = restack(empty.path(), &["doctor", "--json"], "");
    assert_eq!(out.status.code(), Some(1));
    let findings = findings(&out);
    assert_eq!(finding(&findings, "manifest")["status"], "fail");
    assert_eq!(finding(&findings, "engine")["status"], "skip");
}

/// A stand-in interpreter: prints its arguments and `PYTHONPATH`, exits with `$FAKE_STATUS`.
#[cfg(unix)]
fn fake_python(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("fake-python");
    write(
        &path,
        "#!/bin/sh\necho \"args: $*\"\necho \"pythonpath: $PYTHONPATH\"\nexit \"${FAKE_STATUS:-0}\"\n",
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[cfg(unix)]
fn run(dir: &Path, python: &Path, args: &[&str], status: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restack"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("RESTACK_PYTHON", python)
        .env("FAKE_STATUS", status)
        .env_remove("PYTHONPATH")
        .output()
        .expect("restack runs")
}

#[cfg(unix)]
#[test]
fn run_starts_the_service_with_the_configured_python_and_maps_its_status() {
    let dir = project("127.0.0.1:1");
    let python = fake_python(dir.path());
    let out = run(
        dir.path(),
        &python,
        &["run", "--", "--log-level", "DEBUG"],
        "0",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("args: -m blog.service --log-level DEBUG"),
        "{stdout}"
    );
    let src = dir.path().join("src");
    assert!(
        stdout.contains(&format!("pythonpath: {}", src.display())),
        "{stdout}"
    );
    let out = run(dir.path(), &python, &["run"], "3");
    assert_eq!(out.status.code(), Some(1));
}

#[cfg(unix)]
#[test]
fn run_schedule_uses_the_generated_scripts() {
    let dir = project("127.0.0.1:1");
    let python = fake_python(dir.path());
    let out = run(
        dir.path(),
        &python,
        &[
            "run",
            "schedule",
            "EmailCampaign",
            "--input",
            "{\"emails\": []}",
            "--wait",
        ],
        "0",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "args: scripts/schedule_workflow.py EmailCampaign --input {\"emails\": []} --wait"
        ),
        "{stdout}"
    );
    let out = run(dir.path(), &python, &["run", "schedule", "Onboarding"], "0");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("args: scripts/schedule_agent.py Onboarding --input {}")
    );
    let out = run(dir.path(), &python, &["run", "schedule", "Onboardin"], "0");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `Onboarding`?"));
    let out = run(
        dir.path(),
        &python,
        &["run", "schedule", "EmailCampaign", "--input", "[1]"],
        "0",
    );
    assert_eq!(out.status.code(), Some(1));
}
