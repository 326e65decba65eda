//! The resolved IR types. They derive `Serialize` because templates read them through minijinja.
//!
//! Collections of entities are sorted by name so that rendering is deterministic.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::ir::Fingerprint;
use crate::operators;

/// The whole project, resolved.
///
/// Entities are shared (`Arc`): `watch` keeps each entity it lowered and hands the same one to
/// the next project while its node and what its lowering read are unchanged (see `ir::cache`).
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    /// The project name as declared (`"blog"`).
    pub name: String,
    /// The Python package (`blog`); `src/<package>/` holds the code.
    pub package: String,
    /// PEP 440 requirement for Python, e.g. `>=3.10,<3.14`.
    pub python: String,
    pub task_queue: String,
    /// PEP 440 requirement for `restack-ai`, e.g. `==0.0.121`.
    pub restack_ai: String,
    pub engine: Engine,
    /// The project-wide step policy (`defaults`), already merged with built-in defaults.
    pub defaults: Policy,
    pub functions: Vec<Arc<Function>>,
    pub workflows: Vec<Arc<Workflow>>,
    pub agents: Vec<Arc<Agent>>,
    pub pipelines: Vec<Arc<Pipeline>>,
    pub tool_servers: Vec<Arc<ToolServer>>,
    pub llm: Option<Llm>,
    pub prompts: Vec<Prompt>,
    pub origin: Origin,
}

/// Where something came from in the manifest: the provenance of every generated file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// Human name of the manifest entity, e.g. `function "SendEmail"` or `project "blog"`.
    pub entity: String,
    /// Byte span of the entity's node in the manifest. Not serialized: templates never see
    /// positions, so a rendering cannot depend on where an entity sits in the manifest (and
    /// `watch` reuses the renderings of entities an edit only moved).
    #[serde(skip)]
    pub span: (usize, usize),
}

#[derive(Debug, Clone, Serialize)]
pub struct Engine {
    /// `host:port` of the Temporal frontend (`localhost:7233`).
    pub address: String,
    /// `host:port` of the Restack engine API (`localhost:6233`).
    pub api_address: String,
}

/// The three spellings of one declared name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Names {
    /// As declared: `SendEmail`, or `DRAFT` for a step.
    pub declared: String,
    /// Python class name: `SendEmail`, `Draft`.
    pub class: String,
    /// Python module / function name: `send_email`, `draft`.
    pub module: String,
}

/// A duration in milliseconds. Templates format it with the `timedelta` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Millis(pub u64);

/// Timeout, heartbeat and retry of a step, after merging defaults and overrides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// `start_to_close_timeout`.
    pub timeout: Millis,
    /// `heartbeat_timeout`.
    pub heartbeat: Millis,
    pub retry: Retry,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retry {
    /// `maximum_attempts` (≥ 1).
    pub attempts: u32,
    pub initial: Millis,
    /// `backoff_coefficient` (≥ 1.0).
    pub backoff: f64,
    pub max_interval: Millis,
}

/// A type from the checked subset of Python annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "of", rename_all = "lowercase")]
pub enum Type {
    Str,
    Int,
    Float,
    Bool,
    Bytes,
    Any,
    None,
    List(Box<Type>),
    /// `dict[str, T]`: keys are always `str`.
    Dict(Box<Type>),
    Optional(Box<Type>),
}

impl Type {
    /// The annotation as Python source, e.g. `list[str] | None`.
    pub fn python(&self) -> String {
        match self {
            Type::Str => "str".to_owned(),
            Type::Int => "int".to_owned(),
            Type::Float => "float".to_owned(),
            Type::Bool => "bool".to_owned(),
            Type::Bytes => "bytes".to_owned(),
            Type::Any => "Any".to_owned(),
            Type::None => "None".to_owned(),
            Type::List(it) => format!("list[{}]", it.python()),
            Type::Dict(it) => format!("dict[str, {}]", it.python()),
            Type::Optional(it) => format!("{} | None", it.python()),
        }
    }

    /// Whether the annotation needs `from typing import Any`.
    pub fn uses_any(&self) -> bool {
        match self {
            Type::Any => true,
            Type::List(it) | Type::Dict(it) | Type::Optional(it) => it.uses_any(),
            _ => false,
        }
    }
}

/// A default value for a field, already checked against the field's type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
}

impl Literal {
    /// The value as Python source (`"x"`, `3`, `True`, `None`).
    pub fn python(&self) -> String {
        match self {
            Literal::Str(it) => python_string(it),
            Literal::Int(it) => it.to_string(),
            Literal::Float(it) => {
                let text = it.to_string();
                if text.contains(['.', 'e', 'E']) || !it.is_finite() {
                    text
                } else {
                    format!("{text}.0")
                }
            }
            Literal::Bool(true) => "True".to_owned(),
            Literal::Bool(false) => "False".to_owned(),
            Literal::None => "None".to_owned(),
        }
    }
}

