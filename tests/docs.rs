//! docs/troubleshooting.md explains every `restack doctor` check (with a fix) and, through
//! docs/codes.md, every diagnostic code. Reads the docs and calls `doctor::diagnose` on hand-built
//! facts; must not write anything. (tests/schema.rs proves docs/codes.md is generated from
//! `Code`; this test proves troubleshooting reaches it.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use restack::diag::Code;
use restack::doctor::{self, Facts, GitFacts, ManifestFacts};

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Facts under which every check reports (most of them skip: there is no manifest), with one
/// template override so the `overrides` check has a line too.
fn facts() -> Facts {
    Facts {
        manifest: ManifestFacts::NotFound {
            dir: PathBuf::from("/p"),
        },
        pins: std::collections::BTreeMap::new(),
        overrides: vec!["service.py.j2".to_owned()],
        override_problems: Vec::new(),
        interpreter: None,
        python: None,
        venv: None,
        engine: None,
        engine_api: None,
        service_import: None,
        service_skipped: None,
        keys: Vec::new(),
        git: GitFacts::NotARepo,
        sync: None,
    }
}

#[test]
fn the_check_list_is_every_check_doctor_runs() {
    let reported: Vec<&str> = doctor::diagnose(&facts())
        .iter()
        .map(|it| it.check)
        .collect();
    assert_eq!(reported, doctor::CHECKS, "doctor::CHECKS is out of date");
}

/// The rows of the troubleshooting table of checks: the ids of the first cell, and the rest.
fn check_rows(text: &str) -> Vec<(BTreeSet<String>, Vec<String>)> {
    text.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|it| it.trim().to_owned())
                .collect();
            let ids = cells[0]
                .split(", ")
                .map(|it| it.trim_matches('`').to_owned())
                .collect();
            (ids, cells[1..].to_vec())
        })
        .collect()
}

#[test]
fn troubleshooting_explains_every_doctor_check_with_a_fix() {
    let text = doc("troubleshooting.md");
    let rows = check_rows(&text);
    let mut documented = BTreeSet::new();
    for check in doctor::CHECKS {
        let Some((_, rest)) = rows.iter().find(|(ids, _)| ids.contains(*check)) else {
            panic!("docs/troubleshooting.md has no row for doctor check `{check}`");
        };
        assert_eq!(
            rest.len(),
            2,
            "the row of `{check}` needs what it looks at and a fix: {rest:?}"
        );
        assert!(
            rest.iter().all(|cell| cell.len() > 10),
            "the row of `{check}` has an empty cell: {rest:?}"
        );
        documented.insert((*check).to_owned());
    }
    // No row documents a check that does not exist.
    for (ids, _) in &rows {
        for id in ids {
            assert!(
                documented.contains(id),
                "docs/troubleshooting.md documents `{id}`, which is no doctor check"
            );
        }
    }
}

#[test]
fn troubleshooting_reaches_every_diagnostic_code_through_codes_md() {
    let troubleshooting = doc("troubleshooting.md");
    assert!(
        troubleshooting.contains("](codes.md)"),
        "docs/troubleshooting.md does not link docs/codes.md"
    );
    assert!(
        troubleshooting.contains("restack explain"),
        "docs/troubleshooting.md does not name `restack explain`"
    );
    let codes = doc("codes.md");
    for code in Code::ALL {
        let name = code.name();
        let heading = format!("\n## `{name}`\n");
        let Some(at) = codes.find(&heading) else {
            panic!("docs/codes.md has no section for `{name}`");
        };
        let section = &codes[at + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        assert!(
            section.contains(code.explanation()),
            "docs/codes.md does not explain `{name}` in its section"
        );
    }
}
