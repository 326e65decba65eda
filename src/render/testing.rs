//! A hand-built `ir::Project` for the DESIGN.md §1 blog example, so rendering can be exercised
//! without the manifest decoder. Test support only: nothing in restack's own flow calls it.

use std::sync::Arc;

use crate::ir::{
    Agent, Backend, Callee, CircuitBreaker, Engine, Event, Fallback, Field, Fingerprint, Function,
    Literal, Llm, Millis, Names, Origin, Pipeline, Policy, Project, Prompt, Provider, Retry, Step,
    StepTarget, Style, Tool, ToolServer, Transport, Type, Workflow,
};
use crate::operators::{self, Entry, Stage, StageBody, Unit};

/// The DESIGN.md §1 manifest the fixture mirrors (the spans in `Origin`s point into it).
pub const BLOG_MANIFEST: &str = r#"project "blog" {
    package "blog"                      // Python package; default: snake_case of the project name
    python ">=3.10,<3.14"
    task-queue "restack"
    restack-ai "==0.0.121"
    engine address="localhost:7233" api-address="localhost:6233"
}

defaults {
    timeout "5m"                        // start_to_close timeout of every step
    heartbeat "30s"
    retry attempts=3 initial="1s" backoff=2.0 max-interval="1m"
}

function "SendEmail" {
    doc "Send one transactional email."
    input {
        field "to" "str"
        field "subject" "str"
        field "body" "str" default=""
    }
    output "bool"
    timeout "30s"
    retry attempts=5
}

workflow "EmailCampaign" {
    input { field "emails" "list[str]" }
    output "int"
    calls "SendEmail"
}

agent "Onboarding" {
    doc "Guides a new user through setup."
    state { field "step" "int" default=0 }
    event "user_signed_up" { field "user_id" "str" }
    event "email_opened"
    calls "SendEmail" "EmailCampaign"
    llm "default"
    tools "Research"
}

pipeline "BlogPipeline" {
    operators "IDEATE ⇄ RESEARCH → PLAN → OUTLINE → DRAFT ⇄ REVIEW → POLISH → PUBLISH → PROMOTE →? REPURPOSE"
    style "subworkflows"                // or "functions"
    max-loops 3
    map "IDEATE" "BrainstormIdeas"
    when "REPURPOSE" "should_repurpose"
    step "DRAFT" timeout="10m" retry-attempts=5
    continue-as-new after=200
}

tool-server "Research" {
    transport "stdio"                   // "stdio" | "http" | "sse"
    autostart #true
    tool "web_search" { doc "Search the web."; param "query" "str"; returns "list[str]" }
    tool "extract_urls" { param "text" "str"; returns "list[str]" }
}

llm {
    backend "direct"                    // or "kong", with: kong url="..." key-env="KONG_API_KEY"
    provider "openai" model="gpt-4o-mini" key-env="OPENAI_API_KEY" priority=1
    provider "anthropic" model="claude-3-5-haiku-latest" key-env="ANTHROPIC_API_KEY" priority=2
    fallback "timeout" "5xx" "rate-limit"
    circuit-breaker failures=5 cooldown="60s"
}

prompt "summarize" version="1.0.0" {
    var "article"
    var "sentences"
    text "Summarize the article in {{ sentences }} sentences:\n{{ article }}"
}
"#;

const OPERATORS: &str =
    "IDEATE ⇄ RESEARCH → PLAN → OUTLINE → DRAFT ⇄ REVIEW → POLISH → PUBLISH → PROMOTE →? REPURPOSE";

