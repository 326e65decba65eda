//! `restack add KIND NAME [options]`: adds an entity to the manifest, keeping every other byte,
//! then shows the plan (or applies it with `--apply`).
//!
//! Turns the options into an `edit::Node`, inserts it with `manifest::edit::insert`, analyzes the
//! edited text like any manifest and writes it only when it has no error. Planning and applying
//! are the `plan` and `apply` commands' own functions.

use crate::analyze::analyze;
use crate::apply;
use crate::cli::args::AddEntity;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::{GlobalArgs, apply as apply_cmd, plan as plan_cmd, session};
use crate::manifest::edit;

/// Exit 0 when the entity was added (and the plan shown or applied), 1 when the option values are
/// malformed or the edited manifest would have an error (nothing is written then), 2 when the
/// manifest cannot be found, read or written.
pub(crate) fn add(
    global: &GlobalArgs,
    printer: &Printer,
    entity: &AddEntity,
    apply: bool,
) -> ExitStatus {
    let run = || -> Result<ExitStatus, ExitStatus> {
        let node = node(entity).map_err(|message| {
            printer.error(&message);
            ExitStatus::Failure
        })?;
        let session::Source {
            path, name, bytes, ..
        } = session::read(global, printer)?;
        let before = analyze(&name, &bytes);
        if before.diagnostics.has_errors() {
            session::print_diagnostics(printer, &name, &before.text, &before.diagnostics);
            printer.err(&format!(
                "{name}: invalid; fix it before adding to it (nothing was written)\n"
            ));
            return Err(ExitStatus::Failure);
        }
        let edited = edit::insert(&before.text, &node).map_err(|err| {
            printer.error(&err.to_string());
            ExitStatus::Failure
        })?;
        let after = analyze(&name, edited.as_bytes());
        if after.diagnostics.has_errors() {
            session::print_diagnostics(printer, &name, &after.text, &after.diagnostics);
            printer.err(&format!(
                "{name}: the addition would make the manifest invalid; nothing was written\n"
            ));
            return Err(ExitStatus::Failure);
        }
        apply::write::write_atomic(&path, edited.as_bytes()).map_err(|err| {
            printer.error(&format!("cannot write `{}`: {err}", path.display()));
            ExitStatus::Error
        })?;
        if !printer.quiet {
            let first = node.args.first().map_or("", String::as_str);
            printer.err(&format!("Added `{} {first}` to {name}.\n", node.name));
        }
        // The plan and apply commands find the manifest again, now edited.
        let global = GlobalArgs {
            manifest: Some(path),
            directory: None,
            ..global.clone()
        };
        Ok(if apply {
            apply_cmd::apply(&global, printer, None, false, false)
        } else {
            plan_cmd::plan(&global, printer, false, false, None)
        })
    };
    run().unwrap_or_else(|status| status)
}

/// The manifest node for the options. Only the option syntax (`NAME:TYPE`) is checked here;
/// names, types and references are checked by analyzing the edited manifest.
#[expect(
    clippy::too_many_lines,
    reason = "one arm per entity kind, each a few lines"
)]
fn node(entity: &AddEntity) -> Result<edit::Node, String> {
    use edit::Node;
    let doc = |node: Node, doc: Option<&String>| match doc {
        Some(text) => node.child(Node::new("doc").string(text)),
        None => node,
    };
    let list = |node: Node, keyword: &str, names: &[String]| {
        if names.is_empty() {
            node
        } else {
            node.child(
                names
                    .iter()
                    .fold(Node::new(keyword), |it, name| it.string(name.trim())),
            )
        }
    };
    let fields = |node: Node, keyword: &str, specs: &[String]| -> Result<Node, String> {
        if specs.is_empty() {
            return Ok(node);
        }
        let block = specs.iter().try_fold(Node::new(keyword), |block, spec| {
            let (name, ty) = field(spec, "--input/--state", "NAME:TYPE")?;
            Ok::<_, String>(block.child(Node::new("field").string(name).string(ty)))
        })?;
        Ok(node.child(block))
    };
    let output = |node: Node, keyword: &str, ty: Option<&String>| match ty {
        Some(ty) => node.child(Node::new(keyword).string(ty)),
        None => node,
    };
    Ok(match entity {
        AddEntity::Function {
            name,
            doc: text,
            input,
            output: ty,
        } => {
            let node = doc(Node::new("function").string(name), text.as_ref());
            output(fields(node, "input", input)?, "output", ty.as_ref())
        }
        AddEntity::Workflow {
            name,
            doc: text,
            input,
            output: ty,
            calls,
        } => {
            let node = doc(Node::new("workflow").string(name), text.as_ref());
            let node = output(fields(node, "input", input)?, "output", ty.as_ref());
            list(node, "calls", calls)
        }
        AddEntity::Agent {
            name,
            doc: text,
            state,
            event,
            calls,
            tools,
            llm,
        } => {
            let mut node = fields(
                doc(Node::new("agent").string(name), text.as_ref()),
                "state",
                state,
            )?;
            for spec in event {
                node = node.child(named_list(spec, "event", "field", "--event")?);
            }
            node = list(node, "calls", calls);
            if *llm {
                node = node.child(Node::new("llm").string("default"));
            }
            list(node, "tools", tools)
        }
        AddEntity::Pipeline {
            name,
            doc: text,
            operators,
            style,
            max_loops,
        } => {
            let mut node = doc(Node::new("pipeline").string(name), text.as_ref())
                .child(Node::new("operators").string(operators));
            if let Some(style) = style {
                node = node.child(Node::new("style").string(style));
            }
            if let Some(n) = max_loops {
                node = node.child(Node::new("max-loops").literal(&n.to_string()));
            }
            node
        }
        AddEntity::ToolServer {
            name,
            doc: text,
            transport,
            tool,
        } => {
            let mut node = doc(Node::new("tool-server").string(name), text.as_ref());
            if let Some(transport) = transport {
                node = node.child(Node::new("transport").string(transport));
            }
            for spec in tool {
                node = node.child(named_list(spec, "tool", "param", "--tool")?);
            }
            node
        }
        AddEntity::Prompt {
            name,
            version,
            var,
            text,
        } => {
            let mut node = Node::new("prompt").string(name);
            if let Some(version) = version {
                node.props
                    .push(("version".to_owned(), edit::quote(version)));
            }
            let node = var.iter().fold(node, |it, var| {
                it.child(Node::new("var").string(var.trim()))
            });
            node.child(Node::new("text").string(text))
        }
    })
}

/// `NAME:TYPE` → (name, type). The type may itself contain `:`-free text such as `dict[str, int]`.
fn field<'a>(spec: &'a str, option: &str, form: &str) -> Result<(&'a str, &'a str), String> {
    match spec.split_once(':') {
        Some((name, ty)) if !name.trim().is_empty() && !ty.trim().is_empty() => {
            Ok((name.trim(), ty.trim()))
        }
        _ => Err(format!("`{spec}` is not `{form}` (in {option})")),
    }
}

/// `NAME[:FIELD:TYPE,…]` → `keyword "NAME" { child "FIELD" "TYPE" … }`. Commas inside brackets
/// (`dict[str, int]`) do not separate fields.
fn named_list(spec: &str, keyword: &str, child: &str, option: &str) -> Result<edit::Node, String> {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut node = edit::Node::new(keyword).string(name.trim());
    for part in split_top_level(rest) {
        let (field_name, ty) = field(part, option, "NAME[:FIELD:TYPE,…]")?;
        node = node.child(edit::Node::new(child).string(field_name).string(ty));
    }
    Ok(node)
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (index, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .filter(|it| !it.trim().is_empty())
        .collect()
}
