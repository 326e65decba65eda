//! Property tests: `analyze` never panics, whatever the bytes, and is deterministic; and
//! `analyze_cached` gives exactly what `analyze` gives, save after save.
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

/// Every manifest the repository holds (cases, examples, fixtures).
fn corpus() -> Vec<String> {
    let mut texts = vec![EXAMPLE.to_owned()];
    for dir in ["tests/cases", "examples", "tests/fixtures"] {
        let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut entries: Vec<_> = entries.flatten().map(|it| it.path()).collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|it| it == "kdl")
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    texts.push(text);
                }
            }
        }
    }
    assert!(texts.len() > 20, "the corpus was not found");
    texts
}

/// Top-level nodes and pieces a save may insert: valid and invalid nodes, duplicates of the
/// once-only ones, two nodes on one line, KDL syntax errors, and texts the splitter refuses.
const PIECES: &[&str] = &[
    "project \"other\"\n",
    "defaults { timeout \"1s\"; }\n",
    "defaults { retry attempts=0 }\n",
    "llm { provider \"openai\" model=\"m\" }\n",
    "(t)function \"Typed\" { }\n",
    "bogus \"node\"\n",
    "function \"Fresh\" { doc \"new\"; input { field \"a\" \"str\"; } }\n",
    "function \"Fresh\" { doc \"again\"; }\n",
    "workflow \"Caller\" { calls \"Missing\" \"Fresh\"; }\n",
    "function \"Broken\" { doc \"unclosed\n",
    "}\n",
    "function \"A1\" { doc #true; }; function \"B1\" { }\n",
    "function \"C1\" {\n  doc true\n}\n",
    "\u{feff}",
    "/- function \"Gone\" { }\n",
    "// a comment\n",
    "/* a\n/* nested */\n*/ function \"Commented\" { }\n",
    "prompt \"p\" { var \"x\"; text \"{{ y }}\"; }\n",
    "pipeline \"Px\" { operators \"A -> B ->? C\"; when \"B\" \"c\"; map \"A\" \"Fresh\"; }\n",
    "pipeline \"Py\" {\n    operators #\"A → (B ⊕ C) →? D\"#\n    step \"Z\" timeout=\"1m\"\n}\n",
    "agent \"Helper\" { llm \"default\"; tools \"Tools\"; event \"go\"; }\n",
    "tool-server \"Tools\" { tool \"t\" { param \"q\" \"FreshInput\"; } }\n",
    "function \"Eacute\" { doc \"é\u{301} \\u{1F600}\"; }\n",
    "function \"Crlf\" {\r\n  doc \"x\"\r\n}\r\n",
    "function \\\n  \"Continued\" { }\n",
    "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\n",
    "\n\n",
];

