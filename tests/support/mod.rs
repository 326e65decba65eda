//! The builder behind tests/cli.rs: a temp project, the real `restack` binary run in it, and
//! assertions on exit codes, printed text and file bytes. Must not call the library: every
//! outcome is observed through the binary and the disk, as a user would.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_restack");

/// The embedded default example (`restack new` writes it).
pub(crate) const BLOG: &str = include_str!("../../restack.kdl.example");

/// A project in a fresh temp dir. `root` is where the manifest lives.
pub(crate) struct Test {
    _dir: TempDir,
    root: PathBuf,
}

impl Test {
    /// An empty project directory (`<tmp>/demo`).
    pub(crate) fn new() -> Test {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("demo");
        std::fs::create_dir_all(&root).expect("mkdir demo");
        Test { _dir: dir, root }
    }

    /// An empty project directory in memory when the system has one (`/dev/shm`), else like
    /// [`Test::new`]. For the big crash and lock tests: a SIGKILL does not care whether the disk
    /// was synced, and thousands of fsyncs on a shared disk would only slow the test down.
    pub(crate) fn scratch() -> Test {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).expect("temp dir in /dev/shm")
        } else {
            tempfile::tempdir().expect("temp dir")
        };
        let root = dir.path().join("demo");
        std::fs::create_dir_all(&root).expect("mkdir demo");
        Test { _dir: dir, root }
    }

    /// `restack new blog` in a fresh temp dir (asserted to exit 0); the project is `<tmp>/blog`.
    pub(crate) fn blog() -> Test {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("blog");
        let test = Test { _dir: dir, root };
        run_in(test.root.parent().expect("tmp"), ["new", "blog"])
            .status(0)
            .stdout_contains("+ create  src/blog/registry.py");
        test
    }

    /// Writes `restack.kdl`.
    pub(crate) fn manifest(self, text: &str) -> Test {
        self.write("restack.kdl", text);
        self
    }

    /// Writes a file (the user's hand).
    pub(crate) fn file(self, rel: &str, text: &str) -> Test {
        self.write(rel, text);
        self
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|err| panic!("read `{rel}`: {err}"))
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let full = self.path(rel);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        // A plain (non-atomic) write: the tests play the user's editor here.
        let mut file =
            std::fs::File::create(&full).unwrap_or_else(|err| panic!("create `{rel}`: {err}"));
        file.write_all(text.as_bytes())
            .unwrap_or_else(|err| panic!("write `{rel}`: {err}"));
    }

    /// Replaces the one occurrence of `from` in `rel` with `to` (panics unless there is exactly
    /// one, so an edit never silently misses).
    pub(crate) fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur exactly once in `{rel}`:\n{text}"
        );
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Runs `restack ARGS` in the project root.
    pub(crate) fn run<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        run_in(&self.root, args)
    }

    /// Runs `restack ARGS` in the project root with the environment variables `env` set too.
    pub(crate) fn run_with_env<I, S>(&self, args: I, env: &[(&str, &Path)]) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|it| it.as_ref().to_owned()).collect();
        let mut command = command(&self.root, &args);
        command.envs(env.iter().copied());
        outcome(&args, &command.output().expect("run restack"))
    }

    /// Starts `restack ARGS` in the project root without waiting (output discarded).
    pub(crate) fn spawn<I, S>(&self, args: I) -> Child
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|it| it.as_ref().to_owned()).collect();
        command(&self.root, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn restack")
    }

    /// Starts `restack ARGS` with its output captured, for `wait_with_output`.
    pub(crate) fn spawn_captured<I, S>(&self, args: I) -> Child
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|it| it.as_ref().to_owned()).collect();
        command(&self.root, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn restack")
    }

    /// The relative `/` path of every file below the root (dot-folders included), unread.
    pub(crate) fn paths(&self) -> Vec<String> {
        walkdir::WalkDir::new(&self.root)
            .into_iter()
            .map(|entry| entry.expect("walk"))
            .filter(|entry| entry.file_type().is_file())
            .map(|entry| relative(&self.root, entry.path()))
            .collect()
    }

    /// Every file below the root (dot-folders included), by relative `/` path.
    pub(crate) fn tree(&self) -> BTreeMap<String, Vec<u8>> {
        tree(&self.root)
    }
}

fn run_in<I, S>(dir: &Path, args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let args: Vec<String> = args.into_iter().map(|it| it.as_ref().to_owned()).collect();
    let output = command(dir, &args).output().expect("run restack");
    outcome(&args, &output)
}

fn outcome(args: &[String], output: &std::process::Output) -> Outcome {
    Outcome {
        args: args.join(" "),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn command(dir: &Path, args: &[String]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// Every file below `root`, by relative `/` path.
pub(crate) fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = relative(root, entry.path());
            files.insert(rel, std::fs::read(entry.path()).expect("read"));
        }
    }
    files
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .expect("below root")
        .to_string_lossy()
        .replace('\\', "/")
}

/// Panics with the paths where two trees differ.
pub(crate) fn assert_same_tree(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) {
    let differ: Vec<&String> = a
        .keys()
        .chain(b.keys())
        .filter(|rel| a.get(*rel) != b.get(*rel))
        .collect();
    assert!(differ.is_empty(), "the trees differ at {differ:?}");
}

/// The paths whose bytes differ between two trees (added, removed or changed).
pub(crate) fn changed_paths(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> std::collections::BTreeSet<String> {
    before
        .keys()
        .chain(after.keys())
        .filter(|rel| before.get(*rel) != after.get(*rel))
        .cloned()
        .collect()
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Outcome {
    args: String,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Outcome {
    fn context(&self) -> String {
        format!(
            "`restack {}` exited {:?}\n--- stdout\n{}--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code.
    #[track_caller]
    pub(crate) fn status(self, code: i32) -> Outcome {
        assert_eq!(self.code, Some(code), "{}", self.context());
        self
    }

    #[track_caller]
    pub(crate) fn stdout_contains(self, needle: &str) -> Outcome {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks `{needle}`\n{}",
            self.context()
        );
        self
    }

    #[track_caller]
    pub(crate) fn stderr_contains(self, needle: &str) -> Outcome {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks `{needle}`\n{}",
            self.context()
        );
        self
    }

    /// Asserts stdout has a line equal to `line` (trailing spaces ignored).
    #[track_caller]
    pub(crate) fn stdout_line(self, line: &str) -> Outcome {
        assert!(
            self.stdout.lines().any(|it| it.trim_end() == line),
            "stdout has no line `{line}`\n{}",
            self.context()
        );
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON: {err}\n{}", self.context()))
    }
}
