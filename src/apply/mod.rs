//! Apply: the only writer. Carries out a [`Plan`] under the project lock, atomically per file,
//! with a journal that makes an interrupted apply recoverable. Decides nothing itself: every side
//! effect is a change of the plan.
//!
//! # Steps
//!
//! 1. Take the exclusive lock `.restack/lock` (bounded wait; [`ApplyError::Locked`]). See
//!    [`lock`] for what the lock does not protect against.
//! 2. If `.restack/journal.json` exists, a previous apply was interrupted: its finished writes are
//!    folded into the state (they are restack's own bytes, not hand edits), the merge bases it was
//!    about to store are stored, the state is written, leftover temp files are removed and the
//!    journal is deleted. [`Applied::recovered`] reports it.
//! 3. Check the plan is still true, writing nothing otherwise ([`ApplyError::Stale`]): the manifest
//!    hash equals [`ApplyOptions::manifest`], the state's fingerprint equals the one the plan was
//!    made against, and every file to write or delete still has the plan's `before` hash (and
//!    every path is safe: no symlink anywhere below the root).
//! 4. Write the journal: every intended write with its before/after hash, the bases to store and
//!    the next state. It is durable before any file changes; when nothing is deleted, it is
//!    written while step 5 writes its temp files, and step 5 waits for it before its first rename.
//! 5. Write each file atomically ([`write`]), delete orphans (and directories they leave empty).
//! 6. Store the merge bases of scaffolds in `.restack/base/`.
//! 7. Put `.restack/state.json` in place atomically (its new text was written and fsynced while
//!    the files of step 5 were, and only now replaces the old), then delete the journal without
//!    waiting for the deletion to be durable: a journal that comes back after a crash folds into
//!    the state just written. Meanwhile the bases no scaffold needs any more are looked for; they
//!    are removed last (they belong to no state: one a crash leaves is found by the next apply).
//!
//! Blocked changes are skipped, not fatal: every other change is applied and the blocked paths
//! are listed in [`Applied::blocked`] (the CLI exits 1). Their files and state entries stay as
//! they were.
//!
//! # Atomicity
//!
//! Each file is replaced atomically (see [`write`]): a crash leaves it old or new, never torn. The
//! set is covered by the journal: killed at any instant, an apply leaves every file old or new,
//! and the next run (`State::load` in memory, `apply` on disk) recognises the new ones by their
//! journaled after-hash, so nothing it wrote is ever reported as a hand edit; what it did not get
//! to is simply planned again.

pub mod lock;
mod sweep;
pub mod write;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::plan::journal::{JOURNAL_FILE, Journal, JournalRef};
use crate::plan::path::{self, PathError};
use crate::plan::{
    Action, BASE_DIR, Change, Hash, Plan, STATE_DIR, STATE_FILE, State, StateCache, StateError,
    Text,
};

/// How to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// The hash of the manifest as it is now; a plan made from other bytes is stale.
    pub manifest: Hash,
    /// How long to wait for another apply to release the lock.
    pub lock_timeout: Duration,
}

impl ApplyOptions {
    /// Options with the default lock wait (10 s).
    pub fn new(manifest: Hash) -> ApplyOptions {
        ApplyOptions {
            manifest,
            lock_timeout: Duration::from_secs(10),
        }
    }
}

/// What an apply did, path by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub merged: Vec<String>,
    pub deleted: Vec<String>,
    /// Left untouched because blocked (exit status 1 at the CLI).
    pub blocked: Vec<String>,
    /// An interrupted apply was found and completed first.
    pub recovered: bool,
    /// `.restack/state.json` changed.
    pub state_written: bool,
}

/// Why a plan is stale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    #[error("the manifest changed since the plan was made")]
    Manifest,
    #[error("restack's state changed since the plan was made (another apply ran)")]
    State,
    #[error("`{path}` changed since the plan was made")]
    File { path: String },
}

