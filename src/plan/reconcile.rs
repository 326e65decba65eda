//! `plan`: the pure decision of what to do with every path. Owns the ownership rules (see the
//! `plan` module docs); does no IO.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::plan::change::{Action, Change, Reason, Text};
use crate::plan::hash::Hash;
use crate::plan::merge::{MergeOutcome, merge};
use crate::plan::origin::Origin;
use crate::plan::scan::{Base, OnDisk, Snapshot};
use crate::plan::state::{Entry, State};
use crate::render::{File, FileSet, Kind};

/// Inputs of a plan besides the file set, the disk and the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// The hash of the manifest bytes the file set was rendered from.
    pub manifest: Hash,
    /// `--force`: blocked changes are carried out anyway (and marked as forced).
    pub force: bool,
}

/// What `apply` will do, as data: every change in path order, and the state it will record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The hash of the manifest the plan was made from.
    pub manifest: Hash,
    /// The fingerprint ([`State::fingerprint`]) of the state the plan was made against.
    pub state: Hash,
    /// Whether the plan was made with `--force`.
    pub force: bool,
    /// An interrupted apply was found; `apply` completes its bookkeeping first.
    pub interrupted: bool,
    /// One change per path of the file set and per orphan still on disk, sorted by path.
    pub changes: Vec<Change>,
    /// The state `apply` records when done (shared: `watch` keeps it as the state it wrote).
    pub next: Arc<State>,
}

/// Counts of changes by action, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub merge: usize,
    pub delete: usize,
    pub keep: usize,
    pub blocked: usize,
}

impl Plan {
    /// Counts the changes by action.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Merge => summary.merge += 1,
                Action::Delete => summary.delete += 1,
                Action::Keep => summary.keep += 1,
                Action::Blocked(_) => summary.blocked += 1,
            }
        }
        summary
    }

    /// True when nothing would be written or blocked: the project is in sync (`check` passes).
    pub fn is_in_sync(&self) -> bool {
        self.changes.iter().all(|it| it.action == Action::Keep)
    }

    /// True when some change is blocked (exit status 1 under `apply` and `check`).
    pub fn has_blocked(&self) -> bool {
        self.changes
            .iter()
            .any(|it| matches!(it.action, Action::Blocked(_)))
    }
}

/// Decides, for every path of `files` and `state`, what apply should do. Pure.
pub fn plan(files: &FileSet, snapshot: &Snapshot, state: &State, options: &PlanOptions) -> Plan {
    plan_against(files, snapshot, state, state.fingerprint(), options)
}

/// [`plan`], given the state's [`fingerprint`](State::fingerprint) (see
/// [`State::load_cached`](crate::plan::State::load_cached)).
pub fn plan_against(
    files: &FileSet,
    snapshot: &Snapshot,
    state: &State,
    fingerprint: Hash,
    options: &PlanOptions,
) -> Plan {
    plan_with(files, snapshot, state, fingerprint, options, None)
}

/// What `watch` keeps of its last plans (see [`plan_cached`]): the next states of the last two,
/// and the entries in which the newer differs from the older.
///
/// Most paths keep their state entry from one plan to the next, so a next state is the state
/// with a few entries replaced. A copy of the state's thousands of entries would cost more than
/// the plan itself: instead, the next state of the plan before last, which nobody holds once
/// the last plan was applied, is brought up to date with the entries the last plan replaced
/// and then with those this plan replaces.
#[derive(Debug, Default)]
pub struct PlanCache {
    last: Option<Last>,
}

#[derive(Debug)]
struct Last {
    /// The next state of the plan before last (`None`: taken, or not one this cache made).
    older: Option<Arc<State>>,
    /// The entries `newer` has that `older` does not (`None`: removed), in path order.
    patches: Vec<(String, Option<Entry>)>,
    /// The next state of the last plan.
    newer: Arc<State>,
}

/// [`plan_against`], reusing for the next state the memory of the plan before last (see
/// [`PlanCache`]): the same plan.
pub fn plan_cached(
    files: &FileSet,
    snapshot: &Snapshot,
    state: &State,
    fingerprint: Hash,
    options: &PlanOptions,
    cache: &mut PlanCache,
) -> Plan {
    plan_with(files, snapshot, state, fingerprint, options, Some(cache))
}

