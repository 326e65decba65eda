//! The render record (`.restack/cache/render.json`, see `src/record.rs`): `plan` and `check`
//! print exactly the same with it as without it, in every situation a user meets; it is used
//! only for the exact inputs it was made from; a broken record is ignored; and `plan`/`check`
//! still write nothing. Observed through the binary only.

#[allow(
    dead_code,
    reason = "the builder is shared with tests/cli.rs; not every helper is used here"
)]
mod support;

use support::{Test, assert_same_tree};

const RECORD: &str = ".restack/cache/render.json";
const SCAFFOLD: &str = "src/blog/functions/send_email.py";
const AGENT: &str = "src/blog/agents/onboarding.py";

/// The outputs of `plan`, `plan --json`, `plan --diff`, `check` and `check --workspace`, with
/// status, stdout and stderr.
fn outputs(t: &Test) -> Vec<(Option<i32>, String, String)> {
    [
        vec!["plan"],
        vec!["plan", "--json"],
        vec!["plan", "--diff"],
        vec!["check"],
        vec!["check", "--json"],
        vec!["-q", "check"],
        vec!["check", "--workspace"],
    ]
    .into_iter()
    .map(|args| {
        let out = t.run(args);
        (out.code, out.stdout, out.stderr)
    })
    .collect()
}

/// Asserts that every read-only command prints the same with the record as without it (the
/// record is moved away and back), that neither run writes anything, and whether the record
/// proved the project unchanged (`fast`; seen through a warning planted in a copy of it).
#[track_caller]
fn same_with_and_without_record(t: &Test, situation: &str, fast: bool) {
    assert!(t.exists(RECORD), "{situation}: apply wrote no record");
    let record = t.read(RECORD);
    plant_warning(t);
    let planted = t.run(["check"]).stderr.contains("planted in the record");
    assert_eq!(planted, fast, "{situation}: was the record used?");
    t.write(RECORD, &record);
    let before = t.tree();
    let with = outputs(t);
    assert_same_tree(&before, &t.tree());
    std::fs::remove_file(t.path(RECORD)).expect("remove the record");
    let without = outputs(t);
    // `plan` keeps hashes and the texts it merges; `plan --out` keeps every text (to save them).
    // Both print the same plan.
    let saved = tempfile::tempdir().expect("temp dir");
    let out = saved.path().join("plan.json");
    let all_texts = t.run(["plan", "--out", out.to_str().expect("UTF-8 path")]);
    assert_eq!(
        (all_texts.code, &all_texts.stdout),
        (without[0].0, &without[0].1),
        "{situation}: plan with every text"
    );
    t.write(RECORD, &record);
    assert_same_tree(&before, &t.tree());
    for (with, without) in with.iter().zip(&without) {
        assert_eq!(with, without, "{situation}");
    }
}

#[test]
fn plan_and_check_print_the_same_with_or_without_the_record() {
    let t = Test::blog();
    same_with_and_without_record(&t, "in sync", true);

    // A scaffold the user wrote code in, still defining what the manifest expects.
    t.edit(SCAFFOLD, "    return", "    # my code\n    return");
    same_with_and_without_record(&t, "an edited scaffold", true);

    // Scaffolds that disagree with the manifest: warnings, checked again from their new text.
    t.edit(SCAFFOLD, "async def send_email(", "async def send_mail(");
    same_with_and_without_record(&t, "a scaffold missing its function", true);
    let agent = t.read(AGENT);
    t.write(AGENT, &format!("{agent}\ndef broken(:\n"));
    same_with_and_without_record(&t, "a scaffold that does not parse", true);
    t.write(AGENT, &agent);

    // A hand-edited managed file: blocked, with a diff.
    let registry = t.read("src/blog/registry.py");
    t.write("src/blog/registry.py", &format!("{registry}# mine\n"));
    same_with_and_without_record(&t, "a managed file edited by hand", false);
    t.write("src/blog/registry.py", &registry);

    // A deleted scaffold and a deleted managed file: created again.
    let readme = t.read("README.md");
    std::fs::remove_file(t.path("README.md")).expect("rm");
    std::fs::remove_file(t.path("tests/conftest.py")).expect("rm");
    same_with_and_without_record(&t, "deleted files", false);
    t.write("README.md", &readme);
    t.run(["apply"]).status(0);

    // A file in the way that restack never wrote, and orphans in the state: one still on disk
    // (deleted), one already gone (dropped).
    let state = t.read(".restack/state.json");
    let conftest = t.read("tests/conftest.py");
    t.write(
        ".restack/state.json",
        &state.replace("\"tests/conftest.py\"", "\"tests/gone.py\""),
    );
    t.write("tests/conftest.py", &format!("{conftest}# mine\n"));
    same_with_and_without_record(&t, "an unowned file and a gone orphan", false);
    t.write("tests/gone.py", &conftest);
    same_with_and_without_record(&t, "an orphan on disk", false);
    std::fs::remove_file(t.path("tests/gone.py")).expect("rm");
    t.write("tests/conftest.py", &conftest);
    t.write(".restack/state.json", &state);

    // A scaffold's merge base missing: the plan stores it again.
    std::fs::remove_file(t.path(&format!(".restack/base/{AGENT}"))).expect("rm base");
    same_with_and_without_record(&t, "a missing merge base", false);
    t.run(["apply"]).status(0);
    same_with_and_without_record(&t, "back in sync", true);
}

#[test]
fn an_override_and_its_warnings_are_inputs_of_the_record() {
    let t = Test::blog();
    t.write("restack-templates/core/nope.j2", "unknown name\n");
    t.run(["apply"])
        .status(0)
        .stderr_contains("restack-templates/core/nope.j2");
    same_with_and_without_record(&t, "an override with an unknown name", true);

    t.write(
        "restack-templates/core/README.md.j2",
        "# {{ project.name }}, my own README\n",
    );
    // A new override is a new input: the record no longer matches, the README would change.
    same_with_and_without_record(&t, "a new override", false);
    t.run(["plan"]).status(0).stdout_contains("README.md");
}

