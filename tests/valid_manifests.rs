//! Generated valid manifests (proptest): random projects built from the manifest language's
//! rules — functions, workflows, agents, tool servers, an `llm` block, prompts and pipelines whose
//! operator strings come from GRAMMAR.md — must analyze without an error and render a file set
//! whose every `.py` parses. Generates manifests only; must not write to disk.
//!
//! Cases are bounded so `cargo test` stays fast; `RESTACK_FUZZ_CASES=2000 cargo test --test
//! valid_manifests` runs longer.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};

use restack::analyze::analyze;
use restack::diag::{self, RenderOptions, Severity};
use restack::render;

/// PascalCase entity names: two words each, so no pipeline step (one word) is ever scaffolded
/// under the same name.
const ENTITIES: &[&str] = &[
    "SendEmail",
    "FetchPage",
    "ScoreLead",
    "TagArticle",
    "BuildReport",
    "CleanData",
    "RankResults",
    "PostUpdate",
    "LoadUsers",
    "SyncCrm",
    "ParseInvoice",
    "NotifyTeam",
    "WelcomeFlow",
    "DailyDigest",
    "LeadScoring",
    "ContentPlan",
    "WebSearch",
    "DocStore",
];

/// One-word UPPER_SNAKE steps that are no Python keyword or builtin.
const STEPS: &[&str] = &[
    "DRAFT",
    "REVIEW",
    "PLAN",
    "IDEATE",
    "RESEARCH",
    "OUTLINE",
    "POLISH",
    "PUBLISH",
    "PROMOTE",
    "FETCH",
    "STORE",
    "TRANSLATE",
    "MERGE",
    "ARCHIVE",
    "NOTIFY",
    "SUMMARIZE",
    "CRAWL",
    "ANNOTATE",
    "INGEST",
    "EXPORT",
];

/// snake_case field, event, tool, param, var and prompt names.
const SNAKES: &[&str] = &[
    "user_id",
    "subject",
    "body",
    "score",
    "title",
    "tags",
    "payload",
    "limit_n",
    "ratio",
    "enabled",
    "notes",
    "lang",
    "attempt",
    "query",
    "article",
    "sentences",
    "email_opened",
    "user_signed_up",
    "page_url",
    "summary_text",
];

const DURATIONS: &[&str] = &["500ms", "30s", "5m", "1h30m", "2d", "1m30s"];

/// A tiny deterministic generator driven by the proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        let span = u64::try_from(hi - lo + 1).expect("small range");
        lo + usize::try_from(self.next() % span).expect("small range")
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.range(0, pool.len() - 1)]
    }

    /// `count` distinct names of `pool`, none of them in `taken`, which records them.
    fn fresh<'a>(
        &mut self,
        pool: &[&'a str],
        count: usize,
        taken: &mut BTreeSet<&'a str>,
    ) -> Vec<&'a str> {
        let mut out = Vec::new();
        for _ in 0..count * 4 {
            if out.len() == count {
                break;
            }
            let name = self.pick(pool);
            if taken.insert(name) {
                out.push(name);
            }
        }
        out
    }
}

/// A type of the supported subset, nested at most `depth` more levels.
fn ty(rng: &mut Rng, depth: u32) -> String {
    let scalar = ["str", "int", "float", "bool", "bytes", "Any", "None"];
    if depth == 0 {
        return rng.pick(&scalar).to_owned();
    }
    match rng.range(0, 9) {
        0..=5 => rng.pick(&scalar).to_owned(),
        6 => format!("list[{}]", ty(rng, depth - 1)),
        7 => format!("dict[str, {}]", ty(rng, depth - 1)),
        _ => {
            let inner = ty(rng, depth - 1);
            if inner == "None" || inner.contains('|') {
                "int | None".to_owned()
            } else {
                format!("{inner} | None")
            }
        }
    }
}

/// A KDL value that is a valid default of `ty`, when the generator has one.
fn default_of(rng: &mut Rng, ty: &str) -> Option<String> {
    if ty.ends_with("| None") {
        return Some("#null".to_owned());
    }
    match ty {
        "str" => Some(format!("\"{}\"", rng.pick(&["", "hello", "a b", "x\\ny"]))),
        "int" => Some(rng.pick(&["0", "3", "-7", "42"]).to_owned()),
        "float" => Some(rng.pick(&["0.5", "1.5", "-2.25", "3.0"]).to_owned()),
        "bool" => Some(rng.pick(&["#true", "#false"]).to_owned()),
        _ => None,
    }
}

