//! Fixture cases: one snapshot per `tests/cases/**/restack.kdl`, produced by the real binary.
//!
//! A case is a folder: `restack.kdl`, and optionally `args` (one argument per line, default
//! `validate`), `before/` (copied into the working directory first) and `after/` (every file in it
//! must exist with the same contents afterwards). The run happens in a fresh temporary directory.
//! The snapshot holds the arguments, the exit code, stdout, stderr and a listing of the resulting
//! tree. `ok/` cases must exit 0 without an error diagnostic; `err/<code>/` cases must exit 1 and
//! report `<code>`. Update snapshots with `INSTA_UPDATE=always cargo test --test cases`.

use std::path::{Path, PathBuf};
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
        let problem = problem.or_else(|| compare_after(&case.join("after"), &out.root));
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}\n{}", relative.display(), out.text));
        }
        insta::assert_snapshot!(out.text);
    });
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

struct Outcome {
    status: i32,
    stderr: String,
    text: String,
    root: tempfile::TempDir,
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|it| it.file_type().is_file())
        .filter_map(|it| it.path().strip_prefix(dir).ok().map(Path::to_path_buf))
        .collect();
    files.sort();
    files
}

fn copy_tree(from: &Path, to: &Path) {
    for relative in files(from) {
        let target = to.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("create a directory");
        }
        std::fs::copy(from.join(&relative), target).expect("copy a before/ file");
    }
}

/// Every file under `after/` must exist in the result with the same bytes.
fn compare_after(after: &Path, root: &tempfile::TempDir) -> Option<String> {
    if !after.is_dir() {
        return None;
    }
    let mismatched: Vec<String> = files(after)
        .into_iter()
        .filter(|relative| {
            std::fs::read(after.join(relative)).ok()
                != std::fs::read(root.path().join(relative)).ok()
        })
        .map(|relative| relative.display().to_string())
        .collect();
    (!mismatched.is_empty()).then(|| format!("differs from after/: {}", mismatched.join(", ")))
}

fn run_case(case: &Path, manifest: &Path) -> Outcome {
    let root = tempfile::tempdir().expect("temporary directory");
    if case.join("before").is_dir() {
        copy_tree(&case.join("before"), root.path());
    }
    std::fs::copy(manifest, root.path().join("restack.kdl")).expect("copy the manifest");
    let args: Vec<String> = match std::fs::read_to_string(case.join("args")) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|it| !it.is_empty())
            .map(str::to_owned)
            .collect(),
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
    let tree: String = files(root.path())
        .iter()
        .flat_map(|it| [it.display().to_string(), "\n".to_owned()])
        .collect();
    let text = format!(
        "args: {}\nexit: {status}\n--- stdout\n{stdout}--- stderr\n{stderr}--- tree\n{tree}",
        args.join(" ")
    );
    Outcome {
        status,
        stderr,
        text,
        root,
    }
}
