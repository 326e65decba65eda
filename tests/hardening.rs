//! DESIGN.md §4 under attack, through the real binary: paths that try to leave the project (names,
//! state, journal, saved plans, symlinks), bad input (corrupt state, read-only files, a full
//! disk, non-UTF-8 scaffolds, manifests that are directories, FIFOs or huge) and secrets never
//! written. Every test checks that nothing outside the project changed. Must not call the library.

#[allow(
    dead_code,
    reason = "the builder is shared with tests/cli.rs; not every helper is used here"
)]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{BLOG, Test, assert_same_tree};

const ONBOARDING: &str = "src/blog/agents/onboarding.py";
const EVENT_FROM: &str = "    event \"email_opened\"\n";
const EVENT_TO: &str =
    "    event \"email_opened\"\n    event \"account_verified\" { field \"when\" \"str\"; }\n";
const USER_LINE: &str = "        self._state.step = 1  # my business logic\n";
const BODY_FROM: &str =
    "        log_event(\"user_signed_up received\", input=event_input.model_dump(mode=\"json\"))\n";

/// A project plus a sibling folder with a sentinel file, to prove nothing outside the project is
/// ever written. `outside()` is the tree of everything next to the project, the project excluded.
struct Jail {
    test: Test,
    outside: PathBuf,
}

impl Jail {
    fn blog() -> Jail {
        Jail::wrap(Test::blog())
    }

    fn empty() -> Jail {
        Jail::wrap(Test::new())
    }

    fn wrap(test: Test) -> Jail {
        let outside = test.path("..").join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir outside");
        write_file(&outside.join("victim.txt"), b"not restack's\n");
        Jail { test, outside }
    }

    /// Every file next to the project (the project itself excluded), by path.
    fn outside(&self) -> BTreeMap<String, Vec<u8>> {
        let parent = self.test.path("..");
        let project = self.test.path("").canonicalize().expect("canonical root");
        support::tree(&parent)
            .into_iter()
            .filter(|(rel, _)| {
                !parent
                    .join(rel)
                    .canonicalize()
                    .is_ok_and(|it| it.starts_with(&project))
            })
            .collect()
    }
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut file = std::fs::File::create(path).expect("create");
    std::io::Write::write_all(&mut file, bytes).expect("write");
}

/// Runs `check`, `plan` and `apply` and asserts each exits `status` with `message`, and that
/// neither the project nor anything outside it changed.
fn refused_everywhere(jail: &Jail, status: i32, message: &str) {
    let inside = jail.test.tree();
    let outside = jail.outside();
    for command in ["plan", "check", "apply"] {
        jail.test
            .run([command])
            .status(status)
            .stderr_contains(message);
        assert_same_tree(&inside, &jail.test.tree());
        assert_same_tree(&outside, &jail.outside());
    }
}

// ---------------------------------------------------------------------------------------------
// Path safety: names

#[test]
fn names_that_try_to_escape_are_refused() {
    let names = [
        "../x",
        "a/b",
        "a\\b",
        "/etc/passwd",
        "C:x",
        "C:\\x",
        "..",
        "~root",
    ];
    for name in names {
        let kdl_name = name.replace('\\', "\\\\");
        let manifests = [
            format!("project \"demo\" {{\n    package \"{kdl_name}\"\n}}\n"),
            format!("project \"demo\"\nfunction \"{kdl_name}\" {{\n    output \"str\"\n}}\n"),
            format!("project \"demo\"\nworkflow \"{kdl_name}\" {{\n    output \"str\"\n}}\n"),
            format!("project \"demo\"\nagent \"{kdl_name}\" {{\n    event \"go\"\n}}\n"),
        ];
        for manifest in manifests {
            let jail = Jail::empty();
            jail.test.write("restack.kdl", &manifest);
            let inside = jail.test.tree();
            let outside = jail.outside();
            for command in ["validate", "plan", "apply", "check"] {
                let outcome = jail.test.run([command]).status(1);
                assert!(
                    outcome.stderr.contains(&format!("`{name}`")),
                    "the diagnostic names `{name}`:\n{}",
                    outcome.stderr
                );
            }
            assert_same_tree(&inside, &jail.test.tree());
            assert_same_tree(&outside, &jail.outside());
        }
        // A project name is only a display name (the package is derived from it): refused, or
        // accepted with every file inside the project.
        let jail = Jail::empty();
        jail.test
            .write("restack.kdl", &format!("project \"{kdl_name}\"\n"));
        let outside = jail.outside();
        let outcome = jail.test.run(["apply"]);
        assert!(matches!(outcome.code, Some(0 | 1)), "{outcome:?}");
        assert_same_tree(&outside, &jail.outside());
    }
}