/// One save of the manifest, as a user (or an editor) makes it.
#[derive(Debug, Clone)]
enum Save {
    /// Removes the top-level chunk at this index.
    Remove(usize),
    /// Writes the chunk at this index twice.
    Duplicate(usize),
    /// Moves the chunk at the first index before the chunk at the second.
    Move(usize, usize),
    /// Inserts a piece before the chunk at this index.
    Insert(usize, &'static str),
    /// Edits the text of the chunk at this index.
    Change(usize, Edit),
    /// Edits the text anywhere.
    Anywhere(Edit),
    /// Empties the file.
    Clear,
    /// Goes back to the text the sequence started from.
    Revert,
}

fn save() -> impl Strategy<Value = Save> {
    prop_oneof![
        any::<usize>().prop_map(Save::Remove),
        any::<usize>().prop_map(Save::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Save::Move(a, b)),
        (any::<usize>(), prop::sample::select(PIECES)).prop_map(|(at, it)| Save::Insert(at, it)),
        (any::<usize>(), edit()).prop_map(|(at, it)| Save::Change(at, it)),
        edit().prop_map(Save::Anywhere),
        Just(Save::Clear),
        Just(Save::Revert),
    ]
}

/// The text cut before every line that starts a top-level node (roughly: a line that starts with
/// something other than whitespace or `}`); concatenated, the chunks are the text.
fn chunks(text: &str) -> Vec<String> {
    let mut chunks = vec![String::new()];
    for line in text.split_inclusive('\n') {
        let starts_node = line.starts_with(|c: char| !c.is_whitespace() && c != '}');
        if starts_node && !chunks.last().is_some_and(String::is_empty) {
            chunks.push(String::new());
        }
        chunks.last_mut().expect("one chunk").push_str(line);
    }
    chunks
}

fn apply_save(text: &str, original: &str, save: &Save) -> String {
    let mut chunks = chunks(text);
    let n = chunks.len();
    match save {
        Save::Remove(at) => {
            chunks.remove(at % n);
        }
        Save::Duplicate(at) => {
            let chunk = chunks[at % n].clone();
            chunks.insert(at % n, chunk);
        }
        Save::Move(from, to) => {
            let chunk = chunks.remove(from % n);
            chunks.insert(to % n, chunk);
        }
        Save::Insert(at, piece) => chunks.insert(at % (n + 1), (*piece).to_owned()),
        Save::Change(at, edit) => apply(&mut chunks[at % n], edit),
        Save::Anywhere(edit) => {
            let mut text = chunks.concat();
            apply(&mut text, edit);
            return text;
        }
        Save::Clear => return String::new(),
        Save::Revert => return original.to_owned(),
    }
    chunks.concat()
}

/// `analyze_cached`, with one cache across the whole sequence of saves, gives exactly what
/// `analyze` gives for every text: the text, the manifest with every span, the project and the
/// diagnostics in order.
fn check_cached(original: &str, saves: &[Save]) {
    let mut cache = restack::analyze::Cache::default();
    let mut text = original.to_owned();
    for (at, save) in std::iter::once(None)
        .chain(saves.iter().map(Some))
        .enumerate()
    {
        if let Some(save) = save {
            text = apply_save(&text, original, save);
        }
        let cached = restack::analyze::analyze_cached("restack.kdl", text.as_bytes(), &mut cache);
        let fresh = analyze("restack.kdl", text.as_bytes());
        assert_eq!(
            format!("{cached:#?}"),
            format!("{fresh:#?}"),
            "save {at} ({save:?}) gave\n{text}"
        );
    }
}

#[test]
fn cached_analysis_follows_the_corpus() {
    // Every manifest of the repository after every other, through one cache, and back.
    let corpus = corpus();
    let mut cache = restack::analyze::Cache::default();
    for text in corpus.iter().chain(corpus.iter().rev()) {
        let cached = restack::analyze::analyze_cached("restack.kdl", text.as_bytes(), &mut cache);
        let fresh = analyze("restack.kdl", text.as_bytes());
        assert_eq!(format!("{cached:#?}"), format!("{fresh:#?}"), "{text}");
    }
    // Each piece inserted before every chunk of the example, one save after another.
    for piece in PIECES {
        let saves: Vec<Save> = (0..chunks(EXAMPLE).len())
            .flat_map(|at| [Save::Insert(at, piece), Save::Remove(at)])
            .collect();
        check_cached(EXAMPLE, &saves);
    }
}

#[test]
fn cached_analysis_equals_analysis_after_every_save() {
    let corpus = corpus();
    let n_texts = corpus.len();
    proptest!(
        ProptestConfig { cases: 256, ..ProptestConfig::default() },
        |(index in 0..n_texts, saves in prop::collection::vec(save(), 1..16))| {
            check_cached(&corpus[index], &saves);
        }
    );
}

#[test]
fn cached_analysis_counts_depth_where_it_changed() {
    // Braces in strings count for the raw count of `{` (which refuses more than 64 unclosed,
    // whatever encloses them) but not for the count that skips strings: saves that open and
    // close them before, inside and after the nodes that stay, so that the raw count at the
    // unchanged end differs from the last text's, and that go over the limit in either count.
    let node = |name: &str, doc: &str| format!("function \"{name}\" {{\n    doc \"{doc}\"\n}}\n");
    let opens = |n: usize| "{".repeat(n);
    let closes = |n: usize| "}".repeat(n);
    let manifest = |first: &str, middle: &str, last: &str| {
        format!(
            "project \"p\"\n{}{}{}{}{}",
            node("A", first),
            node("B", "b"),
            node("C", middle),
            node("D", "d"),
            node("E", last)
        )
    };
    let nested = |n: usize| format!("function \"N\" {}\n{}\n", "{ x ".repeat(n), "}".repeat(n));
    let texts = [
        manifest("a", "c", "e"),
        manifest(&opens(40), "c", "e"),
        manifest(&opens(40), &opens(20), "e"),
        manifest(&opens(40), &opens(20), &opens(10)),
        manifest(&opens(40), &opens(30), "e"),
        manifest(&opens(40), "c", &opens(30)),
        manifest(&closes(5), "c", &opens(70)),
        manifest("a", &closes(3), &opens(62)),
        manifest("a", "c", &opens(64)),
        manifest(&opens(64), "c", "e"),
        manifest(&opens(65), "c", "e"),
        manifest("a", "c", "e"),
        format!("{}{}", manifest("a", "c", "e"), nested(60)),
        format!("{}{}", manifest("a", "c", "e"), nested(70)),
        format!("{}{}", manifest("a2", "c", "e"), nested(64)),
        format!("{}{}", manifest("a2", "c", "e"), nested(65)),
        format!("// {{\r{}", manifest("a", &opens(60), "e")),
        format!("// {{\r{}", manifest("a", &opens(70), "e")),
        manifest("a", &opens(70), "e"),
    ];
    let mut cache = restack::analyze::Cache::default();
    let mut too_deep = 0;
    for text in &texts {
        let cached = restack::analyze::analyze_cached("restack.kdl", text.as_bytes(), &mut cache);
        let fresh = analyze("restack.kdl", text.as_bytes());
        assert_eq!(format!("{cached:#?}"), format!("{fresh:#?}"), "{text}");
        too_deep += usize::from(
            fresh
                .diagnostics
                .iter()
                .any(|it| it.message.contains("nested deeper")),
        );
    }
    assert_eq!(too_deep, 11, "the saves that go over the limit");
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
    let mut cache = restack::analyze::Cache::default();
    let _ = restack::analyze::analyze_cached("restack.kdl", &base, &mut cache);
    let rounds: usize =
        std::env::var("ANALYZE_ROUNDS").map_or(60, |it| it.parse().expect("a number"));
    let mut cached = Vec::new();
    for round in 0..rounds {
        let bytes = if round % 2 == 0 { &edited } else { &base };
        let start = Instant::now();
        let analysis = restack::analyze::analyze_cached("restack.kdl", bytes, &mut cache);
        cached.push(start.elapsed());
        assert!(analysis.project.is_some());
    }
    // The stages on their own: decode with the cache, then lower.
    let mut decode_cache = restack::manifest::ParseCache::default();
    let texts = [
        std::str::from_utf8(&base).expect("UTF-8"),
        std::str::from_utf8(&edited).expect("UTF-8"),
    ];
    let _ = restack::manifest::decode_cached(texts[0], &mut decode_cache);
    let (mut decoding, mut lowering) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let start = Instant::now();
        let (manifest, _) =
            restack::manifest::decode_cached(texts[(round + 1) % 2], &mut decode_cache);
        decoding.push(start.elapsed());
        let start = Instant::now();
        let project = restack::ir::lower(&manifest);
        lowering.push(start.elapsed());
        assert!(project.is_ok());
    }
    let (one_median, one_min) = median(one_shot);
    let (cached_median, cached_min) = median(cached);
    eprintln!(
        "N = {n}, {} bytes: analyze {one_median:.2?} (min {one_min:.2?}); analyze_cached, one-entity edit: {cached_median:.2?} (min {cached_min:.2?})",
        base.len()
    );
    eprintln!(
        "  stages alone: decode_cached {:.2?}, ir::lower {:.2?} (one-shot: no name memo kept) (medians)",
        median(decoding).0,
        median(lowering).0
    );
}

