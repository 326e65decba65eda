//! The real `restack` binary in temp dirs: exit codes, printed plans and the bytes on disk, for
//! every reconcile guarantee of DESIGN.md §4–§5 (idempotence, nothing lost, merges, orphans,
//! unowned files, exact saved plans, JSON, init, graph, exit codes, crash recovery, the lock).
//! Must not call the library: it observes only what a user would (see tests/support).

mod support;

use std::collections::BTreeSet;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, Instant};

use support::{BLOG, Test, assert_same_tree, changed_paths};

const ONBOARDING: &str = "src/blog/agents/onboarding.py";

/// A manifest change that touches the Onboarding scaffold (a new handler and an import).
const EVENT_FROM: &str = "    event \"email_opened\"\n";
const EVENT_TO: &str =
    "    event \"email_opened\"\n    event \"account_verified\" { field \"when\" \"str\"; }\n";

/// A user edit in the body of an existing handler, away from what the change above touches.
const BODY_FROM: &str =
    "        log_event(\"user_signed_up received\", input=event_input.model_dump(mode=\"json\"))\n";
const BODY_TO: &str = "        log_event(\"user_signed_up received\", input=event_input.model_dump(mode=\"json\"))\n        self._state.step = 1  # my business logic\n";

/// A user edit of exactly the line the change above rewrites (the models import).
const IMPORT_FROM: &str =
    "    from blog.models.onboarding import EmailOpenedEvent, OnboardingState, UserSignedUpEvent\n";
const IMPORT_TO: &str = "    from blog.models.onboarding import EmailOpenedEvent, OnboardingState  # mine\n    from blog.models.onboarding import UserSignedUpEvent\n";

fn add_event(t: &Test) {
    t.edit("restack.kdl", EVENT_FROM, EVENT_TO);
}

// ---------------------------------------------------------------------------------------------
// Idempotence and determinism

#[test]
fn new_is_in_sync_and_deterministic() {
    let t = Test::blog();
    t.run(["plan"])
        .status(0)
        .stdout_line("No changes. The project matches restack.kdl.");
    t.run(["check"])
        .status(0)
        .stderr_contains("In sync: the project matches restack.kdl.");
    let json = t.run(["plan", "--json"]).status(0).json();
    assert_eq!(json["in_sync"], true);
    for action in ["create", "update", "merge", "delete", "blocked"] {
        assert_eq!(json["summary"][action], 0, "{action}: {json}");
    }
    // A second apply writes nothing: every file (state included) keeps its bytes.
    let before = t.tree();
    t.run(["apply"])
        .status(0)
        .stderr_contains("Nothing to apply.");
    assert_same_tree(&before, &t.tree());

    let manifest = t.read("restack.kdl");
    t.run(["new", "."])
        .status(1)
        .stderr_contains("already exists");
    assert_eq!(t.read("restack.kdl"), manifest);
    assert_same_tree(&before, &t.tree());

    let other = Test::blog();
    let (a, b) = (t.tree(), other.tree());
    assert!(a.contains_key(".restack/state.json"), "{:?}", a.keys());
    assert!(a.len() > 30, "{:?}", a.keys());
    assert_same_tree(&a, &b);
}

// ---------------------------------------------------------------------------------------------
// Nothing lost: managed files

