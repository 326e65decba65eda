//! The manifest language as data: every node, where it may appear, its arguments, properties
//! and children. `schema/restack.schema.json` and the reference part of `docs/manifest.md` are
//! generated from [`ROOT`]; `tests/schema.rs` proves that the decoder accepts exactly this
//! language (both ways). It must not decode anything itself: the decoder stays the authority on
//! values, this table describes them.

use serde::Serialize;

/// What a value must be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Kind {
    /// Any non-empty string.
    Text,
    /// A PascalCase entity name (`SendEmail`).
    EntityName,
    /// A snake_case identifier (`user_id`).
    Identifier,
    /// An UPPER_SNAKE step token of the pipeline's operator string (`DRAFT`).
    Step,
    /// A type annotation from the supported subset (`list[str]`).
    Type,
    /// A duration string (`30s`, `1h30m`).
    Duration,
    /// A whole number greater than zero.
    Count,
    /// A number (integer or decimal).
    Number,
    /// `#true` or `#false`.
    Bool,
    /// One of a fixed set of strings.
    Choice { choices: &'static [&'static str] },
    /// A PEP 440 version specifier set (`>=3.10,<3.14`).
    Requirement,
    /// A `host:port` address.
    Address,
    /// An `http://` or `https://` URL.
    Url,
    /// An environment variable name (`OPENAI_API_KEY`).
    EnvName,
    /// A pipeline operator string (GRAMMAR.md).
    Operators,
    /// The name of a declared entity of one of the given node kinds.
    Reference { to: &'static [&'static str] },
    /// A Python package name (a lowercase identifier).
    Package,
    /// Letters, digits, `-`, `_` and `.` (a task queue).
    PlainName,
    /// A lowercase provider name (`openai`).
    ProviderName,
    /// Any KDL literal that fits the field's type (string, number, boolean, `#null`).
    Literal,
}

/// A positional argument.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Arg {
    /// What the argument is, as in messages (`function name`).
    pub name: &'static str,
    #[serde(flatten)]
    pub kind: Kind,
    /// A valid value, written as KDL.
    pub example: &'static str,
}

/// A `key=value` property.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Prop {
    pub name: &'static str,
    #[serde(flatten)]
    pub kind: Kind,
    pub required: bool,
    /// What an absent property means, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
    pub doc: &'static str,
    /// A valid value, written as KDL.
    pub example: &'static str,
}

/// A node and everything that may be written inside it.
#[derive(Debug, Clone, Copy, Serialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent facts about a node of the language"
)]
pub struct Node {
    pub name: &'static str,
    pub doc: &'static str,
    /// The positional arguments, in order.
    pub args: &'static [Arg],
    /// Whether the last argument may be repeated (`calls "A" "B"`).
    pub variadic: bool,
    /// How many arguments must be given (`args.len()` unless a variadic list may be empty).
    pub min_args: usize,
    pub props: &'static [Prop],
    /// At least one property must be given (`retry`, `step`).
    pub needs_a_prop: bool,
    /// Whether a `{ … }` block is accepted.
    pub block: bool,
    pub children: &'static [Node],
    /// Whether the node must appear in its parent.
    pub required: bool,
    /// Whether the node may appear more than once in its parent.
    pub repeat: bool,
    /// What an absent node means, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
}

impl Node {
    /// The maximum number of arguments, `None` when variadic.
    pub fn max_args(&self) -> Option<usize> {
        if self.variadic {
            None
        } else {
            Some(self.args.len())
        }
    }
}

/// The schema as JSON (`schema/restack.schema.json`, `restack schema`), ending in a newline.
pub fn json() -> String {
    let json = serde_json::json!({
        "$comment": "Generated from src/manifest/schema.rs by tests/schema.rs; do not edit.",
        "title": "restack.kdl",
        "version": 1,
        "nodes": ROOT.children,
    });
    serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"
}