/// Apply could not do its job. Exit status 2 at the CLI; nothing of the plan was written unless
/// the error is `Io` during writing, which the journal covers.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "another restack is applying in this project (`{}` held for {waited:?}); try again when it finishes",
        path.display()
    )]
    Locked { path: PathBuf, waited: Duration },
    #[error("stale plan: {0}; plan again")]
    Stale(#[from] Stale),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Path(#[from] PathError),
    /// A text the plan did not hold could not be rendered again as planned: a bug in restack.
    #[error("cannot render `{path}` again: {message}; this is a bug in restack, please report it")]
    Render { path: String, message: String },
    #[error("cannot write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ApplyError {
    let path = path.into();
    move |source| ApplyError::Io { path, source }
}

/// Carries out `plan` in the project at `root`. See the module docs.
pub fn apply(root: &Path, plan: &Plan, options: &ApplyOptions) -> Result<Applied, ApplyError> {
    let lock = lock::acquire(root, options.lock_timeout)?;
    apply_locked(root, plan, options, &lock)
}

/// Renders again the text of a path that a plan does not hold ([`Text::Rendering`]): `None` when
/// the project has no such file, else the text or why it could not be rendered.
pub type Renderings<'a> = &'a (dyn Fn(&str) -> Option<Result<String, String>> + Sync);

/// The texts a plan does not hold ([`Text::Rendering`]), rendered again as apply writes them, in
/// the order the renderer makes them most cheaply: each text is asked for once, either by path
/// ([`Rerender::render`]: the few a journal needs before anything is written) or as the next one
/// ([`Rerender::next`]: the texts written, which are therefore never all in memory, and neither
/// is what it takes to render them).
pub trait Rerender: Sync {
    /// The text of `path`: `None` when the project has no such file, else the text or why it
    /// could not be rendered.
    fn render(&self, path: &str) -> Option<Result<String, String>>;
    /// The next text not yet asked for, with its path; `None` when there is none left.
    fn next(&self) -> Option<(String, Result<String, String>)>;
    /// Whether [`Rerender::next`] makes every text not asked for by path; when not, apply asks
    /// for each by path.
    fn makes_all(&self) -> bool;
}

/// [`Renderings`] as a [`Rerender`] that only renders by path.
struct ByPath<'a>(Renderings<'a>);

impl Rerender for ByPath<'_> {
    fn render(&self, path: &str) -> Option<Result<String, String>> {
        (self.0)(path)
    }

    fn next(&self) -> Option<(String, Result<String, String>)> {
        None
    }

    fn makes_all(&self) -> bool {
        false
    }
}

/// [`apply`] for a caller that already holds the project's lock, typically because it made the
/// plan under it: a plan made before the lock is taken goes stale whenever another apply runs
/// first, while one made under it cannot. `options.lock_timeout` is not used.
pub fn apply_locked(
    root: &Path,
    plan: &Plan,
    options: &ApplyOptions,
    lock: &lock::Lock,
) -> Result<Applied, ApplyError> {
    apply_rendering(root, plan, options, lock, &|_| None)
}

/// [`apply_locked`] of a plan made from a rendering of hashes only: each text it does not hold is
/// rendered again by `renderings` when it is written (on the threads that make the bytes, so the
/// texts of a project are never all in memory), and must hash as the plan says, or nothing more
/// is written ([`ApplyError::Render`]).
pub fn apply_rendering(
    root: &Path,
    plan: &Plan,
    options: &ApplyOptions,
    lock: &lock::Lock,
    renderings: Renderings<'_>,
) -> Result<Applied, ApplyError> {
    apply_rerendering(root, plan, options, lock, &ByPath(renderings))
}

/// [`apply_rendering`] with the texts the plan does not hold taken from `rerender` in its own
/// order (see [`Rerender`]); one it does not make is an error ([`ApplyError::Render`]) and
/// nothing is written.
pub fn apply_rerendering(
    root: &Path,
    plan: &Plan,
    options: &ApplyOptions,
    _lock: &lock::Lock,
    rerender: &dyn Rerender,
) -> Result<Applied, ApplyError> {
    apply_with(root, plan, options, rerender, None)
}

