//! Computes `RESTACK_BUILD_ID`: a digest of everything that decides what this restack renders
//! (the Rust sources, the embedded templates, the manifest and lock file of the crate). A render
//! record written by one build is never trusted by another (see `src/record.rs`).

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

const INPUTS: &[&str] = &["src", "templates", "Cargo.toml", "Cargo.lock", "build.rs"];

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut files = Vec::new();
    for input in INPUTS {
        println!("cargo::rerun-if-changed={input}");
        collect(&root.join(input), &mut files);
    }
    files.sort();
    // Two SipHash streams with different seeds: 128 bits, plenty for telling builds apart.
    let mut halves = [DefaultHasher::new(), DefaultHasher::new()];
    halves[1].write(b"restack build id, second half");
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file);
        let bytes = std::fs::read(file).unwrap_or_default();
        for hasher in &mut halves {
            hasher.write(relative.to_string_lossy().as_bytes());
            hasher.write_usize(bytes.len());
            hasher.write(&bytes);
        }
    }
    let [first, second] = halves.map(|it| it.finish());
    println!(
        "cargo::rustc-env=RESTACK_BUILD_ID={}-{first:016x}{second:016x}",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
}

/// Every file under `path` (or `path` itself when it is a file).
fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries.flatten() {
                collect(&entry.path(), files);
            }
        }
        Err(_) if path.is_file() => files.push(path.to_path_buf()),
        Err(_) => {}
    }
}
