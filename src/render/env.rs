//! The minijinja environment: embedded templates, whitespace rules, strict undefined, and the
//! filters templates use to spell Python. Knows nothing about which files exist.

use std::fmt::Write as _;
use std::sync::Arc;

use heck::{ToSnakeCase, ToUpperCamelCase};
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value, syntax::SyntaxConfig};

use crate::ir;
use crate::render::{Output, Overrides, RenderError, isort};

/// The environment every output renders in. Templates load lazily: an override of that name
/// first, else the embedded template.
pub(super) fn environment(overrides: &Overrides) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_debug(true);
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build();
    debug_assert!(syntax.is_ok(), "the default delimiters are valid");
    if let Ok(syntax) = syntax {
        env.set_syntax(syntax);
    }
    let overridden = Arc::clone(&overrides.templates);
    env.set_loader(move |name| {
        Ok(overridden
            .get(name)
            .cloned()
            .or_else(|| super::template_source(name).map(str::to_owned)))
    });
    env.add_filter("timedelta", timedelta);
    env.add_filter("pystr", |value: &str| ir::python_string(value));
    env.add_filter("pytype", pytype);
    env.add_filter("pyliteral", pyliteral);
    env.add_filter("pyzero", pyzero);
    env.add_filter("uses_any", |value: &Value| uses_any(value));
    env.add_filter("isort", |state: &minijinja::State, block: &str| {
        let package = state.lookup("package");
        let package = package.as_ref().and_then(Value::as_str).unwrap_or_default();
        isort::isort(block, package)
            .map_err(|message| Error::new(ErrorKind::InvalidOperation, message))
    });
    env.add_function("pydef", pydef);
    env.add_function("docstring", docstring);
    env.add_filter("snake", |value: &str| value.to_snake_case());
    env.add_filter("pascal", |value: &str| value.to_upper_camel_case());
    env.add_filter("upper_snake", |value: &str| {
        value.to_snake_case().to_uppercase()
    });
    env
}

/// Renders one output's body (without its header).
pub(super) fn render_output(
    env: &Environment<'static>,
    base: &Value,
    output: &Output<'_>,
) -> Result<String, RenderError> {
    let context = minijinja::value::merge_maps([output.context_value(), base.clone()]);
    env.get_template(output.template)
        .and_then(|template| template.render(context))
        .map_err(|err| RenderError::Template {
            path: output.path.clone(),
            // The template the error is in (an included macro file, say), else the output's.
            template: err.name().unwrap_or(output.template).to_owned(),
            line: err.line(),
            message: format!("{err}{}", err.display_debug_info()),
        })
}

/// A `def` header laid out as `ruff format` lays it out at 100 columns: on one line if it fits,
/// else the parameters on one indented line, else one parameter per line with a trailing comma.
/// `head` is e.g. `async def run`, `params` the parameters, `returns` the annotation.
#[expect(
    clippy::needless_pass_by_value,
    reason = "minijinja hands function arguments over by value"
)]
fn pydef(indent: usize, head: &str, params: Vec<String>, returns: &str) -> String {
    const WIDTH: usize = 100;
    let pad = " ".repeat(indent);
    let joined = params.join(", ");
    let one = format!("{pad}{head}({joined}) -> {returns}:");
    if one.chars().count() <= WIDTH {
        return one;
    }
    let middle = format!("{pad}    {joined}");
    if middle.chars().count() <= WIDTH {
        return format!("{pad}{head}(\n{middle}\n{pad}) -> {returns}:");
    }
    let mut out = format!("{pad}{head}(\n");
    for param in &params {
        let _ = writeln!(out, "{pad}    {param},");
    }
    let _ = write!(out, "{pad}) -> {returns}:");
    out
}

/// A docstring literal for `text` at `indent` columns: whitespace collapsed, backslashes and
/// quotes that would end it escaped, on one line if it fits in 100 columns, else wrapped at word
/// boundaries with the closing quotes on their own line (as `ruff format` keeps it).
fn docstring(text: &str, indent: usize) -> String {
    const WIDTH: usize = 100;
    let words: Vec<String> = text
        .split_whitespace()
        .map(|word| word.replace('\\', "\\\\").replace("\"\"\"", "\\\"\"\""))
        .collect();
    let mut body = words.join(" ");
    if body.ends_with('"') {
        body.pop();
        body.push_str("\\\"");
    }
    if indent + 6 + body.chars().count() <= WIDTH {
        return format!("\"\"\"{body}\"\"\"");
    }
    let pad = " ".repeat(indent);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::from("\"\"\"");
    for word in body.split(' ') {
        let first_word = line == "\"\"\"" && lines.is_empty();
        let width = if lines.is_empty() { indent } else { 0 } + line.chars().count();
        if !first_word && !line.is_empty() && width + 1 + word.chars().count() > WIDTH {
            lines.push(std::mem::take(&mut line));
            line.clone_from(&pad);
        } else if !first_word && line != pad {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.push(format!("{pad}\"\"\""));
    lines.join("\n")
}

const UNITS: [(u64, &str); 5] = [
    (86_400_000, "days"),
    (3_600_000, "hours"),
    (60_000, "minutes"),
    (1_000, "seconds"),
    (1, "milliseconds"),
];

/// `ir::Millis` as the shortest exact `timedelta(...)`: the largest unit that divides it.
fn timedelta(millis: u64) -> String {
    if millis == 0 {
        return "timedelta(0)".to_owned();
    }
    let (size, unit) = UNITS
        .iter()
        .find(|(size, _)| millis.is_multiple_of(*size))
        .copied()
        .unwrap_or((1, "milliseconds"));
    format!("timedelta({unit}={})", millis / size)
}

fn kind_of(value: &Value) -> Result<String, Error> {
    value
        .get_attr("kind")
        .ok()
        .and_then(|kind| kind.as_str().map(str::to_owned))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("expected an IR value with a `kind`, got `{value}`"),
            )
        })
}

