//! Name rules: PascalCase entities, snake_case identifiers, reserved Python names, suggestions.
//!
//! Pure string predicates; no diagnostics are built here.

use std::collections::HashMap;

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Python keywords (hard and soft) — a name equal to one of these cannot be an identifier.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "case", "class",
    "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if",
    "import", "in", "is", "lambda", "match", "nonlocal", "not", "or", "pass", "raise", "return",
    "try", "type", "while", "with", "yield", "_",
];

/// Builtins that generated code uses, or whose shadowing silently breaks user code.
const BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "bool",
    "bytes",
    "callable",
    "dict",
    "dir",
    "enumerate",
    "eval",
    "exec",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "hasattr",
    "hash",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "object",
    "open",
    "print",
    "property",
    "range",
    "repr",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "str",
    "sum",
    "super",
    "tuple",
    "vars",
    "zip",
    "self",
    "cls",
    "Exception",
    "BaseException",
    "ValueError",
    "TypeError",
    "KeyError",
    "RuntimeError",
    "NotImplemented",
    "Ellipsis",
];

/// Names the generated Python code imports or defines itself: classes it imports, modules of the
/// generated package, and the libraries it imports by name.
const GENERATED: &[&str] = &[
    // Classes and helpers imported by generated modules.
    "Any",
    "BaseModel",
    "Field",
    "Restack",
    "ServiceOptions",
    "RetryPolicy",
    "NonRetryableError",
    "FastMCP",
    "Workflow",
    "Agent",
    "Function",
    "Pipeline",
    "Settings",
    // Top-level modules of the generated package and libraries it imports.
    "client",
    "service",
    "config",
    "common",
    "models",
    "functions",
    "workflows",
    "agents",
    "pipelines",
    "tools",
    "llm",
    "prompts",
    "tests",
    "asyncio",
    "typing",
    "datetime",
    "json",
    "os",
    "sys",
    "logging",
    "restack_ai",
    "pydantic",
    "temporalio",
    "fastmcp",
    "mcp",
    "httpx",
    "yaml",
];

/// Whether an identifier (field, event, tool, param, var, prompt) is a Python keyword or a
/// shadowed builtin.
pub(crate) fn is_reserved(name: &str) -> bool {
    KEYWORDS.contains(&name) || BUILTINS.contains(&name)
}

/// Whether an entity name, or the module it becomes, is reserved: also names generated code
/// imports or defines itself.
pub(crate) fn is_reserved_entity(name: &str) -> bool {
    is_reserved_spelling(name, &snake(name))
}

/// [`is_reserved_entity`] of `name`, whose [`snake`] spelling is `module`.
pub(crate) fn is_reserved_spelling(name: &str, module: &str) -> bool {
    [name, module]
        .iter()
        .any(|it| is_reserved(it) || GENERATED.contains(it))
}

/// Why a name is reserved, for the diagnostic message.
pub(crate) fn reserved_reason(name: &str) -> &'static str {
    let module = snake(name);
    if KEYWORDS.contains(&name) || KEYWORDS.contains(&module.as_str()) {
        "a Python keyword"
    } else if BUILTINS.contains(&name) || BUILTINS.contains(&module.as_str()) {
        "a Python builtin"
    } else {
        "a name the generated code relies on"
    }
}

/// Pydantic reserves the `model_` prefix on model fields.
pub(crate) fn is_reserved_field(name: &str) -> bool {
    is_reserved(name) || name.starts_with("model_")
}

/// `SendEmail`: an ASCII uppercase letter, then ASCII letters and digits.
pub(crate) fn is_pascal_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|it| it.is_ascii_uppercase())
        && chars.all(|it| it.is_ascii_alphanumeric())
}

/// `user_id`: a lowercase ASCII letter, then lowercase letters, digits and single underscores,
/// not ending in an underscore.
pub(crate) fn is_snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|it| it.is_ascii_lowercase())
        && chars.all(|it| it.is_ascii_lowercase() || it.is_ascii_digit() || it == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

/// `DRAFT`, `SEND_EMAIL`: the step-token form.
pub(crate) fn is_upper_snake(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|it| it.is_ascii_uppercase())
        && chars.all(|it| it.is_ascii_uppercase() || it.is_ascii_digit() || it == '_')
}

