//! `restack watch` end to end: the real binary, real file-system events, temp dirs. Waits are
//! bounded; nothing asserts on timing, only on what was printed and written.
#![expect(
    clippy::disallowed_methods,
    reason = "the tests play editors and users, whose writes are not restack's atomic writes"
)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The longest any single expected line may take (a debug build on a busy 2-core machine).
const PATIENCE: Duration = Duration::from_mins(1);
/// The debounce the tests run with.
const DEBOUNCE_MS: u64 = 50;
/// How long to listen for lines that must not come: several debounce periods.
const QUIET: Duration = Duration::from_millis(DEBOUNCE_MS * 8);

const MANIFEST: &str = r#"project "demo" {
    python ">=3.10,<3.14"
}

function "Greet" {
    doc "Say hello to someone."
    input { field "name" "str"; }
    output "str"
}
"#;

const BYE: &str = r#"
function "Bye" {
    doc "Say goodbye."
    input { field "name" "str"; }
    output "str"
}
"#;

/// An editor's way of saving a file.
type Save = fn(&Path, &str);

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

/// A running `restack watch` and everything it printed so far.
struct Watch {
    child: Child,
    lines: Receiver<(Stream, String)>,
    seen: Vec<(Stream, String)>,
}

fn is_reconcile_line(line: &str) -> bool {
    line.starts_with("reconciled in ")
        || line.starts_with("no changes (")
        || line.starts_with("invalid manifest: ")
        || line.starts_with("reconcile failed: ")
}

impl Watch {
    /// Starts `restack watch --debounce 50 <args>` in `dir` and waits until it watches.
    fn start(dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Watch {
        let mut command = Command::new(env!("CARGO_BIN_EXE_restack"));
        command
            .args([
                "--color",
                "never",
                "watch",
                "--debounce",
                &DEBOUNCE_MS.to_string(),
            ])
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("restack starts");
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        for (stream, reader) in [
            (
                Stream::Out,
                Box::new(stdout) as Box<dyn std::io::Read + Send>,
            ),
            (Stream::Err, Box::new(stderr)),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    if sender.send((stream, line)).is_err() {
                        break;
                    }
                }
            });
        }
        let mut watch = Watch {
            child,
            lines,
            seen: Vec::new(),
        };
        watch.wait_for("the watching line", |stream, line| {
            stream == Stream::Out
                && (line.starts_with("watching ") || line.contains("\"watching\""))
        });
        watch
    }

    /// Waits (bounded) for a line matching `wanted` and returns it.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(Stream, &str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((stream, line)) => {
                    self.seen.push((stream, line.clone()));
                    if wanted(stream, &line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!(
                        "no {what} within {PATIENCE:?}; output so far:\n{}",
                        self.dump()
                    )
                }
            }
        }
    }

    /// Like `wait_for`, but a matching line already seen since `mark` (an index into `seen`)
    /// counts too: stdout and stderr are read by two threads, so their lines may arrive in
    /// either order.
    fn wait_for_since(
        &mut self,
        mark: usize,
        what: &str,
        wanted: impl Fn(Stream, &str) -> bool,
    ) -> String {
        if let Some((_, line)) = self.seen[mark..]
            .iter()
            .find(|(stream, line)| wanted(*stream, line))
        {
            return line.clone();
        }
        self.wait_for(what, wanted)
    }

    /// Waits for the next reconcile line.
    fn reconcile_line(&mut self) -> String {
        self.wait_for("reconcile line", |stream, line| {
            stream == Stream::Out && is_reconcile_line(line)
        })
    }

    /// Collects every line printed during `period`.
    fn listen(&mut self, period: Duration) -> Vec<(Stream, String)> {
        let deadline = Instant::now() + period;
        let mut got = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(it) => {
                    self.seen.push(it.clone());
                    got.push(it);
                }
                Err(_) => break,
            }
        }
        got
    }

    /// Asserts that no reconcile line comes within a few debounce periods.
    fn assert_quiet(&mut self, after: &str) {
        let extra: Vec<_> = self
            .listen(QUIET)
            .into_iter()
            .filter(|(stream, line)| *stream == Stream::Out && is_reconcile_line(line))
            .collect();
        assert!(
            extra.is_empty(),
            "unexpected reconcile after {after}: {extra:?}\n{}",
            self.dump()
        );
    }

    fn count(&self, wanted: impl Fn(&str) -> bool) -> usize {
        self.seen
            .iter()
            .filter(|(stream, line)| *stream == Stream::Out && wanted(line))
            .count()
    }

    fn dump(&self) -> String {
        let mut out = String::new();
        for (stream, line) in &self.seen {
            let _ = writeln!(out, "{stream:?}: {line}");
        }
        out
    }

    /// Sends SIGINT, waits (bounded) for the exit, and returns every line printed.
    fn interrupt(self) -> (ExitStatus, Vec<(Stream, String)>) {
        self.stop_with("-INT")
    }

    /// Sends `signal`, waits (bounded) for the exit, and returns every line printed.
    fn stop_with(mut self, name: &str) -> (ExitStatus, Vec<(Stream, String)>) {
        signal(self.child.id(), name);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Collect whatever is left in the pipes.
                self.listen(Duration::from_millis(200));
                return (status, std::mem::take(&mut self.seen));
            }
            assert!(
                Instant::now() < deadline,
                "restack watch did not exit after {name}\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // A failed test must not leave a watcher running.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid} failed");
}