/// What [`apply_cached`] keeps from one apply to the next.
#[derive(Debug, Default)]
pub struct ApplyCache {
    /// The state as last read or written.
    pub state: StateCache,
    /// The folders of merge bases as last swept (see [`sweep`]).
    sweep: sweep::SweepCache,
    /// The folders already cleaned of temp files an interrupted apply left. An apply of this
    /// process removes its own temp files even when it fails, so a folder needs cleaning once;
    /// one that another restack killed mid-apply leaves meanwhile is cleaned by the next apply
    /// without this cache (`restack apply`, or `watch` started again).
    cleaned: BTreeSet<PathBuf>,
    /// Where the files an apply replaces wait to be freed (see [`write::Trash`]), until
    /// [`ApplyCache::empty_trash`]. `None` until the first apply, and where it cannot be made.
    trash: Option<write::Trash>,
}

/// The trash of [`ApplyCache`], relative to the project root: in the cache folder, which git
/// ignores.
pub const TRASH_DIR: &str = ".restack/cache/trash";

impl ApplyCache {
    /// Frees the files the applies since the last call replaced (for when nobody waits). Best
    /// effort: what stays is freed next time.
    pub fn empty_trash(&self) {
        if let Some(trash) = &self.trash {
            let _ = trash.empty();
        }
    }
}

/// [`apply`] for a long-running caller (`watch`) that keeps `cache` between applies: the state
/// is loaded through it ([`State::load_cached`]) and the next state's text is built from the
/// entries it already knows ([`StateCache::text`]), so an apply that changes a few files does
/// not parse and serialize the whole state; and only the folders of merge bases that changed are
/// listed to find the bases nobody needs ([`sweep`]). Writes exactly what [`apply`] writes.
pub fn apply_cached(
    root: &Path,
    plan: &Plan,
    options: &ApplyOptions,
    cache: &mut ApplyCache,
) -> Result<Applied, ApplyError> {
    let _lock = lock::acquire(root, options.lock_timeout)?;
    if cache.trash.is_none() {
        // Never through a symlink (see `plan::path`): the trash holds names of the project's
        // files.
        cache.trash = crate::record::ignore_cache(root)
            .ok()
            .and_then(|()| path::resolve_unchecked(root, TRASH_DIR).ok())
            .and_then(|dir| write::Trash::new(dir).ok());
    }
    apply_with(root, plan, options, &ByPath(&|_| None), Some(cache))
}