/// `field` lines: `count` fields with fresh names, random types and optional defaults.
fn fields(rng: &mut Rng, out: &mut String, indent: &str, count: usize) {
    let mut taken = BTreeSet::new();
    for name in rng.fresh(SNAKES, count, &mut taken) {
        let ty = ty(rng, 2);
        let default = if rng.coin() {
            default_of(rng, &ty)
        } else {
            None
        };
        match default {
            Some(value) => writeln!(out, "{indent}field \"{name}\" \"{ty}\" default={value}"),
            None => writeln!(out, "{indent}field \"{name}\" \"{ty}\""),
        }
        .unwrap();
    }
}

fn policy(rng: &mut Rng, out: &mut String) {
    if rng.coin() {
        writeln!(out, "    timeout \"{}\"", rng.pick(DURATIONS)).unwrap();
    }
    match rng.range(0, 2) {
        0 => writeln!(out, "    retry attempts={}", rng.range(1, 9)).unwrap(),
        1 => writeln!(
            out,
            "    retry attempts={} initial=\"{}\" backoff=2.0 max-interval=\"{}\"",
            rng.range(1, 9),
            rng.pick(DURATIONS),
            rng.pick(DURATIONS)
        )
        .unwrap(),
        _ => {}
    }
}

/// A `calls` node naming some of `callable` (declared functions and workflows).
fn calls(rng: &mut Rng, out: &mut String, callable: &[&str]) {
    let mut taken = BTreeSet::new();
    let count = rng.range(1, callable.len());
    let called = rng.fresh(callable, count, &mut taken);
    let listed: Vec<String> = called.iter().map(|it| format!("\"{it}\"")).collect();
    writeln!(out, "    calls {}", listed.join(" ")).unwrap();
}

/// A pipeline operator string, as a tree.
enum Stage {
    Loop(String, String),
    Group(Vec<Unit>),
}

enum Unit {
    Step(String),
    Sub(Vec<(bool, Stage)>),
}

/// Stages of one (sub-)pipeline: `(conditional, stage)`; the first is never conditional. Empty
/// only when every step name is taken.
fn pipeline(rng: &mut Rng, steps: &mut Vec<String>, depth: u32) -> Vec<(bool, Stage)> {
    let count = rng.range(1, if depth == 0 { 1 } else { 4 });
    let mut stages = Vec::new();
    for _ in 0..count {
        let conditional = !stages.is_empty() && rng.range(0, 3) == 0;
        match stage(rng, steps, depth) {
            Some(stage) => stages.push((conditional, stage)),
            None => break,
        }
    }
    stages
}

/// Every step name: the one-word pool, then with `_2` and `_3`.
fn step_names() -> Vec<String> {
    ["", "_2", "_3"]
        .iter()
        .flat_map(|suffix| STEPS.iter().map(move |word| format!("{word}{suffix}")))
        .collect()
}

/// A step name no earlier step of the manifest has.
fn step(steps: &mut Vec<String>, rng: &mut Rng) -> Option<String> {
    let free: Vec<String> = step_names()
        .into_iter()
        .filter(|it| !steps.contains(it))
        .collect();
    if free.is_empty() {
        return None;
    }
    let name = free[rng.range(0, free.len() - 1)].clone();
    steps.push(name.clone());
    Some(name)
}

fn stage(rng: &mut Rng, steps: &mut Vec<String>, depth: u32) -> Option<Stage> {
    if rng.range(0, 4) == 0 {
        let first = step(steps, rng)?;
        let Some(second) = step(steps, rng) else {
            return Some(Stage::Group(vec![Unit::Step(first)]));
        };
        return Some(Stage::Loop(first, second));
    }
    let count = rng.range(1, 3);
    let mut units = Vec::new();
    for _ in 0..count {
        if depth > 0 && rng.range(0, 4) == 0 {
            let inner = pipeline(rng, steps, depth - 1);
            if !inner.is_empty() {
                units.push(Unit::Sub(inner));
            }
        } else if let Some(name) = step(steps, rng) {
            units.push(Unit::Step(name));
        }
    }
    (!units.is_empty()).then_some(Stage::Group(units))
}

