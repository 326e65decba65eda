//! Line-based 3-way merge of a scaffold: owns `merge` and `merge_with_markers`; pure, no IO.
//!
//! This is diff3 as git does it, provided by `similar::TextMerge` (similar 3.2): both sides are
//! diffed against the base line by line; edits on one side only are taken, identical edits on
//! both sides are taken once, and edits that overlap *or touch* (no unchanged base line between
//! them) are a conflict. Whitespace is compared exactly.
//!
//! The sides: **base** is what restack last rendered for the file, **ours** is the file on disk
//! (the user's), **theirs** is the new rendering.

use serde::{Deserialize, Serialize};
use similar::{ConflictStyle, TextMerge};

/// The outcome of merging a manifest change into a user's scaffold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The merged text.
    Clean(String),
    /// The edits overlap; nothing should be written.
    Conflict(Vec<ConflictHunk>),
}

/// One conflicting region, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictHunk {
    /// 1-based line in the user's file where the region starts.
    pub line: usize,
    /// The base's lines in the region.
    pub base: String,
    /// The user's lines in the region.
    pub ours: String,
    /// The new rendering's lines in the region.
    pub theirs: String,
}

/// Merges `theirs` (the new rendering) into `ours` (the user's file) against `base`.
pub fn merge(base: &str, ours: &str, theirs: &str) -> MergeOutcome {
    let merged = TextMerge::from_lines(base, ours, theirs);
    if !merged.is_conflicted() {
        return MergeOutcome::Clean(merged.to_string());
    }
    let hunks = merged
        .conflicts()
        .map(|region| ConflictHunk {
            line: region.ours_range().start + 1,
            base: region
                .base_range()
                .filter_map(|i| merged.base_line(i))
                .collect(),
            ours: region
                .ours_range()
                .filter_map(|i| merged.ours_line(i))
                .collect(),
            theirs: region
                .theirs_range()
                .filter_map(|i| merged.theirs_line(i))
                .collect(),
        })
        .collect();
    MergeOutcome::Conflict(hunks)
}

/// Merges like [`merge`] but always returns text: conflicting regions are written with diff3
/// conflict markers (`<<<<<<< yours`, `||||||| base`, `=======`, `>>>>>>> restack`). Only for an
/// explicit user request (`--conflict-markers`); never the default.
pub fn merge_with_markers(base: &str, ours: &str, theirs: &str) -> String {
    let mut merged = TextMerge::from_lines(base, ours, theirs);
    merged
        .conflict_style(ConflictStyle::Diff3)
        .labels("base", "yours", "restack");
    merged.to_string()
}

#[cfg(test)]
mod tests {
    use super::{MergeOutcome, merge, merge_with_markers};

    /// Merges and compares with `expect`: `Ok(text)` for a clean merge, `Err(n)` for `n` conflicts.
    fn check(base: &str, ours: &str, theirs: &str, expect: Result<&str, usize>) {
        match (merge(base, ours, theirs), expect) {
            (MergeOutcome::Clean(text), Ok(want)) => assert_eq!(text, want),
            (MergeOutcome::Conflict(hunks), Err(n)) => assert_eq!(hunks.len(), n, "{hunks:#?}"),
            (got, want) => panic!("merge gave {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn unchanged() {
        check("a\nb\n", "a\nb\n", "a\nb\n", Ok("a\nb\n"));
    }

    #[test]
    fn only_ours() {
        check("a\nb\n", "a\nB\n", "a\nb\n", Ok("a\nB\n"));
    }

    #[test]
    fn only_theirs() {
        check("a\nb\n", "a\nb\n", "a\nb\nc\n", Ok("a\nb\nc\n"));
    }

    #[test]
    fn separate_edits_combine() {
        check(
            "def f():\n    pass\n\n\ndef g():\n    pass\n",
            "def f():\n    return 1\n\n\ndef g():\n    pass\n",
            "def f():\n    pass\n\n\ndef g():\n    pass\n\n\ndef h():\n    pass\n",
            Ok("def f():\n    return 1\n\n\ndef g():\n    pass\n\n\ndef h():\n    pass\n"),
        );
    }

    #[test]
    fn identical_edits_are_taken_once() {
        check("a\nb\nc\n", "a\nX\nc\n", "a\nX\nc\n", Ok("a\nX\nc\n"));
    }

    #[test]
    fn overlapping_edits_conflict() {
        check("a\nb\nc\n", "a\nmine\nc\n", "a\nnew\nc\n", Err(1));
    }

    #[test]
    fn touching_edits_conflict() {
        check("a\nb\nc\n", "A\nb\nc\n", "a\nB\nc\n", Err(1));
    }

    #[test]
    fn two_conflicts_are_two_hunks() {
        check(
            "1\n2\n3\n4\n5\n6\n",
            "1\nx\n3\n4\ny\n6\n",
            "1\nX\n3\n4\nY\n6\n",
            Err(2),
        );
    }

    #[test]
    fn missing_base_conflicts_unless_one_side_is_empty() {
        check("", "mine\n", "new\n", Err(1));
        check("", "", "new\n", Ok("new\n"));
    }

    #[test]
    fn conflict_hunk_names_lines() {
        let MergeOutcome::Conflict(hunks) = merge("a\nb\n", "a\nmine\n", "a\nnew\n") else {
            panic!("expected a conflict");
        };
        assert_eq!(hunks[0].line, 2);
        assert_eq!(hunks[0].base, "b\n");
        assert_eq!(hunks[0].ours, "mine\n");
        assert_eq!(hunks[0].theirs, "new\n");
    }

    #[test]
    fn markers_only_when_asked() {
        assert_eq!(
            merge_with_markers("a\nb\n", "a\nmine\n", "a\nnew\n"),
            "a\n<<<<<<< yours\nmine\n||||||| base\nb\n=======\nnew\n>>>>>>> restack\n"
        );
    }
}