fn apply_with(
    root: &Path,
    plan: &Plan,
    options: &ApplyOptions,
    rerender: &dyn Rerender,
    mut cache: Option<&mut ApplyCache>,
) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    let (state, fingerprint) = load_state(root, cache.as_deref_mut().map(|it| &mut it.state))?;
    if state.interrupted {
        finish_recovery(root, &state)?;
        applied.recovered = true;
        if let Some(cache) = cache.as_deref_mut() {
            *cache = ApplyCache::default();
        }
    }

    // 3. Is the plan still true? Nothing is written before this passes.
    let targets = targets_if_current(root, plan, options, fingerprint)?;

    // 4. The journal, before any file is touched.
    let (bases, written_bases) = journal_of(plan, rerender)?;
    // The merge bases stored with their files are written through safe paths too.
    for rel in &written_bases {
        path::resolve_unchecked(root, &format!("{BASE_DIR}/{rel}"))?;
    }
    let journal = JournalRef {
        changes: &plan.changes,
        bases: &bases,
        written_bases: &written_bases,
        state: &plan.next,
        base: &state,
    };
    let journal_path = path::resolve_unchecked(root, JOURNAL_FILE)?;
    let needs_journal = !targets.is_empty() || !journal.bases.is_empty();
    let write_journal = || {
        write::write_atomic_with(&journal_path, |out| journal.write_json(out))
            .map_err(io_at(&journal_path))
    };
    // The journal must be durable before any file changes. Without deletions (which come before
    // the batch, see below) it is written while the batch writes its temp files, and the batch
    // waits for it before its first rename; otherwise it is written first.
    let deletes = targets.iter().any(|it| it.action == Action::Delete);
    if needs_journal && deletes {
        write_journal()?;
    }
    let journal_job = (needs_journal && !deletes).then_some(write_journal);

    // 5. The files: deletions first (in path order, so a file that becomes a directory is gone
    // before the directory is made), then every write in one batch (see `write_groups_from`),
    // a merge base that is the text written going with its file (renamed after every file).
    // Full paths are made when needed, not kept: every one was resolved (checked) above.
    // With restack's own folders: a killed apply may have left a temp file of the state, the
    // journal or the render record (a cache: a concurrent save that loses its temp file to this
    // only fails to save).
    let mut dirs = BTreeSet::from([root.join(STATE_DIR), root.join(crate::record::CACHE_DIR)]);
    let mut batch: Vec<&Change> = Vec::new();
    for change in &targets {
        let full = path::join(root, &change.path);
        if let Some(dir) = full.parent()
            && !dirs.contains(dir)
        {
            dirs.insert(dir.to_path_buf());
        }
        match change.action {
            Action::Create | Action::Update | Action::Merge => batch.push(change),
            Action::Delete => write::remove(root, &full).map_err(io_at(&full))?,
            Action::Keep | Action::Blocked(_) => {}
        }
    }
    let base_of = |rel: &str| path::join(root, &format!("{BASE_DIR}/{rel}"));
    let paths = |change: &&Change| {
        let mut paths = vec![path::join(root, &change.path)];
        if journal.written_bases.contains(change.path.as_str()) {
            paths.push(base_of(&change.path));
        }
        paths
    };
    // Temp files an interrupted apply left, before this one makes its own.
    for dir in &dirs {
        let cleaned = cache.as_deref().map(|it| &it.cleaned);
        if cleaned.is_some_and(|it| it.contains(dir)) {
            continue;
        }
        write::clean_temp_files(dir).map_err(io_at(dir))?;
        if let Some(cache) = cache.as_deref_mut() {
            cache.cleaned.insert(dir.clone());
        }
    }
    let (mut state_cache, sweep_cache, trash) = match cache {
        Some(cache) => (
            Some(&mut cache.state),
            Some(&mut cache.sweep),
            cache.trash.as_ref(),
        ),
        None => (None, None, None),
    };
    let journal_file = needs_journal.then_some(journal_path.as_path());
    let written = while_sweeping(root, &plan.next, sweep_cache, || {
        // 6. The bases (while the state's file may still be on its way).
        let bases = || store_bases(root, journal.bases, trash);
        let (state_file, next_text) = write_batch_and_state(
            root,
            &batch,
            (paths, rerender, trash),
            journal_job,
            bases,
            &plan.next,
            state_cache.as_deref_mut(),
        )?;
        // 7. The state, then the journal.
        record_state(
            root,
            &plan.next,
            (state_file, next_text),
            journal_file,
            (state_cache, trash),
        )
    });
    applied.state_written = written?;
    drop(batch);
    applied.list(&targets, plan);
    Ok(applied)
}

/// Runs `job` (the writes of an apply) while the merge bases no scaffold of `next` needs are
/// looked for on another thread; when it succeeded, removes them. They belong to no state, so
/// they are removed last, and one that a crash leaves behind is only found by the next sweep. A
/// base the job stores is one `next` needs, so what the listing sees of it (not there yet, a
/// temp file, the file) makes no difference.
fn while_sweeping<T>(
    root: &Path,
    next: &State,
    cache: Option<&mut sweep::SweepCache>,
    job: impl FnOnce() -> Result<T, ApplyError>,
) -> Result<T, ApplyError> {
    let base_root = root.join(BASE_DIR);
    let (done, found) = std::thread::scope(|scope| {
        let sweep = scope.spawn(|| {
            sweep::stale_bases(&base_root, next, cache, SystemTime::now())
                .map_err(io_at(&base_root))
        });
        let done = job();
        let found = sweep
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (done, found)
    });
    let done = done?;
    remove_bases(root, found?)?;
    Ok(done)
}