fn first_step(stage: &Stage) -> &str {
    match stage {
        Stage::Loop(a, _) => a,
        Stage::Group(units) => match &units[0] {
            Unit::Step(name) => name,
            Unit::Sub(stages) => first_step(&stages[0].1),
        },
    }
}

/// First steps of every conditional stage, at every depth.
fn conditional_steps(stages: &[(bool, Stage)], out: &mut Vec<String>) {
    for (conditional, stage) in stages {
        if *conditional {
            out.push(first_step(stage).to_owned());
        }
        if let Stage::Group(units) = stage {
            for unit in units {
                if let Unit::Sub(inner) = unit {
                    conditional_steps(inner, out);
                }
            }
        }
    }
}

/// An operator token in a random spelling, with random spaces around it.
fn token(rng: &mut Rng, unicode: &str, ascii: &str) -> String {
    let spelled = if rng.coin() { unicode } else { ascii };
    let space = |rng: &mut Rng| if rng.coin() { " " } else { "" };
    format!("{}{spelled}{}", space(rng), space(rng))
}

fn write_pipeline(rng: &mut Rng, stages: &[(bool, Stage)], out: &mut String) {
    for (index, (conditional, stage)) in stages.iter().enumerate() {
        if index > 0 {
            let arrow = if *conditional {
                token(rng, "→?", "->?")
            } else {
                token(rng, "→", "->")
            };
            out.push_str(&arrow);
        }
        match stage {
            Stage::Loop(a, b) => {
                out.push_str(a);
                out.push_str(&token(rng, "⇄", "<->"));
                out.push_str(b);
            }
            Stage::Group(units) => {
                for (at, unit) in units.iter().enumerate() {
                    if at > 0 {
                        out.push_str(&token(rng, "⊕", "+"));
                    }
                    match unit {
                        Unit::Step(name) => out.push_str(name),
                        Unit::Sub(inner) => {
                            out.push('(');
                            write_pipeline(rng, inner, out);
                            out.push(')');
                        }
                    }
                }
            }
        }
    }
}