/// The document itself: its children are the top-level nodes.
pub const ROOT: Node = Node {
    name: "restack.kdl",
    doc: "The manifest: one `project` and any number of entities.",
    args: &[],
    variadic: false,
    min_args: 0,
    props: &[],
    needs_a_prop: false,
    block: true,
    children: &[
        PROJECT,
        DEFAULTS,
        FUNCTION,
        WORKFLOW,
        AGENT,
        PIPELINE,
        TOOL_SERVER,
        LLM,
        PROMPT,
    ],
    required: true,
    repeat: false,
    default: None,
};

/// A node with no properties and no block, taking `args`.
const fn leaf(
    name: &'static str,
    doc: &'static str,
    args: &'static [Arg],
    default: Option<&'static str>,
) -> Node {
    Node {
        name,
        doc,
        args,
        variadic: false,
        min_args: args.len(),
        props: &[],
        needs_a_prop: false,
        block: false,
        children: &[],
        required: false,
        repeat: false,
        default,
    }
}

const fn arg(name: &'static str, kind: Kind, example: &'static str) -> Arg {
    Arg {
        name,
        kind,
        example,
    }
}

const fn prop(name: &'static str, kind: Kind, doc: &'static str, example: &'static str) -> Prop {
    Prop {
        name,
        kind,
        required: false,
        default: None,
        doc,
        example,
    }
}

const ENTITIES: &[&str] = &["function", "workflow"];

const PROJECT: Node = Node {
    name: "project",
    doc: "The project: its name, Python package, versions and Restack engine.",
    args: &[arg("project name", Kind::Text, "\"blog\"")],
    variadic: false,
    min_args: 1,
    props: &[],
    needs_a_prop: false,
    block: true,
    children: &[
        leaf(
            "package",
            "The Python package the project is generated into.",
            &[arg("package name", Kind::Package, "\"blog\"")],
            Some("snake_case of the project name"),
        ),
        leaf(
            "python",
            "The Python versions the generated project supports.",
            &[arg(
                "version requirement",
                Kind::Requirement,
                "\">=3.10,<3.14\"",
            )],
            Some("`>=3.10,<3.14`"),
        ),
        leaf(
            "task-queue",
            "The Temporal task queue the service listens on.",
            &[arg("task queue", Kind::PlainName, "\"restack\"")],
            Some("`restack`"),
        ),
        leaf(
            "restack-ai",
            "The pinned `restack-ai` requirement of the generated project.",
            &[arg(
                "version requirement",
                Kind::Requirement,
                "\"==0.0.121\"",
            )],
            Some("`==0.0.121`"),
        ),
        Node {
            props: &[
                Prop {
                    default: Some("`localhost:7233`"),
                    ..prop(
                        "address",
                        Kind::Address,
                        "The engine's gRPC address.",
                        "\"localhost:7233\"",
                    )
                },
                Prop {
                    default: Some("`localhost:6233`"),
                    ..prop(
                        "api-address",
                        Kind::Address,
                        "The engine's HTTP API address.",
                        "\"localhost:6233\"",
                    )
                },
            ],
            ..leaf(
                "engine",
                "Where the Restack engine runs.",
                &[],
                Some("`localhost:7233` and `localhost:6233`"),
            )
        },
    ],
    required: true,
    repeat: false,
    default: None,
};

const TIMEOUT: Node = leaf(
    "timeout",
    "The start-to-close timeout of each step.",
    &[arg("duration", Kind::Duration, "\"30s\"")],
    Some("the `defaults` value, else the SDK's"),
);

const HEARTBEAT: Node = leaf(
    "heartbeat",
    "The heartbeat timeout of each step.",
    &[arg("duration", Kind::Duration, "\"30s\"")],
    Some("the `defaults` value, else none"),
);