fn is_alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("kill runs")
        .success()
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("restack.kdl"), MANIFEST).expect("manifest written");
    dir
}

/// Every file below `root`, except restack's own `.restack/`, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut files: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|it| it.file_type().is_file())
        .map(|it| {
            it.path()
                .strip_prefix(root)
                .expect("below the root")
                .to_string_lossy()
                .into_owned()
        })
        .filter(|it| !it.starts_with(".restack"))
        .collect();
    files.sort();
    files
}

// Save styles, as editors do them.

/// Write a temp file in the same directory, fsync, rename it over the manifest.
fn save_rename_over(path: &Path, text: &str) {
    let temp = path.with_file_name(".restack.kdl.tmp-save");
    let mut file = std::fs::File::create(&temp).expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    file.sync_all().expect("fsync");
    drop(file);
    std::fs::rename(&temp, path).expect("rename over");
}

/// Overwrite the same inode from offset 0, then cut it to length.
fn save_in_place(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for writing");
    file.write_all(text.as_bytes()).expect("write");
    file.set_len(text.len() as u64).expect("set length");
    file.sync_all().expect("fsync");
}

/// Truncate, then write in two pieces a few milliseconds apart.
fn save_truncate_and_write(path: &Path, text: &str) {
    let mut file = std::fs::File::create(path).expect("truncate");
    let (head, tail) = text.split_at(text.len() / 2);
    file.write_all(head.as_bytes()).expect("write");
    file.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(5));
    file.write_all(tail.as_bytes()).expect("write");
    file.sync_all().expect("fsync");
}

/// Vim's default (`writebackup`): probe file `4913`, rename the original to a backup, write a new
/// file, fsync, delete the backup.
fn save_vim(path: &Path, text: &str) {
    let probe = path.with_file_name("4913");
    std::fs::File::create(&probe).expect("probe");
    std::fs::remove_file(&probe).expect("probe removed");
    let backup = path.with_file_name("restack.kdl~");
    std::fs::rename(path, &backup).expect("backup rename");
    let mut file = std::fs::File::create(path).expect("new file");
    file.write_all(text.as_bytes()).expect("write");
    file.sync_all().expect("fsync");
    drop(file);
    std::fs::remove_file(&backup).expect("backup removed");
}