/// A Python string literal for any Rust string (double quotes, escapes for everything else).
pub fn python_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// snake_case, checked.
    pub name: String,
    pub ty: Type,
    pub default: Option<Literal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Function {
    pub names: Names,
    pub doc: Option<String>,
    pub input: Vec<Field>,
    pub output: Type,
    pub policy: Policy,
    pub origin: Origin,
    /// The digest of the rest, for `watch` (see [`Fingerprint`]); not serialized.
    #[serde(skip)]
    pub fingerprint: Fingerprint,
}

/// A resolved reference to a declared function or workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "names", rename_all = "lowercase")]
pub enum Callee {
    Function(Names),
    Workflow(Names),
}

#[derive(Debug, Clone, Serialize)]
pub struct Workflow {
    pub names: Names,
    pub doc: Option<String>,
    pub input: Vec<Field>,
    pub output: Type,
    pub calls: Vec<Callee>,
    /// Policy for the steps this workflow runs (defaults merged with its own overrides).
    pub policy: Policy,
    pub origin: Origin,
    /// The digest of the rest, for `watch` (see [`Fingerprint`]); not serialized.
    #[serde(skip)]
    pub fingerprint: Fingerprint,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// snake_case; becomes the `@agent.event` method name.
    pub name: String,
    /// PascalCase model name, e.g. `UserSignedUpEvent`.
    pub class: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub names: Names,
    pub doc: Option<String>,
    pub state: Vec<Field>,
    pub events: Vec<Event>,
    pub calls: Vec<Callee>,
    /// Whether the agent uses the project's LLM router.
    pub llm: bool,
    /// Tool servers the agent uses.
    pub tools: Vec<Names>,
    pub policy: Policy,
    pub origin: Origin,
    /// The digest of the rest, for `watch` (see [`Fingerprint`]); not serialized.
    #[serde(skip)]
    pub fingerprint: Fingerprint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Each step runs as a child workflow (`workflow.child_execute`).
    Subworkflows,
    /// Each step runs as a function (`workflow.step`).
    Functions,
}

/// What a pipeline step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "names", rename_all = "lowercase")]
pub enum StepTarget {
    /// A step scaffolded for this pipeline (module under `<pipeline>_steps/`).
    Scaffold(Names),
    /// A declared function (`map "STEP" "SendEmail"`).
    Function(Names),
    /// A declared workflow.
    Workflow(Names),
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The token and its Python spellings (`DRAFT`, `Draft`, `draft`).
    pub names: Names,
    pub target: StepTarget,
    /// For a step entered through `→?`: the condition function (`should_repurpose`).
    pub condition: Option<String>,
    /// Defaults merged with the pipeline's `step` overrides.
    pub policy: Policy,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    pub names: Names,
    pub doc: Option<String>,
    pub style: Style,
    pub max_loops: u32,
    /// `continue-as-new after=N`: continue as new after this many completed steps.
    pub continue_as_new_after: Option<u32>,
    /// The operator string as written (for docs and comments).
    pub operators: String,
    /// The parsed operator tree; step tokens index into `steps` by name.
    pub tree: operators::Pipeline,
    /// Every step, in order of first occurrence in the operator string.
    pub steps: Vec<Step>,
    pub origin: Origin,
    /// The digest of the rest, for `watch` (see [`Fingerprint`]); not serialized.
    #[serde(skip)]
    pub fingerprint: Fingerprint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Stdio,
    Http,
    Sse,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    /// snake_case tool name.
    pub name: String,
    pub doc: Option<String>,
    pub params: Vec<Field>,
    pub returns: Type,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolServer {
    pub names: Names,
    pub doc: Option<String>,
    pub transport: Transport,
    pub autostart: bool,
    pub tools: Vec<Tool>,
    pub origin: Origin,
    /// The digest of the rest, for `watch` (see [`Fingerprint`]); not serialized.
    #[serde(skip)]
    pub fingerprint: Fingerprint,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Backend {
    Direct,
    Kong { url: String, key_env: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    /// `openai`, `anthropic`, … (lowercase as declared).
    pub name: String,
    pub model: String,
    /// Name of the environment variable holding the key (never the key).
    pub key_env: String,
    pub priority: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    Timeout,
    #[serde(rename = "5xx")]
    ServerError,
    RateLimit,
}

#[derive(Debug, Clone, Serialize)]
pub struct CircuitBreaker {
    pub failures: u32,
    pub cooldown: Millis,
}

#[derive(Debug, Clone, Serialize)]
pub struct Llm {
    pub backend: Backend,
    /// Sorted by priority (1 first), then name.
    pub providers: Vec<Provider>,
    pub fallback: Vec<Fallback>,
    pub circuit_breaker: CircuitBreaker,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Prompt {
    /// snake_case prompt name.
    pub name: String,
    pub version: String,
    pub vars: Vec<String>,
    pub text: String,
    pub origin: Origin,
}