/// One random valid manifest.
#[expect(
    clippy::too_many_lines,
    reason = "one generator, node by node, in manifest order"
)]
fn generate(seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut out = String::new();
    let mut entities = BTreeSet::new();

    out.push_str("project \"demo\" {\n    task-queue \"restack\"\n}\n\n");
    if rng.coin() {
        writeln!(
            out,
            "defaults {{\n    timeout \"{}\"\n    heartbeat \"{}\"\n    retry attempts={}\n}}\n",
            rng.pick(DURATIONS),
            rng.pick(DURATIONS),
            rng.range(1, 5)
        )
        .unwrap();
    }

    let count = rng.range(1, 6);
    let functions = rng.fresh(ENTITIES, count, &mut entities);
    for name in &functions {
        writeln!(out, "function \"{name}\" {{").unwrap();
        if rng.coin() {
            writeln!(out, "    doc \"Does {name}.\"").unwrap();
        }
        let count = rng.range(0, 4);
        if count > 0 {
            out.push_str("    input {\n");
            fields(&mut rng, &mut out, "        ", count);
            out.push_str("    }\n");
        }
        if rng.coin() {
            writeln!(out, "    output \"{}\"", ty(&mut rng, 2)).unwrap();
        }
        policy(&mut rng, &mut out);
        out.push_str("}\n\n");
    }

    let count = rng.range(0, 2);
    let mut workflows: Vec<&str> = Vec::new();
    for name in rng.fresh(ENTITIES, count, &mut entities) {
        writeln!(out, "workflow \"{name}\" {{").unwrap();
        let count = rng.range(0, 3);
        if count > 0 {
            out.push_str("    input {\n");
            fields(&mut rng, &mut out, "        ", count);
            out.push_str("    }\n");
        }
        if rng.coin() {
            writeln!(out, "    output \"{}\"", ty(&mut rng, 2)).unwrap();
        }
        if rng.coin() {
            let callable: Vec<&str> = functions.iter().chain(&workflows).copied().collect();
            calls(&mut rng, &mut out, &callable);
        }
        policy(&mut rng, &mut out);
        out.push_str("}\n\n");
        workflows.push(name);
    }

    let count = rng.range(0, 2);
    let servers = rng.fresh(ENTITIES, count, &mut entities);
    let mut wants_llm = false;
    let count = rng.range(0, 2);
    for name in rng.fresh(ENTITIES, count, &mut entities) {
        writeln!(out, "agent \"{name}\" {{").unwrap();
        let count = rng.range(0, 3);
        if count > 0 {
            out.push_str("    state {\n");
            fields(&mut rng, &mut out, "        ", count);
            out.push_str("    }\n");
        }
        let count = rng.range(0, 3);
        let mut taken = BTreeSet::new();
        for event in rng.fresh(SNAKES, count, &mut taken) {
            if rng.coin() {
                writeln!(out, "    event \"{event}\"").unwrap();
            } else {
                writeln!(out, "    event \"{event}\" {{").unwrap();
                let count = rng.range(1, 2);
                fields(&mut rng, &mut out, "        ", count);
                out.push_str("    }\n");
            }
        }
        if rng.coin() {
            let callable: Vec<&str> = functions.iter().chain(&workflows).copied().collect();
            calls(&mut rng, &mut out, &callable);
        }
        if rng.coin() {
            wants_llm = true;
            out.push_str("    llm \"default\"\n");
        }
        if !servers.is_empty() && rng.coin() {
            let listed: Vec<String> = servers.iter().map(|it| format!("\"{it}\"")).collect();
            writeln!(out, "    tools {}", listed.join(" ")).unwrap();
        }
        policy(&mut rng, &mut out);
        out.push_str("}\n\n");
    }

    let count = rng.range(0, 2);
    let mut steps = Vec::new();
    for name in rng.fresh(ENTITIES, count, &mut entities) {
        let start = steps.len();
        let tree = pipeline(&mut rng, &mut steps, 2);
        if tree.is_empty() {
            break;
        }
        let mut operators = String::new();
        write_pipeline(&mut rng, &tree, &mut operators);
        writeln!(out, "pipeline \"{name}\" {{\n    operators \"{operators}\"").unwrap();
        if rng.coin() {
            let style = rng.pick(&["subworkflows", "functions"]);
            writeln!(out, "    style \"{style}\"").unwrap();
        }
        if rng.coin() {
            writeln!(out, "    max-loops {}", rng.range(1, 5)).unwrap();
        }
        let own: Vec<String> = steps[start..].to_vec();
        let mut mapped = BTreeSet::new();
        for step in &own {
            if rng.range(0, 4) == 0 {
                let target = rng.pick(&functions);
                if mapped.insert(target) {
                    writeln!(out, "    map \"{step}\" \"{target}\"").unwrap();
                }
            }
        }
        let mut conditional = Vec::new();
        conditional_steps(&tree, &mut conditional);
        for step in conditional {
            if rng.coin() {
                writeln!(out, "    when \"{step}\" \"when_{}\"", step.to_lowercase()).unwrap();
            }
        }
        if rng.coin() {
            let step = &own[rng.range(0, own.len() - 1)];
            writeln!(
                out,
                "    step \"{step}\" timeout=\"{}\" retry-attempts={}",
                rng.pick(DURATIONS),
                rng.range(1, 9)
            )
            .unwrap();
        }
        if rng.coin() {
            writeln!(out, "    continue-as-new after={}", rng.range(1, 500)).unwrap();
        }
        out.push_str("}\n\n");
    }

    for name in &servers {
        writeln!(out, "tool-server \"{name}\" {{").unwrap();
        let transport = rng.pick(&["stdio", "http", "sse"]);
        writeln!(out, "    transport \"{transport}\"").unwrap();
        if rng.coin() {
            writeln!(out, "    autostart #{}", rng.coin()).unwrap();
        }
        let count = rng.range(1, 3);
        let mut taken = BTreeSet::new();
        for tool in rng.fresh(SNAKES, count, &mut taken) {
            writeln!(out, "    tool \"{tool}\" {{").unwrap();
            if rng.coin() {
                writeln!(out, "        doc \"Runs {tool}.\"").unwrap();
            }
            let mut params = BTreeSet::new();
            let count = rng.range(0, 3);
            for param in rng.fresh(SNAKES, count, &mut params) {
                writeln!(out, "        param \"{param}\" \"{}\"", ty(&mut rng, 1)).unwrap();
            }
            if rng.coin() {
                writeln!(out, "        returns \"{}\"", ty(&mut rng, 2)).unwrap();
            }
            out.push_str("    }\n");
        }
        out.push_str("}\n\n");
    }

    if wants_llm || rng.coin() {
        out.push_str(
            "llm {\n    provider \"openai\" model=\"gpt-4o-mini\" key-env=\"OPENAI_API_KEY\"\n}\n\n",
        );
    }

    let count = rng.range(0, 2);
    let mut prompts = BTreeSet::new();
    for name in rng.fresh(SNAKES, count, &mut prompts) {
        if rng.coin() {
            writeln!(
                out,
                "prompt \"{name}\" version=\"1.{}.0\" {{",
                rng.range(0, 9)
            )
            .unwrap();
        } else {
            writeln!(out, "prompt \"{name}\" {{").unwrap();
        }
        let mut vars = BTreeSet::new();
        let count = rng.range(0, 3);
        let declared = rng.fresh(SNAKES, count, &mut vars);
        let mut text = String::from("Answer briefly.");
        for var in &declared {
            writeln!(out, "    var \"{var}\"").unwrap();
            let spaced = if rng.coin() { " " } else { "" };
            write!(text, "\\n{var}: {{{{{spaced}{var}{spaced}}}}}").unwrap();
        }
        writeln!(out, "    text \"{text}\"\n}}\n").unwrap();
    }
    out
}