#[test]
fn every_save_style_triggers_exactly_one_reconcile() {
    let dir = project();
    let manifest = dir.path().join("restack.kdl");
    let mut watch = Watch::start(dir.path(), &[], &[]);
    let styles: [(&str, Save); 4] = [
        ("rename-over", save_rename_over),
        ("in-place", save_in_place),
        ("truncate-and-write", save_truncate_and_write),
        ("vim", save_vim),
    ];
    let before = watch.count(is_reconcile_line);
    let mut saves = 0;
    for round in 0..2 {
        for (name, save) in styles {
            saves += 1;
            save(&manifest, &format!("{MANIFEST}// save {saves}\n"));
            let line = watch.reconcile_line();
            assert!(
                line.starts_with("no changes ("),
                "a comment-only save of style {name} (round {round}) changes no file: {line}"
            );
            watch.assert_quiet(&format!("a {name} save"));
        }
    }
    assert_eq!(watch.count(is_reconcile_line) - before, saves);

    // A save that changes nothing does nothing.
    save_rename_over(&manifest, &format!("{MANIFEST}// save {saves}\n"));
    watch.assert_quiet("a save of identical bytes");

    let (status, _) = watch.interrupt();
    assert!(status.success(), "SIGINT exits 0, got {status:?}");
}

/// Events that mean nothing to watch (here an unrelated file next to the manifest, rewritten
/// more often than the debounce) neither delay a save's reconcile nor cause one.
#[test]
fn unrelated_writes_never_delay_a_save() {
    let dir = project();
    let manifest = dir.path().join("restack.kdl");
    let mut watch = Watch::start(dir.path(), &[], &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scribbler = {
        let stop = std::sync::Arc::clone(&stop);
        let scratch = dir.path().join("notes.txt");
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                std::fs::write(&scratch, n.to_string()).expect("write notes.txt");
                std::thread::sleep(Duration::from_millis(DEBOUNCE_MS / 10));
            }
        })
    };
    watch.assert_quiet("writes to an unrelated file");
    save_rename_over(
        &manifest,
        &format!("{MANIFEST}// saved while notes.txt changes\n"),
    );
    // Were the writes part of the batch, it would never be quiet long enough.
    let line = watch.reconcile_line();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    scribbler.join().expect("the writer thread");
    assert!(line.starts_with("no changes ("), "{line}");
    let (status, _) = watch.interrupt();
    assert!(status.success(), "SIGINT exits 0, got {status:?}");
}

#[test]
fn entities_are_created_invalid_saves_delete_nothing_and_valid_saves_recover() {
    let dir = project();
    let root = dir.path();
    let manifest = root.join("restack.kdl");
    let mut watch = Watch::start(root, &[], &[]);
    let bye = root.join("src/demo/functions/bye.py");
    assert!(!bye.exists());

    // Adding an entity creates its files.
    save_rename_over(&manifest, &format!("{MANIFEST}{BYE}"));
    let line = watch.reconcile_line();
    assert!(
        line.starts_with("reconciled in ") && line.contains("created"),
        "{line}"
    );
    assert!(bye.is_file(), "the new function's scaffold exists");

    // Its own writes never trigger a reconcile.
    watch.assert_quiet("a reconcile that wrote files");
    let files = tree(root);

    // It saves the render record as `apply` does: `check` proves the project in sync from it
    // (a warning planted in the record shows that it was used).
    let record = root.join(".restack/cache/render.json");
    let text = std::fs::read_to_string(&record).expect("watch saved the render record");
    // The files its apply replaced (the service's registrations, say) had a second name in the
    // trash only until the loop was idle: then, with the record saved, they were freed.
    let trash = root.join(".restack/cache/trash");
    assert!(
        trash.is_dir(),
        "the apply keeps what it replaces in the trash"
    );
    let kept: Vec<PathBuf> = std::fs::read_dir(&trash)
        .expect("the trash")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    assert!(kept.is_empty(), "freed once idle: {kept:?}");
    let mut planted: serde_json::Value = serde_json::from_str(&text).expect("JSON record");
    planted["diagnostics"] = serde_json::json!([{
        "code": "unused-variable", "severity": "warning", "message": "planted in the record",
        "span": [0, 7], "label": "here", "help": null, "related": [],
    }]);
    std::fs::write(&record, planted.to_string()).expect("planted");
    let check = Command::new(env!("CARGO_BIN_EXE_restack"))
        .arg("check")
        .current_dir(root)
        .output()
        .expect("restack check");
    assert!(check.status.success(), "{check:?}");
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("planted in the record"),
        "{check:?}"
    );
    std::fs::write(&record, text).expect("restored");
    watch.assert_quiet("the record read and written back");

    // An invalid save: diagnostics, nothing deleted or written.
    let mark = watch.seen.len();
    save_rename_over(&manifest, &format!("{MANIFEST}function \"Bye\" {{\n"));
    let line = watch.reconcile_line();
    assert!(line.starts_with("invalid manifest: "), "{line}");
    watch.wait_for_since(mark, "a diagnostic on stderr", |stream, line| {
        stream == Stream::Err && line.contains("restack.kdl:")
    });
    watch.assert_quiet("an invalid save");
    assert_eq!(
        tree(root),
        files,
        "an invalid manifest deletes and writes nothing"
    );

    // A later valid save recovers: the entity it drops is deleted, the one it adds is created.
    let hello = BYE.replace("Bye", "Hello").replace("goodbye", "hello");
    save_in_place(&manifest, &format!("{MANIFEST}{hello}"));
    let line = watch.reconcile_line();
    assert!(
        line.starts_with("reconciled in ") && line.contains("created") && line.contains("deleted"),
        "{line}"
    );
    assert!(root.join("src/demo/functions/hello.py").is_file());
    assert!(
        !bye.exists(),
        "an untouched scaffold of a removed entity is deleted"
    );
    watch.assert_quiet("the recovering reconcile");

    // A deleted manifest deletes nothing; bringing it back reconciles.
    let files = tree(root);
    std::fs::remove_file(&manifest).expect("manifest deleted");
    watch.wait_for("the missing-manifest line", |stream, line| {
        stream == Stream::Out && line.starts_with("restack.kdl is missing")
    });
    watch.assert_quiet("a deleted manifest");
    let mut without_manifest = files.clone();
    without_manifest.retain(|it| it != "restack.kdl");
    assert_eq!(
        tree(root),
        without_manifest,
        "a deleted manifest deletes nothing else"
    );
    save_rename_over(&manifest, &format!("{MANIFEST}{hello}"));
    let line = watch.reconcile_line();
    assert!(line.starts_with("no changes ("), "{line}");
    assert_eq!(tree(root), files);

    let (status, _) = watch.interrupt();
    assert!(status.success(), "SIGINT exits 0, got {status:?}");
}