#[test]
fn hand_edited_managed_files_are_blocked_until_force() {
    let t = Test::blog();
    let registry = t.read("src/blog/registry.py");
    let model = t.read("src/blog/models/send_email.py");
    t.write("src/blog/registry.py", &format!("{registry}# my line\n"));
    t.edit(
        "src/blog/models/send_email.py",
        "    to: str\n",
        "    to: str  # mine\n",
    );
    let edited_registry = t.read("src/blog/registry.py");
    let edited_model = t.read("src/blog/models/send_email.py");

    t.run(["check"])
        .status(1)
        .stdout_contains("! blocked (modified)  src/blog/registry.py")
        .stdout_contains("! blocked (modified)  src/blog/models/send_email.py")
        .stderr_contains("Drift");
    t.run(["plan"]).status(1).stdout_contains("2 blocked");
    t.run(["apply"])
        .status(1)
        .stderr_contains("2 blocked (left untouched)");
    assert_eq!(t.read("src/blog/registry.py"), edited_registry);
    assert_eq!(t.read("src/blog/models/send_email.py"), edited_model);

    t.run(["apply", "--force"])
        .status(0)
        .stdout_contains("~ update  src/blog/registry.py  (project \"blog\")  [forced: modified]");
    assert_eq!(t.read("src/blog/registry.py"), registry);
    assert_eq!(t.read("src/blog/models/send_email.py"), model);
    t.run(["check"]).status(0);
}

// ---------------------------------------------------------------------------------------------
// Nothing lost: scaffolds merge

#[test]
fn scaffold_edit_and_manifest_change_merge() {
    // What the scaffold becomes without user work, for the exact expectation below.
    let pristine = Test::blog();
    add_event(&pristine);
    pristine.run(["apply"]).status(0);
    let rendered = pristine.read(ONBOARDING);
    assert!(
        rendered.contains("async def account_verified("),
        "{rendered}"
    );

    let t = Test::blog();
    t.edit(ONBOARDING, BODY_FROM, BODY_TO);
    add_event(&t);
    t.run(["plan"])
        .status(0)
        .stdout_line("⇆ merge   src/blog/agents/onboarding.py  (agent \"Onboarding\")");
    t.run(["apply"]).status(0).stderr_contains("1 merged");
    // Exactly the new rendering with the user's line in it.
    assert_eq!(t.read(ONBOARDING), rendered.replacen(BODY_FROM, BODY_TO, 1));
    t.run(["check"]).status(0);
    t.run(["plan"]).status(0).stdout_contains("No changes.");
}

#[test]
fn overlapping_scaffold_edit_is_a_conflict_and_untouched() {
    let t = Test::blog();
    t.edit(ONBOARDING, IMPORT_FROM, IMPORT_TO);
    let mine = std::fs::read(t.path(ONBOARDING)).expect("read");
    add_event(&t);
    t.run(["apply"])
        .status(1)
        .stdout_line("! blocked (conflict)  src/blog/agents/onboarding.py  (agent \"Onboarding\")")
        .stderr_contains("1 blocked (left untouched)");
    assert_eq!(std::fs::read(t.path(ONBOARDING)).expect("read"), mine);
    // The rest of the change was applied.
    assert!(
        t.read("src/blog/models/onboarding.py")
            .contains("class AccountVerifiedEvent")
    );
    t.run(["check"]).status(1).stdout_contains("(conflict)");
    assert_eq!(std::fs::read(t.path(ONBOARDING)).expect("read"), mine);
}

// ---------------------------------------------------------------------------------------------
// Orphans

#[test]
fn removed_entity_deletes_untouched_files_and_keeps_edited_ones() {
    let t = Test::blog();
    let workflow = "src/blog/workflows/email_campaign.py";
    t.edit(
        workflow,
        "        return 0\n",
        "        return 42  # mine\n",
    );
    let mine = t.read(workflow);
    t.edit(
        "restack.kdl",
        "workflow \"EmailCampaign\" {\n    input { field \"emails\" \"list[str]\" }\n    output \"int\"\n    calls \"SendEmail\"\n}\n",
        "",
    );
    t.edit(
        "restack.kdl",
        "calls \"SendEmail\" \"EmailCampaign\"",
        "calls \"SendEmail\"",
    );
    t.run(["validate"]).status(0);
    t.run(["apply"])
        .status(1)
        .stdout_line("- delete  src/blog/models/email_campaign.py  (was workflow \"EmailCampaign\")")
        .stdout_line(
            "- delete  tests/test_workflow_email_campaign.py  (was workflow \"EmailCampaign\")",
        )
        .stdout_line(
            "! blocked (orphan-edited)  src/blog/workflows/email_campaign.py  (was workflow \"EmailCampaign\")",
        )
        .stderr_contains("2 deleted, 1 blocked (left untouched)");
    assert!(!t.exists("src/blog/models/email_campaign.py"));
    assert!(!t.exists("tests/test_workflow_email_campaign.py"));
    assert!(!t.exists(".restack/base/tests/test_workflow_email_campaign.py"));
    assert_eq!(t.read(workflow), mine);
    assert!(!t.read(ONBOARDING).contains("EmailCampaign"));
    t.run(["check"])
        .status(1)
        .stdout_contains("(orphan-edited)  src/blog/workflows/email_campaign.py");

    t.run(["apply", "--force"]).status(0);
    assert!(!t.exists(workflow));
    t.run(["check"]).status(0);
}