/// The resolved IR of [`BLOG_MANIFEST`], built by hand.
#[expect(
    clippy::too_many_lines,
    reason = "one literal of the whole example project"
)]
pub fn blog() -> Project {
    let defaults = policy(300_000, 3);
    Project {
        name: "blog".to_owned(),
        package: "blog".to_owned(),
        python: ">=3.10,<3.14".to_owned(),
        task_queue: "restack".to_owned(),
        restack_ai: "==0.0.121".to_owned(),
        engine: Engine {
            address: "localhost:7233".to_owned(),
            api_address: "localhost:6233".to_owned(),
        },
        defaults: defaults.clone(),
        functions: vec![Arc::new(Function {
            names: names("SendEmail", "SendEmail", "send_email"),
            doc: Some("Send one transactional email.".to_owned()),
            input: vec![
                field("to", Type::Str, None),
                field("subject", Type::Str, None),
                field("body", Type::Str, Some(Literal::Str(String::new()))),
            ],
            output: Type::Bool,
            policy: policy(30_000, 5),
            origin: origin("function \"SendEmail\""),
            fingerprint: Fingerprint::default(),
        })],
        workflows: vec![Arc::new(Workflow {
            names: names("EmailCampaign", "EmailCampaign", "email_campaign"),
            doc: None,
            input: vec![field("emails", Type::List(Box::new(Type::Str)), None)],
            output: Type::Int,
            calls: vec![Callee::Function(names(
                "SendEmail",
                "SendEmail",
                "send_email",
            ))],
            policy: defaults.clone(),
            origin: origin("workflow \"EmailCampaign\""),
            fingerprint: Fingerprint::default(),
        })],
        agents: vec![Arc::new(Agent {
            names: names("Onboarding", "Onboarding", "onboarding"),
            doc: Some("Guides a new user through setup.".to_owned()),
            state: vec![field("step", Type::Int, Some(Literal::Int(0)))],
            events: vec![
                Event {
                    name: "user_signed_up".to_owned(),
                    class: "UserSignedUpEvent".to_owned(),
                    fields: vec![field("user_id", Type::Str, None)],
                },
                Event {
                    name: "email_opened".to_owned(),
                    class: "EmailOpenedEvent".to_owned(),
                    fields: Vec::new(),
                },
            ],
            calls: vec![
                Callee::Function(names("SendEmail", "SendEmail", "send_email")),
                Callee::Workflow(names("EmailCampaign", "EmailCampaign", "email_campaign")),
            ],
            llm: true,
            tools: vec![names("Research", "Research", "research")],
            policy: defaults.clone(),
            origin: origin("agent \"Onboarding\""),
            fingerprint: Fingerprint::default(),
        })],
        pipelines: vec![Arc::new(blog_pipeline(&defaults))],
        tool_servers: vec![Arc::new(ToolServer {
            names: names("Research", "Research", "research"),
            doc: None,
            transport: Transport::Stdio,
            autostart: true,
            tools: vec![
                Tool {
                    name: "web_search".to_owned(),
                    doc: Some("Search the web.".to_owned()),
                    params: vec![field("query", Type::Str, None)],
                    returns: Type::List(Box::new(Type::Str)),
                },
                Tool {
                    name: "extract_urls".to_owned(),
                    doc: None,
                    params: vec![field("text", Type::Str, None)],
                    returns: Type::List(Box::new(Type::Str)),
                },
            ],
            origin: origin("tool-server \"Research\""),
            fingerprint: Fingerprint::default(),
        })],
        llm: Some(Llm {
            backend: Backend::Direct,
            providers: vec![
                Provider {
                    name: "openai".to_owned(),
                    model: "gpt-4o-mini".to_owned(),
                    key_env: "OPENAI_API_KEY".to_owned(),
                    priority: 1,
                },
                Provider {
                    name: "anthropic".to_owned(),
                    model: "claude-3-5-haiku-latest".to_owned(),
                    key_env: "ANTHROPIC_API_KEY".to_owned(),
                    priority: 2,
                },
            ],
            fallback: vec![
                Fallback::Timeout,
                Fallback::ServerError,
                Fallback::RateLimit,
            ],
            circuit_breaker: CircuitBreaker {
                failures: 5,
                cooldown: Millis(60_000),
            },
            origin: origin("llm"),
        }),
        prompts: vec![Prompt {
            name: "summarize".to_owned(),
            version: "1.0.0".to_owned(),
            vars: vec!["article".to_owned(), "sentences".to_owned()],
            text: "Summarize the article in {{ sentences }} sentences:\n{{ article }}".to_owned(),
            origin: origin("prompt \"summarize\""),
        }],
        origin: origin("project \"blog\""),
    }
}

