//! The schema (`restack::manifest::schema`) and the decoder agree, both ways; the committed
//! `schema/restack.schema.json`, `docs/manifest.md` and `docs/codes.md` are what the generators
//! produce. `RESTACK_UPDATE_SCHEMA=1 cargo test --test schema` rewrites the generated files.
//!
//! Agreement is proven on the decoder's behaviour, not its source: a manifest with every node,
//! argument and property of the schema decodes without a single diagnostic, and for every node an
//! unknown property (or child) is refused with the decoder's own list of what it accepts, which
//! must equal the schema's list. Arguments, kinds, required and once-only nodes are probed the
//! same way.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use restack::diag::{Code, Diagnostic};
use restack::manifest::decode;
use restack::manifest::schema::{Kind, Node, ROOT};

/// One change to the complete manifest, applied to the node at `path`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    None,
    UnknownProp,
    UnknownChild,
    ExtraArg,
    NoArgs,
    NoRequiredProps,
    NoProps,
    Omit,
    Twice,
    /// Replace argument or property `index` (arguments first, then properties) with a value.
    Value(usize, &'static str),
}

const PROBE: &str = "zzqx";

/// The complete manifest with `change` applied to the node at `path`.
fn manifest(path: &[&str], change: Change) -> String {
    let mut out = String::new();
    for child in ROOT.children {
        write_node(child, 0, &[child.name], path, change, &mut out);
    }
    out
}

fn write_node(
    node: &Node,
    depth: usize,
    at: &[&str],
    path: &[&str],
    change: Change,
    out: &mut String,
) {
    let here = at == path;
    if here && change == Change::Omit {
        return;
    }
    let times = if here && change == Change::Twice {
        2
    } else {
        1
    };
    for _ in 0..times {
        out.push_str(&"    ".repeat(depth));
        out.push_str(node.name);
        let n_args = node.args.len();
        for (index, arg) in node.args.iter().enumerate() {
            if here && change == Change::NoArgs {
                break;
            }
            let value = match change {
                Change::Value(at, value) if here && at == index => value,
                _ => arg.example,
            };
            write!(out, " {value}").unwrap();
        }
        if here && change == Change::ExtraArg {
            write!(out, " \"{PROBE}\"").unwrap();
        }
        for (index, prop) in node.props.iter().enumerate() {
            let skip = here
                && (change == Change::NoProps
                    || (change == Change::NoRequiredProps && prop.required));
            if skip {
                continue;
            }
            let value = match change {
                Change::Value(at, value) if here && at == n_args + index => value,
                _ => prop.example,
            };
            write!(out, " {}={value}", prop.name).unwrap();
        }
        if here && change == Change::UnknownProp {
            write!(out, " {PROBE}=1").unwrap();
        }
        let probe_child = here && change == Change::UnknownChild;
        if !node.children.is_empty() || probe_child {
            out.push_str(" {\n");
            for child in node.children {
                let mut next = at.to_vec();
                next.push(child.name);
                write_node(child, depth + 1, &next, path, change, out);
            }
            if probe_child {
                writeln!(out, "{}{PROBE}", "    ".repeat(depth + 1)).unwrap();
            }
            out.push_str(&"    ".repeat(depth));
            out.push('}');
        }
        out.push('\n');
    }
}