/// Puts the next state's file (`prepared`, when it changed; `text`, the text the cache made of
/// it) in place and removes the `journal` (when one was written). Returns whether `state.json`
/// was written.
fn record_state(
    root: &Path,
    next: &Arc<State>,
    (prepared, text): (Option<write::Prepared>, Option<Vec<u8>>),
    journal: Option<&Path>,
    (cache, trash): (Option<&mut StateCache>, Option<&write::Trash>),
) -> Result<bool, ApplyError> {
    let written = prepared.is_some();
    if let Some(prepared) = prepared {
        prepared
            .persist(trash)
            .map_err(io_at(root.join(STATE_FILE)))?;
    }
    if let (Some(cache), Some(text)) = (cache, text) {
        cache.wrote(&root.join(STATE_FILE), text, Arc::clone(next));
    }
    // The state is in place: were the journal to come back after a crash, it would fold into
    // this very state, so its removal need not be waited for.
    if let Some(journal) = journal {
        match trash {
            Some(trash) => trash.remove(journal),
            None => write::remove_unsynced(journal),
        }
        .map_err(io_at(journal))?;
    }
    Ok(written)
}

/// The next state's file, written and fsynced but not in place ([`write::Prepared`]); `None`
/// when `state.json` already holds it.
fn prepare_state(root: &Path, next: &State) -> Result<Option<write::Prepared>, ApplyError> {
    let full = path::resolve_unchecked(root, STATE_FILE)?;
    // Compared by hash and written as it is serialized: the state of a large project is never
    // held as text.
    if std::fs::read(&full).is_ok_and(|old| Hash::of(old) == next.fingerprint()) {
        return Ok(None);
    }
    let prepared = write::prepare_atomic_with(&full, |out| next.write_json(out));
    prepared.map(Some).map_err(io_at(&full))
}

/// [`prepare_state`] through `cache`, which makes the file's text from the texts of the entries
/// it has seen (returned too) and knows the text of the file when it read it under this lock.
fn prepare_state_cached(
    root: &Path,
    next: &State,
    cache: &mut StateCache,
) -> Result<(Option<write::Prepared>, Vec<u8>), ApplyError> {
    let full = path::resolve_unchecked(root, STATE_FILE)?;
    let text = cache.text(next);
    let same = match cache.known_text() {
        Some(known) => known == text,
        None => std::fs::read(&full).is_ok_and(|old| old == text),
    };
    if same {
        return Ok((None, text));
    }
    let prepared = write::prepare_atomic_with(&full, |out| out.write_all(&text));
    prepared.map(|it| (Some(it), text)).map_err(io_at(&full))
}