// ---------------------------------------------------------------------------------------------
// Unowned files

#[test]
fn unowned_files_in_the_way_are_blocked_until_force() {
    let t = Test::new()
        .manifest(BLOG)
        .file("src/blog/registry.py", "# my own registry\n")
        .file("src/blog/functions/send_email.py", "def mine(): ...\n");
    t.run(["plan"])
        .status(1)
        .stdout_contains("! blocked (unowned)  src/blog/registry.py")
        .stdout_contains("! blocked (unowned)  src/blog/functions/send_email.py");
    t.run(["apply"])
        .status(1)
        .stderr_contains("2 blocked (left untouched)");
    assert_eq!(t.read("src/blog/registry.py"), "# my own registry\n");
    assert_eq!(
        t.read("src/blog/functions/send_email.py"),
        "def mine(): ...\n"
    );
    assert!(t.exists("src/blog/service.py"));
    t.run(["check"]).status(1);

    t.run(["apply", "--force"]).status(0);
    let fresh = Test::blog();
    for rel in ["src/blog/registry.py", "src/blog/functions/send_email.py"] {
        assert_eq!(t.read(rel), fresh.read(rel), "{rel}");
    }
    t.run(["check"]).status(0);
}

// ---------------------------------------------------------------------------------------------
// Saved plans

#[test]
fn saved_plan_applies_exactly_what_it_shows() {
    let t = Test::blog();
    t.edit(ONBOARDING, BODY_FROM, BODY_TO);
    add_event(&t);
    t.run(["plan", "--out", "p.json"])
        .status(0)
        .stderr_contains("Saved the plan to `p.json`");
    let saved: serde_json::Value =
        serde_json::from_str(&t.read("p.json")).expect("saved plan is JSON");
    assert_eq!(saved["format"], "restack-plan");
    let mut planned = BTreeSet::new();
    for change in saved["changes"].as_array().expect("changes") {
        if change["action"] != "keep" {
            planned.insert(change["path"].as_str().expect("path").to_owned());
        }
    }
    assert!(planned.contains(ONBOARDING), "{planned:?}");

    let before = t.tree();
    t.run(["apply", "p.json"])
        .status(0)
        .stderr_contains("1 merged");
    let after = t.tree();
    let touched: BTreeSet<String> = changed_paths(&before, &after)
        .into_iter()
        .filter(|rel| !rel.starts_with(".restack/"))
        .collect();
    assert_eq!(touched, planned);
    for change in saved["changes"].as_array().expect("changes") {
        let rel = change["path"].as_str().expect("path");
        if let Some(contents) = change["contents"].as_str() {
            assert_eq!(t.read(rel), contents, "{rel}");
        }
    }
    assert!(
        t.read(ONBOARDING)
            .contains("self._state.step = 1  # my business logic")
    );
    t.run(["check"]).status(0);
}

