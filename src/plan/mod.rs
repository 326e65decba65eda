//! Planning: compares the rendered file set with the disk and the recorded state, and decides what
//! `apply` should do with every path. Reads the disk (`scan`, `State::load`); never writes.
//!
//! # The flow
//!
//! ```text
//! State::load(root)                         -> State       (.restack/state.json + pending journal)
//! scan(root, &FileSet, &State)              -> Snapshot    (bytes + blake3 of every path)
//! plan(&FileSet, &Snapshot, &State, &opts)  -> Plan        (pure)
//! display::human / display::json            -> String
//! Plan::to_saved_json / from_saved_json     (plan --out FILE, apply FILE)
//! ```
//!
//! # Ownership rules (the single source of truth)
//!
//! For a path restack renders (`disk` = the file's bytes, `recorded` = the state's hash, `new` =
//! the new rendering):
//!
//! | situation                                   | managed              | scaffold                      |
//! |---------------------------------------------|----------------------|-------------------------------|
//! | file absent                                 | `create`             | `create` (also when the user deleted it) |
//! | `disk == new`                               | `keep` (adopted)     | `keep` (adopted)              |
//! | not in state, `disk != new`                 | `blocked(unowned)`   | `blocked(unowned)`            |
//! | `disk == recorded` (untouched)              | `update`             | `update`                      |
//! | `disk != recorded` (edited)                 | `blocked(modified)`  | rendering unchanged: `keep`; else 3-way merge: `merge` or `blocked(conflict)` |
//!
//! For a scaffold, `recorded` is the hash of the last *rendering* (the merge base), not of the
//! merged text restack may have written since: a scaffold counts as untouched only while it holds
//! no user work. A merge that yields exactly the user's file is a `keep` that only moves the base.
//! When the stored base is missing or does not match its hash, the merge runs against an empty
//! base, which conflicts unless one side is empty: restack never guesses. (When the rendering
//! did not change, the base is known without guessing — it is the rendering — so the file is
//! kept and the base stored again.)
//!
//! A scaffold the user deleted is **recreated** (and reported as `create`): restack is a
//! generator, the file is part of the project's shape (the service imports it), and a deleted
//! file is far more often an accident or a "start over" than a wish to drop the entity, which is
//! done by removing it from the manifest.
//!
//! For a path in the state that restack no longer renders (an orphan): bytes equal to `recorded`
//! → `delete`; edited → `blocked(orphan-edited)`, kept and reported, its state entry kept; already
//! gone → dropped from the state silently.
//!
//! `--force` ([`PlanOptions::force`]) turns `modified`, `unowned` and `conflict` into `update`
//! with the new rendering, and `orphan-edited` into `delete`; the change keeps the overridden
//! reason in [`Change::forced`].
//!
//! Every change names the manifest entity and span that caused it ([`Change::origin`]); an
//! orphan names the entity that used to own it.
//!
//! # Paths
//!
//! Every path (from the file set, the state, a journal or a saved plan) passes [`path::validate`]
//! and, on disk, [`path::resolve`]: relative, `/`-separated, no `..`, nothing inside `.restack/`
//! or `.git/`, no symlink anywhere below the root. A violation is a typed error naming the path.

pub mod display;
pub mod journal;
pub mod path;

mod change;
mod hash;
mod merge;
mod origin;
mod reconcile;
mod saved;
mod scan;
mod state;

pub use change::{Action, Change, Reason, Text};
pub use display::DisplayOptions;
pub use hash::{Hash, HashParseError};
pub use merge::{ConflictHunk, MergeOutcome, merge, merge_with_markers};
pub use origin::Origin;
pub use path::PathError;
pub use reconcile::{
    Hashes, Plan, PlanCache, PlanOptions, Summary, plan, plan_against, plan_cached, plan_unchanged,
    texts_needed,
};
pub use saved::{PLAN_VERSION, SavedPlanError};
pub(crate) use scan::Stamp;
pub(crate) use scan::read_file as scan_one;
pub use scan::{
    Base, OnDisk, ScanCache, ScanError, Snapshot, scan, scan_cached, scan_hashes, scan_hashes_only,
};
pub use state::{
    BASE_DIR, Entry, STATE_DIR, STATE_FILE, STATE_VERSION, State, StateCache, StateError,
};