/// Whether a name contains a path separator or a parent-directory reference.
pub(crate) fn has_path(name: &str) -> bool {
    name.contains(['/', '\\']) || name.contains("..")
}

/// The PascalCase spelling (`send_email` → `SendEmail`, `DRAFT` → `Draft`).
pub(crate) fn pascal(name: &str) -> String {
    name.to_upper_camel_case()
}

/// The snake_case spelling (`SendEmail` → `send_email`).
pub(crate) fn snake(name: &str) -> String {
    name.to_snake_case()
}

/// The [`pascal`] and [`snake`] spellings of one name.
#[derive(Debug, Clone)]
pub(crate) struct Spellings {
    pub(crate) pascal: String,
    pub(crate) snake: String,
}

/// [`pascal`] and [`snake`] of every name converted, kept so that a name used many times (an
/// entity, its callers, its step bindings) is converted once. Kept across runs by `watch`, it holds
/// only the names of the last run ([`CaseMemo::end_run`]), so it does not grow without bound.
#[derive(Debug, Default)]
pub(crate) struct CaseMemo {
    /// Each name's spellings, with the last run that asked for them.
    names: HashMap<String, (Spellings, u64)>,
    /// The number of the current run.
    run: u64,
}

impl CaseMemo {
    /// The spellings of `name`, exactly [`pascal`]`(name)` and [`snake`]`(name)`.
    pub(crate) fn get(&mut self, name: &str) -> &Spellings {
        if let Some((_, run)) = self.names.get_mut(name) {
            *run = self.run;
        } else {
            let spellings = Spellings {
                pascal: pascal(name),
                snake: snake(name),
            };
            self.names.insert(name.to_owned(), (spellings, self.run));
        }
        &self.names[name].0
    }

    /// The spellings of `name`, if this run already asked for them with [`CaseMemo::get`].
    pub(crate) fn known(&self, name: &str) -> Option<&Spellings> {
        self.names
            .get(name)
            .filter(|(_, run)| *run == self.run)
            .map(|(it, _)| it)
    }

    /// How many names it holds.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Forgets every name the run that just ended did not convert.
    pub(crate) fn end_run(&mut self) {
        let run = self.run;
        self.names.retain(|_, (_, it)| *it == run);
        self.run += 1;
    }
}

/// The closest candidate to `name`, if it is close enough to be a plausible misspelling.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|it| (strsim::jaro_winkler(&lower, &it.to_lowercase()), it))
        .filter(|(score, it)| *score >= 0.8 && *it != name)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, it)| it)
}

/// A `help` line for a suggestion, if there is one.
pub(crate) fn suggestion<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    did_you_mean(name, candidates).map(|it| format!("did you mean `{it}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert!(is_pascal_case("SendEmail"));
        assert!(!is_pascal_case("Send_Email"));
        assert!(!is_pascal_case("sendEmail"));
        assert!(is_snake_case("user_id"));
        assert!(!is_snake_case("userId"));
        assert!(!is_snake_case("a__b"));
        assert!(is_upper_snake("SEND_EMAIL"));
        assert_eq!(snake("Send_Email"), snake("SendEmail"));
        assert_eq!(pascal("DRAFT"), "Draft");
        let mut memo = CaseMemo::default();
        for name in ["SendEmail", "DRAFT", "send_email", "SendEmail", "É1x"] {
            let spellings = memo.get(name).clone();
            assert_eq!(
                (spellings.pascal, spellings.snake),
                (pascal(name), snake(name))
            );
            memo.end_run();
        }
        assert_eq!(
            did_you_mean("workflw", ["workflow", "agent"]),
            Some("workflow")
        );
        assert_eq!(did_you_mean("zzz", ["workflow", "agent"]), None);
    }
}