#[test]
fn saved_plan_is_stale_after_a_manifest_edit() {
    let t = Test::blog();
    add_event(&t);
    t.run(["plan", "--out", "p.json"]).status(0);
    let manifest = t.read("restack.kdl");
    t.write("restack.kdl", &format!("{manifest}// one more comment\n"));
    let before = t.tree();
    t.run(["apply", "p.json"])
        .status(2)
        .stderr_contains("stale plan: the manifest changed since the plan was made");
    assert_same_tree(&before, &t.tree());
}

#[test]
fn saved_plan_is_stale_after_an_affected_file_changes() {
    let t = Test::blog();
    add_event(&t);
    t.run(["plan", "--out", "p.json"])
        .status(0)
        .stdout_contains("~ update  src/blog/models/onboarding.py");
    let model = t.read("src/blog/models/onboarding.py");
    t.write("src/blog/models/onboarding.py", &format!("{model}# edit\n"));
    let before = t.tree();
    t.run(["apply", "p.json"]).status(2).stderr_contains(
        "stale plan: `src/blog/models/onboarding.py` changed since the plan was made",
    );
    assert_same_tree(&before, &t.tree());
}

#[test]
fn saved_plan_is_stale_after_another_apply() {
    let t = Test::blog();
    add_event(&t);
    t.run(["plan", "--out", "p.json"]).status(0);
    t.run(["apply"]).status(0);
    let before = t.tree();
    t.run(["apply", "p.json"])
        .status(2)
        .stderr_contains("stale plan: restack's state changed since the plan was made");
    assert_same_tree(&before, &t.tree());
}

// ---------------------------------------------------------------------------------------------
// JSON