/// Every node with its path from the root.
fn nodes() -> Vec<(Vec<&'static str>, &'static Node)> {
    fn walk(
        node: &'static Node,
        at: &[&'static str],
        out: &mut Vec<(Vec<&'static str>, &'static Node)>,
    ) {
        for child in node.children {
            let mut path = at.to_vec();
            path.push(child.name);
            out.push((path.clone(), child));
            walk(child, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&ROOT, &[], &mut out);
    out
}

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    decode(text).1.iter().cloned().collect()
}

fn show(text: &str, found: &[Diagnostic]) -> String {
    let listed: Vec<String> = found
        .iter()
        .map(|it| format!("{}: {} ({:?})", it.code.name(), it.message, it.help))
        .collect();
    format!("{text}\n{}", listed.join("\n"))
}

/// The list after `accepts: ` in a help text; empty for "takes no properties".
fn accepted(help: Option<&String>) -> BTreeSet<String> {
    let help = help.map_or("", String::as_str);
    help.split_once("accepts: ")
        .map(|(_, list)| list.split(", ").map(str::to_owned).collect())
        .unwrap_or_default()
}

fn names(list: impl IntoIterator<Item = &'static str>) -> BTreeSet<String> {
    list.into_iter().map(str::to_owned).collect()
}

#[test]
fn the_complete_manifest_decodes_cleanly() {
    let text = manifest(&[], Change::None);
    let found = diagnostics(&text);
    assert!(found.is_empty(), "{}", show(&text, &found));
}

/// The examples fit together: the complete manifest passes every check, references included, so
/// each example in docs/manifest.md is a valid piece of one manifest.
#[test]
fn the_complete_manifest_is_valid() {
    let text = manifest(&[], Change::None);
    let analysis = restack::analyze::analyze("restack.kdl", text.as_bytes());
    let found: Vec<Diagnostic> = analysis.diagnostics.iter().cloned().collect();
    assert!(found.is_empty(), "{}", show(&text, &found));
    assert!(analysis.project.is_some());
}

#[test]
fn the_decoder_accepts_exactly_the_schemas_properties() {
    for (path, node) in nodes() {
        let text = manifest(&path, Change::UnknownProp);
        let found = diagnostics(&text);
        let message = format!("unknown property `{PROBE}` on `{}`", node.name);
        let hit = found
            .iter()
            .find(|it| it.code == Code::UnknownProperty && it.message == message);
        let Some(hit) = hit else {
            panic!("{path:?}: no unknown-property\n{}", show(&text, &found));
        };
        assert_eq!(
            accepted(hit.help.as_ref()),
            names(node.props.iter().map(|it| it.name)),
            "{path:?}: the decoder's properties differ from the schema's"
        );
        assert_eq!(found.len(), 1, "{path:?}: {}", show(&text, &found));
    }
}

#[test]
fn the_decoder_accepts_exactly_the_schemas_children() {
    let top = manifest(&[], Change::None) + &format!("{PROBE}\n");
    let found = diagnostics(&top);
    assert_eq!(found.len(), 1, "{}", show(&top, &found));
    assert_eq!(
        accepted(found[0].help.as_ref()),
        names(ROOT.children.iter().map(|it| it.name)),
        "top-level nodes differ"
    );
    for (path, node) in nodes() {
        let text = manifest(&path, Change::UnknownChild);
        let found = diagnostics(&text);
        if node.block {
            let message = format!("unknown node `{PROBE}` in `{}`", node.name);
            let Some(hit) = found.iter().find(|it| it.message == message) else {
                panic!("{path:?}: no unknown-node\n{}", show(&text, &found));
            };
            assert_eq!(
                accepted(hit.help.as_ref()),
                names(node.children.iter().map(|it| it.name)),
                "{path:?}: the decoder's children differ from the schema's"
            );
        } else {
            let message = format!("`{}` takes no block", node.name);
            assert!(
                found.iter().any(|it| it.message == message),
                "{path:?}: a block was accepted\n{}",
                show(&text, &found)
            );
        }
    }
}

#[test]
fn argument_counts_agree() {
    for (path, node) in nodes() {
        if node.max_args().is_some() {
            let text = manifest(&path, Change::ExtraArg);
            let found = diagnostics(&text);
            let message = format!("unexpected argument `\"{PROBE}\"` to `{}`", node.name);
            assert!(
                found
                    .iter()
                    .any(|it| it.code == Code::UnexpectedArgument && it.message == message),
                "{path:?}: an extra argument was accepted\n{}",
                show(&text, &found)
            );
        }
        if node.min_args > 0 {
            let text = manifest(&path, Change::NoArgs);
            let found = diagnostics(&text);
            let message = format!("`{}` is missing its", node.name);
            assert!(
                found
                    .iter()
                    .any(|it| it.code == Code::MissingArgument && it.message.starts_with(&message)),
                "{path:?}: a missing argument was accepted\n{}",
                show(&text, &found)
            );
        }
    }
}

#[test]
fn required_properties_children_and_once_only_nodes_agree() {
    for (path, node) in nodes() {
        if node.props.iter().any(|it| it.required) {
            let text = manifest(&path, Change::NoRequiredProps);
            let found = diagnostics(&text);
            assert!(
                found.iter().any(|it| it.code == Code::MissingArgument),
                "{path:?}: a required property may be left out\n{}",
                show(&text, &found)
            );
        }
        if node.needs_a_prop {
            let text = manifest(&path, Change::NoProps);
            let found = diagnostics(&text);
            assert!(
                found.iter().any(|it| it.code == Code::MissingArgument),
                "{path:?}: a node without properties was accepted\n{}",
                show(&text, &found)
            );
        }
        let text = manifest(&path, Change::Omit);
        let found = diagnostics(&text);
        let refused = found
            .iter()
            .any(|it| matches!(it.code, Code::MissingChildren | Code::MissingProject));
        assert_eq!(
            refused,
            node.required,
            "{path:?}: required is {} in the schema\n{}",
            node.required,
            show(&text, &found)
        );
        if !node.repeat {
            let text = manifest(&path, Change::Twice);
            let found = diagnostics(&text);
            assert!(
                found
                    .iter()
                    .any(|it| matches!(it.code, Code::DuplicateNode | Code::DuplicateProject)),
                "{path:?}: a once-only node was accepted twice\n{}",
                show(&text, &found)
            );
        }
    }
}

/// A value of the wrong kind for `kind`, and the code the decoder must give it.
fn wrong_values(kind: Kind) -> Vec<(&'static str, Code)> {
    match kind {
        Kind::Literal => Vec::new(),
        Kind::Duration => vec![
            ("1", Code::WrongType),
            ("\"1 week\"", Code::InvalidDuration),
        ],
        Kind::Count => vec![("\"x\"", Code::WrongType), ("0", Code::InvalidCount)],
        Kind::Number | Kind::Bool => vec![("\"x\"", Code::WrongType)],
        Kind::Choice { .. } => vec![("1", Code::WrongType), ("\"zzqx\"", Code::InvalidChoice)],
        Kind::Type => vec![("1", Code::WrongType), ("\"list[str\"", Code::UnknownType)],
        Kind::EntityName => vec![
            ("1", Code::WrongType),
            ("\"zzqx\"", Code::InvalidEntityName),
        ],
        Kind::Identifier => vec![
            ("1", Code::WrongType),
            ("\"Zzqx\"", Code::InvalidIdentifier),
        ],
        Kind::Step => vec![("1", Code::WrongType), ("\"zzqx\"", Code::InvalidStepName)],
        Kind::Text
        | Kind::Requirement
        | Kind::Address
        | Kind::Url
        | Kind::EnvName
        | Kind::Operators
        | Kind::Reference { .. }
        | Kind::Package
        | Kind::PlainName
        | Kind::ProviderName => vec![("1", Code::WrongType)],
    }
}

#[test]
fn value_kinds_agree() {
    for (path, node) in nodes() {
        let kinds = node
            .args
            .iter()
            .map(|it| it.kind)
            .chain(node.props.iter().map(|it| it.kind));
        for (index, kind) in kinds.enumerate() {
            for (value, code) in wrong_values(kind) {
                let text = manifest(&path, Change::Value(index, value));
                let found = diagnostics(&text);
                assert!(
                    found.iter().any(|it| it.code == code),
                    "{path:?}: value {index} = {value} should give {}\n{}",
                    code.name(),
                    show(&text, &found)
                );
            }
        }
    }
}

/// The other direction on the decoder's source: every node name the decoder matches on (`"name"
/// =>` arms) is a node of the schema, so no accepted node can hide from the tests above.
#[test]
fn every_node_the_decoder_matches_on_is_in_the_schema() {
    let source = std::fs::read_to_string(root().join("src/manifest/decode.rs")).unwrap();
    let known: BTreeSet<String> = nodes()
        .into_iter()
        .map(|(_, node)| node.name.to_owned())
        .collect();
    let mut matched = BTreeSet::new();
    for line in source.lines() {
        let Some(arm) = line.trim().split_once(" =>").map(|it| it.0) else {
            continue;
        };
        let names: Vec<&str> = arm.split(" | ").collect();
        if names
            .iter()
            .all(|it| it.len() > 2 && it.starts_with('"') && it.ends_with('"'))
        {
            matched.extend(names.iter().map(|it| it.trim_matches('"').to_owned()));
        }
    }
    assert!(matched.len() > 30, "the scan found only {matched:?}");
    let missing: Vec<_> = matched.difference(&known).collect();
    assert!(
        missing.is_empty(),
        "matched by the decoder, not in the schema: {missing:?}"
    );
}

// ---- generated files ----

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compares a committed file with what was generated; rewrites it under `RESTACK_UPDATE_SCHEMA=1`.
#[expect(
    clippy::disallowed_methods,
    reason = "rewrites a committed fixture on request"
)]
fn check_generated(relative: &str, generated: &str) {
    let path = root().join(relative);
    if std::env::var_os("RESTACK_UPDATE_SCHEMA").is_some_and(|it| it == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "`{relative}` is out of date; run `RESTACK_UPDATE_SCHEMA=1 cargo test --test schema` and \
         commit the result"
    );
}

