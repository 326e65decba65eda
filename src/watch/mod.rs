//! `watch`: keeps the project reconciled while the manifest is edited, like a build tool. Owns the
//! loop (watcher, signals, reconcile, hand-edit reports, the `--run` service); prints nothing —
//! every observable step is a [`Report`] handed to the caller.
//!
//! # The loop
//!
//! 1. Stop signals (SIGINT, SIGTERM) are turned into a message first, so a signal never
//!    interrupts a write: the current reconcile finishes, then the loop ends.
//! 2. The watcher is set up, a first reconcile runs, and [`Report::Watching`] says that saves
//!    are being seen (a save during the first reconcile is seen too).
//! 3. Directories are watched, never files (editors replace files on save): the manifest's
//!    directory and every directory holding a managed file, non-recursively, plus the overrides
//!    folder ([`OVERRIDES_DIR`]) recursively. Each event goes through [`classify`] as it comes;
//!    those that mean something are debounced into a batch by the loop (see [`Pending`]).
//! 4. Manifest or override events in a batch reconcile when the *input key* — the blake3 of the
//!    manifest bytes and of every override file — differs from the last one processed, so a
//!    save that changes nothing does nothing and one save is one reconcile however many events
//!    it produced.
//! 5. An event on a managed file compares the file with the hash restack recorded. restack's own
//!    writes match (they are never the manifest either), so they never trigger anything; a hand
//!    edit is reported once per distinct content ([`Report::HandEdit`]) and left alone; a deleted
//!    managed file is reported and restored by a reconcile.
//!
//! While the manifest is invalid nothing is planned or written: the last good project stays on
//! disk, and the next valid save reconciles.
//!
//! # Re-rendering
//!
//! Each reconcile renders the whole project in memory and plans every path: rendering and
//! planning are fast (see DESIGN.md §6 and `docs/watch.md`), and a full plan is what keeps
//! `apply`'s guarantees (hand edits blocked, orphans handled) exact. What is skipped is everything
//! when the input key did not change.

pub mod classify;
mod reconcile;
mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use notify::RecursiveMode;
use walkdir::WalkDir;

pub use classify::{Paths, Trigger, classify};
pub use reconcile::{Outcome, Reconciled, Timings};
pub use service::resolve_python;

use crate::plan::{Hash, State};
use crate::render::Kind;
use service::Service;

/// The template-overrides folder, next to the manifest.
pub const OVERRIDES_DIR: &str = "restack-templates";

/// How to watch.
#[derive(Debug, Clone)]
pub struct Options {
    /// The manifest file.
    pub manifest: PathBuf,
    /// How long the file system must be quiet before a batch of events is handled.
    pub debounce: Duration,
    /// `--run`: run the generated service and restart it after reconciles that wrote files.
    pub run: Option<RunOptions>,
    /// The template-overrides folder, relative to the manifest's directory (the `templates`
    /// setting; default [`OVERRIDES_DIR`]).
    pub overrides: PathBuf,
    /// How long a reconcile waits for the apply lock held by another restack (the `lock_timeout`
    /// setting) before reporting it and leaving the save to the next reconcile.
    pub lock_timeout: Duration,
}

/// How to run the generated service.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The Python interpreter (see [`resolve_python`]).
    pub python: PathBuf,
    /// How long the service gets to exit after SIGTERM before SIGKILL.
    pub grace: Duration,
}