/// A record with a warning nobody wrote: shown only while the record is used.
fn plant_warning(t: &Test) {
    let mut record: serde_json::Value =
        serde_json::from_str(&t.read(RECORD)).expect("the record is JSON");
    record["diagnostics"] = serde_json::json!([{
        "code": "unused-variable",
        "severity": "warning",
        "message": "planted in the record",
        "span": [0, 7],
        "label": "here",
        "help": null,
        "related": [],
    }]);
    t.write(RECORD, &record.to_string());
}

#[test]
fn the_record_is_used_only_for_the_inputs_it_was_made_from() {
    let t = Test::blog();
    plant_warning(&t);
    // Used: the project did not change since the record was made.
    t.run(["check"])
        .status(0)
        .stderr_contains("planted in the record");

    // Another manifest (one comment more): the record is not used.
    let manifest = t.read("restack.kdl");
    t.write("restack.kdl", &format!("// a comment\n{manifest}"));
    let out = t.run(["check"]).status(0);
    assert!(!out.stderr.contains("planted"), "{}", out.stderr);
    t.write("restack.kdl", &manifest);
    t.run(["check"])
        .status(0)
        .stderr_contains("planted in the record");

    // Other overrides: not used either.
    t.write(
        "restack-templates/core/README.md.j2",
        "# {{ project.name }}\n",
    );
    let out = t.run(["plan"]).status(0);
    assert!(!out.stderr.contains("planted"), "{}", out.stderr);
    std::fs::remove_dir_all(t.path("restack-templates")).expect("rm");

    // A drifted project is planned from a full rendering: the record's warning is not shown.
    let registry = t.read("src/blog/registry.py");
    t.write("src/blog/registry.py", &format!("{registry}# mine\n"));
    let out = t.run(["check"]).status(1);
    assert!(!out.stderr.contains("planted"), "{}", out.stderr);
    t.write("src/blog/registry.py", &registry);

    // An apply writes a true record again.
    t.run(["apply"]).status(0);
    let out = t.run(["check"]).status(0);
    assert!(!out.stderr.contains("planted"), "{}", out.stderr);
}

#[test]
fn a_broken_or_foreign_record_is_ignored() {
    let t = Test::blog();
    let expected = outputs(&t);
    let record = t.read(RECORD);
    for broken in [
        String::new(),
        "{".to_owned(),
        record[..record.len() / 2].to_owned(),
        record.replace("\"version\":1", "\"version\":99"),
        record.replace("\"files\":{\"", "\"files\":{\"../outside"),
        "[1, 2, 3]".to_owned(),
    ] {
        t.write(RECORD, &broken);
        assert_eq!(outputs(&t), expected, "record: {broken:.80}");
    }
    // The record of another project (a different key) is ignored too.
    let other = Test::blog();
    other.edit(
        "restack.kdl",
        "project \"blog\"",
        "// another project\nproject \"blog\"",
    );
    other.run(["apply"]).status(0);
    t.write(RECORD, &other.read(RECORD));
    assert_eq!(outputs(&t), expected);
}

#[test]
fn the_record_is_never_committed_and_never_created_by_plan() {
    let t = Test::blog();
    assert_eq!(
        t.read(".restack/cache/.gitignore").lines().last(),
        Some("*")
    );
    std::fs::remove_dir_all(t.path(".restack/cache")).expect("rm cache");
    let before = t.tree();
    outputs(&t);
    assert_same_tree(&before, &t.tree());
    t.run(["apply"]).status(0);
    assert!(t.exists(RECORD));
    assert!(t.exists(".restack/cache/.gitignore"));

    // Before the first apply there is no `.restack/`, and plan does not make one.
    let fresh = Test::new().manifest(support::BLOG);
    fresh.run(["plan"]).status(0);
    assert!(!fresh.exists(".restack"));
}

#[cfg(unix)]
#[test]
fn the_record_is_never_read_or_written_through_a_symlink() {
    let t = Test::blog();
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::remove_dir_all(t.path(".restack/cache")).expect("rm cache");
    std::os::unix::fs::symlink(outside.path(), t.path(".restack/cache")).expect("symlink");
    // A manifest edit, so that apply writes files (and would write a record).
    let manifest = t.read("restack.kdl");
    t.write("restack.kdl", &format!("// edited\n{manifest}"));
    t.run(["apply"]).status(0);
    let written: Vec<_> = std::fs::read_dir(outside.path())
        .expect("read dir")
        .map(|it| it.expect("entry").file_name())
        .collect();
    assert!(written.is_empty(), "wrote through the symlink: {written:?}");

    // A record planted behind a symlinked file is not read either.
    std::fs::remove_file(t.path(".restack/cache")).expect("rm symlink");
    t.run(["apply"]).status(0);
    let record = t.read(RECORD);
    plant_warning(&t);
    let planted = t.read(RECORD);
    t.write(RECORD, &record);
    let elsewhere = outside.path().join("render.json");
    #[expect(
        clippy::disallowed_methods,
        reason = "the test plays someone planting a file outside the project"
    )]
    std::fs::write(&elsewhere, planted).expect("write the planted record elsewhere");
    std::fs::remove_file(t.path(RECORD)).expect("rm record");
    std::os::unix::fs::symlink(&elsewhere, t.path(RECORD)).expect("symlink");
    let out = t.run(["check"]).status(0);
    assert!(!out.stderr.contains("planted"), "{}", out.stderr);
}
