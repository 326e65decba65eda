//! Property tests: `analyze` never panics, whatever the bytes, and is deterministic.
//!
//! Inputs are random strings and random mutations of the DESIGN.md example (deleted, duplicated
//! and inserted characters, swapped tokens), which keep most of the structure and so reach deep
//! into the decoder and the checks.

use proptest::prelude::*;
use restack::analyze::analyze;

const EXAMPLE: &str = include_str!("../restack.kdl.example");

/// Characters that matter to KDL, the type grammar, the operator grammar and placeholders.
const ALPHABET: &[char] = &[
    '{', '}', '(', ')', '[', ']', '"', '#', '=', ';', '\\', '/', '*', ' ', '\n', '-', '>', '?',
    '|', ',', '→', '⇄', '⊕', 'a', 'Z', '_', '0', '9', '.', 'é',
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, char),
    SwapTokens(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<usize>(), 1..80usize).prop_map(|(at, len)| Edit::Duplicate(at, len)),
        (any::<usize>(), prop::sample::select(ALPHABET)).prop_map(|(at, ch)| Edit::Insert(at, ch)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapTokens(a, b)),
    ]
}

fn floor(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, edit: &Edit) {
    match *edit {
        Edit::Delete(at, len) => {
            let start = floor(text, at);
            let end = floor(text, (start + len).min(text.len()));
            text.replace_range(start..end.max(start), "");
        }
        Edit::Duplicate(at, len) => {
            let start = floor(text, at);
            let end = floor(text, (start + len).min(text.len())).max(start);
            let piece = text[start..end].to_owned();
            text.insert_str(end, &piece);
        }
        Edit::Insert(at, ch) => {
            let at = floor(text, at);
            text.insert(at, ch);
        }
        Edit::SwapTokens(a, b) => {
            let mut tokens: Vec<String> = text.split(' ').map(str::to_owned).collect();
            let n = tokens.len();
            tokens.swap(a % n, b % n);
            *text = tokens.join(" ");
        }
    }
}

fn check(bytes: &[u8]) {
    let first = analyze("restack.kdl", bytes);
    let again = analyze("restack.kdl", bytes);
    assert_eq!(
        first.diagnostics, again.diagnostics,
        "analyze is deterministic"
    );
    assert_eq!(first.project.is_some(), !first.diagnostics.has_errors());
    for diagnostic in &first.diagnostics {
        assert!(
            diagnostic.span.start <= diagnostic.span.end,
            "span {:?} is reversed",
            diagnostic.span
        );
        // Spans index the lossy text that diagnostics are rendered against.
        assert!(
            diagnostic.span.end <= first.text.len().max(1),
            "span {:?} is past the end",
            diagnostic.span
        );
    }
}

#[test]
fn the_example_is_valid() {
    let analysis = analyze("restack.kdl", EXAMPLE.as_bytes());
    assert!(
        analysis.diagnostics.is_empty(),
        "{:?}",
        analysis.diagnostics
    );
    assert!(analysis.project.is_some());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(text in ".{0,400}") {
        check(text.as_bytes());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes);
    }

    #[test]
    fn mutated_example_never_panics(edits in prop::collection::vec(edit(), 1..8)) {
        let mut text = EXAMPLE.to_owned();
        for edit in &edits {
            apply(&mut text, edit);
        }
        check(text.as_bytes());
    }
}

/// Prints how long `analyze_cached` takes for the benchmark's one-entity edit at N = 1,000 (the
/// saves `watch` sees), against the one-shot `analyze`. A measurement, not a test: run with
/// `cargo test --release --test decode_props -- --ignored --nocapture analyze_timing`.
#[test]
#[ignore = "a measurement; prints timings"]
#[expect(clippy::print_stderr, reason = "the measurement is what it prints")]
fn analyze_timing() {
    use std::time::{Duration, Instant};

    let generate = |args: &[&str]| {
        let out = std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/gen.py"))
            .args(args)
            .output()
            .expect("python3 runs bench/gen.py");
        assert!(out.status.success(), "bench/gen.py failed");
        out.stdout
    };
    let n: usize = std::env::var("ANALYZE_N").map_or(1000, |it| it.parse().expect("a number"));
    let base = generate(&[&n.to_string()]);
    let edited = generate(&[&n.to_string(), "--edit", "1"]);
    let median = |mut times: Vec<Duration>| {
        times.sort();
        (times[times.len() / 2], times[0])
    };
    let mut one_shot = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let analysis = analyze("restack.kdl", &base);
        one_shot.push(start.elapsed());
        assert!(analysis.project.is_some());
    }
    let mut cache = restack::manifest::ParseCache::default();
    let _ = restack::analyze::analyze_cached("restack.kdl", &base, &mut cache);
    let mut cached = Vec::new();
    for round in 0..60 {
        let bytes = if round % 2 == 0 { &edited } else { &base };
        let start = Instant::now();
        let analysis = restack::analyze::analyze_cached("restack.kdl", bytes, &mut cache);
        cached.push(start.elapsed());
        assert!(analysis.project.is_some());
    }
    let (one_median, one_min) = median(one_shot);
    let (cached_median, cached_min) = median(cached);
    eprintln!(
        "N = {n}, {} bytes: analyze {one_median:.2?} (min {one_min:.2?}); analyze_cached, one-entity edit: {cached_median:.2?} (min {cached_min:.2?})",
        base.len()
    );
}