/// Entity names a save may give: distinct ones, ones that become the same module (`HttpGet` and
/// `HTTPGet`), a reserved one, and near misses of each other for "did you mean".
const NAMES: &[&str] = &[
    "SendEmail",
    "SendEmails",
    "HttpGet",
    "HTTPGet",
    "Notify",
    "Research",
    "Search",
    "Campaign",
    "Flow",
    "Print",
];

/// Types a field may have: builtins, an unknown type, and models of entities above.
const TYPES: &[&str] = &[
    "str",
    "int",
    "list[str]",
    "strr",
    "SendEmailInput",
    "NotifyOutput",
];

/// One top-level entity of [`Model`], written out by [`Model::text`].
#[derive(Debug, Clone)]
struct Entity {
    /// 0 function, 1 workflow, 2 agent, 3 pipeline, 4 tool-server.
    kind: usize,
    name: &'static str,
    ty: &'static str,
    /// Seconds; 0 writes an invalid duration.
    timeout: u8,
    /// `calls` (workflow, agent), `tools` (agent), or what `map` binds step `A` to (pipeline).
    refs: Vec<&'static str>,
    /// `llm "default"` (agent).
    llm: bool,
    /// Extra blank lines before the node, so that edits move the spans of what follows.
    pad: u8,
}

/// A manifest as a list of entities plus the project-wide blocks their lowering reads.
#[derive(Debug, Clone)]
struct Model {
    entities: Vec<Entity>,
    llm: bool,
    /// The `defaults` timeout in seconds, if there is a `defaults` block.
    defaults: Option<u8>,
}