#[test]
fn plan_and_check_json_are_versioned() {
    let t = Test::blog();
    let plan = t.run(["plan", "--json"]).status(0).json();
    assert_eq!(plan["format_version"], 2);
    let check = t.run(["check", "--json"]).status(0).json();
    assert_eq!(check["format_version"], 2);
    assert_eq!(check["in_sync"], true);

    t.write("src/blog/registry.py", "# mine\n");
    let check = t.run(["check", "--json"]).status(1).json();
    assert_eq!(check["format_version"], 2);
    assert_eq!(check["in_sync"], false);
    let registry = check["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|it| it["path"] == "src/blog/registry.py")
        .expect("registry listed");
    assert_eq!(registry["action"], "blocked");
    assert_eq!(registry["reason"], "modified");
    let plan = t.run(["plan", "--json"]).status(1).json();
    assert_eq!(plan["format_version"], 2);
    assert_eq!(plan["summary"]["blocked"], 1);
}

// ---------------------------------------------------------------------------------------------
// init

#[test]
fn init_writes_a_valid_starter_once() {
    let t = Test::new();
    t.run(["init"])
        .status(0)
        .stderr_contains("Wrote restack.kdl.");
    let starter = t.read("restack.kdl");
    assert!(starter.contains("project \"demo\""), "{starter}");
    t.run(["validate"]).status(0);
    t.run(["apply"])
        .status(0)
        .stdout_contains("+ create  src/demo/functions/greet.py  (function \"Greet\")");
    t.run(["check"]).status(0);
    t.run(["init"]).status(1).stderr_contains("already exists");
    assert_eq!(t.read("restack.kdl"), starter);
}

// ---------------------------------------------------------------------------------------------
// graph

#[test]
fn graph_prints_every_format_and_suggests_names() {
    let t = Test::blog();
    t.run(["graph", "BlogPipeline", "--format", "mermaid"])
        .status(0)
        .stdout_line("flowchart TD")
        .stdout_contains("IDEATE");
    t.run(["graph", "BlogPipeline", "--format", "dot"])
        .status(0)
        .stdout_line("digraph \"BlogPipeline\" {");
    t.run(["graph", "BlogPipeline", "--format", "ascii"])
        .status(0)
        .stdout_line("BlogPipeline")
        .stdout_contains("PUBLISH");
    t.run(["graph", "BlogPipelin"])
        .status(1)
        .stderr_contains("unknown pipeline `BlogPipelin`; did you mean `BlogPipeline`?");
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn invalid_manifest_is_exit_1_and_writes_nothing() {
    let t = Test::new().manifest("project \"demo\" {\n    python \">=3.10\"\n}\nbogus \"X\"\n");
    let before = t.tree();
    for command in ["validate", "plan", "apply", "check"] {
        t.run([command]).status(1).stderr_contains("bogus");
        assert_same_tree(&before, &t.tree());
    }
    t.run(["graph", "BlogPipeline"]).status(1);
    assert_same_tree(&before, &t.tree());
}

#[test]
fn missing_manifest_is_exit_2() {
    let t = Test::new();
    for command in ["validate", "plan", "apply", "check"] {
        t.run([command]).status(2).stderr_contains("restack.kdl");
    }
    assert!(t.tree().is_empty());
}

#[test]
fn corrupt_or_unreadable_state_is_exit_2_and_writes_nothing() {
    let t = Test::blog();
    t.write(".restack/state.json", "{ \"version\": 1, \"files\": ");
    let before = t.tree();
    for command in ["plan", "check", "apply"] {
        t.run([command])
            .status(2)
            .stderr_contains("state.json` is corrupt");
        assert_same_tree(&before, &t.tree());
    }

    t.write(".restack/state.json", "{ \"version\": 7, \"files\": {} }\n");
    t.run(["apply"])
        .status(2)
        .stderr_contains("has format version `7`, newer than this restack reads");

    t.write(".restack/state.json", "{ \"version\": 1, \"files\": {} }\n");
    t.write(".restack/journal.json", "not a journal\n");
    let before = t.tree();
    for command in ["plan", "check", "apply"] {
        t.run([command])
            .status(2)
            .stderr_contains("journal.json` is corrupt");
        assert_same_tree(&before, &t.tree());
    }
    std::fs::remove_file(t.path(".restack/journal.json")).expect("rm");

    // A directory where the file should be: unreadable whoever runs the test (root included).
    std::fs::remove_file(t.path(".restack/state.json")).expect("rm");
    std::fs::create_dir(t.path(".restack/state.json")).expect("mkdir");
    let before = t.tree();
    for command in ["plan", "check", "apply"] {
        t.run([command])
            .status(2)
            .stderr_contains("error: cannot read `")
            .stderr_contains("state.json`");
        assert_same_tree(&before, &t.tree());
    }
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_project_are_never_written_through() {
    let t = Test::blog();
    let outside = tempfile::tempdir().expect("temp dir");
    let models = outside.path().join("models");
    std::fs::create_dir(&models).expect("mkdir");
    let original = t.read("src/blog/models/onboarding.py");
    std::fs::remove_dir_all(t.path("src/blog/models")).expect("rm models");
    let mut file = std::fs::File::create(models.join("onboarding.py")).expect("create");
    std::io::Write::write_all(&mut file, original.as_bytes()).expect("write");
    std::os::unix::fs::symlink(&models, t.path("src/blog/models")).expect("symlink");
    add_event(&t);
    let outside_before = support::tree(outside.path());
    let before = t.tree();
    t.run(["apply"])
        .status(2)
        .stderr_contains("`src/blog/models` is a symlink, and restack never writes through one");
    assert_same_tree(&outside_before, &support::tree(outside.path()));
    assert_same_tree(&before, &t.tree());
}

/// A first apply whose texts do not all fit in memory (over 2 MiB: restack spills the others
/// to a temp file and reads them back as it writes them) writes exactly the tree of a first
/// apply that renders them again (no temp folder to spill to) and of one that holds every text
/// (`--diff`); `check` is clean after it.
#[test]
fn a_large_first_apply_writes_the_same_tree_however_its_texts_are_kept() {
    let manifest = large_manifest();
    let spilled = Test::scratch().manifest(&manifest);
    let rendered_again = Test::scratch().manifest(&manifest);
    let in_memory = Test::scratch().manifest(&manifest);
    spilled.run(["apply"]).status(0);
    let missing = rendered_again.path("no-such-folder");
    rendered_again
        .run_with_env(["apply"], &[("TMPDIR", &missing)])
        .status(0);
    in_memory.run(["apply", "--diff"]).status(0);
    let tree = spilled.tree();
    let texts: usize = tree
        .iter()
        .filter(|(rel, _)| !rel.starts_with(".restack/") && *rel != "restack.kdl")
        .map(|(_, bytes)| bytes.len())
        .sum();
    assert!(
        texts > 2 << 20,
        "the texts must not fit in memory: {texts} bytes"
    );
    support::assert_same_tree(&tree, &rendered_again.tree());
    support::assert_same_tree(&tree, &in_memory.tree());
    spilled.run(["check"]).status(0);
}

/// A manifest of about 2,000 files, 3 MB of texts: the [`big_manifest`] entities, three times.
fn large_manifest() -> String {
    let mut text = big_manifest(0);
    for copy in 1..3 {
        let more = big_manifest(0)
            .split_once("}\n")
            .expect("the project node")
            .1
            .replace("\"Fn", &format!("\"Fn{copy}x"))
            .replace("\"Flow", &format!("\"Flow{copy}x"))
            .replace("\"Agent", &format!("\"Agent{copy}x"));
        text.push_str(&more);
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Atomicity: SIGKILL at any point

/// A manifest of `3 * n + 10`-ish entities; `revision` changes every function, workflow and agent
/// docstring, and its parity renames every function's input field (models and call sites).
fn big_manifest(revision: usize) -> String {
    use std::fmt::Write as _;
    let field = if revision.is_multiple_of(2) { "x" } else { "y" };
    let mut text = String::from("project \"big\" {\n    python \">=3.10,<3.14\"\n}\n");
    for i in 0..BIG_FUNCTIONS {
        let _ = writeln!(
            text,
            "function \"Fn{i}\" {{\n    doc \"Function {i}, revision {revision}.\"\n    input {{ field \"{field}\" \"str\"; }}\n    output \"str\"\n}}"
        );
        let _ = writeln!(
            text,
            "workflow \"Flow{i}\" {{\n    doc \"Workflow {i}, revision {revision}.\"\n    input {{ field \"items\" \"list[str]\"; }}\n    output \"int\"\n    calls \"Fn{i}\"\n}}"
        );
    }
    for i in 0..BIG_AGENTS {
        let _ = writeln!(
            text,
            "agent \"Agent{i}\" {{\n    doc \"Agent {i}, revision {revision}.\"\n    event \"started\" {{ field \"user_id\" \"str\"; }}\n    calls \"Fn{i}\"\n}}"
        );
    }
    text
}

const BIG_FUNCTIONS: usize = 110;
const BIG_AGENTS: usize = 100;

/// User work in scaffolds of the big project: (path, the edit's marker line).
fn big_user_edits(t: &Test) -> Vec<(String, String)> {
    let mut edits = Vec::new();
    for i in (0..BIG_FUNCTIONS).step_by(10) {
        let rel = format!("src/big/functions/fn{i}.py");
        let marker = format!("    return \"user {i}\"  # my business logic\n");
        t.edit(&rel, "    return \"\"\n", &marker);
        edits.push((rel, marker));
    }
    for i in (5..BIG_AGENTS).step_by(10) {
        let rel = format!("src/big/agents/agent{i}.py");
        let marker = "        self._state = self._state  # my business logic\n".to_owned();
        t.edit(
            &rel,
            "        log_event(\"started received\", input=event_input.model_dump(mode=\"json\"))\n",
            &format!(
                "        log_event(\"started received\", input=event_input.model_dump(mode=\"json\"))\n{marker}"
            ),
        );
        edits.push((rel, marker));
    }
    edits
}

fn assert_user_edits(t: &Test, edits: &[(String, String)], context: &str) {
    for (rel, marker) in edits {
        let text = t.read(rel);
        assert!(
            text.contains(marker.as_str()),
            "{context}: the user edit in `{rel}` was lost:\n{text}"
        );
    }
}

/// Relative paths of leftover `.restack-*` temp files anywhere in the project.
fn temp_files(t: &Test) -> Vec<String> {
    t.paths()
        .into_iter()
        .filter(|rel| {
            rel.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with(".restack-"))
        })
        .collect()
}

/// A small deterministic generator (xorshift), seeded per run; the seed is in every message.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Where a kill is aimed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// After a random delay within a whole apply's duration (mostly before the journal).
    Delay,
    /// As soon as the journal exists (the first writes).
    JournalWritten,
    /// A random short while after the journal exists (mid-writes).
    MidWrites,
    /// As soon as the state file changed (the state write, before the journal is removed).
    StateWritten,
}

/// Waits until `ready()` or the child exits; returns whether `ready()` became true.
fn wait_for(child: &mut std::process::Child, ready: impl Fn() -> bool) -> bool {
    loop {
        if ready() {
            return true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn apply_killed_at_any_point_is_completed_by_the_next_apply() {
    const ITERATIONS: usize = 25;
    const MIN_ITERATIONS: usize = 8;
    /// The loop stops early (after MIN_ITERATIONS) once this is spent, to bound the test's time
    /// on a loaded machine. Not an assertion.
    const BUDGET: Duration = Duration::from_secs(40);

    let t = Test::scratch().manifest(&big_manifest(0));
    t.run(["apply"]).status(0);
    let generated = t
        .tree()
        .into_keys()
        .filter(|rel| !rel.starts_with(".restack/"))
        .count();
    assert!(
        generated >= 950,
        "the big project has only {generated} files"
    );
    let edits = big_user_edits(&t);

    // One uninterrupted apply of a change: merges the user edits, and measures how long an apply
    // takes here so that the random delays span all of it.
    t.write("restack.kdl", &big_manifest(1));
    let started = Instant::now();
    t.run(["apply"])
        .status(0)
        .stderr_contains(&format!("{} merged", edits.len()));
    let full = started.elapsed();
    assert_user_edits(&t, &edits, "after the first merge");
    t.run(["check"]).status(0);

    let mut rng = Rng::new();
    let seed = rng.0;
    let mut interrupted = 0;
    let loop_started = Instant::now();
    for iteration in 0..ITERATIONS {
        if iteration >= MIN_ITERATIONS && loop_started.elapsed() > BUDGET {
            break;
        }
        let kill_at = [
            KillAt::Delay,
            KillAt::JournalWritten,
            KillAt::MidWrites,
            KillAt::StateWritten,
        ][iteration % 4];
        let context = format!("seed {seed:#x}, iteration {iteration}, kill {kill_at:?}");
        t.write("restack.kdl", &big_manifest(iteration + 2));
        let state_before = std::fs::read(t.path(".restack/state.json")).expect("state");
        let journal = t.path(".restack/journal.json");
        let state = t.path(".restack/state.json");

        let mut child = t.spawn(["apply"]);
        match kill_at {
            KillAt::Delay => {
                let millis = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
                std::thread::sleep(Duration::from_millis(rng.below(millis + 1)));
            }
            KillAt::JournalWritten => {
                wait_for(&mut child, || journal.exists());
            }
            KillAt::MidWrites => {
                if wait_for(&mut child, || journal.exists()) {
                    std::thread::sleep(Duration::from_micros(rng.below(30_000)));
                }
            }
            KillAt::StateWritten => {
                wait_for(&mut child, || {
                    std::fs::read(&state).is_ok_and(|now| now != state_before)
                });
            }
        }
        // SIGKILL on Unix; an error only means the child already exited.
        let _ = child.kill();
        child.wait().expect("wait for the killed apply");

        if iteration % 3 == 2 {
            // A second crash, this time of the apply that is completing the first one.
            let mut again = t.spawn(["apply"]);
            let millis = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
            std::thread::sleep(Duration::from_millis(rng.below(millis + 1)));
            let _ = again.kill();
            again.wait().expect("wait for the killed recovery");
        }
        let was_interrupted = journal.exists();

        let recovering = t.run(["apply"]).status(0);
        if was_interrupted {
            interrupted += 1;
            assert!(
                recovering
                    .stderr
                    .contains("Completed an interrupted apply first."),
                "{context}: {recovering:?}"
            );
        }
        assert!(!journal.exists(), "{context}: the journal is still there");
        let leftovers = temp_files(&t);
        assert!(
            leftovers.is_empty(),
            "{context}: temp files left: {leftovers:?}"
        );
        let check = t.run(["check"]);
        assert_eq!(check.code, Some(0), "{context}: {check:?}");
        assert_user_edits(&t, &edits, &context);
    }
    assert!(
        interrupted > 0,
        "seed {seed:#x}: no kill landed while an apply was writing"
    );
}

// ---------------------------------------------------------------------------------------------
// The lock: concurrent applies never interleave

#[test]
fn concurrent_applies_never_interleave() {
    let t = Test::blog();
    t.edit(ONBOARDING, BODY_FROM, BODY_TO);
    for round in 0..4 {
        t.edit(
            "restack.kdl",
            EVENT_FROM,
            &format!("{EVENT_FROM}    event \"round_{round}\"\n"),
        );
        let first = t.spawn_captured(["apply"]);
        let second = t.spawn_captured(["apply"]);
        let outputs = [
            first.wait_with_output().expect("first apply"),
            second.wait_with_output().expect("second apply"),
        ];
        let mut codes: Vec<Option<i32>> = outputs.iter().map(|it| it.status.code()).collect();
        codes.sort_unstable();
        let report = || {
            outputs
                .iter()
                .map(|it| {
                    format!(
                        "{:?}\n{}{}",
                        it.status.code(),
                        String::from_utf8_lossy(&it.stdout),
                        String::from_utf8_lossy(&it.stderr)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n---\n")
        };
        match codes.as_slice() {
            [Some(0), Some(0)] => {}
            [Some(0), Some(2)] => {
                let loser = outputs
                    .iter()
                    .find(|it| it.status.code() == Some(2))
                    .expect("the loser");
                assert!(
                    String::from_utf8_lossy(&loser.stderr)
                        .contains("another restack is applying in this project"),
                    "round {round}: {}",
                    report()
                );
            }
            _ => panic!("round {round}: unexpected exit codes\n{}", report()),
        }
        t.run(["check"]).status(0);
        assert!(!t.exists(".restack/journal.json"));
        assert!(
            t.read(ONBOARDING)
                .contains("self._state.step = 1  # my business logic")
        );
        assert!(
            t.read(ONBOARDING)
                .contains(&format!("async def round_{round}(")),
            "round {round}"
        );
    }
}

#[test]
fn apply_waits_for_the_lock_and_gives_up_cleanly() {
    let t = Test::blog();
    add_event(&t);
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(t.path(".restack/lock"))
        .expect("open the lock file");

    // Held for the whole bounded wait: exit 2, nothing written.
    lock.lock().expect("take the lock");
    let before = t.tree();
    t.run(["apply"])
        .status(2)
        .stderr_contains("another restack is applying in this project");
    assert_same_tree(&before, &t.tree());

    // Released while apply waits: it goes on and applies.
    let waiting = t.spawn_captured(["apply"]);
    std::thread::sleep(Duration::from_millis(300));
    lock.unlock().expect("release the lock");
    let output = waiting.wait_with_output().expect("apply");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    t.run(["check"]).status(0);
    assert!(t.read(ONBOARDING).contains("async def account_verified("));
}