/// [`write_batch`], then `bases`, while the next state's file is made (through `cache`, when
/// given, which also returns its text), written and fsynced ([`prepare_state`]): its fsync need
/// not wait for theirs. It replaces `state.json` only later, after every file and base is in
/// place. `journal`, when given, writes the journal meanwhile too; the batch renames nothing
/// before it succeeded.
fn write_batch_and_state(
    root: &Path,
    batch: &[&Change],
    (paths, rerender, trash): (
        impl Fn(&&Change) -> Vec<PathBuf> + Sync,
        &dyn Rerender,
        Option<&write::Trash>,
    ),
    journal: Option<impl FnOnce() -> Result<(), ApplyError> + Send>,
    bases: impl FnOnce() -> Result<(), ApplyError>,
    next: &State,
    cache: Option<&mut StateCache>,
) -> Result<(Option<write::Prepared>, Option<Vec<u8>>), ApplyError> {
    let (written, state_file) = std::thread::scope(|scope| {
        let state_file = scope.spawn(|| match cache {
            Some(cache) => {
                prepare_state_cached(root, next, cache).map(|(it, text)| (it, Some(text)))
            }
            None => prepare_state(root, next).map(|it| (it, None)),
        });
        let journal = journal.map(|job| scope.spawn(job));
        let gate = || {
            journal.map_or(Ok(()), |job| {
                job.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        };
        let written = write_batch(batch, paths, (rerender, trash), gate).and_then(|()| bases());
        let state_file = state_file
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (written, state_file)
    });
    written?;
    state_file
}

/// Writes `batch` (the changes that write a file, sorted by path; `paths` names the files each
/// writes) with [`write::write_groups_from`]: first the texts the plan holds, in order (and,
/// when `rerender` renders by path only, the others, by path), then the texts `rerender` makes,
/// as it makes them. Each rendering must hash as planned.
fn write_batch(
    batch: &[&Change],
    paths: impl Fn(&&Change) -> Vec<PathBuf> + Sync,
    (rerender, trash): (&dyn Rerender, Option<&write::Trash>),
    gate: impl FnOnce() -> Result<(), ApplyError>,
) -> Result<(), ApplyError> {
    let in_order = rerender.makes_all();
    let next = AtomicUsize::new(0);
    let held = || loop {
        let idx = next.fetch_add(1, Ordering::Relaxed);
        let change = batch.get(idx)?;
        if in_order && change.contents == Some(Text::Rendering) {
            continue;
        }
        return Some((idx, bytes_of(change, rerender)));
    };
    // A rendering of a path the batch does not write it to (made for its merge base only) is
    // not needed here.
    let rendered = || loop {
        let (path, text) = rerender.next()?;
        let Ok(idx) = batch.binary_search_by(|change| change.path.as_str().cmp(&path)) else {
            continue;
        };
        let change = batch[idx];
        if change.contents != Some(Text::Rendering) {
            continue;
        }
        let bytes =
            checked(&path, expected_of(change), text).map(|text| Cow::Owned(text.into_bytes()));
        return Some((idx, bytes));
    };
    let missing = |change: &&Change| failed_render(&change.path, "the project has no such file");
    let source = || held().or_else(rendered);
    // A created file is absent (the plan is current): its temp file gets the usual permissions.
    let new = |change: &&Change| change.action == Action::Create;
    write::write_groups_from(batch, (paths, new), source, missing, gate, trash).map_err(|err| {
        match err {
            write::GroupError::Write(err) => batch_error(err),
            write::GroupError::Bytes(err) => err,
        }
    })
}

/// The merge bases of the journal of applying `plan`: a merge base that is the very text
/// written to its path is journaled by name (recovery reads it back from the file); any other is
/// journaled by its text, rendered now if the plan does not hold it (rare: a scaffold kept whose
/// stored base went missing).
fn journal_of<'p>(plan: &'p Plan, rerender: &dyn Rerender) -> Result<Bases<'p>, ApplyError> {
    let mut bases = BTreeMap::new();
    let mut written_bases = BTreeSet::new();
    for change in &plan.changes {
        let Some(base) = &change.base else { continue };
        let Some(entry) = plan.next.files.get(&change.path) else {
            continue;
        };
        if base_is_written(change, base) {
            written_bases.insert(change.path.as_str());
        } else {
            let text = text_of(&change.path, base, entry.hash, rerender)?;
            bases.insert(change.path.clone(), text);
        }
    }
    Ok((bases, written_bases))
}

/// The merge bases of a journal: by text, and by the name of the file written.
type Bases<'p> = (BTreeMap<String, Arc<str>>, BTreeSet<&'p str>);

/// Whether `base` is the very text `change` writes to its file (then stored from it).
fn base_is_written(change: &Change, base: &Text) -> bool {
    if !matches!(
        change.action,
        Action::Create | Action::Update | Action::Merge
    ) {
        return false;
    }
    match (base, &change.contents) {
        (Text::Rendering, Some(Text::Rendering)) => true,
        (Text::Given(base), Some(Text::Given(contents))) => {
            Arc::ptr_eq(base, contents) || base == contents
        }
        _ => false,
    }
}