fn plan_with(
    files: &FileSet,
    snapshot: &Snapshot,
    state: &State,
    fingerprint: Hash,
    options: &PlanOptions,
    mut cache: Option<&mut PlanCache>,
) -> Plan {
    debug_assert_eq!(fingerprint, state.fingerprint());
    // At most one change per path: sized for the paths rendered and recorded when one set holds
    // the other (no orphan on disk, or nothing rendered that was not recorded), so the Vec of
    // thousands of changes grows only when a plan deletes files.
    let mut changes = Vec::with_capacity(files.files.len().max(state.files.len()));
    // The next state's entries that are not the state's: most paths keep their entry, so the
    // next state is the state with these replaced.
    let mut patches: Vec<(&String, Option<Entry>)> = Vec::new();
    // The snapshot holds the existing files among these paths, and the merge bases of some of
    // them, in the same order: walked along with them rather than searched.
    let mut on_disk = snapshot.files.iter().peekable();
    let mut bases = snapshot.bases.iter().peekable();
    for (rel, file, entry) in super::scan::pairs(files, state) {
        let disk = next_at(&mut on_disk, rel);
        let planned = match file {
            Some(file) => {
                // Only a scaffold has a merge base.
                let base = if file.kind == Kind::Scaffold {
                    next_at(&mut bases, rel)
                } else {
                    None
                };
                Some(plan_rendered(rel, file, disk, entry, base, options.force))
            }
            None => entry.and_then(|entry| plan_orphan(rel, entry, disk, options.force)),
        };
        let (change, record) = match planned {
            Some((change, record)) => (Some(change), record),
            None => (None, None),
        };
        let same = match (&record, entry) {
            (Some(record), Some(entry)) => record == entry,
            (None, None) => true,
            _ => false,
        };
        if !same {
            patches.push((rel, record));
        }
        changes.extend(change);
    }
    // The next plan may find this plan's next state as its state, and this plan's state no
    // longer held by anyone: kept when this cache made it.
    let mut older = None;
    let entries = match cache.as_mut().and_then(|it| it.last.take()) {
        // The state is the next state of the last plan: the state before it, brought up to it,
        // when nobody else holds it.
        Some(last) if std::ptr::eq(state, Arc::as_ptr(&last.newer)) => {
            let entries = match last.older.map(Arc::try_unwrap) {
                Some(Ok(spare)) => {
                    let mut entries = spare.files;
                    patch(
                        &mut entries,
                        last.patches.iter().map(|(rel, it)| (rel, it.clone())),
                    );
                    debug_assert!(entries == state.files, "the state brought up to date");
                    patch(
                        &mut entries,
                        patches.iter().map(|(rel, it)| (*rel, it.clone())),
                    );
                    entries
                }
                _ => patched(&state.files, &patches),
            };
            older = Some(last.newer);
            entries
        }
        _ => patched(&state.files, &patches),
    };
    let next = Arc::new(State {
        manifest: Some(options.manifest),
        files: entries,
        pending_bases: BTreeMap::new(),
        interrupted: false,
    });
    if let Some(cache) = cache {
        cache.last = Some(Last {
            older,
            patches: patches
                .into_iter()
                .map(|(rel, it)| (rel.clone(), it))
                .collect(),
            newer: Arc::clone(&next),
        });
    }
    Plan {
        manifest: options.manifest,
        state: fingerprint,
        force: options.force,
        interrupted: state.interrupted,
        changes,
        next,
    }
}

/// The value at `rel` of an iterator over a map in path order, advanced past every key up to
/// `rel`, each compared once. Called with increasing paths, it walks the map once.
pub(crate) fn next_at<'a, V>(
    it: &mut std::iter::Peekable<std::collections::btree_map::Iter<'a, String, V>>,
    rel: &str,
) -> Option<&'a V> {
    loop {
        let (key, value) = it.peek()?;
        match key.as_str().cmp(rel) {
            Ordering::Less => {
                it.next();
            }
            Ordering::Equal => {
                let value = *value;
                it.next();
                return Some(value);
            }
            Ordering::Greater => return None,
        }
    }
}

/// Puts each of `patches` into `entries` (`None`: removes the path's entry).
fn patch<'a>(
    entries: &mut BTreeMap<String, Entry>,
    patches: impl Iterator<Item = (&'a String, Option<Entry>)>,
) {
    for (rel, record) in patches {
        match (record, entries.get_mut(rel.as_str())) {
            (Some(record), Some(slot)) => *slot = record,
            (Some(record), None) => {
                entries.insert(rel.clone(), record);
            }
            (None, _) => {
                entries.remove(rel.as_str());
            }
        }
    }
}