#[test]
fn hand_edits_of_managed_files_are_reported_and_never_overwritten() {
    let dir = project();
    let root = dir.path();
    let manifest = root.join("restack.kdl");
    let mut watch = Watch::start(root, &[], &[]);
    let service = root.join("src/demo/service.py");
    let original = std::fs::read_to_string(&service).expect("service.py was generated");
    assert!(original.contains("DO NOT EDIT"), "service.py is managed");

    let edited = format!("{original}# a hand edit\n");
    std::fs::write(&service, &edited).expect("hand edit");
    watch.wait_for("the hand-edit report", |stream, line| {
        stream == Stream::Out && line == "! blocked (modified) src/demo/service.py"
    });
    watch.assert_quiet("a hand edit of a managed file");

    // A manifest change that re-renders service.py leaves the edit alone and says so.
    save_rename_over(&manifest, &format!("{MANIFEST}{BYE}"));
    let line = watch.reconcile_line();
    assert!(line.contains("blocked"), "{line}");
    assert_eq!(
        std::fs::read_to_string(&service).expect("read"),
        edited,
        "the hand edit is kept"
    );

    // Managed files deleted by hand, one or a whole folder, are reported and restored.
    let models = root.join("src/demo/models");
    let model_files = tree(&models);
    assert!(
        !model_files.is_empty(),
        "the models folder holds managed files"
    );
    std::fs::remove_file(models.join(&model_files[0])).expect("delete one");
    let line = watch.reconcile_line();
    assert!(line.contains("1 created"), "{line}");
    assert!(
        watch
            .seen
            .iter()
            .any(|(_, line)| line.starts_with("! missing src/demo/models/")),
        "{}",
        watch.dump()
    );
    assert_eq!(tree(&models), model_files);
    std::fs::remove_dir_all(&models).expect("delete the folder");
    let line = watch.reconcile_line();
    assert!(
        line.contains(&format!("{} created", model_files.len())),
        "{line}"
    );
    assert_eq!(tree(&models), model_files);
    watch.assert_quiet("restoring deleted files");

    // The restored folder is watched again.
    let model = models.join(&model_files[0]);
    let text = std::fs::read_to_string(&model).expect("read");
    std::fs::write(&model, format!("{text}# edited\n")).expect("hand edit");
    let expected = format!("! blocked (modified) src/demo/models/{}", model_files[0]);
    watch.wait_for("the hand-edit report", |stream, line| {
        stream == Stream::Out && line == expected
    });

    let (status, _) = watch.interrupt();
    assert!(status.success(), "SIGINT exits 0, got {status:?}");
}

