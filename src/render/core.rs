//! Core outputs of the generated project: packaging, config, client/service/registry, models,
//! function/workflow/agent scaffolds, common/ helpers, scripts and tests. Pipelines, LLM, tools
//! and prompts are other areas' outputs; this module must not render them.

use std::sync::Arc;

use crate::ir::{self, Callee};
use crate::render::group::{Called, Group};
use crate::render::keyed::Keyed;
use crate::render::{Kind, Output, PolicyConstant, Registration, Role};

/// `(name, include_str!(templates/name))`.
macro_rules! template {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)),
        )
    };
}

/// Embedded templates of this area: `(name, source)`, names relative to `templates/`.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    template!("core/pyproject.toml.j2"),
    template!("core/README.md.j2"),
    template!("core/gitignore.j2"),
    template!("core/env.example.j2"),
    template!("core/settings.yaml.j2"),
    template!("core/package_init.py.j2"),
    template!("core/subpackage_init.py.j2"),
    template!("core/client.py.j2"),
    template!("core/service.py.j2"),
    template!("core/registry.py.j2"),
    template!("core/models/init.py.j2"),
    template!("core/models/entity.py.j2"),
    template!("core/function.py.j2"),
    template!("core/workflow.py.j2"),
    template!("core/agent.py.j2"),
    template!("core/common/retries.py.j2"),
    template!("core/common/settings.py.j2"),
    template!("core/common/logging.py.j2"),
    template!("core/scripts/schedule_workflow.py.j2"),
    template!("core/scripts/schedule_agent.py.j2"),
    template!("core/scripts/send_event.py.j2"),
    template!("core/tests/conftest.py.j2"),
    template!("core/tests/test_service.py.j2"),
    template!("core/tests/test_scripts.py.j2"),
    template!("core/tests/test_function.py.j2"),
    template!("core/tests/test_workflow.py.j2"),
    template!("core/tests/test_agent.py.j2"),
    template!("core/macros.j2"),
];

/// Project-wide files: `(path, template, kind)`; `{src}` stands for `src/<package>`.
const PROJECT_FILES: &[(&str, &str, Kind)] = &[
    ("pyproject.toml", "core/pyproject.toml.j2", Kind::Managed),
    ("README.md", "core/README.md.j2", Kind::Scaffold),
    (".gitignore", "core/gitignore.j2", Kind::Managed),
    (".env.example", "core/env.example.j2", Kind::Managed),
    (
        "config/settings.yaml",
        "core/settings.yaml.j2",
        Kind::Managed,
    ),
    (
        "{src}/__init__.py",
        "core/package_init.py.j2",
        Kind::Managed,
    ),
    ("{src}/client.py", "core/client.py.j2", Kind::Managed),
    ("{src}/service.py", "core/service.py.j2", Kind::Managed),
    ("{src}/registry.py", "core/registry.py.j2", Kind::Managed),
    (
        "{src}/models/__init__.py",
        "core/models/init.py.j2",
        Kind::Managed,
    ),
    (
        "{src}/common/retries.py",
        "core/common/retries.py.j2",
        Kind::Managed,
    ),
    (
        "{src}/common/settings.py",
        "core/common/settings.py.j2",
        Kind::Managed,
    ),
    (
        "{src}/common/logging.py",
        "core/common/logging.py.j2",
        Kind::Managed,
    ),
    (
        "scripts/schedule_workflow.py",
        "core/scripts/schedule_workflow.py.j2",
        Kind::Managed,
    ),
    (
        "scripts/schedule_agent.py",
        "core/scripts/schedule_agent.py.j2",
        Kind::Managed,
    ),
    (
        "scripts/send_event.py",
        "core/scripts/send_event.py.j2",
        Kind::Managed,
    ),
    (
        "tests/conftest.py",
        "core/tests/conftest.py.j2",
        Kind::Managed,
    ),
    (
        "tests/test_service.py",
        "core/tests/test_service.py.j2",
        Kind::Managed,
    ),
    (
        "tests/test_scripts.py",
        "core/tests/test_scripts.py.j2",
        Kind::Managed,
    ),
];

/// Sub-packages of `src/<package>` and their docstrings.
const SUBPACKAGES: &[(&str, &str)] = &[
    (
        "common",
        "Managed helpers shared by every generated module.",
    ),
    (
        "functions",
        "Functions: business logic run as Restack steps.",
    ),
    (
        "workflows",
        "Workflows: durable orchestration of functions and child workflows.",
    ),
    (
        "agents",
        "Agents: long-running, event-driven workflows with state.",
    ),
];