/// `entries` with each of `patches` (in path order, each path once) put in (`None`: removed).
/// A few patches are put into a copy of the map, which compares no keys but theirs; many (the
/// first apply), merged with it in one walk.
fn patched(
    entries: &BTreeMap<String, Entry>,
    patches: &[(&String, Option<Entry>)],
) -> BTreeMap<String, Entry> {
    if patches.len() <= entries.len() / 16 {
        let mut next = entries.clone();
        patch(
            &mut next,
            patches.iter().map(|(rel, it)| (*rel, it.clone())),
        );
        return next;
    }
    let mut next = Vec::with_capacity(entries.len() + patches.len());
    let mut patches = patches.iter().peekable();
    for (rel, entry) in entries {
        while let Some((added, record)) = patches.next_if(|(it, _)| *it < rel) {
            next.extend(record.clone().map(|record| ((*added).clone(), record)));
        }
        match patches.next_if(|(it, _)| *it == rel) {
            Some((_, record)) => next.extend(record.clone().map(|record| (rel.clone(), record))),
            None => next.push((rel.clone(), entry.clone())),
        }
    }
    next.extend(patches.filter_map(|(rel, record)| Some(((*rel).clone(), record.clone()?))));
    // In path order: collected into a map at once (one comparison per entry to see they are
    // sorted) rather than inserted one by one (a search each).
    next.into_iter().collect()
}

/// What [`plan_unchanged`] knows of the disk: the hash of every file that exists among the
/// rendered and recorded paths, and of the stored merge base of every scaffold in the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashes<'a> {
    pub files: BTreeMap<&'a str, Hash>,
    pub bases: BTreeMap<&'a str, Hash>,
}

/// [`plan`] for a rendering known only by its hashes (`rendered`, from a render record), when
/// that plan changes nothing: every rendered path kept with no merge base to store, every orphan
/// already gone. `None` as soon as some path needs more (a create, an update, a merge, a block, a
/// delete, a base to store), which needs the rendered bytes: the caller then renders and calls
/// [`plan`]. Whenever this returns a plan, [`plan`] returns the same one (proved by tests).
pub fn plan_unchanged(
    rendered: &BTreeMap<String, Entry>,
    disk: &Hashes<'_>,
    state: &State,
    manifest: Hash,
) -> Option<Plan> {
    if state.interrupted || !state.pending_bases.is_empty() {
        return None;
    }
    let mut changes = Vec::with_capacity(rendered.len());
    let mut next = BTreeMap::new();
    for (rel, file) in rendered {
        let on_disk = *disk.files.get(rel.as_str())?;
        let entry = state.files.get(rel);
        let record = if on_disk == file.hash {
            Entry {
                kind: file.kind,
                origin: file.origin.recorded(),
                hash: file.hash,
            }
        } else {
            // Only a scaffold the user edited, whose rendering did not change, is kept.
            let entry = entry?;
            if file.kind != Kind::Scaffold || on_disk == entry.hash || entry.hash != file.hash {
                return None;
            }
            Entry {
                origin: file.origin.recorded(),
                ..entry.clone()
            }
        };
        // A scaffold's merge base must already be stored, and be this rendering.
        if file.kind == Kind::Scaffold {
            let entry = entry.filter(|it| it.kind == Kind::Scaffold)?;
            let base = disk.bases.get(rel.as_str())?;
            if *base != entry.hash || *base != file.hash {
                return None;
            }
        }
        changes.push(Change {
            path: rel.clone(),
            action: Action::Keep,
            kind: file.kind,
            origin: file.origin.clone(),
            before: Some(on_disk),
            after: Some(on_disk),
            forced: None,
            contents: None,
            base: None,
            previous: None,
            conflicts: Vec::new(),
        });
        next.insert(rel.clone(), record);
    }
    // An orphan still on disk is deleted or blocked; one already gone is dropped silently.
    let orphan_on_disk = state
        .files
        .keys()
        .any(|rel| !rendered.contains_key(rel) && disk.files.contains_key(rel.as_str()));
    if orphan_on_disk {
        return None;
    }
    Some(Plan {
        manifest,
        state: state.fingerprint(),
        force: false,
        interrupted: false,
        changes,
        next: Arc::new(State {
            manifest: Some(manifest),
            files: next,
            pending_bases: BTreeMap::new(),
            interrupted: false,
        }),
    })
}

/// Builds a change of the path being planned: action, before, after, contents.
type MakeChange<'a> = dyn Fn(Action, Option<Hash>, Option<Hash>, Option<Text>) -> Change + 'a;

/// A change and the state entry to record for its path (`None`: drop it).
type Planned = (Change, Option<Entry>);