/// The bytes `change` writes, a text the plan does not hold rendered by path.
fn bytes_of<'a>(change: &'a Change, rerender: &dyn Rerender) -> Result<Cow<'a, [u8]>, ApplyError> {
    match &change.contents {
        Some(Text::Given(text)) => {
            debug_assert_eq!(
                Some(Hash::of(text.as_bytes())),
                change.after,
                "a planned write's contents must match its after-hash"
            );
            Ok(Cow::Borrowed(text.as_bytes()))
        }
        Some(Text::Rendering) => render_again(&change.path, expected_of(change), rerender)
            .map(|text| Cow::Owned(text.into_bytes())),
        None => Ok(Cow::Borrowed(&[])),
    }
}

/// The hash of what `change` writes.
fn expected_of(change: &Change) -> Hash {
    change.after.unwrap_or_else(|| Hash::of(b""))
}

/// The text `text` stands for at `path`, which must hash to `expected`.
fn text_of(
    path: &str,
    text: &Text,
    expected: Hash,
    rerender: &dyn Rerender,
) -> Result<Arc<str>, ApplyError> {
    match text {
        Text::Given(text) => Ok(Arc::clone(text)),
        Text::Rendering => render_again(path, expected, rerender).map(Arc::from),
    }
}

/// The rendering of `path` from `rerender`, which must hash to `expected`.
fn render_again(path: &str, expected: Hash, rerender: &dyn Rerender) -> Result<String, ApplyError> {
    let text = rerender
        .render(path)
        .ok_or_else(|| failed_render(path, "the project has no such file"))?;
    checked(path, expected, text)
}

/// A rendering of `path` (or why it failed), which must hash to `expected`.
fn checked(path: &str, expected: Hash, text: Result<String, String>) -> Result<String, ApplyError> {
    let text = text.map_err(|message| failed_render(path, message))?;
    if Hash::of(text.as_bytes()) != expected {
        return Err(failed_render(
            path,
            "it renders differently from when it was planned",
        ));
    }
    Ok(text)
}

