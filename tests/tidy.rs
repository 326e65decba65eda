//! Repository invariants checked by `cargo test`: every diagnostic code has an `err/<code>/` case,
//! every source file opens with a `//!` line, and no debugging leftovers are in `src/`.

use std::path::{Path, PathBuf};

use restack::diag::Code;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_sources() -> Vec<PathBuf> {
    walkdir::WalkDir::new(root().join("src"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|it| it.path().extension().is_some_and(|ext| ext == "rs"))
        .map(walkdir::DirEntry::into_path)
        .collect()
}

#[test]
fn every_code_has_an_err_case() {
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|code| code.name())
        .filter(|name| {
            !root()
                .join("tests/cases/err")
                .join(name)
                .join("restack.kdl")
                .is_file()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a tests/cases/err/<code>/restack.kdl case: {}",
        missing.join(", ")
    );
}

#[test]
fn every_err_case_is_a_code() {
    let dir = root().join("tests/cases/err");
    let mut stray = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/cases/err exists") {
        let name = entry.expect("readable directory entry").file_name();
        let name = name.to_string_lossy();
        if Code::from_name(&name).is_none() {
            stray.push(name.into_owned());
        }
    }
    assert!(
        stray.is_empty(),
        "err/ cases not named after a code: {}",
        stray.join(", ")
    );
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let missing: Vec<String> = rust_sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` line: {}",
        missing.join(", ")
    );
}

#[test]
fn no_debugging_leftovers() {
    let banned = [
        concat!("dbg", "!("),
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
        concat!("FIX", "ME"),
    ];
    let mut found = Vec::new();
    for path in rust_sources() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (index, line) in text.lines().enumerate() {
            for needle in banned {
                if line.contains(needle) {
                    found.push(format!("{}:{}: {needle}", path.display(), index + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "debugging leftovers:\n{}",
        found.join("\n")
    );
}
