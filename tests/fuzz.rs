//! Bounded fuzzing (proptest) of every input restack parses or decides on: the manifest checks
//! (`analyze` over arbitrary bytes and token-level mutations of the example manifests), the
//! operator parser and string offset map, the 3-way merge and the planner. Each target checks
//! invariants, not only "no panic". Replays every input under `fuzz/corpus/` first.
//!
//! Case counts are small so `cargo test` stays fast; `RESTACK_FUZZ_CASES=20000 cargo test --test
//! fuzz` runs every target longer. Must not write outside its temp dirs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{Config, TestCaseError};

use restack::analyze::analyze;
use restack::diag::{self, RenderOptions, Severity};
use restack::ir;
use restack::operators;
use restack::plan::{
    self, Action, Entry, Hash, MergeOutcome, OnDisk, Plan, PlanOptions, Snapshot, State,
};
use restack::render::{self, File, FileSet, Kind};

/// The manifests the structured mutations start from.
const SEEDS: &[&str] = &[
    include_str!("../restack.kdl.example"),
    include_str!("../examples/blog/restack.kdl"),
    include_str!("../examples/research/restack.kdl"),
    include_str!("../examples/support-desk/restack.kdl"),
];

/// `RESTACK_FUZZ_CASES` when set (to run longer locally), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("RESTACK_FUZZ_CASES")
        .ok()
        .and_then(|it| it.parse().ok())
        .unwrap_or(default)
}

fn config(default: u32) -> Config {
    Config {
        cases: cases(default),
        failure_persistence: None,
        ..Config::default()
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every file of `fuzz/corpus/<target>/`, by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|err| panic!("fuzz/corpus/{target}: {err}"))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read corpus file"))
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "fuzz/corpus/{target} is empty");
    found
}

// =============================================================================================
// (a) The manifest: analyze + render

/// A span is inside the source and, for UTF-8 sources, on char boundaries.
fn check_span(
    span: &std::ops::Range<usize>,
    bytes: &[u8],
    text: Option<&str>,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert!(
        span.start <= span.end && span.end <= bytes.len(),
        "{what}: span {span:?} outside 0..{}",
        bytes.len()
    );
    if let Some(text) = text {
        prop_assert!(
            text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
            "{what}: span {span:?} not on char boundaries"
        );
    }
    Ok(())
}

/// [`check_manifest_here`] on a thread with the main thread's usual 8 MiB stack, which is what
/// the binary runs `analyze` on (test threads get 2 MiB).
fn check_manifest(bytes: &[u8]) -> Result<(), TestCaseError> {
    let bytes = bytes.to_vec();
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || check_manifest_here(&bytes))
        .expect("spawn checker")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Every invariant of `analyze` (and of rendering a valid result) for one input.
fn check_manifest_here(bytes: &[u8]) -> Result<(), TestCaseError> {
    let analysis = analyze("restack.kdl", bytes);
    // Diagnostics are rendered against `analysis.text`, the (lossy) UTF-8 copy of the bytes, so
    // that is what their spans index: for UTF-8 input it is the bytes themselves; for other input
    // each bad sequence became one U+FFFD, three bytes long.
    prop_assert_eq!(
        std::str::from_utf8(bytes).is_ok(),
        analysis.text.as_bytes() == bytes
    );
    let text = analysis.text.as_str();
    for diagnostic in &analysis.diagnostics {
        let what = format!("{} `{}`", diagnostic.code.name(), diagnostic.message);
        check_span(&diagnostic.span, text.as_bytes(), Some(text), &what)?;
        for (span, _) in &diagnostic.related {
            check_span(
                span,
                text.as_bytes(),
                Some(text),
                &format!("related of {what}"),
            )?;
        }
        prop_assert!(
            !diagnostic.message.is_empty(),
            "empty message: {diagnostic:?}"
        );
    }
    let has_errors = analysis
        .diagnostics
        .iter()
        .any(|it| it.severity == Severity::Error);
    prop_assert_eq!(
        analysis.project.is_some(),
        !has_errors,
        "a project exactly when there is no error"
    );
    // Deterministic: the same bytes give the same diagnostics.
    let again = analyze("restack.kdl", bytes);
    prop_assert_eq!(&analysis.diagnostics, &again.diagnostics);
    // What the CLI prints must not panic either.
    let diagnostics: Vec<_> = analysis.diagnostics.iter().cloned().collect();
    let _ = diag::render(
        "restack.kdl",
        &analysis.text,
        &diagnostics,
        RenderOptions::default(),
    );

    if let Some(project) = analysis.project.clone().map(Arc::new) {
        let files = render::render(&project).map_err(|err| {
            TestCaseError::fail(format!("a valid manifest failed to render: {err}"))
        })?;
        for (rel, file) in &files.files {
            prop_assert!(
                plan::path::validate(rel).is_ok(),
                "a valid manifest renders the unsafe path `{rel}`"
            );
            let (start, end) = file.origin.span;
            prop_assert!(
                start <= end && end <= bytes.len(),
                "`{rel}` names a span {start}..{end} outside the manifest"
            );
            prop_assert!(
                !file.origin.entity.is_empty(),
                "`{rel}` names no manifest entity"
            );
        }
    }
    Ok(())
}