fn blog_pipeline(defaults: &Policy) -> Pipeline {
    let tokens = [
        "IDEATE",
        "RESEARCH",
        "PLAN",
        "OUTLINE",
        "DRAFT",
        "REVIEW",
        "POLISH",
        "PUBLISH",
        "PROMOTE",
        "REPURPOSE",
    ];
    let steps = tokens
        .iter()
        .map(|token| {
            let step_names = step_names(token);
            let target = if *token == "IDEATE" {
                StepTarget::Scaffold(names(
                    "BrainstormIdeas",
                    "BrainstormIdeas",
                    "brainstorm_ideas",
                ))
            } else {
                StepTarget::Scaffold(step_names.clone())
            };
            let policy = if *token == "DRAFT" {
                Policy {
                    timeout: Millis(600_000),
                    retry: Retry {
                        attempts: 5,
                        ..defaults.retry.clone()
                    },
                    ..defaults.clone()
                }
            } else {
                defaults.clone()
            };
            Step {
                names: step_names,
                target,
                condition: (*token == "REPURPOSE").then(|| "should_repurpose".to_owned()),
                policy,
            }
        })
        .collect();
    let single = |entry, token: &str| Stage {
        entry,
        body: StageBody::Group {
            units: vec![Unit::Step(ast_step(token))],
        },
        span: token_span(token),
    };
    let refine = |a: &str, b: &str| Stage {
        entry: Entry::Then,
        body: StageBody::Loop {
            a: ast_step(a),
            b: ast_step(b),
        },
        span: token_span(a).start..token_span(b).end,
    };
    let tree = operators::Pipeline {
        stages: vec![
            refine("IDEATE", "RESEARCH"),
            single(Entry::Then, "PLAN"),
            single(Entry::Then, "OUTLINE"),
            refine("DRAFT", "REVIEW"),
            single(Entry::Then, "POLISH"),
            single(Entry::Then, "PUBLISH"),
            single(Entry::Then, "PROMOTE"),
            single(Entry::If, "REPURPOSE"),
        ],
    };
    Pipeline {
        names: names("BlogPipeline", "BlogPipeline", "blog_pipeline"),
        doc: None,
        style: Style::Subworkflows,
        max_loops: 3,
        continue_as_new_after: Some(200),
        operators: OPERATORS.to_owned(),
        tree,
        steps,
        origin: origin("pipeline \"BlogPipeline\""),
        fingerprint: Fingerprint::default(),
    }
}

fn token_span(token: &str) -> std::ops::Range<usize> {
    let start = OPERATORS.find(token).unwrap_or(0);
    start..start + token.len()
}

fn ast_step(token: &str) -> operators::Step {
    operators::Step {
        name: token.to_owned(),
        span: token_span(token),
    }
}

fn step_names(token: &str) -> Names {
    let lower = token.to_lowercase();
    let mut class = lower.clone();
    if let Some(first) = class.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    names(token, &class, &lower)
}

fn names(declared: &str, class: &str, module: &str) -> Names {
    Names {
        declared: declared.to_owned(),
        class: class.to_owned(),
        module: module.to_owned(),
    }
}

fn field(name: &str, ty: Type, default: Option<Literal>) -> Field {
    Field {
        name: name.to_owned(),
        ty,
        default,
    }
}

fn policy(timeout_ms: u64, attempts: u32) -> Policy {
    Policy {
        timeout: Millis(timeout_ms),
        heartbeat: Millis(30_000),
        retry: Retry {
            attempts,
            initial: Millis(1_000),
            backoff: 2.0,
            max_interval: Millis(60_000),
        },
    }
}

