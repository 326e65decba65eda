//! `apply`, `watch` and a second `apply` at once, through the real binary in temp dirs: writes
//! never interleave, state is never corrupt, user edits survive, and a held lock is reported
//! clearly. Waits are bounded; nothing asserts on timing. Must not call the library.
#![expect(
    clippy::disallowed_methods,
    reason = "the tests play editors and users, whose writes are not restack's atomic writes"
)]

#[allow(
    dead_code,
    reason = "the builder is shared with tests/cli.rs; not every helper is used here"
)]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use support::Test;

/// The longest any single expected line or process may take (a debug build on a busy machine).
const PATIENCE: Duration = Duration::from_mins(1);
/// The debounce the watcher runs with.
const DEBOUNCE_MS: u64 = 50;
/// How long the watcher must print nothing for a round to count as settled.
const QUIET: Duration = Duration::from_millis(DEBOUNCE_MS * 8);
/// What a lost lock race says (exit 2).
const LOCKED: &str = "another restack is applying in this project";

const ONBOARDING: &str = "src/blog/agents/onboarding.py";
const EVENT_FROM: &str = "    event \"email_opened\"\n";
/// A user edit in the body of an existing handler of a scaffold.
const BODY_FROM: &str =
    "        log_event(\"user_signed_up received\", input=event_input.model_dump(mode=\"json\"))\n";
const BODY_TO: &str = "        log_event(\"user_signed_up received\", input=event_input.model_dump(mode=\"json\"))\n        self._state.step = 1  # my business logic\n";