impl Model {
    fn text(&self) -> String {
        let mut text = String::from("project \"props\" {\n    python \">=3.11\"\n}\n");
        if let Some(timeout) = self.defaults {
            text.push_str("defaults {\n    timeout \"");
            text.push_str(&timeout.to_string());
            text.push_str("m\"\n}\n");
        }
        if self.llm {
            text.push_str("llm {\n    provider \"openai\" model=\"m\"\n}\n");
        }
        for it in &self.entities {
            text.push_str(&"\n".repeat(usize::from(it.pad)));
            let refs = |keyword: &str, tools: bool| {
                let names: Vec<String> = it
                    .refs
                    .iter()
                    .filter(|name| !tools || ["Search", "Research"].contains(name))
                    .map(|name| format!("\"{name}\""))
                    .collect();
                if names.is_empty() {
                    String::new()
                } else {
                    format!("    {keyword} {}\n", names.join(" "))
                }
            };
            let (name, ty, timeout) = (it.name, it.ty, it.timeout);
            let node = match it.kind {
                // The heartbeat is what a step bound to the function takes from it (a pipeline
                // sets its own timeout).
                0 => format!(
                    "function \"{name}\" {{\n    input {{\n        field \"x\" \"{ty}\"\n    }}\n    timeout \"{timeout}s\"\n    heartbeat \"{timeout}s\"\n}}\n"
                ),
                1 => format!(
                    "workflow \"{name}\" {{\n    output \"{ty}\"\n{}    timeout \"{timeout}s\"\n}}\n",
                    refs("calls", false)
                ),
                2 => format!(
                    "agent \"{name}\" {{\n    event \"go\" {{ field \"x\" \"{ty}\"; }}\n{}{}{}}}\n",
                    refs("calls", false),
                    refs("tools", true),
                    if it.llm { "    llm \"default\"\n" } else { "" },
                ),
                3 => {
                    let map = it
                        .refs
                        .first()
                        .map(|target| format!("    map \"A\" \"{target}\"\n"))
                        .unwrap_or_default();
                    format!(
                        "pipeline \"{name}\" {{\n    operators \"A -> B ->? C\"\n{map}    timeout \"{timeout}s\"\n}}\n"
                    )
                }
                _ => format!(
                    "tool-server \"{name}\" {{\n    tool \"t\" {{ param \"q\" \"{ty}\"; returns \"str\"; }}\n}}\n"
                ),
            };
            text.push_str(&node);
        }
        text
    }
}

fn entity() -> impl Strategy<Value = Entity> {
    (
        0..5usize,
        prop::sample::select(NAMES),
        prop::sample::select(TYPES),
        0..4u8,
        prop::collection::vec(prop::sample::select(NAMES), 0..3),
        any::<bool>(),
        0..2u8,
    )
        .prop_map(|(kind, name, ty, timeout, refs, llm, pad)| Entity {
            kind,
            name,
            ty,
            timeout,
            refs,
            llm,
            pad,
        })
}

