//! `restack fmt` and `restack completions`, through the real binary: formatting keeps every
//! comment, is idempotent, `--check` reports with its exit code, an invalid manifest is refused
//! and left untouched.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_restack");
const COMMENTED: &str = include_str!("fixtures/commented.kdl");
const BLOG: &str = include_str!("../restack.kdl.example");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run restack")
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
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

/// Every comment of `text` (line comments trimmed at the end), in order.
fn comments(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['/', '"']) {
        let tail = &rest[at..];
        if tail.starts_with("//") {
            let end = tail.find('\n').unwrap_or(tail.len());
            found.push(tail[..end].trim_end().to_owned());
            rest = &tail[end..];
        } else if tail.starts_with("/*") {
            let end = tail.find("*/").expect("closed block comment") + 2;
            found.push(tail[..end].to_owned());
            rest = &tail[end..];
        } else if let Some(after) = tail.strip_prefix("/-") {
            found.push("/-".to_owned());
            rest = after;
        } else if let Some(string) = tail.strip_prefix('"') {
            // Skip the string (the fixture's strings have no escaped quotes).
            let end = string.find('"').map_or(tail.len(), |it| it + 2);
            rest = &tail[end..];
        } else {
            rest = &tail[1..];
        }
    }
    found
}

#[test]
fn fmt_keeps_every_comment_and_is_idempotent() {
    let dir = project(COMMENTED);
    let out = run(dir.path(), &["fmt"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    let once = manifest(&dir);
    assert_ne!(
        once, COMMENTED,
        "the fixture is not canonical, so fmt changes it"
    );
    assert_eq!(comments(&once), comments(COMMENTED));
    assert!(
        once.contains("    field \"emails\" \"list[str]\"\n"),
        "{once}"
    );
    assert!(once.contains("/* A block comment\n   over several lines,   with its own spacing. */"));
    assert!(once.contains("text #\"Summarize {{ article }} in \"quotes\" \\n raw\"#"));
    assert!(!once.contains("\n\n\n"), "at most one blank line:\n{once}");

    let out = run(dir.path(), &["fmt"]);
    assert_eq!(code(&out), Some(0));
    assert_eq!(manifest(&dir), once, "fmt is not idempotent");
    let out = run(dir.path(), &["fmt", "--check"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    let out = run(dir.path(), &["validate"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
}

#[test]
fn check_exits_1_with_a_diff_and_writes_nothing() {
    let dir = project(BLOG);
    let out = run(dir.path(), &["fmt", "--check"]);
    assert_eq!(code(&out), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("--- a/restack.kdl"), "{stdout}");
    assert!(
        stdout.contains("-    input { field \"emails\" \"list[str]\" }"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+        field \"emails\" \"list[str]\""),
        "{stdout}"
    );
    assert_eq!(manifest(&dir), BLOG);
}

#[test]
fn an_invalid_manifest_is_refused_and_untouched() {
    let text = "project \"x\" {\n  packge \"x\"\n}\n";
    let dir = project(text);
    for args in [&["fmt"][..], &["fmt", "--check"]] {
        let out = run(dir.path(), args);
        assert_eq!(code(&out), Some(1), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("unknown node `packge`"), "{stderr}");
        assert_eq!(manifest(&dir), text);
    }
    let dir = project("project \"x\" {\n");
    let out = run(dir.path(), &["fmt"]);
    assert_eq!(code(&out), Some(1), "{out:?}");
    assert_eq!(manifest(&dir), "project \"x\" {\n");
}

#[test]
fn every_example_formats_idempotently() {
    let mut texts = vec![BLOG.to_owned(), COMMENTED.to_owned()];
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/ok");
    for entry in std::fs::read_dir(cases).expect("cases").flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path().join("restack.kdl")) {
            texts.push(text);
        }
    }
    for text in texts {
        let dir = project(&text);
        let out = run(dir.path(), &["fmt"]);
        assert_eq!(code(&out), Some(0), "{text}\n{out:?}");
        let once = manifest(&dir);
        assert_eq!(comments(&once), comments(&text), "comments lost:\n{once}");
        assert_eq!(
            code(&run(dir.path(), &["fmt", "--check"])),
            Some(0),
            "{once}"
        );
    }
}

#[test]
fn completions_for_every_shell() {
    let dir = tempfile::tempdir().expect("temp dir");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(dir.path(), &["completions", shell]);
        assert_eq!(code(&out), Some(0), "{shell}: {out:?}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("restack"), "{shell}");
        assert!(
            script.contains("fmt") && script.contains("tool-server"),
            "{shell}"
        );
    }
    let out = run(dir.path(), &["completions", "tcsh"]);
    assert_eq!(code(&out), Some(1));
}

#[test]
fn the_formatter_never_changes_meaning_on_any_case() {
    use restack::manifest::format::{FormatError, format};
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut n_formatted = 0;
    for entry in walkdir::WalkDir::new(cases).into_iter().flatten() {
        if entry.file_name() != "restack.kdl" {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue; // the not-utf8 case
        };
        match format(&text) {
            Ok(once) => {
                assert_eq!(
                    format(&once),
                    Ok(once.clone()),
                    "{}",
                    entry.path().display()
                );
                assert_eq!(
                    comments(&once),
                    comments(&text),
                    "{}",
                    entry.path().display()
                );
                n_formatted += 1;
            }
            Err(FormatError::Syntax) => {}
            Err(err) => panic!("{}: {err}", entry.path().display()),
        }
    }
    assert!(n_formatted > 40, "only {n_formatted} cases formatted");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

    /// Any KDL built from these pieces formats idempotently, or is refused as not KDL; the
    /// formatter's own meaning-and-comments check never fires.
    #[test]
    fn random_kdl_formats_safely(pieces in proptest::collection::vec(0..FRAGMENTS.len(), 0..40)) {
        use restack::manifest::format::{FormatError, format};
        let text: String = pieces.iter().map(|it| FRAGMENTS[*it]).collect();
        match format(&text) {
            Ok(once) => proptest::prop_assert_eq!(format(&once), Ok(once.clone()), "{:?}", text),
            Err(FormatError::Syntax) => {}
            Err(err) => proptest::prop_assert!(false, "{:?}: {}", text, err),
        }
    }
}

/// Values carry their leading space: kdl 6.7.1 accepts some values written without a separator
/// (`#true"s"`), which the formatter would separate, and its own check then refuses the result.
const FRAGMENTS: &[&str] = &[
    "node",
    " a",
    " \"s\"",
    " 1",
    " 2.5",
    " #true",
    " #null",
    " k=",
    " k = ",
    "v",
    "{",
    "}",
    ";",
    "\n",
    "\n\n\n",
    " ",
    "  ",
    "// c\n",
    "/* b */",
    "/* x\n  y */",
    " /-",
    " /- ",
    "\\ ",
    "\\\n",
    "\\ // e\n",
    " #\"r \\ \"#",
    " (t)",
    " (\"q\")",
    " \"\"\"\n  m\n  \"\"\"",
    "\r\n",
    "\t",
    "\\ /* b */ // e\n",
];
