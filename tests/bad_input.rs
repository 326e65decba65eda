//! Hostile manifests through the real binary: each gets diagnostics and exit 1, never a panic,
//! a crash or a hang.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous, because the binary is a debug build on a shared machine.
const TIMEOUT: Duration = Duration::from_mins(5);

struct Outcome {
    status: i32,
    stderr: String,
}

#[expect(
    clippy::disallowed_methods,
    reason = "the fixture is written into a fresh temporary directory, not a project"
)]
fn validate(bytes: &[u8]) -> Outcome {
    let root = tempfile::tempdir().expect("temporary directory");
    std::fs::write(root.path().join("restack.kdl"), bytes).expect("write the manifest");
    let mut child = Command::new(env!("CARGO_BIN_EXE_restack"))
        .arg("validate")
        .current_dir(root.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run restack");
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for restack") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("restack validate did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().expect("stderr reader");
    // A signal (stack overflow, abort) has no exit code.
    let status = status.code().unwrap_or(-1);
    Outcome { status, stderr }
}

fn assert_reports(bytes: &[u8], code: &str) {
    let out = validate(bytes);
    assert!(
        !out.stderr.contains("panicked"),
        "restack panicked:\n{}",
        out.stderr
    );
    assert_eq!(
        out.status,
        1,
        "expected exit 1, got {}:\n{}",
        out.status,
        tail(&out.stderr)
    );
    assert!(
        out.stderr.contains(code),
        "expected `{code}` in:\n{}",
        tail(&out.stderr)
    );
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    let mut start = start;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[test]
fn not_utf8() {
    assert_reports(b"project \"x\" {\n  package \"\xff\xfe\"\n}\n", "not-utf8");
}

#[test]
fn empty() {
    assert_reports(b"", "empty-manifest");
    assert_reports(
        b"  \n// only a comment\n/* and a block */\n",
        "empty-manifest",
    );
}

#[test]
fn not_kdl() {
    assert_reports(b"{\"project\": {\"name\": \"x\"}}\n", "kdl-syntax");
    assert_reports(b"[project]\nname = \"x\"\n", "kdl-syntax");
}

#[test]
fn deeply_nested_braces() {
    let depth = 100_000;
    let mut text = String::from("project \"x\"\n");
    for _ in 0..depth {
        text.push_str("a {");
    }
    for _ in 0..depth {
        text.push('}');
    }
    assert_reports(text.as_bytes(), "kdl-syntax");
    let unclosed = "a {".repeat(depth);
    assert_reports(unclosed.as_bytes(), "kdl-syntax");
}

#[test]
fn huge_string_value() {
    let mut text = String::from("project \"x\"\nfunction \"F\" {\n    doc \"");
    text.push_str(&"x".repeat(10 * 1024 * 1024));
    text.push_str("\"\n    output \"strng\"\n}\n");
    assert_reports(text.as_bytes(), "unknown-type");
}

/// One megabyte of nodes (tens of thousands of diagnostics): the KDL parser takes seconds per
/// megabyte in a debug build, so ten would make this test slow without proving more.
#[test]
fn huge_many_nodes() {
    let mut text = String::from("project \"x\"\n");
    let line = "workflw \"EmailCampaign\" { input { field \"emails\" \"list[str]\" } }\n";
    while text.len() < 1024 * 1024 {
        text.push_str(line);
    }
    assert_reports(text.as_bytes(), "unknown-node");
}

#[test]
fn missing_manifest_is_exit_2() {
    let root = tempfile::tempdir().expect("temporary directory");
    let output = Command::new(env!("CARGO_BIN_EXE_restack"))
        .args(["-m", "nowhere.kdl", "validate"])
        .current_dir(root.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run restack");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read") && stderr.contains("nowhere.kdl"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_restack"))
        .arg("validate")
        .current_dir(root.path())
        .output()
        .expect("run restack");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no `restack.kdl` found"), "{stderr}");
}

#[expect(
    clippy::disallowed_methods,
    reason = "the fixture is written into a fresh temporary directory, not a project"
)]
#[test]
fn manifest_is_found_upward_and_with_dash_c() {
    let root = tempfile::tempdir().expect("temporary directory");
    std::fs::write(root.path().join("restack.kdl"), "project \"x\"\n").expect("write the manifest");
    let nested = root.path().join("src/deep");
    std::fs::create_dir_all(&nested).expect("create a subdirectory");
    let from_below = Command::new(env!("CARGO_BIN_EXE_restack"))
        .arg("validate")
        .current_dir(&nested)
        .output()
        .expect("run restack");
    assert_eq!(
        from_below.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&from_below.stderr)
    );
    let with_dash_c = Command::new(env!("CARGO_BIN_EXE_restack"))
        .arg("-C")
        .arg(root.path())
        .arg("validate")
        .output()
        .expect("run restack");
    assert_eq!(
        with_dash_c.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&with_dash_c.stderr)
    );
}