fn plan_rendered(
    rel: &str,
    file: &File,
    disk: Option<&OnDisk>,
    entry: Option<&Entry>,
    base: Option<&Base>,
    force: bool,
) -> Planned {
    let new_hash = file.hash;
    // The rendering, shared by the change and the merge base it may store; a rendering made for
    // hashes only is rendered again by apply.
    let rendering = || file.contents.clone().map_or(Text::Rendering, Text::Given);
    // The entity's name, shared with the state's entry when it names the same entity (as it does
    // for every path an edit did not move between entities): a comparison, not an allocation.
    let origin = match entry {
        Some(entry) if *entry.origin.entity == *file.origin.entity => Origin {
            entity: Arc::clone(&entry.origin.entity),
            span: Some(file.origin.span),
        },
        _ => Origin::from(&file.origin),
    };
    let fresh = Entry {
        kind: file.kind,
        origin: origin.recorded(),
        hash: new_hash,
    };
    let base_stored = base.is_some_and(|it| it.hash == new_hash);
    let base_to_store = |record: &Entry| {
        (file.kind == Kind::Scaffold && record.hash == new_hash && !base_stored).then(rendering)
    };
    let change = |action, before, after, contents: Option<Text>| Change {
        path: rel.to_owned(),
        action,
        kind: file.kind,
        origin: origin.clone(),
        before,
        after,
        forced: None,
        contents,
        base: None,
        // A keep shows no diff: not copying the file saves a copy of the project in memory.
        previous: (action != Action::Keep)
            .then(|| disk.and_then(|it| it.text()).map(str::to_owned))
            .flatten(),
        conflicts: Vec::new(),
    };

    let (mut change, record) = match (entry, disk) {
        // Absent: (re)create. A scaffold the user deleted is recreated too (see module docs).
        (_, None) => (
            change(Action::Create, None, Some(new_hash), Some(rendering())),
            Some(fresh),
        ),
        // Already exactly what restack would write: adopt it.
        (_, Some(disk)) if disk.hash == new_hash => (
            change(Action::Keep, Some(disk.hash), Some(disk.hash), None),
            Some(fresh),
        ),
        (None, Some(disk)) => blocked_or_forced(
            change(
                Action::Blocked(Reason::Unowned),
                Some(disk.hash),
                Some(new_hash),
                Some(rendering()),
            ),
            force,
            None,
            fresh,
        ),
        // Untouched since restack put it there: take the new rendering.
        (Some(entry), Some(disk)) if disk.hash == entry.hash => (
            change(
                Action::Update,
                Some(disk.hash),
                Some(new_hash),
                Some(rendering()),
            ),
            Some(fresh),
        ),
        (Some(entry), Some(disk)) if file.kind == Kind::Managed => blocked_or_forced(
            change(
                Action::Blocked(Reason::Modified),
                Some(disk.hash),
                Some(new_hash),
                Some(rendering()),
            ),
            force,
            Some(entry.clone()),
            fresh,
        ),
        // A scaffold the user edited whose rendering did not change: the edits are the user's.
        // A missing base is no reason to merge: it is exactly this rendering (the hashes agree),
        // and `base_to_store` stores it again.
        (Some(entry), Some(disk)) if entry.hash == new_hash => {
            let record = Entry {
                origin: origin.recorded(),
                ..entry.clone()
            };
            (
                change(Action::Keep, Some(disk.hash), Some(disk.hash), None),
                Some(record),
            )
        }
        (Some(entry), Some(disk)) => {
            plan_edited_scaffold(rel, file, disk, entry, base, force, fresh, &change)
        }
    };
    if let Some(record) = &record {
        change.base = base_to_store(record);
    }
    (change, record)
}