const RETRY: Node = Node {
    props: &[
        prop(
            "attempts",
            Kind::Count,
            "How many times a step is tried in all.",
            "3",
        ),
        prop(
            "initial",
            Kind::Duration,
            "The delay before the first retry.",
            "\"1s\"",
        ),
        prop(
            "backoff",
            Kind::Number,
            "The factor the delay grows by after each attempt (1.0 to 100.0).",
            "2.0",
        ),
        prop(
            "max-interval",
            Kind::Duration,
            "The longest delay between attempts.",
            "\"1m\"",
        ),
    ],
    needs_a_prop: true,
    ..leaf(
        "retry",
        "The retry policy of each step.",
        &[],
        Some("the `defaults` value, else the SDK's"),
    )
};

const DOC: Node = leaf(
    "doc",
    "A description, used as the generated docstring.",
    &[arg("text", Kind::Text, "\"What it does.\"")],
    None,
);

const FIELD: Node = Node {
    props: &[prop(
        "default",
        Kind::Literal,
        "The field's default value; the field is optional then.",
        "\"\"",
    )],
    repeat: true,
    ..leaf(
        "field",
        "A field of a generated pydantic model.",
        &[
            arg("field name", Kind::Identifier, "\"to\""),
            arg("type", Kind::Type, "\"str\""),
        ],
        None,
    )
};

const fn fields(name: &'static str, doc: &'static str) -> Node {
    Node {
        block: true,
        children: &[Node {
            required: true,
            ..FIELD
        }],
        ..leaf(name, doc, &[], None)
    }
}

const INPUT: Node = fields("input", "The input model: one `field` per line.");

const OUTPUT: Node = leaf(
    "output",
    "The return type.",
    &[arg("type", Kind::Type, "\"bool\"")],
    Some("`None`"),
);

const CALLS: Node = Node {
    variadic: true,
    ..leaf(
        "calls",
        "The functions and workflows this entity calls.",
        &[arg(
            "function or workflow name",
            Kind::Reference { to: ENTITIES },
            "\"SendEmail\"",
        )],
        None,
    )
};

const DEFAULTS: Node = Node {
    block: true,
    children: &[TIMEOUT, HEARTBEAT, RETRY],
    ..leaf(
        "defaults",
        "The step policy every function, workflow, agent and pipeline starts from.",
        &[],
        None,
    )
};

const FUNCTION: Node = Node {
    block: true,
    children: &[DOC, INPUT, OUTPUT, TIMEOUT, HEARTBEAT, RETRY],
    repeat: true,
    ..leaf(
        "function",
        "A Restack function: one unit of business logic (scaffolded for you to fill in).",
        &[arg("function name", Kind::EntityName, "\"SendEmail\"")],
        None,
    )
};

const WORKFLOW: Node = Node {
    block: true,
    children: &[DOC, INPUT, OUTPUT, CALLS, TIMEOUT, HEARTBEAT, RETRY],
    repeat: true,
    ..leaf(
        "workflow",
        "A Restack workflow that calls functions and other workflows.",
        &[arg("workflow name", Kind::EntityName, "\"EmailCampaign\"")],
        None,
    )
};

const AGENT: Node = Node {
    block: true,
    children: &[
        DOC,
        fields("state", "The agent's state model: one `field` per line."),
        Node {
            block: true,
            children: &[FIELD],
            repeat: true,
            ..leaf(
                "event",
                "An event the agent handles; its block holds the event's fields.",
                &[arg("event name", Kind::Identifier, "\"user_signed_up\"")],
                None,
            )
        },
        CALLS,
        leaf(
            "llm",
            "Gives the agent the project's LLM router (needs a top-level `llm` block).",
            &[arg(
                "router",
                Kind::Choice {
                    choices: &["default"],
                },
                "\"default\"",
            )],
            None,
        ),
        Node {
            variadic: true,
            ..leaf(
                "tools",
                "The tool servers the agent may use.",
                &[arg(
                    "tool-server name",
                    Kind::Reference {
                        to: &["tool-server"],
                    },
                    "\"Research\"",
                )],
                None,
            )
        },
        TIMEOUT,
        HEARTBEAT,
        RETRY,
    ],
    repeat: true,
    ..leaf(
        "agent",
        "A Restack agent: a long-running workflow that handles events.",
        &[arg("agent name", Kind::EntityName, "\"Onboarding\"")],
        None,
    )
};