/// An `ir::Type` (serialized) as its Python annotation.
fn pytype(value: &Value) -> Result<String, Error> {
    let inner = || value.get_attr("of").and_then(|it| pytype(&it));
    Ok(match kind_of(value)?.as_str() {
        "any" => "Any".to_owned(),
        "none" => "None".to_owned(),
        "list" => format!("list[{}]", inner()?),
        "dict" => format!("dict[str, {}]", inner()?),
        "optional" => format!("{} | None", inner()?),
        simple => simple.to_owned(),
    })
}

/// A zero value of an `ir::Type` (serialized) as Python source: what a scaffold returns or passes
/// before the user writes real logic.
fn pyzero(value: &Value) -> Result<String, Error> {
    Ok(match kind_of(value)?.as_str() {
        "str" => "\"\"".to_owned(),
        "int" => "0".to_owned(),
        "float" => "0.0".to_owned(),
        "bool" => "False".to_owned(),
        "bytes" => "b\"\"".to_owned(),
        "list" => "[]".to_owned(),
        "dict" => "{}".to_owned(),
        _ => "None".to_owned(),
    })
}

/// An `ir::Literal` (serialized) as Python source.
fn pyliteral(value: &Value) -> Result<String, Error> {
    let payload = value.get_attr("value")?;
    Ok(match kind_of(value)?.as_str() {
        "str" => ir::python_string(payload.as_str().unwrap_or_default()),
        "bool" => if payload.is_true() { "True" } else { "False" }.to_owned(),
        "none" => "None".to_owned(),
        "float" => {
            let text = payload.to_string();
            if text.contains(['.', 'e', 'E', 'n', 'i']) {
                text
            } else {
                format!("{text}.0")
            }
        }
        _ => payload.to_string(),
    })
}

/// Whether any `ir::Type` inside `value` (a type, field, list of fields, …) is `Any`, so the
/// template imports `typing.Any`.
fn uses_any(value: &Value) -> bool {
    match value.kind() {
        ValueKind::Map => {
            if value
                .get_attr("kind")
                .is_ok_and(|kind| kind.as_str() == Some("any"))
            {
                return true;
            }
            value.try_iter().is_ok_and(|keys| {
                keys.filter_map(|key| value.get_item(&key).ok())
                    .any(|item| uses_any(&item))
            })
        }
        ValueKind::Seq => value
            .try_iter()
            .is_ok_and(|mut items| items.any(|item| uses_any(&item))),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use minijinja::value::Serde;

    use super::*;

    fn check(template: &str, ctx: &Value, expect: &str) {
        let env = environment(&Overrides::default());
        let out = env
            .render_str(template, ctx.clone())
            .expect("template renders");
        assert_eq!(out, expect);
    }

    #[test]
    fn docstrings_escape_and_wrap() {
        assert_eq!(docstring("Say \"hi\"", 4), "\"\"\"Say \"hi\\\"\"\"\"");
        assert_eq!(docstring("a\\b  c\n d", 0), "\"\"\"a\\\\b c d\"\"\"");
        let long = "word ".repeat(30);
        let out = docstring(&long, 4);
        assert!(out.lines().all(|line| line.chars().count() <= 100), "{out}");
        assert!(out.starts_with("\"\"\"word word"));
        assert!(out.ends_with("\n    \"\"\""));
        assert!(
            out.lines()
                .nth(1)
                .is_some_and(|line| line.starts_with("    word"))
        );
    }

    #[test]
    fn timedelta_is_minimal_and_exact() {
        assert_eq!(timedelta(30_000), "timedelta(seconds=30)");
        assert_eq!(timedelta(500), "timedelta(milliseconds=500)");
        assert_eq!(timedelta(300_000), "timedelta(minutes=5)");
        assert_eq!(timedelta(5_400_000), "timedelta(minutes=90)");
        assert_eq!(timedelta(1_500), "timedelta(milliseconds=1500)");
        assert_eq!(timedelta(172_800_000), "timedelta(days=2)");
        assert_eq!(timedelta(0), "timedelta(0)");
    }

    #[test]
    fn python_spelling_filters() {
        let ty = ir::Type::Optional(Box::new(ir::Type::List(Box::new(ir::Type::Any))));
        let ctx = Value::from(BTreeMap::from([
            ("ty", Value::from(Serde(&ty))),
            ("s", Value::from(Serde(ir::Literal::Str("a\"b".to_owned())))),
            ("f", Value::from(Serde(ir::Literal::Float(2.0)))),
            ("b", Value::from(Serde(ir::Literal::Bool(true)))),
        ]));
        check(
            "{{ ty | pytype }} {{ ty | pyzero }} {{ ty | uses_any }}",
            &ctx,
            "list[Any] | None None True",
        );
        check(
            "{{ s | pyliteral }} {{ f | pyliteral }} {{ b | pyliteral }}",
            &ctx,
            "\"a\\\"b\" 2.0 True",
        );
        check(
            "{{ 'SendEmail' | snake }} {{ 'send_email' | pascal }} {{ 'x\\ny' | pystr }}",
            &ctx,
            "send_email SendEmail \"x\\ny\"",
        );
    }
}