// ---------------------------------------------------------------------------------------------
// Path safety: state, journal and saved plans that point outside

/// The blog's state with one more entry at `rel`, recorded with `hash` (a managed file).
fn state_with(jail: &Jail, rel: &str, hash: &str) -> String {
    let mut state: serde_json::Value =
        serde_json::from_str(&jail.test.read(".restack/state.json")).expect("state is JSON");
    state["files"][rel] = serde_json::json!({
        "kind": "managed",
        "origin": { "entity": "project \"blog\"", "span": [0, 1] },
        "hash": hash,
    });
    serde_json::to_string_pretty(&state).expect("json")
}

/// blake3 of the sentinel, computed by restack itself: `plan --json` of a state that records it
/// would show it; simpler to hash with the same crate the binary uses.
fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[test]
fn state_entries_pointing_outside_are_refused() {
    let unsafe_paths = [
        "../outside/victim.txt",
        "/etc/passwd",
        "a/../../outside/victim.txt",
        "..\\outside\\victim.txt",
        "C:/outside/victim.txt",
        ".git/config",
        ".restack/state.json",
        "src//x.py",
    ];
    for rel in unsafe_paths {
        let jail = Jail::blog();
        // Recorded with the sentinel's real hash: were the path honoured, it would be an
        // untouched orphan, and restack would delete it.
        let hash = blake3_hex(b"not restack's\n");
        jail.test
            .write(".restack/state.json", &state_with(&jail, rel, &hash));
        refused_everywhere(&jail, 2, "unsafe path");
        assert_eq!(
            std::fs::read(jail.outside.join("victim.txt")).expect("sentinel"),
            b"not restack's\n"
        );
    }
}

#[test]
fn journal_entries_pointing_outside_are_refused() {
    let jail = Jail::blog();
    let state: serde_json::Value =
        serde_json::from_str(&jail.test.read(".restack/state.json")).expect("state");
    let journal = serde_json::json!({
        "version": 1,
        "writes": [{ "path": "../outside/victim.txt", "before": null, "after": blake3_hex(b"x") }],
        "bases": { "../outside/base.py": "x" },
        "state": state,
    });
    jail.test
        .write(".restack/journal.json", &journal.to_string());
    refused_everywhere(&jail, 2, "unsafe path");
    // A delta's entries and dropped paths are paths too.
    let entry = state["files"]
        .as_object()
        .and_then(|files| files.values().next().cloned())
        .expect("an entry");
    for delta in [
        serde_json::json!({ "files": { "../outside/x.py": entry }, "dropped": [] }),
        serde_json::json!({ "files": {}, "dropped": ["../outside/y.py"] }),
    ] {
        let journal = serde_json::json!({
            "version": 4,
            "writes": [],
            "bases": {},
            "delta": delta,
        });
        jail.test
            .write(".restack/journal.json", &journal.to_string());
        refused_everywhere(&jail, 2, "unsafe path");
    }
}

