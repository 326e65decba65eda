//! The decoded manifest: typed, spanned, and only as checked as one node can be on its own.
//!
//! Every node and value keeps the byte span it came from. Values the decoder could read are
//! `Some`; a value that was missing or malformed is `None` and its diagnostic was already pushed.
//! Cross-references (names of other entities, steps, the `llm` block) are checked by `ir::lower`,
//! not here, so this module must not look beyond the node it decodes.

use std::ops::Range;
use std::sync::Arc;

use crate::operators;

/// A value and the byte span of the source text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Range<usize>) -> Spanned<T> {
        Spanned { value, span }
    }
}

/// The whole manifest. Entities are in declaration order.
///
/// Entities are shared (`Arc`): `watch` keeps the decode of each top-level node from one save to
/// the next (see `decode::ParseCache`) and hands out the same node rather than a copy.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The first `project` node (later ones are reported as duplicates).
    pub project: Option<Project>,
    pub defaults: Option<Defaults>,
    pub functions: Vec<Arc<Function>>,
    pub workflows: Vec<Arc<Workflow>>,
    pub agents: Vec<Arc<Agent>>,
    pub pipelines: Vec<Arc<Pipeline>>,
    pub tool_servers: Vec<Arc<ToolServer>>,
    pub llm: Option<Llm>,
    pub prompts: Vec<Prompt>,
    /// Whether decoding found no error. `ir::lower` refuses an incomplete manifest, because a
    /// value that failed to decode is missing from it.
    pub complete: bool,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub name: Spanned<String>,
    pub span: Range<usize>,
    pub package: Option<Spanned<String>>,
    pub python: Option<Spanned<String>>,
    pub task_queue: Option<Spanned<String>>,
    pub restack_ai: Option<Spanned<String>>,
    pub engine: Option<Engine>,
}

#[derive(Debug, Clone)]
pub struct Engine {
    pub span: Range<usize>,
    pub address: Option<Spanned<String>>,
    pub api_address: Option<Spanned<String>>,
}

/// Timeout, heartbeat and retry as written on one node (`defaults`, an entity, a pipeline).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Milliseconds.
    pub timeout: Option<Spanned<u64>>,
    /// Milliseconds.
    pub heartbeat: Option<Spanned<u64>>,
    pub retry: Option<Retry>,
}

#[derive(Debug, Clone, Default)]
pub struct Retry {
    pub span: Range<usize>,
    pub attempts: Option<Spanned<u32>>,
    /// Milliseconds.
    pub initial: Option<Spanned<u64>>,
    pub backoff: Option<Spanned<f64>>,
    /// Milliseconds.
    pub max_interval: Option<Spanned<u64>>,
}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub span: Range<usize>,
    pub policy: Policy,
}

/// A type annotation from the checked subset. Spans cover the annotation's text in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Str,
    Int,
    Float,
    Bool,
    Bytes,
    Any,
    None,
    List(Box<Spanned<Type>>),
    Dict(Box<Spanned<Type>>),
    Optional(Box<Spanned<Type>>),
    /// An identifier that is not a builtin type: `ir::lower` reports it as unknown, or as another
    /// entity's model.
    Named(String),
}

/// A literal as written in KDL (`default=`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
}

/// `field "name" "type" default=…` (also `param`).
#[derive(Debug, Clone)]
pub struct Field {
    pub span: Range<usize>,
    pub name: Spanned<String>,
    pub ty: Option<Spanned<Type>>,
    pub default: Option<Spanned<Value>>,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub name: Spanned<String>,
    pub span: Range<usize>,
    pub doc: Option<Spanned<String>>,
    pub input: Vec<Field>,
    pub output: Option<Spanned<Type>>,
    pub policy: Policy,
}