/// `RESTACK_FUZZ_CASES` when set (to run longer locally), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("RESTACK_FUZZ_CASES")
        .ok()
        .and_then(|it| it.parse().ok())
        .unwrap_or(default)
}

fn check(manifest: &str) -> Result<(), TestCaseError> {
    let analysis = analyze("restack.kdl", manifest.as_bytes());
    let errors: Vec<_> = analysis
        .diagnostics
        .iter()
        .filter(|it| it.severity == Severity::Error)
        .cloned()
        .collect();
    prop_assert!(
        errors.is_empty(),
        "a generated valid manifest has errors:\n{manifest}\n{}",
        diag::render(
            "restack.kdl",
            &analysis.text,
            &errors,
            RenderOptions::default()
        )
    );
    let Some(project) = analysis.project else {
        return Err(TestCaseError::fail(format!(
            "no project without errors:\n{manifest}"
        )));
    };
    let files = render::render(&Arc::new(project))
        .map_err(|err| TestCaseError::fail(format!("render failed: {err}\n{manifest}")))?;
    let mut python = 0;
    for (path, file) in &files.files {
        if std::path::Path::new(path)
            .extension()
            .is_none_or(|it| it != "py")
        {
            continue;
        }
        python += 1;
        let parsed = parse_unchecked(
            file.text().expect("rendered"),
            ParseOptions::from(Mode::Module),
        );
        prop_assert!(
            parsed.errors().is_empty(),
            "{path} does not parse: {:?}\n{manifest}",
            parsed.errors()
        );
    }
    prop_assert!(python > 0, "no Python file rendered:\n{manifest}");
    Ok(())
}

proptest! {
    #![proptest_config(Config {
        cases: cases(48),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn generated_valid_manifests_analyze_clean_and_render_python_that_parses(
        manifest in any::<u64>().prop_map(generate)
    ) {
        check(&manifest)?;
    }
}

/// The generator reaches every construct it claims to: over many seeds, each appears.
#[test]
fn the_generator_covers_every_construct() {
    let all: String = (0..400u64).map(generate).collect();
    for needle in [
        "function \"",
        "workflow \"",
        "agent \"",
        "event \"",
        "calls \"",
        "llm \"default\"",
        "provider \"openai\"",
        "tool-server \"",
        "param \"",
        "prompt \"",
        "{{ ",
        "{{",
        "pipeline \"",
        "→?",
        "->?",
        "⇄",
        "<->",
        "⊕",
        "+",
        "(",
        "style \"functions\"",
        "style \"subworkflows\"",
        "max-loops",
        "map \"",
        "when \"",
        "default=#null",
        "| None",
        "list[",
        "dict[str, ",
        "retry attempts=",
        "timeout \"",
    ] {
        assert!(all.contains(needle), "no generated manifest has `{needle}`");
    }
}