#[test]
fn json_events_are_one_object_per_line() {
    let dir = project();
    let manifest = dir.path().join("restack.kdl");
    let mut watch = Watch::start(dir.path(), &["--json-events"], &[]);
    save_vim(&manifest, &format!("{MANIFEST}{BYE}"));
    let line = watch.wait_for("a reconciled event", |stream, line| {
        stream == Stream::Out && line.contains("\"reconciled\"")
    });
    let event: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
    assert_eq!(event["v"], 1);
    assert!(event["ms"].as_f64().is_some(), "{event}");
    let created = event["created"].as_array().expect("created paths");
    assert!(
        created.contains(&serde_json::json!("src/demo/functions/bye.py")),
        "{event}"
    );
    let (status, all) = watch.stop_with("-TERM");
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");
    for (stream, line) in &all {
        if *stream == Stream::Out {
            serde_json::from_str::<serde_json::Value>(line).expect("every stdout line is JSON");
        }
    }
}

#[cfg(unix)]
#[test]
fn run_restarts_the_service_after_a_reconcile_and_stops_it_on_exit() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = project();
    let root = dir.path();
    let manifest = root.join("restack.kdl");
    let tools = tempfile::tempdir().expect("temp dir");
    let pids = tools.path().join("pids");
    let python: PathBuf = tools.path().join("python");
    std::fs::write(
        &python,
        "#!/bin/sh\n# A stand-in for the project's Python: records its pid and stays up.\necho \"$$\" >> \"$RESTACK_TEST_PIDS\"\necho \"service up $*\"\nexec sleep 600\n",
    )
    .expect("script written");
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let python_arg = python.to_string_lossy().into_owned();
    let mut watch = Watch::start(
        root,
        &["--run", "--python", &python_arg, "--grace", "2000"],
        &[("RESTACK_TEST_PIDS", &pids)],
    );
    watch.wait_for("the service's output", |stream, line| {
        stream == Stream::Out && line == "[service] service up -m demo.service"
    });
    let read_pids = || -> Vec<u32> {
        std::fs::read_to_string(&pids)
            .unwrap_or_default()
            .lines()
            .map(|it| it.trim().parse().expect("a pid"))
            .collect()
    };
    let first = read_pids();
    assert_eq!(first.len(), 1, "one service started: {first:?}");
    assert!(is_alive(first[0]));

    // A reconcile that writes files restarts it.
    save_rename_over(&manifest, &format!("{MANIFEST}{BYE}"));
    let line = watch.reconcile_line();
    assert!(line.contains("created"), "{line}");
    watch.wait_for("the restarted service's output", |stream, line| {
        stream == Stream::Out && line == "[service] service up -m demo.service"
    });
    let both = read_pids();
    assert_eq!(both.len(), 2, "restarted once: {both:?}");
    assert_ne!(both[0], both[1]);
    assert!(!is_alive(both[0]), "the old service is gone");
    assert!(is_alive(both[1]), "the new service runs");

    // A comment-only save writes nothing: no restart.
    save_rename_over(&manifest, &format!("{MANIFEST}{BYE}// nothing\n"));
    let line = watch.reconcile_line();
    assert!(line.starts_with("no changes ("), "{line}");
    watch.listen(QUIET);
    assert_eq!(read_pids().len(), 2, "no restart without written files");

    let (status, all) = watch.interrupt();
    assert!(status.success(), "SIGINT exits 0, got {status:?}");
    let stopped = format!("[service] stopped (pid {})", both[1]);
    assert!(all.iter().any(|(_, line)| *line == stopped), "{all:?}");
    assert!(!is_alive(both[1]), "the service is stopped on exit");
}
