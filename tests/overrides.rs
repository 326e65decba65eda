//! User template overrides (`restack-templates/` next to the manifest) and restack's
//! configuration precedence, with the real binary in temp dirs.

use std::path::Path;
use std::process::{Command, Output};

fn restack(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_restack"));
    command
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("NO_COLOR", "1")
        .env_remove("RESTACK_TEMPLATES")
        .env_remove("RESTACK_COLOR");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("restack runs")
}

#[expect(clippy::disallowed_methods, reason = "test fixture, not an apply")]
fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

const SERVICE: &str = include_str!("../templates/core/service.py.j2");

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = restack(dir.path(), &["new", "."], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn customized(marker: &str) -> String {
    SERVICE.replacen(
        "The Restack service",
        &format!("The Restack service ({marker})"),
        1,
    )
}

#[test]
fn an_override_changes_the_plan_and_is_applied() {
    let dir = project();
    write(
        &dir.path().join("restack-templates/core/service.py.j2"),
        &customized("ours"),
    );
    let out = restack(dir.path(), &["plan", "--diff"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("~ update  src/blog/service.py"), "{stdout}");
    assert!(
        stdout.contains("+\"\"\"The Restack service (ours)"),
        "{stdout}"
    );
    assert_eq!(restack(dir.path(), &["apply"], &[]).status.code(), Some(0));
    assert_eq!(restack(dir.path(), &["check"], &[]).status.code(), Some(0));
    let service = std::fs::read_to_string(dir.path().join("src/blog/service.py")).expect("read");
    assert!(service.contains("The Restack service (ours)"));
}

#[test]
fn a_broken_override_names_its_file_and_line() {
    let dir = project();
    let broken = SERVICE.replacen("{% filter isort %}", "{% filter isort %\n", 1);
    write(
        &dir.path().join("restack-templates/core/service.py.j2"),
        &broken,
    );
    let out = restack(dir.path(), &["plan"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = SERVICE
        .lines()
        .position(|it| it.contains("{% filter isort %}"))
        .expect("the template has an isort block")
        + 1;
    assert!(
        stderr.contains(&format!(
            "restack-templates/core/service.py.j2:{line}: syntax error"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was planned"), "{stderr}");
    assert!(out.stdout.is_empty(), "no plan is printed");
}

#[test]
fn an_override_that_renders_invalid_python_is_a_finding() {
    let dir = project();
    let broken = SERVICE.replacen("async def run_service", "async def run_service(:\ndef x", 1);
    write(
        &dir.path().join("restack-templates/core/service.py.j2"),
        &broken,
    );
    let out = restack(dir.path(), &["check"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("restack-templates/core/service.py.j2: renders invalid Python in `src/blog/service.py` at "),
        "{stderr}"
    );
}

#[test]
fn an_unknown_override_is_a_warning_with_a_suggestion() {
    let dir = project();
    write(
        &dir.path().join("restack-templates/core/servise.py.j2"),
        "x\n",
    );
    let out = restack(dir.path(), &["plan"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("did you mean `core/service.py.j2`?"),
        "{stderr}"
    );
    let doctor = restack(dir.path(), &["doctor", "--json"], &[("PATH", "")]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("servise.py.j2"), "{text}");
}

#[test]
fn configuration_precedence_cli_env_project_user() {
    let dir = project();
    for folder in ["user-tpl", "project-tpl", "env-tpl"] {
        write(
            &dir.path().join(folder).join("core/service.py.j2"),
            &customized(folder),
        );
    }
    let marker = |out: &Output| {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        ["user-tpl", "project-tpl", "env-tpl"]
            .into_iter()
            .find(|it| stdout.contains(&format!("({it})")))
            .map(str::to_owned)
    };
    // Nothing configured: the default folder (absent): no change.
    assert_eq!(marker(&restack(dir.path(), &["plan", "--diff"], &[])), None);
    write(
        &dir.path().join("xdg/restack/config.toml"),
        "templates = \"user-tpl\"\n",
    );
    assert_eq!(
        marker(&restack(dir.path(), &["plan", "--diff"], &[])).as_deref(),
        Some("user-tpl")
    );
    write(
        &dir.path().join(".restack/config.toml"),
        "# project settings\ntemplates = \"project-tpl\"\n",
    );
    assert_eq!(
        marker(&restack(dir.path(), &["plan", "--diff"], &[])).as_deref(),
        Some("project-tpl")
    );
    let env = [("RESTACK_TEMPLATES", "env-tpl")];
    assert_eq!(
        marker(&restack(dir.path(), &["plan", "--diff"], &env)).as_deref(),
        Some("env-tpl")
    );
    // The command line beats the environment (colour is the setting it has).
    let out = restack(
        dir.path(),
        &["plan", "--diff", "--color", "never"],
        &[("RESTACK_COLOR", "always")],
    );
    assert!(!out.stdout.contains(&0x1b), "--color never wins");
    let out = restack(
        dir.path(),
        &["plan", "--diff"],
        &[("RESTACK_COLOR", "always")],
    );
    assert!(out.stdout.contains(&0x1b), "RESTACK_COLOR=always colours");
    // A bad value names its file and line and is a finding.
    write(
        &dir.path().join(".restack/config.toml"),
        "\nlock_timeout = soon\n",
    );
    let out = restack(dir.path(), &["plan"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains(".restack/config.toml:2: `lock_timeout` must be a duration"),
        "{stderr}"
    );
}

/// Every file below `root` with its bytes, to prove a refused run wrote nothing.
fn snapshot(root: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|it| it.file_type().is_file())
        .map(|it| {
            let bytes = std::fs::read(it.path()).expect("read");
            (it.path().to_path_buf(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// Overrides are read only from regular files in a real folder of the project: an override folder
/// or file that is a symbolic link (which could lead out of the project) is refused with a
/// message naming it, exit 1, and nothing is written on either side.
#[cfg(unix)]
#[test]
fn symlinked_overrides_are_refused() {
    let outside = tempfile::tempdir().expect("tempdir");
    write(
        &outside.path().join("core/service.py.j2"),
        &customized("outside"),
    );
    for (link, target, named) in [
        (
            "restack-templates",
            outside.path().to_path_buf(),
            "restack-templates",
        ),
        (
            "restack-templates/core/service.py.j2",
            outside.path().join("core/service.py.j2"),
            "restack-templates/core/service.py.j2",
        ),
    ] {
        let dir = project();
        let link = dir.path().join(link);
        std::fs::create_dir_all(link.parent().expect("a parent")).expect("mkdir");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let inside_before = snapshot(dir.path());
        let outside_before = snapshot(outside.path());
        for command in ["plan", "apply", "check"] {
            let out = restack(dir.path(), &[command], &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
            assert!(
                stderr.contains(&format!("`{named}` is a symbolic link")),
                "{command}: {stderr}"
            );
        }
        assert_eq!(
            snapshot(dir.path()),
            inside_before,
            "nothing written inside"
        );
        assert_eq!(
            snapshot(outside.path()),
            outside_before,
            "nothing written outside"
        );
    }
}