/// The files this area renders: each project-wide file alone, and the files of each function,
/// workflow and agent as one group made from the entity (see [`Group::made`]).
///
/// Lazily, entity by entity: the contexts of the project's files are built as they are taken.
pub(super) fn outputs(project: &ir::Project) -> impl Iterator<Item = Group<'_>> + Send {
    let origin = &project.origin;
    let src = format!("src/{}", project.package);
    let mut out: Vec<Output> = PROJECT_FILES
        .iter()
        .map(|(path, template, kind)| {
            let path = path.replace("{src}", &src);
            let output = match kind {
                Kind::Managed => Output::managed(path, template, origin),
                Kind::Scaffold => Output::scaffold(path, template, origin),
            };
            // The scripts' examples name the first workflow or agent: given alone, so that
            // `watch` hashes one entity for them, not the list.
            match *template {
                "core/scripts/send_event.py.j2" => output
                    .with("events", event_names(project))
                    .with("first_agent", project.agents.first()),
                "core/scripts/schedule_agent.py.j2" => {
                    output.with("first_agent", project.agents.first())
                }
                "core/scripts/schedule_workflow.py.j2" => {
                    output.with("first_workflow", project.workflows.first())
                }
                "core/tests/test_scripts.py.j2" => output
                    .with("first_agent", project.agents.first())
                    .with("first_workflow", project.workflows.first()),
                _ => output,
            }
        })
        .collect();
    out.extend(SUBPACKAGES.iter().map(|(dir, doc)| {
        Output::managed(
            format!("{src}/{dir}/__init__.py"),
            "core/subpackage_init.py.j2",
            origin,
        )
        .with("doc", doc)
    }));
    let functions = {
        let src = src.clone();
        project.functions.iter().map(move |function| {
            Group::made(
                "function",
                &function.origin,
                (src.clone(), function),
                |(src, function)| function_outputs(&src, function),
            )
        })
    };
    let workflows = {
        let src = src.clone();
        project.workflows.iter().map(move |workflow| {
            Group::made(
                "workflow",
                &workflow.origin,
                (src.clone(), workflow, callees(project, &workflow.calls)),
                |(src, workflow, callees)| workflow_outputs(&src, workflow, &views(&callees)),
            )
        })
    };
    let agents = project.agents.iter().map(move |agent| {
        Group::made(
            "agent",
            &agent.origin,
            (src.clone(), agent, callees(project, &agent.calls)),
            |(src, agent, callees)| agent_outputs(&src, agent, &views(&callees)),
        )
    });
    out.into_iter()
        .map(|output| Group::ready(vec![output]))
        .chain(functions)
        .chain(workflows)
        .chain(agents)
}

/// The model, scaffold and test of one function.
fn function_outputs<'a>(src: &str, function: &'a ir::Function) -> Vec<Output<'a>> {
    let mut out = Vec::new();
    let module = &function.names.module;
    let origin = &function.origin;
    out.push(
        Output::managed(
            format!("{src}/models/{module}.py"),
            "core/models/entity.py.j2",
            origin,
        )
        .with("entity", models_of_function(function)),
    );
    out.push(
        Output::scaffold(
            format!("{src}/functions/{module}.py"),
            "core/function.py.j2",
            origin,
        )
        .with_ref("function", function),
    );
    out.push(
        Output::scaffold(
            format!("tests/test_function_{module}.py"),
            "core/tests/test_function.py.j2",
            origin,
        )
        .with_ref("function", function),
    );
    out
}

/// The model, scaffold and test of one workflow.
fn workflow_outputs<'a>(
    src: &str,
    workflow: &'a ir::Workflow,
    callees: &[CalleeView<'a>],
) -> Vec<Output<'a>> {
    let mut out = Vec::new();
    let module = &workflow.names.module;
    let origin = &workflow.origin;
    out.push(
        Output::managed(
            format!("{src}/models/{module}.py"),
            "core/models/entity.py.j2",
            origin,
        )
        .with("entity", models_of_workflow(workflow)),
    );
    out.push(
        Output::scaffold(
            format!("{src}/workflows/{module}.py"),
            "core/workflow.py.j2",
            origin,
        )
        .with_ref("workflow", workflow)
        .with("callees", callees.to_vec()),
    );
    out.push(
        Output::scaffold(
            format!("tests/test_workflow_{module}.py"),
            "core/tests/test_workflow.py.j2",
            origin,
        )
        .with_ref("workflow", workflow)
        .with("callees", callees.to_vec()),
    );
    out
}