/// A scaffold the user edited and whose rendering changed: 3-way merge (base = last rendering,
/// ours = disk, theirs = new rendering).
#[expect(
    clippy::too_many_arguments,
    reason = "the inputs of one decision, passed through"
)]
fn plan_edited_scaffold(
    rel: &str,
    file: &File,
    disk: &OnDisk,
    entry: &Entry,
    base: Option<&Base>,
    force: bool,
    fresh: Entry,
    change: &MakeChange<'_>,
) -> Planned {
    let base = base.and_then(|it| it.text.as_deref()).unwrap_or("");
    // The caller loaded the texts of every path `texts_needed` names, this one included; were one
    // missing, the merge would conflict, which writes nothing.
    debug_assert!(
        file.text().is_some() && disk.bytes.is_some(),
        "the texts of `{rel}` were not loaded for its merge"
    );
    let outcome = match (disk.text(), file.text()) {
        (Some(ours), Some(theirs)) => merge(base, ours, theirs),
        _ => MergeOutcome::Conflict(Vec::new()),
    };
    match outcome {
        MergeOutcome::Clean(merged) if Some(merged.as_bytes()) == disk.bytes.as_deref() => (
            change(Action::Keep, Some(disk.hash), Some(disk.hash), None),
            Some(fresh),
        ),
        MergeOutcome::Clean(merged) => (
            change(
                Action::Merge,
                Some(disk.hash),
                Some(Hash::of(&merged)),
                Some(Text::Given(Arc::from(merged))),
            ),
            Some(fresh),
        ),
        MergeOutcome::Conflict(hunks) => {
            let mut blocked = change(
                Action::Blocked(Reason::Conflict),
                Some(disk.hash),
                fresh.hash.into(),
                Some(file.contents.clone().map_or(Text::Rendering, Text::Given)),
            );
            blocked.conflicts = hunks;
            blocked_or_forced(blocked, force, Some(entry.clone()), fresh)
        }
    }
}

/// The paths whose texts [`plan`] reads besides their hashes: a scaffold the user edited whose
/// rendering changed is 3-way merged, which needs the rendering, the file and its merge base.
/// A plan from a rendering and a snapshot of hashes only ([`crate::render::render_hashes`],
/// [`super::scan_hashes_only`]) needs these texts loaded first.
pub fn texts_needed(files: &FileSet, snapshot: &Snapshot, state: &State) -> Vec<String> {
    files
        .files
        .iter()
        .filter(|(rel, file)| {
            let (Some(entry), Some(disk)) = (state.files.get(*rel), snapshot.files.get(*rel))
            else {
                return false;
            };
            file.kind == Kind::Scaffold
                && disk.hash != file.hash
                && disk.hash != entry.hash
                && entry.hash != file.hash
        })
        .map(|(rel, _)| rel.clone())
        .collect()
}

/// A blocked change stays blocked (keeping the old state entry) unless `force`, which turns it
/// into an update recording `fresh`.
fn blocked_or_forced(mut change: Change, force: bool, old: Option<Entry>, fresh: Entry) -> Planned {
    let Action::Blocked(reason) = change.action else {
        return (change, old);
    };
    if !force {
        return (change, old);
    }
    change.action = Action::Update;
    change.forced = Some(reason);
    change.conflicts.clear();
    (change, Some(fresh))
}