#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: Spanned<String>,
    pub span: Range<usize>,
    pub doc: Option<Spanned<String>>,
    pub input: Vec<Field>,
    pub output: Option<Spanned<Type>>,
    pub calls: Vec<Spanned<String>>,
    pub policy: Policy,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub span: Range<usize>,
    pub name: Spanned<String>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub name: Spanned<String>,
    pub span: Range<usize>,
    pub doc: Option<Spanned<String>>,
    pub state: Vec<Field>,
    pub events: Vec<Event>,
    pub calls: Vec<Spanned<String>>,
    /// `llm "default"`.
    pub llm: Option<Spanned<String>>,
    pub tools: Vec<Spanned<String>>,
    pub policy: Policy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Subworkflows,
    Functions,
}

/// The `operators` string, parsed. Step spans in `tree` are already file offsets.
#[derive(Debug, Clone)]
pub struct Operators {
    /// The decoded string.
    pub text: String,
    /// The span of the whole string literal.
    pub span: Range<usize>,
    pub tree: operators::Pipeline,
}

/// `map "STEP" "Target"`.
#[derive(Debug, Clone)]
pub struct Map {
    pub span: Range<usize>,
    pub step: Spanned<String>,
    pub target: Spanned<String>,
}

/// `when "STEP" "condition"`.
#[derive(Debug, Clone)]
pub struct When {
    pub span: Range<usize>,
    pub step: Spanned<String>,
    pub condition: Spanned<String>,
}

/// `step "STEP" timeout=… retry-attempts=… heartbeat=…`.
#[derive(Debug, Clone)]
pub struct StepOverride {
    pub span: Range<usize>,
    pub step: Spanned<String>,
    pub timeout: Option<Spanned<u64>>,
    pub heartbeat: Option<Spanned<u64>>,
    pub retry_attempts: Option<Spanned<u32>>,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: Spanned<String>,
    pub span: Range<usize>,
    pub doc: Option<Spanned<String>>,
    pub operators: Option<Operators>,
    pub style: Option<Spanned<Style>>,
    pub max_loops: Option<Spanned<u32>>,
    pub maps: Vec<Map>,
    pub whens: Vec<When>,
    pub steps: Vec<StepOverride>,
    pub continue_as_new_after: Option<Spanned<u32>>,
    pub policy: Policy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    Http,
    Sse,
}

#[derive(Debug, Clone)]
pub struct Tool {
    pub span: Range<usize>,
    pub name: Spanned<String>,
    pub doc: Option<Spanned<String>>,
    pub params: Vec<Field>,
    pub returns: Option<Spanned<Type>>,
}

#[derive(Debug, Clone)]
pub struct ToolServer {
    pub name: Spanned<String>,
    pub span: Range<usize>,
    pub doc: Option<Spanned<String>>,
    pub transport: Option<Spanned<Transport>>,
    pub autostart: Option<Spanned<bool>>,
    pub tools: Vec<Tool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Direct,
    Kong,
}

#[derive(Debug, Clone)]
pub struct Kong {
    pub span: Range<usize>,
    pub url: Option<Spanned<String>>,
    pub key_env: Option<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub span: Range<usize>,
    pub name: Spanned<String>,
    pub model: Option<Spanned<String>>,
    pub key_env: Option<Spanned<String>>,
    pub priority: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Timeout,
    ServerError,
    RateLimit,
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    pub span: Range<usize>,
    pub failures: Option<Spanned<u32>>,
    /// Milliseconds.
    pub cooldown: Option<Spanned<u64>>,
}

#[derive(Debug, Clone)]
pub struct Llm {
    pub span: Range<usize>,
    pub backend: Option<Spanned<Backend>>,
    pub kong: Option<Kong>,
    pub providers: Vec<Provider>,
    pub fallback: Option<Vec<Spanned<Fallback>>>,
    pub circuit_breaker: Option<CircuitBreaker>,
}

#[derive(Debug, Clone)]
pub struct Prompt {
    pub name: Spanned<String>,
    pub span: Range<usize>,
    pub version: Option<Spanned<String>>,
    pub vars: Vec<Spanned<String>>,
    pub text: Option<Spanned<String>>,
    /// `{{ name }}` placeholders found in `text`, with file spans of the names.
    pub placeholders: Vec<Spanned<String>>,
}