/// The models, scaffold and test of one agent.
fn agent_outputs<'a>(
    src: &str,
    agent: &'a ir::Agent,
    callees: &[CalleeView<'a>],
) -> Vec<Output<'a>> {
    let mut out = Vec::new();
    let module = &agent.names.module;
    let origin = &agent.origin;
    out.push(
        Output::managed(
            format!("{src}/models/{module}.py"),
            "core/models/entity.py.j2",
            origin,
        )
        .with("entity", models_of_agent(agent)),
    );
    out.push(
        Output::scaffold(
            format!("{src}/agents/{module}.py"),
            "core/agent.py.j2",
            origin,
        )
        .with_ref("agent", agent)
        .with("callees", callees.to_vec()),
    );
    out.push(
        Output::scaffold(
            format!("tests/test_agent_{module}.py"),
            "core/tests/test_agent.py.j2",
            origin,
        )
        .with_ref("agent", agent),
    );
    out
}

/// Every event a declared agent handles, plus `end`, sorted and deduplicated.
fn event_names(project: &ir::Project) -> Vec<&str> {
    let mut names: Vec<&str> = project
        .agents
        .iter()
        .flat_map(|agent| agent.events.iter().map(|event| event.name.as_str()))
        .chain(["end"])
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// What this area's registrations are made of: the package and the names of every function,
/// workflow and agent ([`registrations`] reads nothing else).
#[derive(serde::Serialize)]
pub(super) struct RegistrationInputs<'a> {
    package: &'a str,
    functions: Vec<Keyed<'a, Arc<ir::Function>, &'a ir::Names>>,
    workflows: Vec<Keyed<'a, Arc<ir::Workflow>, &'a ir::Names>>,
    agents: Vec<Keyed<'a, Arc<ir::Agent>, &'a ir::Names>>,
}

impl<'a> RegistrationInputs<'a> {
    pub(super) fn of(project: &'a ir::Project) -> Self {
        RegistrationInputs {
            package: &project.package,
            functions: project
                .functions
                .iter()
                .map(|it| Keyed::new("function names", it, &it.names))
                .collect(),
            workflows: project
                .workflows
                .iter()
                .map(|it| Keyed::new("workflow names", it, &it.names))
                .collect(),
            agents: project
                .agents
                .iter()
                .map(|it| Keyed::new("agent names", it, &it.names))
                .collect(),
        }
    }
}

/// The symbols this area asks the service to register.
pub(super) fn registrations(inputs: &RegistrationInputs<'_>) -> Vec<Registration> {
    let package = inputs.package;
    let functions = inputs.functions.iter().map(|it| {
        let names = *it.part();
        Registration::new(
            Role::Function,
            format!("{package}.functions.{}", names.module),
            &names.module,
        )
    });
    let workflows = inputs.workflows.iter().map(|it| {
        let names = *it.part();
        Registration::new(
            Role::Workflow,
            format!("{package}.workflows.{}", names.module),
            &names.class,
        )
    });
    let agents = inputs.agents.iter().map(|it| {
        let names = *it.part();
        Registration::new(
            Role::Agent,
            format!("{package}.agents.{}", names.module),
            &names.class,
        )
    });
    functions.chain(workflows).chain(agents).collect()
}

/// What this area's step policies are made of: the project defaults, and the names and policy
/// of every function, workflow and agent ([`policies`] reads nothing else).
#[derive(serde::Serialize)]
pub(super) struct PolicyInputs<'a> {
    defaults: &'a ir::Policy,
    functions: Vec<Keyed<'a, Arc<ir::Function>, NamedPolicy<'a>>>,
    workflows: Vec<Keyed<'a, Arc<ir::Workflow>, NamedPolicy<'a>>>,
    agents: Vec<Keyed<'a, Arc<ir::Agent>, NamedPolicy<'a>>>,
}

/// An entity's names and policy.
type NamedPolicy<'a> = (&'a ir::Names, &'a ir::Policy);

impl<'a> PolicyInputs<'a> {
    pub(super) fn of(project: &'a ir::Project) -> Self {
        PolicyInputs {
            defaults: &project.defaults,
            functions: project
                .functions
                .iter()
                .map(|it| Keyed::new("function policy", it, (&it.names, &it.policy)))
                .collect(),
            workflows: project
                .workflows
                .iter()
                .map(|it| Keyed::new("workflow policy", it, (&it.names, &it.policy)))
                .collect(),
            agents: project
                .agents
                .iter()
                .map(|it| Keyed::new("agent policy", it, (&it.names, &it.policy)))
                .collect(),
        }
    }
}