/// Something the caller should show.
#[derive(Debug)]
pub enum Report<'a> {
    /// Saves are being watched from now on.
    Watching {
        manifest: &'a Path,
        debounce: Duration,
    },
    /// A reconcile (valid, invalid, or failed).
    Outcome {
        /// The manifest's name for diagnostics.
        name: &'a str,
        outcome: &'a Outcome,
    },
    /// The manifest was deleted: the last good project stays; saving it again reconciles.
    ManifestMissing { manifest: &'a Path },
    /// A managed file was edited by hand: left alone, blocked until restored or `apply --force`.
    HandEdit { path: &'a str },
    /// A managed file was deleted by hand: a reconcile restores it.
    Missing { path: &'a str },
    /// The watcher reported a problem (events may have been missed).
    WatchError { message: String },
    /// The service was started.
    ServiceStarted { pid: u32 },
    /// The service could not be started.
    ServiceFailed { message: String },
    /// One line the service wrote to stdout or stderr.
    ServiceOutput { line: &'a str },
    /// The service exited on its own (`None`: killed by a signal).
    ServiceExited { pid: u32, code: Option<i32> },
    /// The service was stopped by `watch`.
    ServiceStopped { pid: u32 },
    /// A stop signal arrived; `watch` returns after this.
    Stopping,
}

/// Why `watch` could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot read `{}`: {source}", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot watch `{}`: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("cannot set up the file watcher: {0}")]
    Watcher(#[source] notify::Error),
    #[error("cannot handle stop signals: {0}")]
    Signals(#[source] std::io::Error),
}

/// What reaches the loop, in order.
#[derive(Debug)]
pub(crate) enum Message {
    /// One file-system event (or a problem of the watcher), stamped when the watcher saw it.
    Event(Instant, notify::Result<notify::Event>),
    ServiceOutput(String),
    Stop,
}

/// Watches until SIGINT or SIGTERM, then returns `Ok`. See the module docs.
pub fn watch(options: &Options, report: &mut dyn FnMut(Report<'_>)) -> Result<(), WatchError> {
    let manifest = canonical(&options.manifest)?;
    let root = manifest
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = manifest.file_name().map_or_else(
        || crate::manifest::FILE_NAME.to_owned(),
        |it| it.to_string_lossy().into_owned(),
    );
    let (sender, receiver) = mpsc::channel();
    let signals = signals::listen(sender.clone()).map_err(WatchError::Signals)?;

    let mut looping = Loop {
        paths: Paths {
            manifest: manifest.clone(),
            overrides: root.join(&options.overrides),
            managed: BTreeMap::new(),
        },
        root,
        name,
        debounce: options.debounce,
        lock_timeout: options.lock_timeout,
        last_input: None,
        recorded: Arc::default(),
        parents: None,
        reported: BTreeMap::new(),
        package: None,
        run: options.run.clone(),
        service: None,
        sender: sender.clone(),
        caches: reconcile::Caches::default(),
        pending: Pending::default(),
        unsaved: None,
    };
    if let Ok(state) = State::load(&looping.root) {
        looping.record(Arc::new(state));
    }

    // Watch first, then reconcile: a save during the first reconcile is not missed, and the
    // events of its own writes arrive after it recorded their hashes. Events are stamped as the
    // watcher sees them and debounced by the loop (see `Pending`).
    let events = sender.clone();
    let mut notifier = notify::recommended_watcher(move |event| {
        let _ = events.send(Message::Event(Instant::now(), event));
    })
    .map_err(WatchError::Watcher)?;
    let mut watched = Watched::default();
    let mut problems = watched.sync(&mut notifier, &looping.wanted_dirs(), false);
    if !watched.dirs.contains_key(&looping.root) {
        // Without the manifest's directory there is nothing to watch.
        return Err(problems.pop().unwrap_or_else(|| WatchError::Manifest {
            path: manifest.clone(),
            source: std::io::ErrorKind::NotFound.into(),
        }));
    }
    looping.reconcile(true, report);
    problems.extend(watched.sync(&mut notifier, &looping.wanted_dirs(), false));
    looping.caches.scan.watching(watched.dirs.keys().cloned());
    for problem in problems {
        report(Report::WatchError {
            message: problem.to_string(),
        });
    }
    report(Report::Watching {
        manifest: &manifest,
        debounce: options.debounce,
    });

    looping.run(&receiver, report, |looping, rewatch, report| {
        if !rewatch && !looping.dirs_may_differ(&watched) {
            // Most saves only change files' contents: the directories are the same.
            return;
        }
        for problem in watched.sync(&mut notifier, &looping.wanted_dirs(), rewatch) {
            report(Report::WatchError {
                message: problem.to_string(),
            });
        }
        looping.caches.scan.watching(watched.dirs.keys().cloned());
    });

    report(Report::Stopping);
    looping.save_record();
    looping.stop_service(report);
    signals.close();
    drop(notifier);
    Ok(())
}

/// The state of the loop between messages.
struct Loop {
    paths: Paths,
    root: PathBuf,
    name: String,
    debounce: Duration,
    /// The input key of the last reconcile that ran to a verdict (applied or invalid).
    last_input: Option<Hash>,
    /// The state restack last recorded: every file's kind and the hash it last wrote.
    recorded: Arc<State>,
    /// The directories of the recorded files and merge bases that exist (see
    /// [`Loop::wanted_dirs`]), listed when first needed after the recorded paths changed or a
    /// reconcile created or deleted files.
    parents: Option<BTreeSet<PathBuf>>,
    /// Hand edits already reported, with the content reported.
    reported: BTreeMap<String, Option<Hash>>,
    /// The package of the last valid project (for `--run`).
    package: Option<String>,
    run: Option<RunOptions>,
    /// See [`Options::lock_timeout`].
    lock_timeout: Duration,
    service: Option<Service>,
    sender: Sender<Message>,
    /// What earlier reconciles parsed (manifest nodes, Python renderings), so a reconcile parses
    /// only what changed.
    caches: reconcile::Caches,
    /// What the events since the last batch was handled ask for.
    pending: Pending,
    /// The last reconcile, until its render record is saved (when the loop is next idle).
    unsaved: Option<Box<Reconciled>>,
}

/// How long the loop waits for a message before it looks at the `--run` service.
const SERVICE_POLL: Duration = Duration::from_millis(200);

/// What the events since the last batch was handled ask for. A batch is handled once no event
/// that means something (see [`classify`]) has come for the debounce period: a save's events,
/// and a burst of saves, are one batch. Events that mean nothing (temp files, reads, restack's
/// own `.restack/`) neither join nor delay a batch.
///
/// The loop debounces itself, from the time each event was seen, and wakes exactly when a batch
/// is due; no thread ticks while nothing happens.
#[derive(Debug, Default)]
struct Pending {
    /// When the last event that means something was seen; `None`: no batch is pending.
    last: Option<Instant>,
    /// The manifest or an override may have changed.
    input: bool,
    /// Managed files (project-relative) that may have been edited or deleted by hand.
    generated: BTreeSet<String>,
    /// The watcher lost events: everything is checked.
    rescan: bool,
}

impl Loop {
    fn run(
        &mut self,
        receiver: &Receiver<Message>,
        report: &mut dyn FnMut(Report<'_>),
        mut sync: impl FnMut(&mut Loop, bool, &mut dyn FnMut(Report<'_>)),
    ) {
        loop {
            let due = self.pending.last.map(|at| at + self.debounce);
            let now = Instant::now();
            let message = match due {
                // Quiet long enough: what was already sent may still extend the batch, so it
                // is taken first.
                Some(due) if due <= now => match receiver.try_recv() {
                    Ok(message) => message,
                    Err(TryRecvError::Empty) => {
                        self.handle_pending(report, &mut sync);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => return,
                },
                _ => {
                    let wait = [
                        due.map(|due| due - now),
                        self.service.is_some().then_some(SERVICE_POLL),
                        (self.unsaved.is_some() && due.is_none()).then_some(self.debounce),
                    ]
                    .into_iter()
                    .flatten()
                    .min();
                    let next = match wait {
                        Some(wait) => receiver.recv_timeout(wait),
                        None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    };
                    match next {
                        Ok(message) => message,
                        Err(RecvTimeoutError::Timeout) => {
                            self.poll_service(report);
                            if self.pending.last.is_none() {
                                // Idle: nothing else to do before the next event.
                                self.save_record();
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            match message {
                Message::Stop => return,
                Message::ServiceOutput(line) => report(Report::ServiceOutput { line: &line }),
                Message::Event(_, Err(error)) => {
                    // Changes may have gone unreported: nothing read before is trusted.
                    self.caches.scan.forget_all();
                    report(Report::WatchError {
                        message: error.to_string(),
                    });
                }
                Message::Event(at, Ok(event)) => {
                    if classify::changes_files(&event) {
                        for path in &event.paths {
                            self.caches.scan.forget(path);
                        }
                    }
                    let Some(trigger) = classify(&event, &self.paths) else {
                        continue;
                    };
                    let pending = &mut self.pending;
                    pending.last = pending.last.max(Some(at));
                    match trigger {
                        Trigger::Manifest | Trigger::Overrides => pending.input = true,
                        Trigger::Generated(rel) => {
                            pending.generated.insert(rel);
                        }
                        Trigger::Folder(dir) => pending.generated.extend(
                            self.paths
                                .managed
                                .iter()
                                .filter(|(path, _)| path.starts_with(&dir))
                                .map(|(_, rel)| rel.clone()),
                        ),
                        Trigger::Rescan => pending.rescan = true,
                    }
                }
            }
        }
    }

    /// Handles the events of a batch: hand edits of generated files first, then a reconcile when
    /// an input may have changed or a deleted file needs restoring.
    fn handle_pending(
        &mut self,
        report: &mut dyn FnMut(Report<'_>),
        sync: &mut impl FnMut(&mut Loop, bool, &mut dyn FnMut(Report<'_>)),
    ) {
        let Pending {
            mut input,
            mut generated,
            rescan,
            last: _,
        } = std::mem::take(&mut self.pending);
        if rescan {
            self.caches.scan.forget_all();
            input = true;
            generated.extend(self.paths.managed.values().cloned());
        }
        let restore = self.check_generated(&generated, report);
        if input || restore {
            let ran = self.reconcile(restore, report);
            if ran {
                sync(self, restore, report);
            }
        }
    }

    /// Saves the render record of the last reconcile, if not saved yet, and frees the files the
    /// reconciles since the last call replaced (see [`crate::apply::ApplyCache::empty_trash`]).
    fn save_record(&mut self) {
        if let Some(mut reconciled) = self.unsaved.take() {
            reconciled.save_record(&self.root);
            self.caches.apply.empty_trash();
        }
    }

    /// Reconciles when the input key changed (or when `force`). Returns whether it ran.
    fn reconcile(&mut self, force: bool, report: &mut dyn FnMut(Report<'_>)) -> bool {
        let started = Instant::now();
        let bytes = match self.read_manifest() {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                // Deleted (not mid-save: that was waited for). Keep the last good project; the
                // save that brings it back is an event too.
                if self.last_input.take().is_some() {
                    report(Report::ManifestMissing {
                        manifest: &self.paths.manifest,
                    });
                }
                return false;
            }
            Err(err) => {
                let outcome = Outcome::Failed {
                    message: format!("cannot read `{}`: {err}", self.paths.manifest.display()),
                };
                report(Report::Outcome {
                    name: &self.name,
                    outcome: &outcome,
                });
                self.last_input = None;
                return false;
            }
        };
        let input = input_key(&bytes, &self.paths.overrides);
        if !force && self.last_input == Some(input) {
            return false;
        }
        // A record not saved yet is of an input this reconcile replaces.
        drop(self.unsaved.take());
        let outcome = reconcile::reconcile(
            &self.root,
            &self.name,
            &bytes,
            &self.paths.overrides,
            self.lock_timeout,
            started,
            &mut self.caches,
        );
        report(Report::Outcome {
            name: &self.name,
            outcome: &outcome,
        });
        match outcome {
            Outcome::Applied(reconciled) => {
                self.last_input = Some(input);
                self.record(Arc::clone(&reconciled.plan.next));
                self.package = Some(reconciled.project.package.clone());
                for path in &reconciled.applied.blocked {
                    self.reported.insert(path.clone(), None);
                }
                let wrote_files = reconciled.wrote_files();
                if !(reconciled.applied.created.is_empty() && reconciled.applied.deleted.is_empty())
                {
                    // A directory may have come or gone.
                    self.parents = None;
                }
                // Its render record is saved (and the reconcile freed) once the loop is idle:
                // neither is part of the latency of this save or of the next one.
                self.unsaved = Some(reconciled);
                self.after_reconcile(wrote_files, report);
            }
            Outcome::Invalid { .. } => self.last_input = Some(input),
            Outcome::Failed { .. } => self.last_input = None,
        }
        true
    }

    /// Reads the manifest. An editor that renames the old file away before writing the new one
    /// can leave it missing for a moment, so a missing manifest is read again for up to one
    /// debounce period before it counts as deleted.
    fn read_manifest(&self) -> std::io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.debounce;
        loop {
            match std::fs::read(&self.paths.manifest) {
                Err(err)
                    if err.kind() == std::io::ErrorKind::NotFound && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                result => return result,
            }
        }
    }

    /// Remembers what restack recorded, for hand-edit checks and the directories to watch. What
    /// follows from the paths and kinds alone (the managed paths, the directories) is made again
    /// only when they changed: most saves change only hashes.
    fn record(&mut self, state: Arc<State>) {
        let same_paths = self.recorded.files.len() == state.files.len()
            && self
                .recorded
                .files
                .iter()
                .zip(&state.files)
                .all(|((old, was), (new, is))| old == new && was.kind == is.kind);
        self.recorded = state;
        if same_paths {
            return;
        }
        self.parents = None;
        self.paths.managed = self
            .recorded
            .files
            .iter()
            .filter(|(_, entry)| entry.kind == Kind::Managed)
            .map(|(rel, _)| (self.root.join(rel), rel.clone()))
            .collect();
        self.reported
            .retain(|rel, _| self.paths.managed.values().any(|it| it == rel));
    }

    /// Compares each managed file in `generated` with what restack recorded. Reports hand edits
    /// (once per content) and deletions; returns whether a deleted file needs restoring.
    fn check_generated(
        &mut self,
        generated: &BTreeSet<String>,
        report: &mut dyn FnMut(Report<'_>),
    ) -> bool {
        let mut restore = false;
        for rel in generated {
            let Some((Kind::Managed, recorded)) =
                self.recorded.files.get(rel).map(|it| (it.kind, it.hash))
            else {
                continue;
            };
            match crate::plan::scan_one(&self.root, rel) {
                Ok(Some(bytes)) => {
                    let now = Hash::of(&bytes);
                    // Another `restack apply` may have written it: trust the state on disk.
                    let recorded = if now == recorded {
                        recorded
                    } else {
                        self.reload_recorded(rel).unwrap_or(recorded)
                    };
                    if now == recorded {
                        self.reported.remove(rel);
                    } else if self.reported.get(rel) != Some(&Some(now)) {
                        self.reported.insert(rel.clone(), Some(now));
                        report(Report::HandEdit { path: rel });
                    }
                }
                Ok(None) => {
                    report(Report::Missing { path: rel });
                    restore = true;
                }
                Err(err) => report(Report::WatchError {
                    message: err.to_string(),
                }),
            }
        }
        restore
    }

    /// Reloads the recorded state from disk and returns `rel`'s recorded hash.
    fn reload_recorded(&mut self, rel: &str) -> Option<Hash> {
        let state = State::load(&self.root).ok()?;
        self.record(Arc::new(state));
        self.recorded.files.get(rel).map(|it| it.hash)
    }

    /// The directories to watch: the root, every directory of a recorded file (and of a
    /// scaffold's merge base), the overrides. Events in all but the overrides report hand edits
    /// and tell the scan which files to read again (see [`crate::plan::ScanCache`]).
    ///
    /// The directories of files are looked for only when the recorded paths changed or a
    /// reconcile created or deleted files since they were last looked for (see
    /// [`Loop::dirs_may_differ`]); a directory removed by hand is found by the reconcile that
    /// restores its files, which renews every watch.
    fn wanted_dirs(&mut self) -> BTreeMap<PathBuf, RecursiveMode> {
        let mut dirs = BTreeMap::from([(self.root.clone(), RecursiveMode::NonRecursive)]);
        let parents = self.parents.get_or_insert_with(|| {
            let mut parents = BTreeSet::new();
            for (rel, entry) in &self.recorded.files {
                let full = self.root.join(rel);
                parents.extend(full.parent().map(Path::to_path_buf));
                if entry.kind == Kind::Scaffold {
                    let base = self.root.join(crate::plan::BASE_DIR).join(rel);
                    parents.extend(base.parent().map(Path::to_path_buf));
                }
            }
            parents.retain(|it| it.is_dir());
            parents
        });
        for dir in parents.iter() {
            dirs.insert(dir.clone(), RecursiveMode::NonRecursive);
        }
        if self.paths.overrides.is_dir() {
            dirs.insert(self.paths.overrides.clone(), RecursiveMode::Recursive);
        }
        dirs
    }

    /// Whether [`Loop::wanted_dirs`] may want other directories than `watched`: the directories
    /// of files were dropped since it last listed them, or the overrides came or went.
    fn dirs_may_differ(&self, watched: &Watched) -> bool {
        let overrides = watched.dirs.get(&self.paths.overrides) == Some(&RecursiveMode::Recursive);
        self.parents.is_none() || overrides != self.paths.overrides.is_dir()
    }

    /// Starts the service after the first valid reconcile, restarts it after one that wrote files.
    fn after_reconcile(&mut self, wrote_files: bool, report: &mut dyn FnMut(Report<'_>)) {
        if self.run.is_none() {
            return;
        }
        if self.service.is_some() && !wrote_files {
            return;
        }
        self.stop_service(report);
        self.start_service(report);
    }

    fn start_service(&mut self, report: &mut dyn FnMut(Report<'_>)) {
        let (Some(run), Some(package)) = (&self.run, &self.package) else {
            return;
        };
        match Service::start(&run.python, package, &self.root, &self.sender) {
            Ok(service) => {
                report(Report::ServiceStarted { pid: service.pid() });
                self.service = Some(service);
            }
            Err(err) => report(Report::ServiceFailed {
                message: format!("cannot start `{}`: {err}", run.python.display()),
            }),
        }
    }

    fn stop_service(&mut self, report: &mut dyn FnMut(Report<'_>)) {
        let (Some(service), Some(run)) = (self.service.take(), &self.run) else {
            return;
        };
        let pid = service.pid();
        match service.stop(run.grace) {
            Ok(_) => report(Report::ServiceStopped { pid }),
            Err(err) => report(Report::ServiceFailed {
                message: format!("cannot stop the service (pid {pid}): {err}"),
            }),
        }
    }

    fn poll_service(&mut self, report: &mut dyn FnMut(Report<'_>)) {
        let Some(service) = &mut self.service else {
            return;
        };
        if let Some(status) = service.exited() {
            let pid = service.pid();
            self.service = None;
            report(Report::ServiceExited {
                pid,
                code: status.code(),
            });
        }
    }
}

/// The directories being watched.
#[derive(Default)]
struct Watched {
    dirs: BTreeMap<PathBuf, RecursiveMode>,
}

impl Watched {
    /// Watches what is wanted and no longer what is not. `rewatch` renews every watch (after
    /// files were deleted by hand, a directory may have been removed and recreated). Returns the
    /// directories that could not be watched (e.g. the system's watch limit was reached); the
    /// others are watched regardless.
    fn sync(
        &mut self,
        watcher: &mut impl notify::Watcher,
        wanted: &BTreeMap<PathBuf, RecursiveMode>,
        rewatch: bool,
    ) -> Vec<WatchError> {
        let mut problems = Vec::new();
        let stale: Vec<PathBuf> = self
            .dirs
            .iter()
            .filter(|(dir, mode)| rewatch || wanted.get(*dir) != Some(mode))
            .map(|(dir, _)| dir.clone())
            .collect();
        for dir in stale {
            // A directory that is gone has lost its watch already.
            let _ = watcher.unwatch(&dir);
            self.dirs.remove(&dir);
        }
        for (dir, mode) in wanted {
            if self.dirs.contains_key(dir) {
                continue;
            }
            match watcher.watch(dir, *mode) {
                Ok(()) => {
                    self.dirs.insert(dir.clone(), *mode);
                }
                // Removed between listing and watching: the next reconcile lists it again.
                Err(_) if !dir.is_dir() => {}
                Err(source) => problems.push(WatchError::Watch {
                    path: dir.clone(),
                    source,
                }),
            }
        }
        problems
    }
}

/// The blake3 of the manifest bytes and of every override file (path and bytes, sorted).
fn input_key(manifest: &[u8], overrides: &Path) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(manifest.len() as u64).to_le_bytes());
    hasher.update(manifest);
    if overrides.is_dir() {
        let entries = WalkDir::new(overrides)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|it| it.file_type().is_file());
        for entry in entries {
            let rel = entry.path().strip_prefix(overrides).unwrap_or(entry.path());
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update(&[0]);
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
    }
    Hash::of(hasher.finalize().as_bytes())
}

fn canonical(manifest: &Path) -> Result<PathBuf, WatchError> {
    let error = |source| WatchError::Manifest {
        path: manifest.to_path_buf(),
        source,
    };
    let dir = manifest.parent().filter(|it| !it.as_os_str().is_empty());
    let dir = std::fs::canonicalize(dir.unwrap_or(Path::new("."))).map_err(error)?;
    let file = manifest.file_name().ok_or_else(|| {
        error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file",
        ))
    })?;
    let path = dir.join(file);
    std::fs::metadata(&path).map_err(error)?;
    Ok(path)
}

/// Stop signals as a [`Message::Stop`].
mod signals {
    use std::sync::mpsc::Sender;

    use crate::watch::Message;

    #[cfg(unix)]
    pub(super) struct Listener(signal_hook::iterator::Handle);

    #[cfg(unix)]
    pub(super) fn listen(sender: Sender<Message>) -> std::io::Result<Listener> {
        use signal_hook::consts::signal::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let handle = signals.handle();
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if sender.send(Message::Stop).is_err() {
                    break;
                }
            }
        });
        Ok(Listener(handle))
    }

    #[cfg(unix)]
    impl Listener {
        pub(super) fn close(self) {
            self.0.close();
        }
    }

    /// Without Unix signals, Ctrl-C ends the process the default way.
    #[cfg(not(unix))]
    pub(super) struct Listener;

    #[cfg(not(unix))]
    pub(super) fn listen(_sender: Sender<Message>) -> std::io::Result<Listener> {
        Ok(Listener)
    }

    #[cfg(not(unix))]
    impl Listener {
        pub(super) fn close(self) {}
    }
}