/// The span of the node headed `entity` (e.g. `function "SendEmail"`) in [`BLOG_MANIFEST`]: from
/// its first byte to the end of its closing line.
fn origin(entity: &str) -> Origin {
    let head = if entity == "llm" { "llm {" } else { entity };
    let start = BLOG_MANIFEST.find(head).unwrap_or(0);
    let end = BLOG_MANIFEST[start..]
        .find("\n}\n")
        .map_or(BLOG_MANIFEST.len(), |it| start + it + 2);
    Origin {
        entity: entity.to_owned(),
        span: (start, end),
    }
}

/// A second project that exercises the template branches the blog example does not: another
/// package and task queue, no `llm`, a function with `Any`/optional/dict fields, a function
/// with no input and no output and a single attempt, a workflow with no input that calls a
/// function and a child workflow, an agent without events whose only call is a workflow.
pub fn variety() -> Project {
    let mut project = blog();
    "acme-app".clone_into(&mut project.name);
    "acme_app".clone_into(&mut project.package);
    ">=3.11,<3.14".clone_into(&mut project.python);
    "acme".clone_into(&mut project.task_queue);
    project.llm = None;
    project.prompts.clear();
    project.tool_servers.clear();
    project.pipelines.clear();
    let agent = Arc::make_mut(&mut project.agents[0]);
    agent.llm = false;
    agent.tools.clear();
    let defaults = project.defaults.clone();
    project.functions.push(Arc::new(Function {
        names: names("Ping", "Ping", "ping"),
        doc: None,
        input: Vec::new(),
        output: Type::None,
        policy: Policy {
            retry: Retry {
                attempts: 1,
                ..defaults.retry.clone()
            },
            ..defaults.clone()
        },
        origin: origin("function \"Ping\""),
        fingerprint: Fingerprint::default(),
    }));
    project.functions.push(Arc::new(Function {
        names: names("Summarize", "Summarize", "summarize"),
        doc: Some(
            "Summarize a text with \"options\", a backslash \\ and a doc long enough to wrap \
             over the hundred columns of the generated project, ending in a \"quote\""
                .to_owned(),
        ),
        input: vec![
            field("text", Type::Str, None),
            field("options", Type::Dict(Box::new(Type::Any)), None),
            field(
                "tags",
                Type::Optional(Box::new(Type::List(Box::new(Type::Str)))),
                Some(Literal::None),
            ),
            field("ratio", Type::Float, Some(Literal::Float(0.5))),
            field("strict", Type::Bool, Some(Literal::Bool(true))),
        ],
        output: Type::Any,
        policy: policy(500, 2),
        origin: origin("function \"Summarize\""),
        fingerprint: Fingerprint::default(),
    }));
    project
        .functions
        .sort_by(|a, b| a.names.declared.cmp(&b.names.declared));
    project.workflows.push(Arc::new(Workflow {
        names: names("Nightly", "Nightly", "nightly"),
        doc: None,
        input: Vec::new(),
        output: Type::None,
        calls: vec![
            Callee::Function(names("Ping", "Ping", "ping")),
            Callee::Workflow(names("EmailCampaign", "EmailCampaign", "email_campaign")),
        ],
        policy: defaults.clone(),
        origin: origin("workflow \"Nightly\""),
        fingerprint: Fingerprint::default(),
    }));
    project.agents.push(Arc::new(Agent {
        names: names("Support", "Support", "support"),
        doc: None,
        state: Vec::new(),
        events: Vec::new(),
        calls: vec![Callee::Workflow(names("Nightly", "Nightly", "nightly"))],
        llm: false,
        tools: Vec::new(),
        policy: defaults,
        origin: origin("agent \"Support\""),
        fingerprint: Fingerprint::default(),
    }));
    project
}
