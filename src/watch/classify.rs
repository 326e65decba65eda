//! `classify`: decides what one file-system event means to `watch`. Pure: looks only at the event
//! and the paths it is given, never at the disk.
//!
//! Editors save in many ways (write-and-rename, rename-over, in-place, truncate-and-write), and
//! one save is several raw events (`Access(Open)`, `Modify(Data)`, `Access(Close(Write))`, a
//! rename's `From`, `To` and `Both`). The loop classifies each as it comes and debounces the ones
//! that mean something. So the rules are:
//!
//! - `Access(_)` is dropped, except `Access(Close(Write))` (the end of an in-place write).
//! - An event is about the manifest when any of its paths is the manifest (a rename names both
//!   ends), about the overrides when a path is inside the overrides folder (or is the folder), and
//!   about a generated file when a path is a managed file restack recorded, and about a folder of
//!   generated files when a folder holding managed files is removed or renamed (the files in it
//!   may report nothing of their own: a folder renamed away, or one whose watch is gone).
//! - Everything else (temp files, editor backups, `.restack/`, scaffolds, unrelated files) is
//!   ignored.
//!
//! Whether the manifest really changed is decided later by the content hash, so a batch that
//! classifies as `Manifest` twice still reconciles once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, ModifyKind};

/// The paths `watch` cares about, all absolute and in the form the watcher reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths {
    /// The manifest file.
    pub manifest: PathBuf,
    /// The template-overrides folder next to the manifest (it may not exist).
    pub overrides: PathBuf,
    /// Every managed file restack recorded, to its project-relative path.
    pub managed: BTreeMap<PathBuf, String>,
}

/// Why `watch` should act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The manifest may have changed: reconcile if its bytes did.
    Manifest,
    /// A template override may have changed: reconcile if the overrides did.
    Overrides,
    /// A managed file (project-relative path) may have been edited or deleted by hand.
    Generated(String),
    /// A folder holding managed files (absolute path) was removed or renamed.
    Folder(PathBuf),
    /// The watcher lost events: re-check everything.
    Rescan,
}

/// Whether `event` may mean that a file's bytes or name changed: any event but an access, except
/// the end of a write (`Access(Close(Write))`). Reads (restack's own, or an editor's) do not.
pub fn changes_files(event: &notify::Event) -> bool {
    match event.kind {
        EventKind::Access(access) => access == AccessKind::Close(AccessMode::Write),
        _ => true,
    }
}

/// What `event` means to `watch`, or `None` when it means nothing.
pub fn classify(event: &notify::Event, paths: &Paths) -> Option<Trigger> {
    if event.need_rescan() {
        return Some(Trigger::Rescan);
    }
    if !changes_files(event) {
        return None;
    }
    let touches = |wanted: &dyn Fn(&Path) -> bool| event.paths.iter().any(|it| wanted(it));
    if touches(&|it| it == paths.manifest) {
        return Some(Trigger::Manifest);
    }
    if touches(&|it| it.starts_with(&paths.overrides)) {
        return Some(Trigger::Overrides);
    }
    if let Some(rel) = event.paths.iter().find_map(|it| paths.managed.get(it)) {
        return Some(Trigger::Generated(rel.clone()));
    }
    if matches!(
        event.kind,
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
    ) {
        return event
            .paths
            .iter()
            .find(|it| holds_managed(it, paths))
            .map(|it| Trigger::Folder(it.clone()));
    }
    None
}

