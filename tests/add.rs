//! `restack add`, through the real binary: the entity is inserted as text (every other byte kept,
//! comments included), the result validates, duplicates and invalid additions are refused with
//! nothing written, and `--apply` generates the entity's files.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_restack");
const COMMENTED: &str = include_str!("fixtures/commented.kdl");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run restack")
}

#[expect(clippy::disallowed_methods, reason = "test fixture, not an apply")]
fn project(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("restack.kdl"), text).expect("write manifest");
    dir
}

fn manifest(dir: &tempfile::TempDir) -> String {
    std::fs::read_to_string(dir.path().join("restack.kdl")).expect("read manifest")
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> Output {
    let out = run(dir, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    out
}

/// `after` is `before` with `inserted` added at one place and nothing else changed.
#[track_caller]
fn only_inserted(before: &str, after: &str, inserted: &str) {
    let at = after
        .find(inserted)
        .unwrap_or_else(|| panic!("`{inserted}` not in:\n{after}"));
    let without = format!("{}{}", &after[..at], &after[at + inserted.len()..]);
    assert_eq!(without, before, "more than the insertion changed:\n{after}");
}

#[test]
fn add_function_keeps_every_other_byte() {
    let dir = project(COMMENTED);
    let out = ok(
        dir.path(),
        &[
            "add", "function", "SendSms", "--input", "to:str", "--input", "body:str", "--output",
            "bool",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("(function \"SendSms\")"),
        "the plan is shown:\n{stdout}"
    );
    let after = manifest(&dir);
    let node = "\nfunction \"SendSms\" {\n    input {\n        field \"to\" \"str\"\n        field \"body\" \"str\"\n    }\n    output \"bool\"\n}\n";
    only_inserted(COMMENTED, &after, node);
    // After the last function, before the workflow.
    assert!(after.find("function \"SendSms\"") < after.find("workflow \"EmailCampaign\""));
    assert!(after.find("function \"SendEmail\"") < after.find("function \"SendSms\""));
    ok(dir.path(), &["validate"]);
    assert!(
        !dir.path().join("src").exists(),
        "without --apply nothing is generated"
    );
}

#[test]
fn add_every_kind_then_validate() {
    let dir = project(COMMENTED);
    let steps: &[&[&str]] = &[
        &[
            "add",
            "tool-server",
            "Research",
            "--transport",
            "http",
            "--tool",
            "web_search:query:str,limit:int",
        ],
        &[
            "add",
            "workflow",
            "Notify",
            "--calls",
            "SendEmail,EmailCampaign",
            "--input",
            "ids:dict[str, int]",
        ],
        &[
            "add",
            "agent",
            "Helper",
            "--event",
            "signed_up:user_id:str",
            "--event",
            "opened",
            "--calls",
            "Notify",
            "--tools",
            "Research",
            "--state",
            "step:int",
        ],
        &[
            "add",
            "pipeline",
            "Blog",
            "--operators",
            "DRAFT -> REVIEW",
            "--style",
            "functions",
            "--max-loops",
            "2",
        ],
        &[
            "add",
            "prompt",
            "greet",
            "--var",
            "name",
            "--text",
            "Hello {{ name }}\n\"quoted\"",
        ],
    ];
    let mut before = manifest(&dir);
    for args in steps {
        ok(dir.path(), args);
        let after = manifest(&dir);
        assert!(after.len() > before.len());
        // Every comment and every earlier line is still there.
        let mut lines = after.lines();
        for line in before.lines() {
            assert!(
                lines.any(|it| it == line),
                "{args:?} lost `{line}`:\n{after}"
            );
        }
        ok(dir.path(), &["validate"]);
        before = after;
    }
    for needle in [
        "tool \"web_search\" {\n        param \"query\" \"str\"\n        param \"limit\" \"int\"\n    }",
        "field \"ids\" \"dict[str, int]\"",
        "event \"signed_up\" {\n        field \"user_id\" \"str\"\n    }\n    event \"opened\"",
        "operators \"DRAFT -> REVIEW\"\n    style \"functions\"\n    max-loops 2",
        "text \"Hello {{ name }}\\n\\\"quoted\\\"\"",
    ] {
        assert!(before.contains(needle), "`{needle}` not in:\n{before}");
    }
    // What add writes is already canonical.
    let formatted = project(&before);
    ok(formatted.path(), &["fmt"]);
    let canonical = manifest(&formatted);
    let added = &before[COMMENTED.len()..];
    assert!(
        canonical.ends_with(added.trim_start()),
        "add's output is not canonical"
    );
}

#[test]
fn a_duplicate_is_refused_and_nothing_written() {
    let dir = project(COMMENTED);
    let out = run(dir.path(), &["add", "function", "SendEmail"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("duplicate-name"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(manifest(&dir), COMMENTED);
}

#[test]
fn invalid_additions_are_refused() {
    let dir = project(COMMENTED);
    let cases: &[(&[&str], &str)] = &[
        (&["add", "function", "send_sms"], "invalid-entity-name"),
        (&["add", "workflow", "W", "--calls", "Missing"], "Missing"),
        (
            &["add", "function", "F", "--input", "to:strr"],
            "unknown-type",
        ),
        (
            &["add", "pipeline", "P", "--operators", "A ->"],
            "dangling-operator",
        ),
        (
            &["add", "prompt", "p", "--var", "a", "--text", "{{ b }}"],
            "b",
        ),
    ];
    for (args, needle) in cases {
        let out = run(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(manifest(&dir), COMMENTED, "{args:?} wrote the manifest");
    }
    let out = run(dir.path(), &["add", "function", "F", "--input", "to"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`to` is not `NAME:TYPE`"));
    assert_eq!(manifest(&dir), COMMENTED);
}

#[test]
fn add_apply_creates_the_files() {
    let dir = project(COMMENTED);
    ok(dir.path(), &["apply"]);
    ok(
        dir.path(),
        &["add", "function", "SendSms", "--input", "to:str", "--apply"],
    );
    assert!(dir.path().join("src/blog/functions/send_sms.py").is_file());
    let out = ok(dir.path(), &["plan"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("No changes."), "{stdout}");
}