#[test]
fn the_json_schema_is_up_to_date() {
    let json = restack::manifest::schema::json();
    assert!(json.len() > 1000, "the schema serialised");
    check_generated("schema/restack.schema.json", &json);
}

const BEGIN: &str = "<!-- BEGIN GENERATED REFERENCE: edit src/manifest/schema.rs, then run RESTACK_UPDATE_SCHEMA=1 cargo test --test schema -->\n";
const END: &str = "<!-- END GENERATED REFERENCE -->\n";

#[test]
fn the_manifest_reference_is_up_to_date() {
    let path = root().join("docs/manifest.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let (head, rest) = committed
        .split_once(BEGIN)
        .expect("docs/manifest.md has the generated-reference markers");
    let (_, tail) = rest.split_once(END).expect("the end marker");
    let generated = format!("{head}{BEGIN}{}{END}{tail}", reference());
    check_generated("docs/manifest.md", &generated);
}

fn reference() -> String {
    let mut out = String::new();
    let mut seen = std::collections::BTreeMap::new();
    for node in ROOT.children {
        write_reference(node, &[], &mut seen, &mut out);
    }
    out
}

/// Writes a node's section. A node described before (same name and doc, e.g. `timeout` in each
/// entity) gets a reference to that section instead.
fn write_reference(
    node: &Node,
    parents: &[&str],
    seen: &mut std::collections::BTreeMap<(&'static str, &'static str), String>,
    out: &mut String,
) {
    let mut path = parents.to_vec();
    path.push(node.name);
    let heading = "#".repeat((path.len() + 2).min(6));
    let title = path.join(" › ");
    writeln!(out, "{heading} `{title}`\n").unwrap();
    if let Some(first) = seen.get(&(node.name, node.doc)) {
        let count = match (node.required, node.repeat) {
            (true, true) => "required, may repeat",
            (true, false) => "required, once",
            (false, true) => "optional, may repeat",
            (false, false) => "optional, once",
        };
        writeln!(out, "As `{first}` ({count}).\n").unwrap();
        return;
    }
    seen.insert((node.name, node.doc), title);
    writeln!(out, "{}\n", node.doc).unwrap();
    let place = if parents.is_empty() {
        "top level".to_owned()
    } else {
        format!("inside `{}`", parents.last().unwrap())
    };
    let count = match (node.required, node.repeat) {
        (true, true) => "required, may repeat",
        (true, false) => "required, once",
        (false, true) => "optional, may repeat",
        (false, false) => "optional, once",
    };
    writeln!(out, "- Appears: {place}; {count}.").unwrap();
    if let Some(default) = node.default {
        writeln!(out, "- When absent: {default}.").unwrap();
    }
    if node.args.is_empty() {
        writeln!(out, "- Arguments: none.").unwrap();
    } else {
        let args: Vec<String> = node
            .args
            .iter()
            .map(|it| format!("{} ({})", it.name, kind_text(it.kind)))
            .collect();
        let more = match (node.variadic, node.min_args) {
            (true, 0) => ", zero or more",
            (true, _) => ", one or more",
            (false, _) => "",
        };
        writeln!(out, "- Arguments: {}{more}.", args.join(", ")).unwrap();
    }
    if !node.props.is_empty() {
        let at_least = if node.needs_a_prop {
            " (at least one)"
        } else {
            ""
        };
        writeln!(out, "- Properties{at_least}:").unwrap();
        for prop in node.props {
            let required = if prop.required { ", required" } else { "" };
            let default = prop
                .default
                .map(|it| format!(" Default: {it}."))
                .unwrap_or_default();
            writeln!(
                out,
                "  - `{}` ({}{required}): {}{default}",
                prop.name,
                kind_text(prop.kind),
                prop.doc
            )
            .unwrap();
        }
    }
    if node.block {
        let children: Vec<String> = node
            .children
            .iter()
            .map(|it| format!("`{}`", it.name))
            .collect();
        writeln!(out, "- Block: {}.", children.join(", ")).unwrap();
    }
    writeln!(out, "\n```kdl\n{}```\n", example(node)).unwrap();
    for child in node.children {
        write_reference(child, &path, seen, out);
    }
}

fn example(node: &Node) -> String {
    let mut out = String::new();
    write_node(node, 0, &[], &["-"], Change::None, &mut out);
    out
}

fn kind_text(kind: Kind) -> String {
    match kind {
        Kind::Text => "string".to_owned(),
        Kind::EntityName => "PascalCase name".to_owned(),
        Kind::Identifier => "snake_case name".to_owned(),
        Kind::Step => "UPPER_SNAKE step".to_owned(),
        Kind::Type => "type".to_owned(),
        Kind::Duration => "duration".to_owned(),
        Kind::Count => "count".to_owned(),
        Kind::Number => "number".to_owned(),
        Kind::Bool => "`#true` or `#false`".to_owned(),
        Kind::Choice { choices } => {
            let listed: Vec<String> = choices.iter().map(|it| format!("`\"{it}\"`")).collect();
            format!("one of {}", listed.join(", "))
        }
        Kind::Requirement => "version requirement".to_owned(),
        Kind::Address => "`host:port`".to_owned(),
        Kind::Url => "http(s) URL".to_owned(),
        Kind::EnvName => "environment variable name".to_owned(),
        Kind::Operators => "operator string".to_owned(),
        Kind::Reference { to } => format!("name of a declared {}", to.join(" or ")),
        Kind::Package => "Python package name".to_owned(),
        Kind::PlainName => "letters, digits, `-`, `_`, `.`".to_owned(),
        Kind::ProviderName => "lowercase name".to_owned(),
        Kind::Literal => "a value of the field's type".to_owned(),
    }
}

#[test]
fn the_codes_reference_is_up_to_date() {
    let mut out = String::from(
        "# Diagnostic codes\n\n\
         <!-- Generated from src/diag/code.rs by tests/schema.rs; do not edit. Regenerate with \
         RESTACK_UPDATE_SCHEMA=1 cargo test --test schema -->\n\n\
         Every problem restack reports carries one of these stable codes. `restack explain CODE` \
         prints the same explanation in the terminal. Codes name the problem; the fix is in each \
         diagnostic's `help`.\n\n\
         | code | summary |\n|---|---|\n",
    );
    for code in Code::ALL {
        writeln!(out, "| [`{0}`](#{0}) | {1} |", code.name(), code.summary()).unwrap();
    }
    for code in Code::ALL {
        write!(
            out,
            "\n## `{}`\n\n{}.\n\n{}\n",
            code.name(),
            capitalise(code.summary()),
            code.explanation()
        )
        .unwrap();
    }
    check_generated("docs/codes.md", &out);
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[test]
fn restack_schema_prints_the_committed_file() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_restack"))
        .arg("schema")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(root().join("schema/restack.schema.json")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}