/// True when `dir` is a strict ancestor of a managed file. Descendants sort right after their
/// ancestor in a `BTreeMap<PathBuf, _>` (paths compare by component), so one look suffices.
fn holds_managed(dir: &Path, paths: &Paths) -> bool {
    paths
        .managed
        .range(dir.to_path_buf()..)
        .find(|(path, _)| path.as_path() != dir)
        .is_some_and(|(path, _)| path.starts_with(dir))
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, Flag, RemoveKind, RenameMode};

    use super::*;

    fn paths() -> Paths {
        Paths {
            manifest: PathBuf::from("/p/restack.kdl"),
            overrides: PathBuf::from("/p/restack-templates"),
            managed: BTreeMap::from([(
                PathBuf::from("/p/src/blog/service.py"),
                "src/blog/service.py".to_owned(),
            )]),
        }
    }

    /// Builds an event of `kind` over `event_paths` (relative to `/p`), classifies it, and compares
    /// the debug form of the result with `expect` (`None`, `Some(Manifest)`, …).
    fn check(kind: EventKind, event_paths: &[&str], expect: &str) {
        let mut event = notify::Event::new(kind);
        for it in event_paths {
            event = event.add_path(Path::new("/p").join(it));
        }
        let actual = format!("{:?}", classify(&event, &paths()));
        assert_eq!(actual, expect, "{kind:?} on {event_paths:?}");
    }

    #[test]
    fn manifest_saves_in_every_style() {
        // Rename-over: the temp file's rename surfaces as a create on the target.
        check(
            EventKind::Create(CreateKind::File),
            &["restack.kdl"],
            "Some(Manifest)",
        );
        check(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &[".restack.kdl.tmp123", "restack.kdl"],
            "Some(Manifest)",
        );
        check(
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            &["restack.kdl"],
            "Some(Manifest)",
        );
        // In place and truncate-and-write.
        check(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            &["restack.kdl"],
            "Some(Manifest)",
        );
        check(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            &["restack.kdl"],
            "Some(Manifest)",
        );
        // Vim: the original is renamed to a backup, a new file is written.
        check(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["restack.kdl", "restack.kdl~"],
            "Some(Manifest)",
        );
        check(
            EventKind::Remove(RemoveKind::File),
            &["restack.kdl"],
            "Some(Manifest)",
        );
    }

    #[test]
    fn reads_and_opens_are_not_saves() {
        check(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            &["restack.kdl"],
            "None",
        );
        check(
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            &["restack.kdl"],
            "None",
        );
        check(
            EventKind::Access(AccessKind::Read),
            &["restack.kdl"],
            "None",
        );
        check(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            &["src/blog/service.py"],
            "None",
        );
    }

    #[test]
    fn unrelated_paths_are_ignored() {
        for path in [
            "restack.kdl~",
            "4913",
            ".restack.kdl.swp",
            ".restack/state.json",
            "src/blog/.tmpAbC123",
            "src/blog/functions/greet.py",
            "README.md",
            "restack.kdl.orig",
        ] {
            check(EventKind::Create(CreateKind::File), &[path], "None");
            check(
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                &[path],
                "None",
            );
        }
        check(EventKind::Create(CreateKind::File), &[], "None");
    }

    #[test]
    fn overrides_folder_and_its_files() {
        check(
            EventKind::Create(CreateKind::Folder),
            &["restack-templates"],
            "Some(Overrides)",
        );
        check(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            &["restack-templates/core/service.py.j2"],
            "Some(Overrides)",
        );
        check(
            EventKind::Remove(RemoveKind::File),
            &["restack-templates/x.j2"],
            "Some(Overrides)",
        );
        check(
            EventKind::Create(CreateKind::Folder),
            &["restack-templates-old"],
            "None",
        );
    }

    #[test]
    fn managed_files_are_generated_triggers() {
        check(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            &["src/blog/service.py"],
            "Some(Generated(\"src/blog/service.py\"))",
        );
        check(
            EventKind::Create(CreateKind::File),
            &["src/blog/service.py"],
            "Some(Generated(\"src/blog/service.py\"))",
        );
        check(
            EventKind::Remove(RemoveKind::File),
            &["src/blog/service.py"],
            "Some(Generated(\"src/blog/service.py\"))",
        );
        check(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["src/blog/.tmpXyZ", "src/blog/service.py"],
            "Some(Generated(\"src/blog/service.py\"))",
        );
    }

    #[test]
    fn removed_or_renamed_folders_of_managed_files() {
        check(
            EventKind::Remove(RemoveKind::Folder),
            &["src/blog"],
            "Some(Folder(\"/p/src/blog\"))",
        );
        check(
            EventKind::Remove(RemoveKind::Any),
            &["src"],
            "Some(Folder(\"/p/src\"))",
        );
        check(
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            &["src/blog"],
            "Some(Folder(\"/p/src/blog\"))",
        );
        // A folder next to them, a sibling with a common prefix, or a mere creation: nothing.
        check(
            EventKind::Remove(RemoveKind::Folder),
            &["src/other"],
            "None",
        );
        check(EventKind::Remove(RemoveKind::Folder), &["src/bl"], "None");
        check(EventKind::Create(CreateKind::Folder), &["src/blog"], "None");
    }

    #[test]
    fn the_manifest_wins_over_other_paths_of_one_event() {
        check(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["src/blog/service.py", "restack.kdl"],
            "Some(Manifest)",
        );
    }

    #[test]
    fn lost_events_ask_for_a_rescan() {
        let event = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert_eq!(classify(&event, &paths()), Some(Trigger::Rescan));
        check(EventKind::Other, &["restack.kdl"], "Some(Manifest)");
    }
}