const STEP_ARG: Arg = arg("step name", Kind::Step, "\"DRAFT\"");

const PIPELINE: Node = Node {
    block: true,
    children: &[
        DOC,
        Node {
            required: true,
            ..leaf(
                "operators",
                "The steps and how they run (GRAMMAR.md, docs/operators.md).",
                &[arg(
                    "operator string",
                    Kind::Operators,
                    "\"DRAFT ⇄ REVIEW → PUBLISH →? PROMOTE\"",
                )],
                None,
            )
        },
        leaf(
            "style",
            "Run each step as a child workflow (`subworkflows`) or as a function (`functions`).",
            &[arg(
                "style",
                Kind::Choice {
                    choices: &["subworkflows", "functions"],
                },
                "\"subworkflows\"",
            )],
            Some("`subworkflows`"),
        ),
        leaf(
            "max-loops",
            "The most rounds a refine loop `A ⇄ B` runs.",
            &[arg("count", Kind::Count, "3")],
            Some("3"),
        ),
        Node {
            repeat: true,
            ..leaf(
                "map",
                "Binds a step to a declared function or workflow (that entity is the step), or \
                 names the scaffolded step.",
                &[STEP_ARG, arg("target", Kind::Text, "\"SendEmail\"")],
                None,
            )
        },
        Node {
            repeat: true,
            ..leaf(
                "when",
                "Names the condition function of a conditional stage (`→? STEP`).",
                &[
                    arg("step name", Kind::Step, "\"PROMOTE\""),
                    arg(
                        "condition function name",
                        Kind::Identifier,
                        "\"should_promote\"",
                    ),
                ],
                Some("`should_<step>`"),
            )
        },
        Node {
            props: &[
                prop(
                    "timeout",
                    Kind::Duration,
                    "The step's start-to-close timeout.",
                    "\"10m\"",
                ),
                prop(
                    "retry-attempts",
                    Kind::Count,
                    "How many times the step is tried in all.",
                    "5",
                ),
                prop(
                    "heartbeat",
                    Kind::Duration,
                    "The step's heartbeat timeout.",
                    "\"1m\"",
                ),
            ],
            needs_a_prop: true,
            repeat: true,
            ..leaf(
                "step",
                "Overrides the policy of one step.",
                &[STEP_ARG],
                None,
            )
        },
        Node {
            props: &[Prop {
                required: true,
                ..prop(
                    "after",
                    Kind::Count,
                    "How many stages run before the orchestrator continues as new.",
                    "200",
                )
            }],
            ..leaf(
                "continue-as-new",
                "Keeps long pipelines' histories short: continue as a new run after N stages.",
                &[],
                Some("never"),
            )
        },
        TIMEOUT,
        HEARTBEAT,
        RETRY,
    ],
    repeat: true,
    ..leaf(
        "pipeline",
        "A pipeline of steps run by a generated orchestrator.",
        &[arg("pipeline name", Kind::EntityName, "\"BlogPipeline\"")],
        None,
    )
};

const TOOL_SERVER: Node = Node {
    block: true,
    children: &[
        DOC,
        leaf(
            "transport",
            "How clients reach the FastMCP server.",
            &[arg(
                "transport",
                Kind::Choice {
                    choices: &["stdio", "http", "sse"],
                },
                "\"stdio\"",
            )],
            Some("`stdio`"),
        ),
        leaf(
            "autostart",
            "Whether the service starts the server with itself.",
            &[arg("value", Kind::Bool, "#true")],
            Some("`#true`"),
        ),
        Node {
            block: true,
            children: &[
                DOC,
                Node {
                    name: "param",
                    doc: "A parameter of the tool.",
                    ..FIELD
                },
                leaf(
                    "returns",
                    "The tool's return type.",
                    &[arg("type", Kind::Type, "\"list[str]\"")],
                    Some("`None`"),
                ),
            ],
            required: true,
            repeat: true,
            ..leaf(
                "tool",
                "A tool the server offers (scaffolded for you to fill in).",
                &[arg("tool name", Kind::Identifier, "\"web_search\"")],
                None,
            )
        },
    ],
    repeat: true,
    ..leaf(
        "tool-server",
        "A FastMCP tool server.",
        &[arg("tool-server name", Kind::EntityName, "\"Research\"")],
        None,
    )
};