/// A token of a KDL-ish text: a quoted string, a run of whitespace, a bare word or one
/// punctuation char. Good enough to mutate at token level; never splits a char.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let len = if first == '"' {
            let mut escaped = false;
            let mut end = rest.len();
            for (at, c) in rest.char_indices().skip(1) {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = at + 1;
                        break;
                    }
                    _ => {}
                }
            }
            end
        } else if first.is_whitespace() {
            rest.find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len())
        } else if "{}();=#".contains(first) {
            first.len_utf8()
        } else {
            rest.find(|c: char| c.is_whitespace() || "{}();=\"#".contains(c))
                .unwrap_or(rest.len())
        };
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// Top-level nodes (and comment lines): token ranges split at newlines at brace depth 0.
fn node_ranges(toks: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut depth = 0_i32;
    let mut start = 0;
    for (at, tok) in toks.iter().enumerate() {
        match *tok {
            "{" => depth += 1,
            "}" => depth -= 1,
            _ if depth <= 0 && tok.contains('\n') => {
                ranges.push(start..at + 1);
                start = at + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() {
        ranges.push(start..toks.len());
    }
    ranges
}

/// Values of other kinds, odd literals and escapes, to put where a token was.
const VALUES: &[&str] = &[
    "#true",
    "#false",
    "#null",
    "#inf",
    "#-inf",
    "#nan",
    "0",
    "-1",
    "1.5e3",
    "0x1F",
    "0o777",
    "0b101",
    "18446744073709551616",
    "-9223372036854775809",
    "1_000",
    "\"\"",
    "\"x\"",
    "\"\\u{1F600}\"",
    "\"\\u{D800}\"",
    "\"\\n\\t\\\\\\\"\\s\\b\\f\"",
    "\"a\\   \n   b\"",
    "\"\\/\"",
    "#\"raw \" string\"#",
    "##\"r#\"aw\"##",
    "\"\"\"\n    multi\n      line\n    \"\"\"",
    "#\"\"\"\n  raw multi\n  \"\"\"#",
    "(str)\"typed\"",
    "(u8)300",
    "bare-ident",
    "key=\"v\"",
    "=",
    ";",
    "/-",
    "/* c */",
    "// c\n",
    "{",
    "}",
    "{}",
    "\\",
    "\"10s\"",
    "\"-5m\"",
    "\"99999999999h\"",
    "\"0s\"",
    "\"list[dict[str, int]]\"",
    "\"Optional[\"",
    "\"A → B ⇄ C →? D\"",
    "\"(A ⊕ (B → C)) → D\"",
    "\"A -> -> B\"",
    "\"((((((((A))))))))\"",
    "\"\"",
];

/// Unicode and control characters to insert anywhere.
const SNIPPETS: &[&str] = &[
    "é", "日本", "🦀", "\u{feff}", "\u{200b}", "\u{202e}", "\u{301}", "\u{85}", "\u{2028}", "\r\n",
    "\r", "\t", "\u{b}", "\0", "\u{7f}", "⇄", "→?", "⊕", "\"", "#", "\\u{", "/*", "*/", " ", "\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteTokens(Index, usize),
    DuplicateTokens(Index, usize),
    SwapTokens(Index, Index),
    ReplaceToken(Index, Index),
    Insert(Index, Index),
    DeleteNode(Index),
    DuplicateNode(Index),
    SwapNodes(Index, Index),
    /// Wraps the tokens from the index on in `depth` levels of `n {` … `}`.
    Nest(Index, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..6_usize).prop_map(|(at, n)| Mutation::DeleteTokens(at, n)),
        (any::<Index>(), 1..6_usize).prop_map(|(at, n)| Mutation::DuplicateTokens(at, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapTokens(a, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::ReplaceToken(a, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        any::<Index>().prop_map(Mutation::DeleteNode),
        any::<Index>().prop_map(Mutation::DuplicateNode),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapNodes(a, b)),
        (any::<Index>(), 1..200_usize).prop_map(|(at, n)| Mutation::Nest(at, n)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(seed: &str, mutations: &[Mutation]) -> String {
    let mut text = seed.to_owned();
    for mutation in mutations {
        let toks: Vec<String> = tokens(&text).into_iter().map(str::to_owned).collect();
        if toks.is_empty() {
            break;
        }
        let nodes = node_ranges(&toks.iter().map(String::as_str).collect::<Vec<_>>());
        let mut out = toks.clone();
        match mutation {
            Mutation::DeleteTokens(at, n) => {
                let start = at.index(toks.len());
                out.drain(start..(start + n).min(toks.len()));
            }
            Mutation::DuplicateTokens(at, n) => {
                let start = at.index(toks.len());
                let end = (start + n).min(toks.len());
                let copy: Vec<String> = toks[start..end].to_vec();
                out.splice(end..end, copy);
            }
            Mutation::SwapTokens(a, b) => out.swap(a.index(toks.len()), b.index(toks.len())),
            Mutation::ReplaceToken(at, value) => {
                out[at.index(toks.len())] = value.get(VALUES).to_string();
            }
            Mutation::Insert(at, snippet) => {
                out.insert(at.index(toks.len() + 1), snippet.get(SNIPPETS).to_string());
            }
            Mutation::DeleteNode(at) => {
                let range = nodes[at.index(nodes.len())].clone();
                out.drain(range);
            }
            Mutation::DuplicateNode(at) => {
                let range = nodes[at.index(nodes.len())].clone();
                let copy: Vec<String> = toks[range.clone()].to_vec();
                out.splice(range.end..range.end, copy);
            }
            Mutation::SwapNodes(a, b) => {
                let (a, b) = (
                    nodes[a.index(nodes.len())].clone(),
                    nodes[b.index(nodes.len())].clone(),
                );
                let (first, second) = if a.start <= b.start { (a, b) } else { (b, a) };
                if first.end <= second.start {
                    out = toks[..first.start].to_vec();
                    out.extend_from_slice(&toks[second.clone()]);
                    out.extend_from_slice(&toks[first.end..second.start]);
                    out.extend_from_slice(&toks[first.clone()]);
                    out.extend_from_slice(&toks[second.end..]);
                }
            }
            Mutation::Nest(at, depth) => {
                let start = at.index(toks.len());
                out = toks[..start].to_vec();
                out.push("n {".repeat(*depth));
                out.extend_from_slice(&toks[start..]);
                out.push("\n".to_owned());
                out.push("}".repeat(*depth));
            }
            Mutation::Truncate(at) => out.truncate(at.index(toks.len())),
        }
        text = out.concat();
    }
    text
}

#[test]
fn manifest_corpus_replays() {
    for (name, bytes) in corpus("manifest") {
        check_manifest(&bytes).unwrap_or_else(|err| panic!("fuzz/corpus/manifest/{name}: {err}"));
    }
}

#[test]
fn seeds_are_valid_manifests() {
    for seed in SEEDS {
        let analysis = analyze("restack.kdl", seed.as_bytes());
        assert!(analysis.project.is_some(), "{:?}", analysis.diagnostics);
        check_manifest(seed.as_bytes()).expect("seed invariants");
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn manifest_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_manifest(&bytes)?;
    }

    #[test]
    fn manifest_arbitrary_text(text in "\\PC{0,300}") {
        check_manifest(text.as_bytes())?;
    }

    #[test]
    fn manifest_token_mutations(
        seed in 0..SEEDS.len(),
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        check_manifest(mutate(SEEDS[seed], &mutations).as_bytes())?;
    }

    #[test]
    fn manifest_with_invalid_utf8(seed in 0..SEEDS.len(), at in any::<Index>(), junk in proptest::collection::vec(0x80_u8..=0xff, 1..4)) {
        let bytes = SEEDS[seed].as_bytes();
        let at = at.index(bytes.len());
        let mut mutated = bytes[..at].to_vec();
        mutated.extend_from_slice(&junk);
        mutated.extend_from_slice(&bytes[at..]);
        check_manifest(&mutated)?;
    }
}

/// A sample of mutated manifests through the real binary: `validate` exits 0 exactly when
/// `analyze` finds no error, else 1 — never 2 (restack failed) or a crash for bad input.
#[test]
fn exit_status_class_through_the_binary() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Deterministic: the same sample on every run.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut samples: Vec<(String, Vec<u8>)> = corpus("manifest");
    for n in 0..12 {
        let seed = SEEDS[n % SEEDS.len()];
        let mutations = proptest::collection::vec(mutation(), 1..4)
            .new_tree(&mut runner)
            .expect("generate")
            .current();
        samples.push((
            format!("sample {n}: {mutations:?}"),
            mutate(seed, &mutations).into_bytes(),
        ));
    }
    samples.push((
        "truncated".to_owned(),
        SEEDS[0].as_bytes()[..SEEDS[0].len() / 2].to_vec(),
    ));
    for (name, bytes) in samples {
        let path = dir.path().join("restack.kdl");
        std::fs::File::create(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &bytes))
            .expect("write manifest");
        let expected = i32::from(analyze("restack.kdl", &bytes).diagnostics.has_errors());
        let output = Command::new(env!("CARGO_BIN_EXE_restack"))
            .args(["validate"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run restack");
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

// =============================================================================================
// (b) The operator parser and the string offset map

fn check_operators(src: &str) -> Result<(), TestCaseError> {
    let (pipeline, errors) = operators::parse(src);
    for error in &errors {
        check_span(&error.span, src.as_bytes(), Some(src), &error.message)?;
        for (span, label) in &error.related {
            check_span(span, src.as_bytes(), Some(src), label)?;
        }
        prop_assert!(!error.message.is_empty());
    }
    prop_assert!(
        errors
            .windows(2)
            .all(|it| (it[0].span.start, it[0].span.end) <= (it[1].span.start, it[1].span.end)),
        "errors are in source order"
    );
    check_pipeline(&pipeline, src)?;
    let (again, again_errors) = operators::parse(src);
    prop_assert_eq!(&pipeline, &again);
    prop_assert_eq!(&errors, &again_errors);
    if errors.is_empty() {
        prop_assert!(!pipeline.stages.is_empty(), "a clean parse has a stage");
        let graph = operators::lower("P", &pipeline, 3, &BTreeMap::new());
        let _ = graph;
    }
    Ok(())
}

fn check_pipeline(pipeline: &operators::Pipeline, src: &str) -> Result<(), TestCaseError> {
    for stage in &pipeline.stages {
        check_span(&stage.span, src.as_bytes(), Some(src), "stage")?;
        let steps: Vec<&operators::Step> = match &stage.body {
            operators::StageBody::Loop { a, b } => vec![a, b],
            operators::StageBody::Group { units } => {
                let mut steps = Vec::new();
                for unit in units {
                    match unit {
                        operators::Unit::Step(step) => steps.push(step),
                        operators::Unit::Nested { pipeline } => check_pipeline(pipeline, src)?,
                    }
                }
                steps
            }
        };
        for step in steps {
            check_span(&step.span, src.as_bytes(), Some(src), "step")?;
            if !step.name.is_empty() {
                prop_assert_eq!(&src[step.span.clone()], step.name.as_str());
            }
        }
    }
    Ok(())
}

/// The decoded value of `raw` as the `kdl` crate reads it, when it is one string literal.
fn kdl_string(raw: &str) -> Option<String> {
    let doc = kdl::KdlDocument::parse_v2(&format!("n {raw}")).ok()?;
    let node = doc.nodes().first()?;
    if doc.nodes().len() != 1 || node.entries().len() != 1 || node.children().is_some() {
        return None;
    }
    let entry = node.entries().first()?;
    let exact = entry.span().offset() == 2 && entry.span().len() == raw.len();
    if !exact || entry.name().is_some() || entry.ty().is_some() {
        return None;
    }
    entry.value().as_string().map(str::to_owned)
}

fn check_offsets(raw: &str) -> Result<(), TestCaseError> {
    let offsets = operators::value_offsets(raw);
    let decoded = kdl_string(raw);
    if let Some(offsets) = &offsets {
        prop_assert!(
            offsets.windows(2).all(|it| it[0] <= it[1]),
            "offsets are monotonic: {offsets:?}"
        );
        for &at in offsets {
            prop_assert!(at <= raw.len(), "offset {at} outside `{raw}`");
        }
    }
    // Whenever the kdl crate reads `raw` as one string, the map exists and covers every byte.
    if let Some(decoded) = decoded {
        let Some(offsets) = offsets else {
            return Err(TestCaseError::fail(format!(
                "value_offsets refused `{raw}`, which kdl decodes to {decoded:?}"
            )));
        };
        prop_assert_eq!(
            offsets.len(),
            decoded.len() + 1,
            "one offset per decoded byte plus the end, for {:?}",
            raw
        );
        prop_assert!(
            raw.is_char_boundary(offsets[decoded.len()]),
            "the end maps inside a char of {raw:?}"
        );
        for (at, c) in decoded.char_indices() {
            // A decoded char boundary maps to a raw char boundary: spans cut no char in two.
            prop_assert!(
                raw.is_char_boundary(offsets[at]),
                "decoded offset {at} maps inside a char of {raw:?}"
            );
            let there = &raw[offsets[at]..];
            let newline = c == '\n'
                && there.starts_with(['\r', '\n', '\u{85}', '\u{c}', '\u{2028}', '\u{2029}']);
            prop_assert!(
                there.starts_with(c) || there.starts_with('\\') || newline,
                "decoded {c:?} at {at} maps to {:?} in {raw:?}",
                there.chars().next()
            );
        }
    }
    Ok(())
}

/// Pieces of operator strings: steps, both spellings of every operator, brackets and junk.
const OP_PIECES: &[&str] = &[
    "A", "B", "DRAFT", "X_2", "lower", "9X", "ÄÖ", "_", "→", "→?", "->", "->?", "⇄", "<->", "⊕",
    "+", "(", ")", " ", "  ", "\t", "\n", "-", ">", "?", "<", "→→", ",", "é", "🦀", "\u{301}", "",
];

fn op_string() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(proptest::sample::select(OP_PIECES), 0..24)
            .prop_map(|it| it.concat()),
        "\\PC{0,40}",
    ]
}

/// Pieces of KDL string literal bodies: plain text, every escape (valid or not), quotes, `#`,
/// unicode and newlines.
const LITERAL_PIECES: &[&str] = &[
    "a",
    "DRAFT",
    " ",
    "→",
    "⇄",
    "é",
    "🦀",
    "\\n",
    "\\r",
    "\\t",
    "\\\\",
    "\\\"",
    "\\b",
    "\\f",
    "\\s",
    "\\u{41}",
    "\\u{1F600}",
    "\\u{D800}",
    "\\u{}",
    "\\u{110000}",
    "\\/",
    "\\x",
    "\\ \n  ",
    "\\\n",
    "\"",
    "#",
    "\n",
    "\r\n",
    "\t",
    "  ",
    "\u{85}",
    "\u{2028}",
];

fn literal() -> impl Strategy<Value = String> {
    let body = proptest::collection::vec(proptest::sample::select(LITERAL_PIECES), 0..12)
        .prop_map(|it| it.concat());
    let indent = proptest::sample::select(&["", "  ", "    ", "\t"][..]);
    prop_oneof![
        body.clone().prop_map(|it| format!("\"{it}\"")),
        (body.clone(), 0..3_usize).prop_map(|(it, n)| {
            let hashes = "#".repeat(n + 1);
            format!("{hashes}\"{it}\"{hashes}")
        }),
        (
            proptest::collection::vec(body.clone(), 0..4),
            indent,
            any::<bool>()
        )
            .prop_map(|(lines, indent, raw)| {
                let inner: String = lines
                    .iter()
                    .map(|it| [indent, it.as_str(), "\n"].concat())
                    .collect();
                let text = format!("\"\"\"\n{inner}{indent}\"\"\"");
                if raw { format!("#{text}#") } else { text }
            }),
        "\\PC{0,20}",
        body.prop_map(|it| it.replace(['"', '\\', ' ', '\n', '#'], "")),
    ]
}

#[test]
fn operators_corpus_replays() {
    for (name, bytes) in corpus("operators") {
        let text = String::from_utf8(bytes).expect("operator corpus is UTF-8");
        check_operators(text.trim_end_matches('\n'))
            .unwrap_or_else(|err| panic!("fuzz/corpus/operators/{name}: {err}"));
    }
    for (name, bytes) in corpus("literals") {
        let text = String::from_utf8(bytes).expect("literal corpus is UTF-8");
        check_offsets(text.strip_suffix('\n').unwrap_or(&text))
            .unwrap_or_else(|err| panic!("fuzz/corpus/literals/{name}: {err}"));
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn operator_parser(src in op_string()) {
        check_operators(&src)?;
    }

    #[test]
    fn operator_value_offsets(raw in literal()) {
        check_offsets(&raw)?;
    }
}

// =============================================================================================
// (c) The 3-way merge

/// One side's edit of the base, by line: keep, delete, replace or insert before.
#[derive(Debug, Clone)]
enum LineEdit {
    Keep,
    Delete,
    Replace,
    InsertBefore,
}

fn line_edits() -> impl Strategy<Value = Vec<LineEdit>> {
    proptest::collection::vec(
        prop_oneof![
            6 => Just(LineEdit::Keep),
            1 => Just(LineEdit::Delete),
            1 => Just(LineEdit::Replace),
            1 => Just(LineEdit::InsertBefore),
        ],
        0..16,
    )
}

/// Applies edits to `base` lines; new lines are tagged `{tag}{n}` so they are unique and never in
/// the base or the other side.
fn edit(base: &[String], edits: &[LineEdit], tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, line) in base.iter().enumerate() {
        edit_line(
            &mut out,
            line,
            at,
            edits.get(at).unwrap_or(&LineEdit::Keep),
            tag,
        );
    }
    out
}

fn edit_line(out: &mut Vec<String>, line: &str, at: usize, edit: &LineEdit, tag: &str) {
    match edit {
        LineEdit::Keep => out.push(line.to_owned()),
        LineEdit::Delete => {}
        LineEdit::Replace => out.push(format!("{tag}{at}")),
        LineEdit::InsertBefore => {
            out.push(format!("{tag}+{at}"));
            out.push(line.to_owned());
        }
    }
}

fn text(lines: &[String]) -> String {
    lines.iter().flat_map(|it| [it.as_str(), "\n"]).collect()
}

fn base_lines() -> impl Strategy<Value = Vec<String>> {
    // A small alphabet, so repeated lines (blank lines, `pass`) make the diff ambiguous.
    proptest::collection::vec(
        proptest::sample::select(
            &["", "pass", "def f():", "    return 1", "x = 1", "# é", "\t"][..],
        )
        .prop_map(str::to_owned),
        0..14,
    )
}

/// Separate regions: the user edits even-numbered blocks of base lines, restack odd ones, with an
/// untouched line between every two blocks. The merge must be clean and exactly both edits.
fn disjoint(
    base_len: usize,
    ours: &[LineEdit],
    theirs: &[LineEdit],
) -> (Vec<LineEdit>, Vec<LineEdit>) {
    let mut mine = Vec::new();
    let mut new = Vec::new();
    for at in 0..base_len {
        // Blocks of 3 lines: [edit, edit, keep]; block parity says whose.
        let block = at / 3;
        let keep = at % 3 == 2;
        let pick = |edits: &[LineEdit]| edits.get(at).cloned().unwrap_or(LineEdit::Keep);
        if keep {
            mine.push(LineEdit::Keep);
            new.push(LineEdit::Keep);
        } else if block % 2 == 0 {
            mine.push(pick(ours));
            new.push(LineEdit::Keep);
        } else {
            mine.push(LineEdit::Keep);
            new.push(pick(theirs));
        }
    }
    (mine, new)
}

proptest! {
    #![proptest_config(config(512))]

    /// Arbitrary edits of both sides: deterministic; a clean merge keeps every line either side
    /// added and invents none; one unchanged side yields the other.
    #[test]
    fn merge_keeps_every_added_line(base in base_lines(), ours in line_edits(), theirs in line_edits()) {
        let mine = edit(&base, &ours, "user");
        let new = edit(&base, &theirs, "new");
        let (base_text, ours_text, theirs_text) = (text(&base), text(&mine), text(&new));
        let outcome = plan::merge(&base_text, &ours_text, &theirs_text);
        prop_assert_eq!(&outcome, &plan::merge(&base_text, &ours_text, &theirs_text));
        prop_assert_eq!(plan::merge(&base_text, &base_text, &theirs_text), MergeOutcome::Clean(theirs_text.clone()));
        prop_assert_eq!(plan::merge(&base_text, &ours_text, &base_text), MergeOutcome::Clean(ours_text.clone()));
        prop_assert_eq!(plan::merge(&base_text, &ours_text, &ours_text), MergeOutcome::Clean(ours_text.clone()));
        match outcome {
            MergeOutcome::Clean(merged) => {
                let lines: Vec<&str> = merged.lines().collect();
                for added in mine.iter().filter(|it| it.starts_with("user")).chain(new.iter().filter(|it| it.starts_with("new"))) {
                    prop_assert!(lines.contains(&added.as_str()), "the clean merge lost `{added}`:\n{merged}");
                }
                let known: BTreeSet<&str> = base.iter().chain(&mine).chain(&new).map(String::as_str).collect();
                for line in &lines {
                    prop_assert!(known.contains(line), "the merge invented `{line}`");
                }
            }
            MergeOutcome::Conflict(hunks) => {
                prop_assert!(!hunks.is_empty(), "a conflict names its hunks");
                for hunk in &hunks {
                    prop_assert!(hunk.line >= 1 && hunk.line <= mine.len() + 1, "hunk line {} in a {}-line file", hunk.line, mine.len());
                }
            }
        }
    }

    /// Edits separated by an untouched line never conflict, and the result is exactly both.
    #[test]
    fn merge_of_separate_edits_is_exact(len in 0..20_usize, ours in line_edits(), theirs in line_edits()) {
        let base: Vec<String> = (0..len).map(|n| format!("line {n}")).collect();
        let (mine_edits, new_edits) = disjoint(len, &ours, &theirs);
        let mine = edit(&base, &mine_edits, "user");
        let new = edit(&base, &new_edits, "new");
        // Expected: per base line, whichever side changed it.
        let mut expected = Vec::new();
        for (at, line) in base.iter().enumerate() {
            if matches!(mine_edits[at], LineEdit::Keep) {
                edit_line(&mut expected, line, at, &new_edits[at], "new");
            } else {
                edit_line(&mut expected, line, at, &mine_edits[at], "user");
            }
        }
        let outcome = plan::merge(&text(&base), &text(&mine), &text(&new));
        prop_assert_eq!(outcome, MergeOutcome::Clean(text(&expected)));
    }
}

// =============================================================================================
// (d) The planner

/// Texts a file can have: a rendering, the same with a user edit, a manifest change, a
/// conflicting edit, an empty file. Index 5 on disk is non-UTF-8 bytes.
const TEXTS: &[&str] = &[
    "# scaffold\ndef f():\n    pass\n\n\ndef g():\n    pass\n",
    "# scaffold\ndef f():\n    return 1\n\n\ndef g():\n    pass\n",
    "# scaffold\ndef f():\n    pass\n\n\ndef g():\n    pass\n\n\ndef h():\n    pass\n",
    "# scaffold\ndef f():\n    return 2\n\n\ndef g():\n    pass\n\n\ndef h():\n    pass\n",
    "",
];
const NOT_UTF8: &[u8] = b"# scaffold\n\xff\xfe bytes\n";

const PATHS: &[&str] = &["a.py", "pkg/b.py", "pkg/c.py", "d/e/f.py", "g.txt"];

#[derive(Debug, Clone)]
struct PathCase {
    rendered: Option<(Kind, usize)>,
    /// Kind and which text's hash is recorded (`TEXTS.len()`: a hash of nothing on disk).
    recorded: Option<(Kind, usize)>,
    /// Which text is on disk (`TEXTS.len()`: non-UTF-8 bytes).
    disk: Option<usize>,
    /// Whether the merge base is stored (only when it matches the recorded hash).
    base: bool,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Managed), Just(Kind::Scaffold)]
}

fn path_case() -> impl Strategy<Value = PathCase> {
    (
        proptest::option::of((kind(), 0..TEXTS.len())),
        proptest::option::of((kind(), 0..=TEXTS.len())),
        proptest::option::of(0..=TEXTS.len()),
        any::<bool>(),
    )
        .prop_map(|(rendered, recorded, disk, base)| PathCase {
            rendered,
            recorded,
            disk,
            base,
        })
}

fn disk_bytes(text: usize) -> Vec<u8> {
    TEXTS
        .get(text)
        .map_or(NOT_UTF8.to_vec(), |it| it.as_bytes().to_vec())
}

fn recorded_hash(text: usize) -> Hash {
    TEXTS
        .get(text)
        .map_or(Hash::of(b"restack wrote something else"), Hash::of)
}

fn build(cases: &[PathCase]) -> (FileSet, Snapshot, State) {
    let mut files = FileSet::default();
    let mut snapshot = Snapshot::default();
    let mut state = State::default();
    for (case, rel) in cases.iter().zip(PATHS) {
        let rel = (*rel).to_owned();
        if let Some((kind, text)) = case.rendered {
            files.files.insert(
                rel.clone(),
                File::rendered(
                    TEXTS[text],
                    kind,
                    ir::Origin {
                        entity: format!("function \"{rel}\""),
                        span: (1, 2),
                    },
                    "fuzz.j2",
                ),
            );
        }
        if let Some((kind, text)) = case.recorded {
            state.files.insert(
                rel.clone(),
                Entry {
                    kind,
                    origin: plan::Origin {
                        entity: format!("function \"old {rel}\"").into(),
                        span: None,
                    },
                    hash: recorded_hash(text),
                },
            );
            if case.base && kind == Kind::Scaffold && text < TEXTS.len() {
                let base = plan::Base {
                    hash: Hash::of(TEXTS[text]),
                    text: Some(TEXTS[text].into()),
                };
                snapshot.bases.insert(rel.clone(), base);
            }
        }
        if let Some(text) = case.disk {
            let bytes = disk_bytes(text);
            snapshot.files.insert(
                rel,
                OnDisk {
                    hash: Hash::of(&bytes),
                    bytes: Some(bytes.into()),
                },
            );
        }
    }
    (files, snapshot, state)
}

/// What `apply` would leave: the disk after the plan's writes, the next state and its bases.
fn simulate(snapshot: &Snapshot, plan: &Plan) -> (Snapshot, State) {
    let mut disk = snapshot.files.clone();
    let mut bases = snapshot.bases.clone();
    for change in &plan.changes {
        match change.action {
            Action::Create | Action::Update | Action::Merge => {
                let bytes = change
                    .contents
                    .as_ref()
                    .and_then(plan::Text::given)
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec();
                disk.insert(
                    change.path.clone(),
                    OnDisk {
                        hash: Hash::of(&bytes),
                        bytes: Some(bytes.into()),
                    },
                );
            }
            Action::Delete => {
                disk.remove(&change.path);
            }
            Action::Keep | Action::Blocked(_) => {}
        }
        if let Some(base) = &change.base
            && plan.next.files.contains_key(&change.path)
        {
            let text = base.given().unwrap_or_default();
            let base = plan::Base {
                hash: Hash::of(text),
                text: Some(text.into()),
            };
            bases.insert(change.path.clone(), base);
        }
    }
    bases.retain(|rel, base| {
        plan.next
            .files
            .get(rel)
            .is_some_and(|it| it.kind == Kind::Scaffold && it.hash == base.hash)
    });
    (Snapshot { files: disk, bases }, (*plan.next).clone())
}

#[expect(
    clippy::too_many_lines,
    reason = "one list of invariants, read top to bottom"
)]
fn check_plan(cases: &[PathCase], force: bool) -> Result<(), TestCaseError> {
    let (files, snapshot, state) = build(cases);
    let options = PlanOptions {
        manifest: Hash::of(b"manifest"),
        force,
    };
    let plan = plan::plan(&files, &snapshot, &state, &options);
    prop_assert_eq!(
        &plan,
        &plan::plan(&files, &snapshot, &state, &options),
        "deterministic"
    );

    let known: BTreeSet<&String> = files.files.keys().chain(state.files.keys()).collect();
    let paths: Vec<&String> = plan.changes.iter().map(|it| &it.path).collect();
    prop_assert!(
        paths.windows(2).all(|it| it[0] < it[1]),
        "sorted, one change per path"
    );
    for rel in files.files.keys() {
        prop_assert!(paths.contains(&rel), "rendered `{rel}` has no change");
    }
    for change in &plan.changes {
        let rel = &change.path;
        prop_assert!(
            known.contains(rel),
            "a change for `{rel}`, which nobody asked for"
        );
        let disk = snapshot.files.get(rel);
        let entry = state.files.get(rel);
        prop_assert_eq!(
            change.before,
            disk.map(|it| it.hash),
            "`{}`: before is the disk",
            rel
        );
        if matches!(
            change.action,
            Action::Create | Action::Update | Action::Merge
        ) {
            prop_assert_eq!(
                change.after,
                change
                    .contents
                    .as_ref()
                    .and_then(plan::Text::given)
                    .map(Hash::of),
                "`{}`: after is the contents' hash",
                rel
            );
        }
        // The origin is the entity that renders the path, or for an orphan the one that did.
        let origin = if let Some(file) = files.files.get(rel) {
            file.origin.entity.clone()
        } else {
            entry
                .map(|it| it.origin.entity.to_string())
                .unwrap_or_default()
        };
        prop_assert_eq!(&*change.origin.entity, origin.as_str());

        // Nothing lost: writing over or deleting bytes restack did not write needs --force.
        let untouched = match (disk, entry) {
            (None, _) => true,
            (Some(disk), Some(entry)) => disk.hash == entry.hash,
            (Some(_), None) => false,
        };
        match change.action {
            Action::Create => prop_assert!(disk.is_none(), "`{rel}`: create over an existing file"),
            Action::Update | Action::Delete if change.forced.is_none() => {
                prop_assert!(
                    disk.is_some() && untouched,
                    "`{rel}`: {} over user bytes without --force",
                    change.action
                );
            }
            Action::Update | Action::Delete => {
                prop_assert!(force, "`{rel}`: forced without --force");
            }
            Action::Merge => {
                let file = &files.files[rel];
                prop_assert_eq!(file.kind, Kind::Scaffold);
                let ours = disk
                    .and_then(OnDisk::text)
                    .expect("a merge of a UTF-8 file");
                let base = snapshot
                    .bases
                    .get(rel)
                    .and_then(|it| it.text.as_deref())
                    .unwrap_or("");
                let merged = change.contents.as_ref().and_then(plan::Text::given);
                prop_assert_eq!(
                    plan::merge(base, ours, file.text().unwrap_or_default()),
                    MergeOutcome::Clean(merged.unwrap_or_default().to_owned())
                );
            }
            Action::Keep => {
                prop_assert_eq!(change.before, change.after);
                prop_assert!(change.contents.is_none());
            }
            Action::Blocked(_) => prop_assert!(!force, "`{rel}`: blocked under --force"),
        }
    }

    // Idempotent: after applying, planning again changes nothing but what stays blocked.
    let (snapshot2, state2) = simulate(&snapshot, &plan);
    let plan2 = plan::plan(
        &files,
        &snapshot2,
        &state2,
        &PlanOptions {
            force: false,
            ..options
        },
    );
    let blocked = |plan: &Plan| -> Vec<String> {
        plan.changes
            .iter()
            .filter(|it| matches!(it.action, Action::Blocked(_)))
            .map(|it| it.path.clone())
            .collect()
    };
    for change in &plan2.changes {
        prop_assert!(
            matches!(change.action, Action::Keep | Action::Blocked(_)),
            "second plan wants to {} `{}`",
            change.action,
            change.path
        );
    }
    prop_assert_eq!(
        blocked(&plan2),
        blocked(&plan),
        "what was blocked stays blocked, nothing more"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn plan_never_loses_user_bytes(cases in proptest::collection::vec(path_case(), PATHS.len()), force in any::<bool>()) {
        check_plan(&cases, force)?;
    }
}

// =============================================================================================
// Paths: the spelling rules, and state files naming arbitrary paths

/// Path components, safe and not.
const COMPONENTS: &[&str] = &[
    "a", "b.py", "..", ".", "", ".restack", ".git", "C:", "c:", "\\", "..\\x", "a\\..\\b", "/",
    "x\0", "~", "é", " ", "...", ".hidden", "con", "a:b",
];

fn path_string() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(proptest::sample::select(COMPONENTS), 1..5),
        any::<bool>(),
    )
        .prop_map(|(parts, absolute)| {
            let joined = parts.join("/");
            if absolute {
                format!("/{joined}")
            } else {
                joined
            }
        })
}

/// A path that passes `validate` stays below any root: no `..`, no root, no prefix, no
/// backslash, not into `.restack/` or `.git/`.
fn check_path(rel: &str) -> Result<(), TestCaseError> {
    if plan::path::validate(rel).is_err() {
        return Ok(());
    }
    let root = Path::new("/project/root");
    let joined = root.join(rel);
    prop_assert!(joined.starts_with(root), "`{rel}` leaves the root");
    for component in Path::new(rel).components() {
        prop_assert!(
            matches!(component, std::path::Component::Normal(_)),
            "`{rel}` has the component {component:?}"
        );
    }
    prop_assert!(!rel.contains('\\') && !rel.contains('\0'));
    let first = rel.split('/').next().unwrap_or_default();
    prop_assert!(first != ".restack" && first != ".git");
    prop_assert!(
        rel.chars().nth(1) != Some(':'),
        "`{rel}` looks like a drive"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn path_validation(rel in path_string()) {
        check_path(&rel)?;
    }

    #[test]
    fn path_validation_arbitrary(rel in "\\PC{0,12}") {
        check_path(&rel)?;
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// A state file naming arbitrary paths either fails to load (exit 2 at the CLI) or names only
    /// safe paths.
    #[test]
    fn state_file_with_arbitrary_paths(paths in proptest::collection::vec(path_string(), 1..4)) {
        let dir = tempfile::tempdir().expect("temp dir");
        let files: serde_json::Map<String, serde_json::Value> = paths
            .iter()
            .map(|rel| {
                (
                    rel.clone(),
                    serde_json::json!({
                        "kind": "managed",
                        "origin": { "entity": "project \"x\"", "span": [0, 1] },
                        "hash": Hash::of(b"x").to_hex(),
                    }),
                )
            })
            .collect();
        let text = serde_json::json!({ "version": 1, "files": files }).to_string();
        std::fs::create_dir_all(dir.path().join(".restack")).expect("mkdir");
        std::fs::File::create(dir.path().join(plan::STATE_FILE))
            .and_then(|mut file| std::io::Write::write_all(&mut file, text.as_bytes()))
            .expect("write state");
        match State::load(dir.path()) {
            Ok(state) => {
                for rel in state.files.keys() {
                    prop_assert!(plan::path::validate(rel).is_ok(), "state loaded the unsafe `{rel}`");
                }
            }
            Err(err) => prop_assert!(err.to_string().contains("unsafe path"), "{err}"),
        }
    }
}

// =============================================================================================
// Regressions: one named test per bug the fuzzer found (the inputs are in fuzz/corpus/)

fn corpus_file(target: &str, name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir(target).join(name))
        .unwrap_or_else(|err| panic!("fuzz/corpus/{target}/{name}: {err}"))
}

/// The nesting guard in front of the recursive KDL parser was walked past by literals it read
/// differently from the parser; the blocks that followed overflowed the stack (the binary
/// aborted). Each input must now be a `too deep` diagnostic.
#[test]
fn regression_deep_nesting_cannot_hide_behind_a_literal() {
    for name in [
        "deep-nesting.kdl",
        "deep-nesting-after-raw-string-backslash.kdl",
        "deep-nesting-after-multiline-quote.kdl",
        "deep-nesting-after-nested-comment.kdl",
        "deep-nesting-after-cr-comment.kdl",
        "deep-nesting-behind-closing-braces-in-strings.kdl",
    ] {
        let bytes = corpus_file("manifest", name);
        check_manifest(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
        let analysis = analyze("restack.kdl", &bytes);
        assert!(
            analysis
                .diagnostics
                .iter()
                .any(|it| it.message.contains("nested deeper than")),
            "{name}: {:?}",
            analysis.diagnostics
        );
    }
}

/// A kdl error span could start inside a multi-byte whitespace char (U+2000).
#[test]
fn regression_kdl_error_spans_are_on_char_boundaries() {
    for name in [
        "kdl-error-after-wide-whitespace.kdl",
        "kdl-error-span-inside-a-char.kdl",
    ] {
        let bytes = corpus_file("manifest", name);
        check_manifest(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(analyze("restack.kdl", &bytes).diagnostics.has_errors());
    }
}

/// An edited scaffold whose rendering did not change, with its merge base missing, was planned
/// as a conflict, and the next plan (after apply stored the base) as in sync.
#[test]
fn regression_missing_base_of_an_unchanged_rendering_is_not_a_conflict() {
    let case = PathCase {
        rendered: Some((Kind::Scaffold, 0)),
        recorded: Some((Kind::Scaffold, 0)),
        disk: Some(1),
        base: false,
    };
    let cases = [case.clone(), case.clone(), case.clone(), case.clone(), case];
    check_plan(&cases, false).expect("plan invariants");
    let (files, snapshot, state) = build(&cases);
    let options = PlanOptions {
        manifest: Hash::of(b"manifest"),
        force: false,
    };
    let plan = plan::plan(&files, &snapshot, &state, &options);
    for change in &plan.changes {
        assert_eq!(change.action, Action::Keep, "{}", change.path);
        assert_eq!(
            change.base.as_ref().and_then(plan::Text::given),
            Some(TEXTS[0]),
            "the base is stored again"
        );
    }
}

/// Found by CI's random seed: a lone `0x80` byte. The `not-utf8` span indexes the lossy text
/// diagnostics render against (one U+FFFD, three bytes), not the raw bytes.
#[test]
fn regression_not_utf8_span_indexes_the_lossy_text() {
    let analysis = analyze("restack.kdl", &[0x80]);
    let diagnostic = analysis.diagnostics.iter().next().expect("a diagnostic");
    assert_eq!(diagnostic.code.name(), "not-utf8");
    assert_eq!(analysis.text, "\u{fffd}");
    assert_eq!(diagnostic.span, 0..3);
    check_manifest(&[0x80]).expect("every invariant holds");
}