/// The step policies of functions, workflows and agents, plus the project defaults.
pub(super) fn policies(inputs: &PolicyInputs<'_>) -> Vec<PolicyConstant> {
    let constant = |kind: &str, (names, policy): &(&ir::Names, &ir::Policy)| PolicyConstant {
        name: format!("{}_{}", kind.to_uppercase(), names.module.to_uppercase()),
        comment: format!(
            "{}{} `{}`: the defaults merged with its own overrides.",
            kind[..1].to_uppercase(),
            &kind[1..],
            names.declared
        ),
        policy: (*policy).clone(),
    };
    let mut all = vec![PolicyConstant {
        name: "DEFAULT_POLICY".to_owned(),
        comment: "The project defaults (`defaults` in restack.kdl).".to_owned(),
        policy: inputs.defaults.clone(),
    }];
    all.extend(
        inputs
            .functions
            .iter()
            .map(|it| constant("function", it.part())),
    );
    all.extend(
        inputs
            .workflows
            .iter()
            .map(|it| constant("workflow", it.part())),
    );
    all.extend(inputs.agents.iter().map(|it| constant("agent", it.part())));
    all
}

/// A pydantic model to render: class name, docstring, fields.
#[derive(serde::Serialize)]
struct Model<'a> {
    class: String,
    doc: String,
    fields: &'a [ir::Field],
}

/// The models of one entity's module under `models/`.
#[derive(serde::Serialize)]
struct Models<'a> {
    doc: String,
    models: Vec<Model<'a>>,
}

fn models_of_function(function: &ir::Function) -> Models<'_> {
    let name = &function.names.declared;
    Models {
        doc: format!("Models of function `{name}`."),
        models: vec![Model {
            class: format!("{}Input", function.names.class),
            doc: format!("Input of function `{name}`."),
            fields: &function.input,
        }],
    }
}

fn models_of_workflow(workflow: &ir::Workflow) -> Models<'_> {
    let name = &workflow.names.declared;
    Models {
        doc: format!("Models of workflow `{name}`."),
        models: vec![Model {
            class: format!("{}Input", workflow.names.class),
            doc: format!("Input of workflow `{name}`."),
            fields: &workflow.input,
        }],
    }
}

fn models_of_agent(agent: &ir::Agent) -> Models<'_> {
    let name = &agent.names.declared;
    let mut models = vec![Model {
        class: format!("{}State", agent.names.class),
        doc: format!("State of agent `{name}` (also its input and its result)."),
        fields: &agent.state,
    }];
    models.extend(agent.events.iter().map(|event| Model {
        class: event.class.clone(),
        doc: format!("Input of event `{}` of agent `{name}`.", event.name),
        fields: &event.fields,
    }));
    Models {
        doc: format!("Models of agent `{name}`."),
        models,
    }
}

/// A called entity with what a scaffold needs to call it: its kind, names, input fields and
/// output type.
#[derive(Clone, serde::Serialize)]
struct CalleeView<'a> {
    kind: &'static str,
    names: &'a ir::Names,
    input: &'a [ir::Field],
    output: &'a ir::Type,
    policy: &'a ir::Policy,
}

/// The declared entities `calls` name, in order.
fn callees<'a>(project: &'a ir::Project, calls: &'a [Callee]) -> Vec<Called<'a>> {
    calls
        .iter()
        .filter_map(|callee| match callee {
            Callee::Function(names) => {
                named(&project.functions, |it| &it.names, names).map(|it| Called::Function(it))
            }
            Callee::Workflow(names) => {
                named(&project.workflows, |it| &it.names, names).map(|it| Called::Workflow(it))
            }
        })
        .collect()
}

/// What the scaffolds read of each callee.
fn views<'a>(callees: &[Called<'a>]) -> Vec<CalleeView<'a>> {
    callees
        .iter()
        .map(|callee| match *callee {
            Called::Function(it) => CalleeView {
                kind: "function",
                names: &it.names,
                input: &it.input,
                output: &it.output,
                policy: &it.policy,
            },
            Called::Workflow(it) => CalleeView {
                kind: "workflow",
                names: &it.names,
                input: &it.input,
                output: &it.output,
                policy: &it.policy,
            },
        })
        .collect()
}

/// The first of `entities` whose names are `names`, as `find` would give it, found by binary
/// search: the IR sorts every collection of entities by declared name (`ir::lower`).
pub(super) fn named<'e, T>(
    entities: &'e [T],
    names_of: impl Fn(&T) -> &ir::Names,
    names: &ir::Names,
) -> Option<&'e T> {
    debug_assert!(
        entities.is_sorted_by(|a, b| names_of(a).declared <= names_of(b).declared),
        "entities are sorted by declared name"
    );
    let first = entities.partition_point(|it| names_of(it).declared < names.declared);
    entities[first..]
        .iter()
        .take_while(|it| names_of(it).declared == names.declared)
        .find(|it| names_of(it) == names)
}