/// An edit of a saved plan's JSON.
type Tamper = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn saved_plans_with_paths_outside_are_refused() {
    let jail = Jail::blog();
    jail.test.edit("restack.kdl", EVENT_FROM, EVENT_TO);
    jail.test.run(["plan", "--out", "plan.json"]).status(0);
    let saved: serde_json::Value =
        serde_json::from_str(&jail.test.read("plan.json")).expect("plan is JSON");
    let evil_contents = "owned\n";
    let tamperings: Vec<(&str, Tamper)> = vec![
        (
            "a change writing outside",
            Box::new(|plan| {
                let change = &mut plan["changes"][0];
                change["path"] = "../outside/victim.txt".into();
                change["action"] = "update".into();
                change["before"] = blake3_hex(b"not restack's\n").into();
                change["contents"] = evil_contents.into();
                change["after"] = blake3_hex(evil_contents.as_bytes()).into();
            }),
        ),
        (
            "an absolute path",
            Box::new(|plan| {
                let change = &mut plan["changes"][0];
                change["path"] = "/tmp/restack-owned.txt".into();
                change["action"] = "create".into();
                change["before"] = serde_json::Value::Null;
                change["contents"] = evil_contents.into();
                change["after"] = blake3_hex(evil_contents.as_bytes()).into();
            }),
        ),
        (
            "a next state naming a path outside",
            Box::new(|plan| {
                plan["next"]["files"]["../outside/victim.txt"] = serde_json::json!({
                    "kind": "managed",
                    "origin": { "entity": "project \"blog\"", "span": [0, 1] },
                    "hash": blake3_hex(b"not restack's\n"),
                });
            }),
        ),
    ];
    for (what, tamper) in tamperings {
        let mut plan = saved.clone();
        tamper(&mut plan);
        jail.test.write("evil.json", &plan.to_string());
        let inside = jail.test.tree();
        let outside = jail.outside();
        jail.test
            .run(["apply", "evil.json"])
            .status(2)
            .stderr_contains("unsafe path");
        assert_same_tree(&inside, &jail.test.tree());
        assert_same_tree(&outside, &jail.outside());
        assert!(!Path::new("/tmp/restack-owned.txt").exists(), "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// Path safety: symlinks (a symlinked generated folder is covered in tests/cli.rs)

#[cfg(unix)]
#[test]
fn symlinks_leading_out_are_never_written_through() {
    // A generated file replaced by a symlink to a file outside with the same bytes.
    let jail = Jail::blog();
    let target = jail.outside.join("onboarding.py");
    write_file(&target, jail.test.read(ONBOARDING).as_bytes());
    std::fs::remove_file(jail.test.path(ONBOARDING)).expect("rm");
    std::os::unix::fs::symlink(&target, jail.test.path(ONBOARDING)).expect("symlink");
    jail.test.edit("restack.kdl", EVENT_FROM, EVENT_TO);
    refused_everywhere(
        &jail,
        2,
        "is a symlink, and restack never writes through one",
    );

    // The top folder `src` moved outside and linked back: the link is high above the files.
    let jail = Jail::blog();
    let moved = jail.outside.join("src");
    copy_dir(&jail.test.path("src"), &moved);
    std::fs::remove_dir_all(jail.test.path("src")).expect("rm src");
    std::os::unix::fs::symlink(&moved, jail.test.path("src")).expect("symlink");
    jail.test.edit("restack.kdl", EVENT_FROM, EVENT_TO);
    refused_everywhere(
        &jail,
        2,
        "`src` is a symlink, and restack never writes through one",
    );

    // restack's own folder (or its lock) as a symlink out: not even the empty lock file lands.
    for (link, target) in [(".restack", true), (".restack/lock", false)] {
        let jail = Jail::blog();
        let full = jail.test.path(link);
        if std::fs::symlink_metadata(&full).is_ok_and(|it| it.is_dir()) {
            let moved = jail.outside.join("moved-restack");
            copy_dir(&full, &moved);
            std::fs::remove_dir_all(&full).expect("rm .restack");
        } else {
            std::fs::remove_file(&full).expect("rm lock");
        }
        let pointee = if target {
            jail.outside.join("fake-restack")
        } else {
            jail.outside.join("fake-lock")
        };
        if target {
            std::fs::create_dir_all(&pointee).expect("mkdir");
        }
        std::os::unix::fs::symlink(&pointee, &full).expect("symlink");
        let outside = jail.outside();
        let outcome = jail.test.run(["apply"]);
        assert_eq!(outcome.code, Some(2), "{link}: {outcome:?}");
        assert!(
            outcome.stderr.contains("symlink"),
            "{link}: {}",
            outcome.stderr
        );
        assert_same_tree(&outside, &jail.outside());
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in support::tree(from) {
        write_file(&to.join(rel), &bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input: state files

#[test]
fn corrupt_state_files_are_exit_2_and_change_nothing() {
    let jail = Jail::blog();
    let good = jail.test.read(".restack/state.json");
    let hash = blake3_hex(b"x");
    let mut corruptions: Vec<(String, String)> =
        [1, good.len() / 3, good.len() / 2, good.len() - 3]
            .iter()
            .map(|cut| (format!("truncated at {cut}"), good[..*cut].to_owned()))
            .collect();
    let variants = [
        ("empty", String::new()),
        ("not JSON", "state\n".to_owned()),
        ("an array", "[]\n".to_owned()),
        ("version as text", "{ \"version\": \"1\", \"files\": {} }".to_owned()),
        ("version 0", "{ \"version\": 0, \"files\": {} }".to_owned()),
        ("files as a list", "{ \"version\": 1, \"files\": [] }".to_owned()),
        ("unknown top-level field", "{ \"version\": 1, \"files\": {}, \"extra\": 1 }".to_owned()),
        (
            "unknown entry field",
            format!("{{ \"version\": 1, \"files\": {{ \"a.py\": {{ \"kind\": \"managed\", \"origin\": {{ \"entity\": \"x\", \"span\": [0, 1] }}, \"hash\": \"{hash}\", \"mode\": 7 }} }} }}"),
        ),
        (
            "bad kind",
            format!("{{ \"version\": 1, \"files\": {{ \"a.py\": {{ \"kind\": \"owned\", \"origin\": {{ \"entity\": \"x\", \"span\": [0, 1] }}, \"hash\": \"{hash}\" }} }} }}"),
        ),
        (
            "bad hash",
            "{ \"version\": 1, \"files\": { \"a.py\": { \"kind\": \"managed\", \"origin\": { \"entity\": \"x\", \"span\": [0, 1] }, \"hash\": \"abc\" } } }".to_owned(),
        ),
        (
            "negative span",
            format!("{{ \"version\": 1, \"files\": {{ \"a.py\": {{ \"kind\": \"managed\", \"origin\": {{ \"entity\": \"x\", \"span\": [-1, 1] }}, \"hash\": \"{hash}\" }} }} }}"),
        ),
    ];
    corruptions.extend(
        variants
            .into_iter()
            .map(|(what, text)| (what.to_owned(), text)),
    );
    for (what, text) in corruptions {
        jail.test.write(".restack/state.json", &text);
        let inside = jail.test.tree();
        for command in ["plan", "check", "apply"] {
            let outcome = jail.test.run([command]);
            assert_eq!(outcome.code, Some(2), "{what}, {command}: {outcome:?}");
            assert!(
                outcome.stderr.contains("state.json` is corrupt"),
                "{what}, {command}: {}",
                outcome.stderr
            );
            assert_same_tree(&inside, &jail.test.tree());
        }
    }
    // Non-UTF-8 bytes in the state.
    write_file(
        &jail.test.path(".restack/state.json"),
        b"{\"version\": 1, \xff}",
    );
    refused_everywhere(&jail, 2, "state.json` is corrupt: not UTF-8");

    // A state from a future restack: refused with the version named, nothing written.
    jail.test.write(
        ".restack/state.json",
        &good.replacen("\"version\": 2", "\"version\": 3", 1),
    );
    refused_everywhere(
        &jail,
        2,
        "has format version `3`, newer than this restack reads",
    );

    // Restored, the project is in sync again: nothing was lost on the way.
    jail.test.write(".restack/state.json", &good);
    jail.test.run(["check"]).status(0);
}

// ---------------------------------------------------------------------------------------------
// Bad input: files restack cannot write

/// The blog with a user edit in a scaffold and a manifest change that rewrites many files.
fn blog_with_pending_change() -> Jail {
    let jail = Jail::blog();
    jail.test
        .edit(ONBOARDING, BODY_FROM, &format!("{BODY_FROM}{USER_LINE}"));
    jail.test.edit("restack.kdl", EVENT_FROM, EVENT_TO);
    jail
}

/// After a failed apply and the obstacle removed: the next apply completes, the user's edit is
/// still there and the project is in sync.
fn recovers(jail: &Jail) {
    jail.test.run(["apply"]).status(0);
    jail.test.run(["check"]).status(0);
    assert!(
        jail.test.read(ONBOARDING).contains(USER_LINE),
        "the user's edit survived"
    );
    assert!(
        jail.test.read(ONBOARDING).contains("account_verified"),
        "the change was merged"
    );
}

/// Every file is either as it was before or as a clean apply leaves it (never torn or lost), and
/// the user's edit is there.
fn old_or_new(jail: &Jail, before: &BTreeMap<String, Vec<u8>>) {
    let reference = Jail::wrap(Test::new());
    for (rel, bytes) in before {
        write_file(&reference.test.path(rel), bytes);
    }
    reference.test.run(["apply"]).status(0);
    let after = reference.test.tree();
    for (rel, bytes) in jail.test.tree() {
        let name = rel.rsplit('/').next().unwrap_or_default();
        if rel.starts_with(".restack/") || name.starts_with(".restack-") {
            continue;
        }
        assert!(
            before.get(&rel) == Some(&bytes) || after.get(&rel) == Some(&bytes),
            "`{rel}` is neither old nor new"
        );
    }
    assert!(jail.test.read(ONBOARDING).contains(USER_LINE));
}

#[test]
fn a_folder_that_cannot_be_created_fails_cleanly_and_recovers() {
    // Works for every user: a file where restack needs a folder makes the write fail mid-apply.
    let jail = blog_with_pending_change();
    let folder = "src/blog/models";
    std::fs::remove_dir_all(jail.test.path(folder)).expect("rm models");
    jail.test.write(folder, "in the way\n");
    let outcome = jail.test.run(["apply"]);
    assert_eq!(outcome.code, Some(2), "{outcome:?}");
    assert!(
        outcome.stderr.contains("cannot write"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
    assert!(jail.test.read(ONBOARDING).contains(USER_LINE));
    assert_eq!(jail.test.read(folder), "in the way\n");
    std::fs::remove_file(jail.test.path(folder)).expect("rm obstacle");
    recovers(&jail);
}

/// Whether `chattr +i` works here (root on a filesystem with the immutable flag).
fn immutable_supported(probe: &Path) -> bool {
    Command::new("chattr")
        .arg("+i")
        .arg(probe)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|it| it.success())
        && Command::new("chattr")
            .arg("-i")
            .arg(probe)
            .status()
            .is_ok_and(|it| it.success())
}

/// Clears the immutable flag when dropped, so a failing test still cleans up.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: PathBuf) -> Immutable {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .is_ok_and(|it| it.success());
        assert!(ok, "chattr +i {}", path.display());
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn read_only_files_and_folders_fail_cleanly_and_recover() {
    // Root ignores permission bits, so read-only means the immutable flag. Where it is not
    // available (not root, or a filesystem without it) the same error path is covered by
    // `a_folder_that_cannot_be_created_fails_cleanly_and_recovers`.
    let jail = blog_with_pending_change();
    let probe = jail.test.path("probe");
    write_file(&probe, b"");
    if !immutable_supported(&probe) {
        return;
    }
    std::fs::remove_file(&probe).expect("rm probe");

    // A managed file the change rewrites, made immutable.
    let managed = "src/blog/models/onboarding.py";
    let before = jail.test.tree();
    {
        let _guard = Immutable::set(jail.test.path(managed));
        let outcome = jail.test.run(["apply"]);
        assert_eq!(outcome.code, Some(2), "{outcome:?}");
        assert!(
            outcome.stderr.contains("cannot write"),
            "{}",
            outcome.stderr
        );
        assert!(outcome.stderr.contains(managed), "{}", outcome.stderr);
        assert_eq!(jail.test.tree()[managed], before[managed], "untouched");
        old_or_new(&jail, &before);
    }
    recovers(&jail);

    // A folder made immutable: no temp file can be created in it.
    let jail = blog_with_pending_change();
    let before = jail.test.tree();
    {
        let _guard = Immutable::set(jail.test.path("src/blog/agents"));
        let outcome = jail.test.run(["apply"]);
        assert_eq!(outcome.code, Some(2), "{outcome:?}");
        assert!(
            outcome.stderr.contains("cannot write"),
            "{}",
            outcome.stderr
        );
        old_or_new(&jail, &before);
        assert_eq!(jail.test.tree()[ONBOARDING], before[ONBOARDING]);
    }
    recovers(&jail);
}

// ---------------------------------------------------------------------------------------------
// Bad input: a full disk

/// Unmounts when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem at `dir` leaving about `free` bytes, with the file `dir/filler`.
fn fill(dir: &Path, free: u64) {
    let filler = dir.join("filler");
    let _ = std::fs::remove_file(&filler);
    let mut file = std::fs::File::create(&filler).expect("create filler");
    let chunk = vec![0_u8; 4096];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);
    let len = std::fs::metadata(&filler).expect("filler").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .expect("open filler");
    file.set_len(len.saturating_sub(free))
        .expect("shrink filler");
}

#[test]
fn a_full_disk_fails_cleanly_loses_nothing_and_recovers() {
    // A tiny tmpfs when this test may mount one (root); otherwise the file-size limit
    // (`ulimit -f`, SIGXFSZ ignored) makes writes fail the same way for any user.
    let jail = blog_with_pending_change();
    let before = jail.test.tree();
    let disk = tempfile::tempdir().expect("temp dir");
    let mountpoint = disk.path().join("fs");
    std::fs::create_dir_all(&mountpoint).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mountpoint)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|it| it.success());
    if mounted {
        let _mount = Mount(mountpoint.clone());
        let root = mountpoint.join("blog");
        for (rel, bytes) in &before {
            write_file(&root.join(rel), bytes);
        }
        let mut failed = 0;
        for free in [0, 8 << 10, 32 << 10, 64 << 10, 96 << 10, 128 << 10] {
            fill(&mountpoint, free);
            let output = restack(&root, &["apply"], &[]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(matches!(output.status.code(), Some(0 | 2)), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            if output.status.code() == Some(2) {
                failed += 1;
                assert!(
                    stderr.contains("No space left on device") || stderr.contains("cannot"),
                    "a clear message: {stderr}"
                );
            }
            let onboarding = std::fs::read_to_string(root.join(ONBOARDING)).expect("read");
            assert!(
                onboarding.contains(USER_LINE),
                "the user's edit survived a full disk"
            );
        }
        assert!(failed > 0, "the full disk made at least one apply fail");
        std::fs::remove_file(mountpoint.join("filler")).expect("rm filler");
        let output = restack(&root, &["apply"], &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let output = restack(&root, &["check"], &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let onboarding = std::fs::read_to_string(root.join(ONBOARDING)).expect("read");
        assert!(onboarding.contains(USER_LINE) && onboarding.contains("account_verified"));
    }

    // The file-size limit: any write past 8 KiB fails with EFBIG.
    let root = jail.test.path("");
    let output = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16; exec \"$0\" apply")
        .arg(env!("CARGO_BIN_EXE_restack"))
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("sh");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    old_or_new(&jail, &before);
    recovers(&jail);
}

fn restack(dir: &Path, args: &[&str], envs: &[(String, String)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_restack"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("run restack")
}

// ---------------------------------------------------------------------------------------------
// Bad input: non-UTF-8 scaffolds, odd manifests

#[test]
fn a_non_utf8_scaffold_is_blocked_and_untouched() {
    let jail = Jail::blog();
    let mut bytes = std::fs::read(jail.test.path(ONBOARDING)).expect("read");
    bytes.extend_from_slice(b"# caf\xe9 in latin-1\n");
    write_file(&jail.test.path(ONBOARDING), &bytes);
    jail.test.edit("restack.kdl", EVENT_FROM, EVENT_TO);
    let plan = jail.test.run(["plan"]).status(1);
    let line = plan
        .stdout
        .lines()
        .find(|it| it.contains(ONBOARDING))
        .expect("the scaffold is in the plan")
        .to_owned();
    assert!(line.contains("blocked"), "{line}");
    assert!(
        plan.stdout.contains("not UTF-8"),
        "a clear reason:\n{}",
        plan.stdout
    );
    jail.test.run(["apply"]).status(1);
    assert_eq!(
        std::fs::read(jail.test.path(ONBOARDING)).expect("read"),
        bytes
    );
    jail.test.run(["check"]).status(1);
    assert_eq!(
        std::fs::read(jail.test.path(ONBOARDING)).expect("read"),
        bytes
    );
}

#[test]
fn a_manifest_that_is_a_directory_is_exit_2() {
    let jail = Jail::empty();
    std::fs::create_dir_all(jail.test.path("restack.kdl")).expect("mkdir");
    // Searched for: a directory is not a manifest.
    jail.test
        .run(["validate"])
        .status(2)
        .stderr_contains("no `restack.kdl` found");
    // Named explicitly: a clear error.
    jail.test
        .run(["-m", "restack.kdl", "plan"])
        .status(2)
        .stderr_contains("is not a regular file");
    assert_same_tree(&BTreeMap::new(), &jail.test.tree());
}

#[cfg(unix)]
#[test]
fn a_manifest_that_is_a_fifo_is_exit_2_without_hanging() {
    let jail = Jail::empty();
    let fifo = jail.test.path("restack.kdl");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|it| it.success());
    assert!(made, "mkfifo");
    for args in [&["validate"][..], &["-m", "restack.kdl", "apply"][..]] {
        let mut child = jail.test.spawn_captured(args);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("restack {args:?} hangs on a FIFO manifest");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
    assert!(jail.test.paths().is_empty(), "nothing was written");
}

#[test]
fn a_huge_manifest_is_refused_quickly() {
    let jail = Jail::empty();
    let mut text = BLOG.to_owned();
    while text.len() <= 16 << 20 {
        text.push_str("// padding that makes the manifest huge, far beyond any real one\n");
    }
    jail.test.write("restack.kdl", &text);
    let started = Instant::now();
    for command in ["validate", "apply"] {
        jail.test
            .run([command])
            .status(2)
            .stderr_contains("restack reads manifests of at most");
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(jail.test.paths(), ["restack.kdl"]);
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Every `key-env="NAME"` in a manifest, plus the variables the defaults and the engine use.
fn key_envs(manifest: &str) -> Vec<String> {
    let mut names: Vec<String> = manifest
        .split("key-env=\"")
        .skip(1)
        .filter_map(|it| it.split('"').next())
        .map(str::to_owned)
        .collect();
    for fixed in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "KONG_API_KEY",
        "RESTACK_ENGINE_API_KEY",
        "RESTACK_API_KEY",
    ] {
        names.push(fixed.to_owned());
    }
    names.sort();
    names.dedup();
    names
}

/// A value no template could produce by chance.
fn secret(name: &str, nonce: u64) -> String {
    format!(
        "sk-{}-{nonce:016x}-{}",
        name.to_lowercase(),
        blake3_hex(name.as_bytes())
    )
}

#[test]
fn generated_files_never_contain_secret_values() {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |it| u64::from(it.subsec_nanos()) ^ it.as_secs());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("examples/")
        .map(|it| it.expect("entry").path().join("restack.kdl"))
        .filter(|it| it.is_file())
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 3, "{manifests:?}");
    let mut names_seen = false;
    for manifest in &manifests {
        let text = std::fs::read_to_string(manifest).expect("read example");
        let envs: Vec<(String, String)> = key_envs(&text)
            .into_iter()
            .map(|name| {
                let value = secret(&name, nonce);
                (name, value)
            })
            .collect();
        let jail = Jail::empty();
        jail.test.write("restack.kdl", &text);
        let outputs = [
            restack(&jail.test.path(""), &["apply"], &envs),
            restack(&jail.test.path(""), &["plan", "--json"], &envs),
            restack(&jail.test.path(""), &["check"], &envs),
        ];
        assert_eq!(
            outputs[0].status.code(),
            Some(0),
            "{}: {}",
            manifest.display(),
            String::from_utf8_lossy(&outputs[0].stderr)
        );
        let files = jail.test.tree();
        assert!(files.contains_key(".restack/state.json"));
        for (name, value) in &envs {
            for (rel, bytes) in &files {
                assert!(
                    !String::from_utf8_lossy(bytes).contains(value.as_str()),
                    "{}: `{rel}` contains the value of `{name}`",
                    manifest.display()
                );
            }
            for output in &outputs {
                for stream in [&output.stdout, &output.stderr] {
                    assert!(
                        !String::from_utf8_lossy(stream).contains(value.as_str()),
                        "output leaks `{name}`"
                    );
                }
            }
            names_seen |= files
                .values()
                .any(|it| String::from_utf8_lossy(it).contains(name.as_str()));
        }
    }
    assert!(
        names_seen,
        "the generated projects name the variables they read"
    );

    // `restack new` too.
    let dir = tempfile::tempdir().expect("temp dir");
    let envs: Vec<(String, String)> = key_envs(BLOG)
        .into_iter()
        .map(|name| {
            let value = secret(&name, nonce);
            (name, value)
        })
        .collect();
    let output = restack(dir.path(), &["new", "blog"], &envs);
    assert_eq!(output.status.code(), Some(0));
    for (rel, bytes) in support::tree(dir.path()) {
        for (name, value) in &envs {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(value.as_str()),
                "`{rel}` contains `{name}`'s value"
            );
        }
    }
}