/// An orphan: in the state but no longer rendered. `None` when the user already deleted it.
fn plan_orphan(rel: &str, entry: &Entry, disk: Option<&OnDisk>, force: bool) -> Option<Planned> {
    let disk = disk?;
    let mut change = Change {
        path: rel.to_owned(),
        action: Action::Delete,
        kind: entry.kind,
        origin: entry.origin.clone(),
        before: Some(disk.hash),
        after: None,
        forced: None,
        contents: None,
        base: None,
        previous: disk.text().map(str::to_owned),
        conflicts: Vec::new(),
    };
    if disk.hash == entry.hash {
        return Some((change, None));
    }
    if force {
        change.forced = Some(Reason::OrphanEdited);
        return Some((change, None));
    }
    change.action = Action::Blocked(Reason::OrphanEdited);
    Some((change, Some(entry.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir;

    const TEXTS: [&str; 3] = ["one\n", "two\n", "three\n"];

    /// Every combination, for one rendered path and one orphan, of: the kind rendered and
    /// recorded, the rendering, the state's hash, the disk and the stored base. Wherever
    /// `plan_unchanged` gives a plan it is `plan`'s; wherever `plan` changes nothing, it gives one.
    #[test]
    fn plan_unchanged_is_plan_whenever_nothing_changes() {
        let texts = || TEXTS.iter().map(|it| Some(*it)).chain([None]);
        let kinds = [Kind::Managed, Kind::Scaffold];
        let manifest = Hash::of("manifest");
        let mut proved = 0;
        for kind in kinds {
            for rendered in TEXTS {
                for recorded in kinds
                    .iter()
                    .flat_map(|kind| texts().map(move |it| (*kind, it)))
                {
                    for disk in texts() {
                        for base in texts() {
                            for orphan in [None, Some(false), Some(true)] {
                                proved += usize::from(check_case(
                                    kind, rendered, recorded, disk, base, orphan, manifest,
                                ));
                            }
                        }
                    }
                }
            }
        }
        // The proof is not vacuous: many cases are no-ops.
        assert!(proved > 20, "{proved}");
    }

    /// A xorshift generator from `seed`: each call gives a number below `sides`, the same
    /// sequence every run.
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |sides| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % sides
        }
    }

    /// A plan decides each path on its own: over many paths, with few or many of them changing
    /// (the next state made from the state with a few entries replaced, or merged with many),
    /// the plan is the plans of each path alone, put together.
    #[test]
    fn a_plan_is_the_plans_of_its_paths() {
        let mut roll = xorshift(0x2545_f491_4f6c_dd1d);
        for round in 0..40 {
            // Odd rounds change one path in 50; even rounds, most paths.
            let churn = if round % 2 == 1 { 50 } else { 2 };
            let mut files = FileSet::default();
            let mut state = State::default();
            let mut snapshot = Snapshot::default();
            for idx in 0..200 {
                let rel = format!("src/{}/{idx:03}.py", ["a", "bb", "a/c"][idx % 3]);
                let text = |it: u64| TEXTS[usize::try_from(it).expect("small")];
                let kind = [Kind::Managed, Kind::Scaffold][usize::from(roll(2) == 0)];
                let entity = format!("function \"F{}\"", roll(3));
                let steady = roll(churn) != 0;
                let rendered = text(roll(3));
                let rendered = (steady || roll(4) != 0).then_some(rendered);
                let recorded = if steady {
                    rendered
                } else {
                    [None, Some(text(roll(3)))][usize::try_from(roll(2)).expect("small")]
                };
                let disk = if steady {
                    rendered
                } else {
                    [None, Some(text(roll(3)))][usize::try_from(roll(2)).expect("small")]
                };
                if let Some(rendered) = rendered {
                    let origin = ir::Origin {
                        entity: entity.clone(),
                        span: (idx, idx + 1),
                    };
                    files
                        .files
                        .insert(rel.clone(), File::rendered(rendered, kind, origin, "t.j2"));
                }
                if let Some(recorded) = recorded {
                    let entry = Entry {
                        kind,
                        origin: Origin {
                            entity: entity.into(),
                            span: None,
                        },
                        hash: Hash::of(recorded),
                    };
                    state.files.insert(rel.clone(), entry);
                    if kind == Kind::Scaffold && (steady || roll(2) == 0) {
                        let base = Base {
                            hash: Hash::of(recorded),
                            text: Some(recorded.into()),
                        };
                        snapshot.bases.insert(rel.clone(), base);
                    }
                }
                if let Some(disk) = disk {
                    let on_disk = OnDisk {
                        hash: Hash::of(disk),
                        bytes: Some(disk.as_bytes().into()),
                    };
                    snapshot.files.insert(rel, on_disk);
                }
            }
            for force in [false, true] {
                let options = PlanOptions {
                    manifest: Hash::of("manifest"),
                    force,
                };
                let whole = plan(&files, &snapshot, &state, &options);
                let mut parts = Plan {
                    next: Arc::new(State {
                        manifest: Some(options.manifest),
                        ..State::default()
                    }),
                    changes: Vec::new(),
                    ..whole.clone()
                };
                let rels: std::collections::BTreeSet<&String> =
                    files.files.keys().chain(state.files.keys()).collect();
                for rel in rels {
                    let files = FileSet {
                        files: only(&files.files, rel),
                    };
                    let state = State {
                        files: only(&state.files, rel),
                        ..state.clone()
                    };
                    let snapshot = Snapshot {
                        files: only(&snapshot.files, rel),
                        bases: only(&snapshot.bases, rel),
                    };
                    let alone = plan(&files, &snapshot, &state, &options);
                    parts.changes.extend(alone.changes);
                    Arc::make_mut(&mut parts.next)
                        .files
                        .extend(Arc::unwrap_or_clone(alone.next).files);
                }
                assert_eq!(whole, parts, "round {round}, force {force}");
            }
        }
    }

    /// Through a sequence of edits, each plan applied (its next state becoming the state, its
    /// writes the disk), the cached plans are the plans: when the state is the last plan's next
    /// state, when an earlier plan is still held, and when the state comes from elsewhere.
    #[test]
    #[expect(clippy::too_many_lines, reason = "one sequence of steps, each checked")]
    fn cached_plans_are_plans_through_edits() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut roll = move |sides: u64| usize::try_from(next(sides)).expect("small");
        let texts = ["one\n", "two\n", "three\n", "four\n"];
        let rel = |idx: usize| format!("src/{}/{idx:03}.py", ["a", "b/c", "bb"][idx % 3]);
        let origin = |idx: usize, entity: usize| ir::Origin {
            entity: format!("function \"F{entity}\""),
            span: (idx, idx + 1),
        };
        let mut files = FileSet::default();
        for idx in 0..120 {
            let kind = [Kind::Managed, Kind::Scaffold][idx % 2];
            let file = File::rendered(texts[idx % 4], kind, origin(idx, idx / 3), "t.j2");
            files.files.insert(rel(idx), file);
        }
        let mut state = Arc::new(State::default());
        let mut snapshot = Snapshot::default();
        let mut cache = PlanCache::default();
        let mut held = Vec::new();
        let mut reused = 0;
        for step in 0..60 {
            let options = PlanOptions {
                manifest: Hash::of(format!("manifest {step}")),
                force: roll(5) == 0,
            };
            reused += usize::from(cache.last.as_ref().is_some_and(|last| {
                Arc::ptr_eq(&state, &last.newer)
                    && last
                        .older
                        .as_ref()
                        .is_some_and(|it| Arc::strong_count(it) == 1)
            }));
            let cached = plan_cached(
                &files,
                &snapshot,
                &state,
                state.fingerprint(),
                &options,
                &mut cache,
            );
            let fresh = plan(&files, &snapshot, &state, &options);
            assert_eq!(cached, fresh, "step {step}");
            // Apply: every write lands, and the next state is the state.
            for change in &cached.changes {
                if matches!(change.action, Action::Delete) {
                    snapshot.files.remove(&change.path);
                } else if let Some(Text::Given(text)) = &change.contents
                    && change.action.touches_file()
                {
                    let on_disk = OnDisk {
                        hash: Hash::of(text.as_bytes()),
                        bytes: Some(text.as_bytes().into()),
                    };
                    snapshot.files.insert(change.path.clone(), on_disk);
                }
                if let Some(Text::Given(text)) = &change.base {
                    let base = Base {
                        hash: Hash::of(text.as_bytes()),
                        text: Some(Arc::clone(text)),
                    };
                    snapshot.bases.insert(change.path.clone(), base);
                }
            }
            let next = Arc::clone(&cached.next);
            snapshot
                .bases
                .retain(|rel, base| next.files.get(rel).is_some_and(|it| it.hash == base.hash));
            state = match roll(8) {
                // A state read again: not the one the cache made.
                0 => Arc::new((*next).clone()),
                _ => next,
            };
            // Sometimes a plan outlives the next one.
            if roll(4) == 0 {
                held.push(cached);
            } else {
                held.clear();
            }
            // Edits: renderings, hand edits and deletions, paths added and removed.
            for _ in 0..roll(4) {
                let idx = roll(130);
                let kind = [Kind::Managed, Kind::Scaffold][idx % 2];
                match roll(6) {
                    0 => {
                        files.files.remove(&rel(idx));
                    }
                    1 => {
                        let text = texts[roll(4)];
                        let on_disk = OnDisk {
                            hash: Hash::of(text),
                            bytes: Some(text.as_bytes().into()),
                        };
                        snapshot.files.insert(rel(idx), on_disk);
                    }
                    2 => {
                        snapshot.files.remove(&rel(idx));
                    }
                    _ => {
                        let text = texts[roll(4)];
                        let file = File::rendered(text, kind, origin(idx, roll(50)), "t.j2");
                        files.files.insert(rel(idx), file);
                    }
                }
            }
        }
        // The proof is not vacuous: most plans reuse the state before last.
        assert!(reused > 20, "{reused}");
    }

    /// The entry of `map` at `rel`, alone.
    fn only<V: Clone>(map: &BTreeMap<String, V>, rel: &str) -> BTreeMap<String, V> {
        map.get_key_value(rel)
            .map(|(rel, value)| (rel.clone(), value.clone()))
            .into_iter()
            .collect()
    }

    /// One case; true when `plan_unchanged` gave a plan.
    fn check_case(
        kind: Kind,
        rendered: &str,
        (recorded_kind, recorded): (Kind, Option<&str>),
        disk: Option<&str>,
        base: Option<&str>,
        orphan: Option<bool>,
        manifest: Hash,
    ) -> bool {
        let rel = "src/a.py";
        let origin = ir::Origin {
            entity: "function \"A\"".to_owned(),
            span: (0, 1),
        };
        let mut files = FileSet::default();
        files.files.insert(
            rel.to_owned(),
            File::rendered(rendered, kind, origin.clone(), "t.j2"),
        );
        let mut state = State::default();
        let old_origin = Origin {
            entity: "function \"Old\"".into(),
            span: None,
        };
        if let Some(recorded) = recorded {
            state.files.insert(
                rel.to_owned(),
                Entry {
                    kind: recorded_kind,
                    origin: old_origin.clone(),
                    hash: Hash::of(recorded),
                },
            );
        }
        let mut snapshot = Snapshot::default();
        let mut hashes = Hashes::default();
        if let Some(disk) = disk {
            let on_disk = OnDisk {
                hash: Hash::of(disk),
                bytes: Some(disk.as_bytes().into()),
            };
            snapshot.files.insert(rel.to_owned(), on_disk);
            hashes.files.insert(rel, Hash::of(disk));
        }
        // As `scan` reads them: a scaffold's base only when it matches the state's hash.
        if let (Some(base), Some(recorded)) = (base, recorded)
            && recorded_kind == Kind::Scaffold
        {
            if Hash::of(base) == Hash::of(recorded) {
                let base = Base {
                    hash: Hash::of(base),
                    text: Some(base.into()),
                };
                snapshot.bases.insert(rel.to_owned(), base);
            }
            hashes.bases.insert(rel, Hash::of(base));
        }
        let gone = "src/gone.py";
        if let Some(on_disk) = orphan {
            state.files.insert(
                gone.to_owned(),
                Entry {
                    kind: Kind::Managed,
                    origin: old_origin,
                    hash: Hash::of("gone\n"),
                },
            );
            if on_disk {
                let bytes = b"gone\n".to_vec();
                hashes.files.insert(gone, Hash::of(&bytes));
                snapshot.files.insert(
                    gone.to_owned(),
                    OnDisk {
                        hash: Hash::of(&bytes),
                        bytes: Some(bytes.into()),
                    },
                );
            }
        }
        let slow = plan(
            &files,
            &snapshot,
            &state,
            &PlanOptions {
                manifest,
                force: false,
            },
        );
        let record = crate::record::Record::entries(&files);
        let fast = plan_unchanged(&record, &hashes, &state, manifest);
        let case = format!(
            "kind {kind:?}, rendered {rendered:?}, recorded {recorded_kind:?} {recorded:?}, disk {disk:?}, base {base:?}, orphan {orphan:?}"
        );
        let no_op = slow.is_in_sync() && slow.changes.iter().all(|it| it.base.is_none());
        assert_lean_agrees(&files, &snapshot, &state, manifest, &slow, &case);
        match &fast {
            Some(fast) => assert_eq!(fast, &slow, "{case}"),
            None => assert!(!no_op, "a no-op not proved: {case}\n{slow:#?}"),
        }
        fast.is_some()
    }

    /// The plan from a rendering and a snapshot of hashes only, with the texts `texts_needed`
    /// names loaded, is the plan from everything, but for the texts it leaves to apply to render
    /// again and the previous texts it does not keep for diffs.
    fn assert_lean_agrees(
        files: &FileSet,
        snapshot: &Snapshot,
        state: &State,
        manifest: Hash,
        full: &Plan,
        case: &str,
    ) {
        let options = PlanOptions {
            manifest,
            force: false,
        };
        let mut lean_files = files.clone();
        for file in lean_files.files.values_mut() {
            file.contents = None;
        }
        let mut lean_snapshot = snapshot.clone();
        for on_disk in lean_snapshot.files.values_mut() {
            on_disk.bytes = None;
        }
        for base in lean_snapshot.bases.values_mut() {
            base.text = None;
        }
        for rel in texts_needed(&lean_files, &lean_snapshot, state) {
            lean_files.files.get_mut(&rel).expect("rendered").contents =
                files.files[&rel].contents.clone();
            lean_snapshot
                .files
                .insert(rel.clone(), snapshot.files[&rel].clone());
            if let Some(base) = snapshot.bases.get(&rel) {
                lean_snapshot.bases.insert(rel, base.clone());
            }
        }
        for force in [false, true] {
            let options = PlanOptions { force, ..options };
            let full = if force {
                &plan(files, snapshot, state, &options)
            } else {
                full
            };
            let mut lean = plan(&lean_files, &lean_snapshot, state, &options);
            let rendering = files
                .files
                .values()
                .next()
                .and_then(|it| it.contents.clone());
            let mut expected = full.clone();
            for (change, full) in lean.changes.iter_mut().zip(&mut expected.changes) {
                for text in [&mut change.contents, &mut change.base] {
                    if *text == Some(Text::Rendering) {
                        *text = rendering.clone().map(Text::Given);
                    }
                }
                // Texts kept for diffs only: the lean plan keeps those it read for a merge.
                if change.previous.is_none() {
                    full.previous = None;
                }
            }
            assert_eq!(lean, expected, "lean plan, force {force}: {case}");
        }
    }
}
