//! Fixture cases: one snapshot per `tests/cases/**/restack.kdl`, produced by the real binary.
//!
//! A case is a folder: `restack.kdl`, and optionally `args` (one argument per line, default
//! `validate`). The manifest is copied into a fresh temporary directory that becomes the working
//! directory. `ok/` cases must exit 0 without an error diagnostic; `err/<code>/` cases must exit 1
//! and report `<code>`. Update snapshots with `INSTA_UPDATE=always cargo test --test cases`.

use std::path::Path;
use std::process::Command;

#[test]
fn cases() {
    let mut failures = Vec::new();
    insta::glob!("cases/**/restack.kdl", |path| {
        let case = path.parent().expect("a case file sits in its folder");
        let out = run_case(case, path);
        let relative = case
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases"))
            .expect("cases live under tests/cases");
        let mut parts = relative.iter().map(|it| it.to_string_lossy().into_owned());
        let group = parts.next().unwrap_or_default();
        let problem = match group.as_str() {
            "ok" if out.status != 0 => Some("must exit 0".to_owned()),
            "ok" if out.stderr.contains('×') => Some("reported an error".to_owned()),
            "ok" => None,
            "err" => {
                let code = parts.next().unwrap_or_default();
                if out.status != 1 {
                    Some("must exit 1".to_owned())
                } else if !out.stderr.contains('×') {
                    Some("reported no error".to_owned())
                } else if !out.stderr.contains(&format!("{code}\n")) {
                    Some(format!("does not report `{code}`"))
                } else {
                    None
                }
            }
            other => Some(format!("is under {other}/, not ok/ or err/")),
        };
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}\n{}", relative.display(), out.text));
        }
        insta::assert_snapshot!(out.text);
    });
    assert!(failures.is_empty(), "{} failing case(s):\n\n{}", failures.len(), failures.join("\n"));
}

struct Outcome {
    status: i32,
    stderr: String,
    text: String,
}

fn run_case(case: &Path, manifest: &Path) -> Outcome {
    let root = tempfile::tempdir().expect("temporary directory");
    std::fs::copy(manifest, root.path().join("restack.kdl")).expect("copy the manifest");
    let args: Vec<String> = match std::fs::read_to_string(case.join("args")) {
        Ok(text) => text.lines().map(str::trim).filter(|it| !it.is_empty()).map(str::to_owned).collect(),
        Err(_) => vec!["validate".to_owned()],
    };
    let output = Command::new(env!("CARGO_BIN_EXE_restack"))
        .args(&args)
        .current_dir(root.path())
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run restack");
    let root_text = root.path().display().to_string();
    let redact = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&root_text, "[ROOT]");
    let stdout = redact(&output.stdout);
    let stderr = redact(&output.stderr);
    let status = output.status.code().unwrap_or(-1);
    let text = format!(
        "args: {}\nexit: {status}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        args.join(" ")
    );
    Outcome { status, stderr, text }
}