/// The error of a text of `path` that could not be rendered again as planned.
fn failed_render(path: &str, message: impl Into<String>) -> ApplyError {
    ApplyError::Render {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Completes the bookkeeping of an interrupted apply, if there was one, without applying anything
/// else (for commands that only need a settled state, e.g. `watch` on start). Returns whether
/// there was one.
pub fn recover(root: &Path, options: &ApplyOptions) -> Result<bool, ApplyError> {
    let _lock = lock::acquire(root, options.lock_timeout)?;
    let state = State::load(root)?;
    if state.interrupted {
        finish_recovery(root, &state)?;
    }
    Ok(state.interrupted)
}

/// Makes the in-memory fold of a leftover journal permanent (the lock is held).
fn finish_recovery(root: &Path, state: &State) -> Result<(), ApplyError> {
    let journal_path = path::resolve_unchecked(root, JOURNAL_FILE)?;
    if let Ok(text) = std::fs::read_to_string(&journal_path)
        && let Ok(journal) = Journal::from_json(&text)
    {
        for write in &journal.writes {
            let full = path::resolve(root, &write.path)?;
            if let Some(dir) = full.parent() {
                write::clean_temp_files(dir).map_err(io_at(dir))?;
            }
        }
    }
    store_bases(root, &state.pending_bases, None)?;
    remove_stale_bases(root, state)?;
    write_state(root, state)?;
    write::remove(root, &journal_path).map_err(io_at(&journal_path))
}

/// Writes the given merge bases.
fn store_bases(
    root: &Path,
    bases: &std::collections::BTreeMap<String, std::sync::Arc<str>>,
    trash: Option<&write::Trash>,
) -> Result<(), ApplyError> {
    let mut writes = Vec::with_capacity(bases.len());
    for (rel, base) in bases {
        let full = path::resolve_unchecked(root, &format!("{BASE_DIR}/{rel}"))?;
        writes.push((full, base.as_bytes()));
    }
    let writes: Vec<(&Path, &[u8])> = writes
        .iter()
        .map(|(full, bytes)| (full.as_path(), *bytes))
        .collect();
    write::write_all_atomic(&writes, trash).map_err(batch_error)
}

/// Removes every base file that no scaffold of `next` needs.
fn remove_stale_bases(root: &Path, next: &State) -> Result<(), ApplyError> {
    let base_root = root.join(BASE_DIR);
    let stale =
        sweep::stale_bases(&base_root, next, None, SystemTime::now()).map_err(io_at(&base_root))?;
    remove_bases(root, stale)
}

/// Removes the given base files (full paths, below `.restack/base/`). One already gone (a temp
/// file of the apply, seen by a listing made while it wrote) costs nothing ([`write::remove`]).
fn remove_bases(root: &Path, stale: Vec<PathBuf>) -> Result<(), ApplyError> {
    for full in stale {
        write::remove(&root.join(STATE_DIR), &full).map_err(io_at(&full))?;
    }
    Ok(())
}

impl Applied {
    /// Lists the paths of `targets` (the changes applied) by action, and the blocked ones.
    fn list(&mut self, targets: &[&Change], plan: &Plan) {
        for change in targets {
            let list = match change.action {
                Action::Create => &mut self.created,
                Action::Update => &mut self.updated,
                Action::Merge => &mut self.merged,
                _ => &mut self.deleted,
            };
            list.push(change.path.clone());
        }
        self.blocked = plan
            .changes
            .iter()
            .filter(|it| matches!(it.action, Action::Blocked(_)))
            .map(|it| it.path.clone())
            .collect();
    }
}

/// Writes `.restack/state.json` when its text changes.
fn write_state(root: &Path, state: &State) -> Result<(), ApplyError> {
    if let Some(prepared) = prepare_state(root, state)? {
        prepared
            .persist(None)
            .map_err(io_at(root.join(STATE_FILE)))?;
    }
    Ok(())
}

/// The changes of `plan` that touch a file, when the plan is still true: made from the manifest
/// of `options`, against the state of `fingerprint`, every file still as the plan saw it, and
/// its path safe ([`path::resolve`]: no symlink below the root).
fn targets_if_current<'a>(
    root: &Path,
    plan: &'a Plan,
    options: &ApplyOptions,
    fingerprint: Hash,
) -> Result<Vec<&'a Change>, ApplyError> {
    if plan.manifest != options.manifest {
        return Err(Stale::Manifest.into());
    }
    if plan.state != fingerprint {
        return Err(Stale::State.into());
    }
    let mut targets = Vec::new();
    for change in plan.changes.iter().filter(|it| it.action.touches_file()) {
        let full = path::resolve(root, &change.path)?;
        let now = crate::plan::scan_one(root, &change.path)
            .map_err(|err| stale_or_io(err, &full))?
            .map(Hash::of);
        if now != change.before {
            return Err(Stale::File {
                path: change.path.clone(),
            }
            .into());
        }
        targets.push(change);
    }
    Ok(targets)
}

/// The state (through `cache` when there is one) and its fingerprint.
fn load_state(
    root: &Path,
    cache: Option<&mut StateCache>,
) -> Result<(Arc<State>, Hash), StateError> {
    if let Some(cache) = cache {
        return State::load_cached(root, cache);
    }
    let state = State::load(root)?;
    let fingerprint = state.fingerprint();
    Ok((Arc::new(state), fingerprint))
}

fn batch_error(err: write::BatchError) -> ApplyError {
    ApplyError::Io {
        path: err.path,
        source: err.source,
    }
}

fn stale_or_io(err: crate::plan::ScanError, full: &Path) -> ApplyError {
    match err {
        crate::plan::ScanError::Path(err) => ApplyError::Path(err),
        crate::plan::ScanError::NotAFile { path } => Stale::File { path }.into(),
        crate::plan::ScanError::Io { source, .. } => ApplyError::Io {
            path: full.to_path_buf(),
            source,
        },
    }
}