const LLM: Node = Node {
    block: true,
    children: &[
        leaf(
            "backend",
            "Call providers directly, or through a Kong AI gateway.",
            &[arg(
                "backend",
                Kind::Choice {
                    choices: &["direct", "kong"],
                },
                "\"direct\"",
            )],
            Some("`direct`"),
        ),
        Node {
            props: &[
                prop(
                    "url",
                    Kind::Url,
                    "The gateway's URL (required with `backend \"kong\"`).",
                    "\"https://kong.example.com/ai\"",
                ),
                Prop {
                    default: Some("`KONG_API_KEY`"),
                    ..prop(
                        "key-env",
                        Kind::EnvName,
                        "The environment variable holding the gateway's key.",
                        "\"KONG_API_KEY\"",
                    )
                },
            ],
            ..leaf("kong", "The Kong AI gateway.", &[], None)
        },
        Node {
            props: &[
                Prop {
                    required: true,
                    ..prop("model", Kind::Text, "The model to call.", "\"gpt-4o-mini\"")
                },
                Prop {
                    default: Some("`<NAME>_API_KEY`"),
                    ..prop(
                        "key-env",
                        Kind::EnvName,
                        "The environment variable holding the provider's key.",
                        "\"OPENAI_API_KEY\"",
                    )
                },
                Prop {
                    default: Some("the declaration order"),
                    ..prop(
                        "priority",
                        Kind::Count,
                        "The order providers are tried in (1 first).",
                        "1",
                    )
                },
            ],
            required: true,
            repeat: true,
            ..leaf(
                "provider",
                "An LLM provider of the router.",
                &[arg("provider name", Kind::ProviderName, "\"openai\"")],
                None,
            )
        },
        Node {
            variadic: true,
            min_args: 0,
            ..leaf(
                "fallback",
                "The failures that make the router try the next provider.",
                &[arg(
                    "condition",
                    Kind::Choice {
                        choices: &["timeout", "5xx", "rate-limit"],
                    },
                    "\"timeout\"",
                )],
                None,
            )
        },
        Node {
            props: &[
                prop(
                    "failures",
                    Kind::Count,
                    "Consecutive failures that open the breaker.",
                    "5",
                ),
                prop(
                    "cooldown",
                    Kind::Duration,
                    "How long an open breaker skips the provider.",
                    "\"60s\"",
                ),
            ],
            ..leaf(
                "circuit-breaker",
                "Skips a failing provider for a while.",
                &[],
                None,
            )
        },
    ],
    ..leaf(
        "llm",
        "The project's LLM router: providers, fallback and circuit breaker.",
        &[],
        None,
    )
};

const PROMPT: Node = Node {
    props: &[prop(
        "version",
        Kind::Text,
        "The prompt's version in the registry.",
        "\"1.0.0\"",
    )],
    block: true,
    children: &[
        Node {
            repeat: true,
            ..leaf(
                "var",
                "A variable of the prompt; the text uses it as `{{ name }}`.",
                &[arg("var name", Kind::Identifier, "\"article\"")],
                None,
            )
        },
        Node {
            required: true,
            ..leaf(
                "text",
                "The prompt's template.",
                &[arg("text", Kind::Text, "\"Summarize {{ article }}\"")],
                None,
            )
        },
    ],
    repeat: true,
    ..leaf(
        "prompt",
        "A versioned prompt of the prompt registry.",
        &[arg("prompt name", Kind::Identifier, "\"summarize\"")],
        None,
    )
};