/// A running `restack watch` and everything it printed so far (stdout and stderr merged).
struct Watch {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

fn is_reconcile_line(line: &str) -> bool {
    line.starts_with("reconciled in ")
        || line.starts_with("no changes (")
        || line.starts_with("invalid manifest: ")
        || line.starts_with("reconcile failed: ")
}

impl Watch {
    /// Starts `restack watch --debounce 50` in `root` and waits until it watches.
    fn start(root: &Path, envs: &[(&str, &str)]) -> Watch {
        let mut command = Command::new(env!("CARGO_BIN_EXE_restack"));
        command
            .args([
                "--color",
                "never",
                "watch",
                "--debounce",
                &DEBOUNCE_MS.to_string(),
            ])
            .current_dir(root)
            .env("NO_COLOR", "1")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("restack watch starts");
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        for reader in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    if sender.send(line).is_err() {
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
        watch.wait_for("the watching line", |line| line.starts_with("watching "));
        watch
    }

    /// Waits (bounded) for a line matching `wanted` and returns it.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
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

    /// Waits (bounded) until the watcher prints nothing for [`QUIET`].
    fn settle(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.lines.recv_timeout(QUIET) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("restack watch closed its output\n{}", self.dump())
                }
            }
            assert!(
                Instant::now() < deadline,
                "restack watch never went quiet\n{}",
                self.dump()
            );
        }
    }

    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(
            status.is_none(),
            "restack watch exited: {status:?}\n{}",
            self.dump()
        );
    }

    fn dump(&self) -> String {
        let mut out = String::new();
        for line in &self.seen {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    /// Sends SIGINT (`kill -INT`), waits (bounded) for the exit, and returns its status.
    fn interrupt(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT failed");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "restack watch did not exit after SIGINT\n{}",
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

/// An editor's save: a temp file in the same directory, fsync, rename over the manifest.
fn save_rename_over(path: &Path, text: &str) {
    let temp = path.with_file_name(".restack.kdl.tmp-save");
    let mut file = std::fs::File::create(&temp).expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    file.sync_all().expect("fsync");
    drop(file);
    std::fs::rename(&temp, path).expect("rename over");
}

/// Waits (bounded) for a child started with its output captured.
fn wait_output(mut child: Child) -> Output {
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("killed apply");
            panic!(
                "restack apply did not finish within {PATIENCE:?}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("apply output")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every file below `root` except the lock file.
/// The tree without the lock file and the render record (a cache of the last rendering, which
/// also records the scaffolds' text as last checked: here the user's edit).
fn tree_without_lock(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut tree = support::tree(root);
    tree.remove(".restack/lock");
    tree.retain(|rel, _| !rel.starts_with(".restack/cache/"));
    tree
}

/// No journal and no restack temp file anywhere below `root`.
fn assert_no_leftovers(t: &Test, when: &str) {
    assert!(
        !t.exists(".restack/journal.json"),
        "{when}: a journal was left behind"
    );
    let temps: Vec<String> = t
        .paths()
        .into_iter()
        .filter(|rel| {
            rel.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with(".restack-"))
        })
        .collect();
    assert!(temps.is_empty(), "{when}: temp files left: {temps:?}");
}

#[test]
fn apply_watch_and_apply_at_once_never_corrupt_the_project() {
    let t = Test::blog();
    // A user edit in a scaffold made before the rounds; it must survive every round.
    t.edit(ONBOARDING, BODY_FROM, BODY_TO);
    let root = t.path("restack.kdl").parent().expect("root").to_path_buf();
    let mut watch = Watch::start(&root, &[]);

    for round in 0..4 {
        let manifest = t.read("restack.kdl").replacen(
            EVENT_FROM,
            &format!("{EVENT_FROM}    event \"round_{round}\"\n"),
            1,
        );
        let mark = watch.seen.len();
        save_rename_over(&t.path("restack.kdl"), &manifest);
        let applies = [t.spawn_captured(["apply"]), t.spawn_captured(["apply"])];
        let outputs: Vec<Output> = applies.into_iter().map(wait_output).collect();
        for output in &outputs {
            match output.status.code() {
                Some(0) => {}
                Some(2) => assert!(
                    String::from_utf8_lossy(&output.stderr).contains(LOCKED),
                    "round {round}: exit 2 without the lock message\n{}",
                    describe(output)
                ),
                _ => panic!(
                    "round {round}: unexpected apply outcome\n{}",
                    describe(output)
                ),
            }
            assert!(
                !String::from_utf8_lossy(&output.stderr).contains("panicked"),
                "round {round}: apply panicked\n{}",
                describe(output)
            );
        }

        // The watcher saw the save (a reconcile line of some kind), then goes quiet.
        if !watch.seen[mark..]
            .iter()
            .any(|line| is_reconcile_line(line))
        {
            watch.wait_for("a reconcile line", is_reconcile_line);
        }
        watch.settle();
        watch.assert_running();
        for line in &watch.seen[mark..] {
            assert!(
                !line.contains("panicked") && !line.starts_with("invalid manifest: "),
                "round {round}: watch reported `{line}`\n{}",
                watch.dump()
            );
            if let Some(message) = line.strip_prefix("reconcile failed: ") {
                assert!(
                    message.contains(LOCKED) || message.contains("stale plan"),
                    "round {round}: watch failed for another reason than a lost race: `{line}`"
                );
            }
        }

        t.run(["check"]).status(0);
        let state = t.read(".restack/state.json");
        serde_json::from_str::<serde_json::Value>(&state)
            .unwrap_or_else(|err| panic!("round {round}: state.json is not JSON: {err}"));
        assert_no_leftovers(&t, &format!("round {round}"));

        // The same manifest applied once, alone, in another temp dir: the same tree, but for the
        // user's edit in the scaffold.
        let fresh = Test::new().manifest(&manifest);
        fresh.run(["apply"]).status(0);
        let mut expected = tree_without_lock(&fresh.path(""));
        let onboarding = expected.get_mut(ONBOARDING).expect("fresh onboarding");
        let text = String::from_utf8(onboarding.clone()).expect("UTF-8 onboarding");
        assert_eq!(text.matches(BODY_FROM).count(), 1, "round {round}");
        *onboarding = text.replacen(BODY_FROM, BODY_TO, 1).into_bytes();
        let actual = tree_without_lock(&root);
        support::assert_same_tree(&expected, &actual);
        let onboarding = t.read(ONBOARDING);
        assert!(
            onboarding.contains("self._state.step = 1  # my business logic"),
            "round {round}: the user edit was lost"
        );
        assert!(
            onboarding.contains(&format!("async def round_{round}(")),
            "round {round}: the new handler is missing"
        );
    }

    let status = watch.interrupt();
    assert_eq!(status.code(), Some(0), "restack watch after SIGINT");
}

#[test]
fn watch_reports_a_held_lock_and_reconciles_after_release() {
    let t = Test::blog();
    let root = t.path("restack.kdl").parent().expect("root").to_path_buf();
    let mut watch = Watch::start(&root, &[("RESTACK_LOCK_TIMEOUT", "1s")]);
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(t.path(".restack/lock"))
        .expect("open the lock file");
    lock.lock().expect("take the lock");

    // A save while the lock is held: a failed reconcile naming the lock, nothing written.
    let before = tree_without_lock(&root);
    let first = t.read("restack.kdl").replacen(
        EVENT_FROM,
        &format!("{EVENT_FROM}    event \"while_locked\"\n"),
        1,
    );
    save_rename_over(&t.path("restack.kdl"), &first);
    let line = watch.wait_for("a reconcile line", is_reconcile_line);
    assert!(
        line.starts_with("reconcile failed: ") && line.contains(LOCKED),
        "expected a locked reconcile, got `{line}`\n{}",
        watch.dump()
    );
    // The watcher honours the `lock_timeout` setting (not a built-in default).
    assert!(
        line.contains("/lock` held for 1s"),
        "the wait is not the configured one: `{line}`"
    );
    watch.settle();
    watch.assert_running();
    let mut after = tree_without_lock(&root);
    after.insert("restack.kdl".to_owned(), before["restack.kdl"].clone());
    support::assert_same_tree(&before, &after);
    assert_no_leftovers(&t, "while locked");

    // Released: the next save reconciles both edits.
    lock.unlock().expect("release the lock");
    let second = first.replacen(
        EVENT_FROM,
        &format!("{EVENT_FROM}    event \"after_release\"\n"),
        1,
    );
    save_rename_over(&t.path("restack.kdl"), &second);
    // A reconcile of the first save may still get the lock just released before the second
    // save is seen; every reconcile from now on succeeds, up to one of the second save.
    loop {
        let line = watch.wait_for("a reconcile line", is_reconcile_line);
        assert!(
            line.starts_with("reconciled in "),
            "expected a reconcile after release, got `{line}`\n{}",
            watch.dump()
        );
        if t.read(ONBOARDING).contains("async def after_release(") {
            break;
        }
    }
    watch.settle();
    watch.assert_running();
    t.run(["check"]).status(0);
    assert_no_leftovers(&t, "after release");
    let onboarding = t.read(ONBOARDING);
    assert!(onboarding.contains("async def while_locked("));
    assert!(onboarding.contains("async def after_release("));

    let status = watch.interrupt();
    assert_eq!(status.code(), Some(0), "restack watch after SIGINT");
}