/// One save of a [`Model`]: each changes what one entity or the whole project reads.
#[derive(Debug, Clone)]
enum EntityEdit {
    /// A new type for a field (an error when unknown or a model of another entity).
    Type(usize, &'static str),
    /// A new timeout (an error when 0): the policy a step bound to this entity starts from.
    Timeout(usize, u8),
    /// A new name: references to it break or start to resolve; duplicates and collisions.
    Rename(usize, &'static str),
    /// Other references.
    Refs(usize, Vec<&'static str>),
    /// Uses the `llm` block or not.
    UsesLlm(usize, bool),
    /// Blank lines before the node: only spans move.
    Pad(usize, u8),
    Add(usize, Entity),
    Remove(usize),
    /// Moves the entity at the first index to the second.
    Move(usize, usize),
    /// Adds or removes the `llm` block.
    Llm(bool),
    /// Sets or removes `defaults`.
    Defaults(Option<u8>),
}

fn entity_edit() -> impl Strategy<Value = EntityEdit> {
    prop_oneof![
        3 => (any::<usize>(), prop::sample::select(TYPES)).prop_map(|(at, it)| EntityEdit::Type(at, it)),
        3 => (any::<usize>(), 0..4u8).prop_map(|(at, it)| EntityEdit::Timeout(at, it)),
        3 => (any::<usize>(), prop::sample::select(NAMES)).prop_map(|(at, it)| EntityEdit::Rename(at, it)),
        2 => (any::<usize>(), prop::collection::vec(prop::sample::select(NAMES), 0..3))
            .prop_map(|(at, it)| EntityEdit::Refs(at, it)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(at, it)| EntityEdit::UsesLlm(at, it)),
        2 => (any::<usize>(), 0..3u8).prop_map(|(at, it)| EntityEdit::Pad(at, it)),
        2 => (any::<usize>(), entity()).prop_map(|(at, it)| EntityEdit::Add(at, it)),
        2 => any::<usize>().prop_map(EntityEdit::Remove),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| EntityEdit::Move(a, b)),
        1 => any::<bool>().prop_map(EntityEdit::Llm),
        1 => prop::option::of(1..3u8).prop_map(EntityEdit::Defaults),
    ]
}

impl Model {
    fn edit(&mut self, edit: &EntityEdit) {
        let n = self.entities.len();
        let at = |index: usize| (n > 0).then(|| index % n);
        match edit {
            EntityEdit::Type(index, ty) => {
                if let Some(index) = at(*index) {
                    self.entities[index].ty = ty;
                }
            }
            EntityEdit::Timeout(index, timeout) => {
                if let Some(index) = at(*index) {
                    self.entities[index].timeout = *timeout;
                }
            }
            EntityEdit::Rename(index, name) => {
                if let Some(index) = at(*index) {
                    self.entities[index].name = name;
                }
            }
            EntityEdit::Refs(index, refs) => {
                if let Some(index) = at(*index) {
                    self.entities[index].refs.clone_from(refs);
                }
            }
            EntityEdit::UsesLlm(index, llm) => {
                if let Some(index) = at(*index) {
                    self.entities[index].llm = *llm;
                }
            }
            EntityEdit::Pad(index, pad) => {
                if let Some(index) = at(*index) {
                    self.entities[index].pad = *pad;
                }
            }
            EntityEdit::Add(index, entity) => self.entities.insert(index % (n + 1), entity.clone()),
            EntityEdit::Remove(index) => {
                if let Some(index) = at(*index) {
                    self.entities.remove(index);
                }
            }
            EntityEdit::Move(from, to) => {
                if let (Some(from), Some(to)) = (at(*from), at(*to)) {
                    let entity = self.entities.remove(from);
                    self.entities.insert(to, entity);
                }
            }
            EntityEdit::Llm(llm) => self.llm = *llm,
            EntityEdit::Defaults(defaults) => self.defaults = *defaults,
        }
    }
}

/// A valid starting point: functions, a workflow calling them, an agent using the LLM and the
/// workflow, a pipeline binding a step to a function, and a tool server.
fn model() -> Model {
    let entity = |kind, name, refs: &[&'static str]| Entity {
        kind,
        name,
        ty: "str",
        timeout: 2,
        refs: refs.to_vec(),
        llm: kind == 2,
        pad: 0,
    };
    Model {
        entities: vec![
            entity(0, "SendEmail", &[]),
            entity(0, "Notify", &[]),
            entity(1, "Campaign", &["SendEmail", "Notify"]),
            entity(2, "Research", &["Campaign"]),
            entity(3, "Flow", &["SendEmail"]),
            entity(4, "Search", &[]),
        ],
        llm: true,
        defaults: Some(1),
    }
}

#[test]
fn the_entity_model_starts_valid() {
    let analysis = analyze("restack.kdl", model().text().as_bytes());
    assert!(
        analysis.diagnostics.is_empty(),
        "{:?}",
        analysis.diagnostics
    );
    let project = analysis.project.expect("a valid manifest lowers");
    assert_eq!(project.functions.len(), 2);
    assert_eq!(project.pipelines[0].steps.len(), 3);
}

#[test]
fn cached_analysis_follows_entity_edits() {
    proptest!(
        ProptestConfig { cases: 256, ..ProptestConfig::default() },
        |(edits in prop::collection::vec(entity_edit(), 1..24))| {
            let mut model = model();
            let mut cache = restack::analyze::Cache::default();
            for (at, edit) in std::iter::once(None).chain(edits.iter().map(Some)).enumerate() {
                if let Some(edit) = edit {
                    model.edit(edit);
                }
                let text = model.text();
                let cached = restack::analyze::analyze_cached("restack.kdl", text.as_bytes(), &mut cache);
                let fresh = analyze("restack.kdl", text.as_bytes());
                prop_assert_eq!(
                    format!("{cached:#?}"),
                    format!("{fresh:#?}"),
                    "save {} ({:?}) gave\n{}",
                    at,
                    edit,
                    text
                );
            }
        }
    );
}
