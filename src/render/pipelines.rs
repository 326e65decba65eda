//! Pipeline outputs: the shared runtime, one orchestrator per pipeline (both styles), its step,
//! adapter and condition scaffolds, its end-to-end tests and `docs/pipelines.md`. Computes the
//! per-pipeline template context from the operator tree; must not render other areas' files.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ir::{self, Field, StepTarget, Style, python_string};
use crate::operators::{self, Entry, StageBody, Unit};
use std::sync::Arc;

use crate::render::core;
use crate::render::group::{Called, Group, Key};
use crate::render::keyed::Keyed;
use crate::render::{Output, PolicyConstant, Registration, Role};

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
    template!("pipelines/init.py.j2"),
    template!("pipelines/runtime.py.j2"),
    template!("pipelines/decisions.py.j2"),
    template!("pipelines/orchestrator.py.j2"),
    template!("pipelines/steps_init.py.j2"),
    template!("pipelines/step.py.j2"),
    template!("pipelines/adapter.py.j2"),
    template!("pipelines/conditions.py.j2"),
    template!("pipelines/test_pipeline.py.j2"),
    template!("pipelines/docs.md.j2"),
];

/// The files this area renders: the shared runtime and the docs each alone, and the files of
/// each pipeline as one group made from the pipeline and the steps' targets (see
/// [`Group::made`]).
///
/// Lazily, pipeline by pipeline: the contexts of the project's files are built as they are taken.
pub(super) fn outputs(project: &ir::Project) -> impl Iterator<Item = Group<'_>> + Send {
    let src = format!("src/{}/pipelines", project.package);
    let origin = &project.origin;
    let shared = if project.pipelines.is_empty() {
        Vec::new()
    } else {
        vec![
            Output::managed(format!("{src}/__init__.py"), "pipelines/init.py.j2", origin),
            Output::managed(
                format!("{src}/runtime.py"),
                "pipelines/runtime.py.j2",
                origin,
            ),
            Output::managed(
                format!("{src}/decisions.py"),
                "pipelines/decisions.py.j2",
                origin,
            ),
        ]
    };
    let docs = (!project.pipelines.is_empty()).then(|| {
        Output::managed("docs/pipelines.md", "pipelines/docs.md.j2", origin)
            .with_keyed("diagrams", Diagrams(&project.pipelines))
    });
    let pipelines = project.pipelines.iter().map(move |pipeline| {
        Group::made(
            "pipeline",
            &pipeline.origin,
            (src.clone(), pipeline, targets(project, pipeline)),
            |(src, pipeline, targets)| {
                let targets: Vec<Option<Target>> = targets
                    .into_iter()
                    .map(|target| target.map(Target::of))
                    .collect();
                pipeline_outputs(&src, pipeline, &targets)
            },
        )
    });
    shared
        .into_iter()
        .map(|output| Group::ready(vec![output]))
        .chain(pipelines)
        .chain(docs.map(|output| Group::ready(vec![output])))
}

/// The files of one pipeline.
fn pipeline_outputs<'a>(
    src: &str,
    pipeline: &'a ir::Pipeline,
    targets: &[Option<Target<'_>>],
) -> Vec<Output<'a>> {
    let mut out = Vec::new();
    let view = Arc::new(PipelineView::of(pipeline, targets));
    let module = &pipeline.names.module;
    let origin = &pipeline.origin;
    let steps_dir = format!("{src}/{module}_steps");
    out.push(
        Output::managed(
            format!("{src}/{module}.py"),
            "pipelines/orchestrator.py.j2",
            origin,
        )
        .with_ref("pipeline", pipeline)
        .with_arc("view", Arc::clone(&view)),
    );
    out.push(
        Output::managed(
            format!("{steps_dir}/__init__.py"),
            "pipelines/steps_init.py.j2",
            origin,
        )
        .with_ref("pipeline", pipeline),
    );
    for step in &view.steps {
        let path = format!("{steps_dir}/{}.py", step.module);
        let template = if step.kind == "scaffold" {
            "pipelines/step.py.j2"
        } else {
            "pipelines/adapter.py.j2"
        };
        out.push(
            Output::scaffold(path, template, origin)
                .with_ref("pipeline", pipeline)
                .with("step", step.clone()),
        );
    }
    if view.has_conditions {
        out.push(
            Output::scaffold(
                format!("{steps_dir}/conditions.py"),
                "pipelines/conditions.py.j2",
                origin,
            )
            .with_ref("pipeline", pipeline)
            .with_arc("view", Arc::clone(&view)),
        );
    }
    out.push(
        Output::scaffold(
            format!("tests/test_pipeline_{module}.py"),
            "pipelines/test_pipeline.py.j2",
            origin,
        )
        .with_ref("pipeline", pipeline)
        .with_arc("view", Arc::clone(&view)),
    );
    out
}

/// The diagrams of `docs/pipelines.md`, made as the template reads them: one pipeline's at a
/// time.
struct Diagrams<'a>(&'a [Arc<ir::Pipeline>]);

/// The diagrams are made of the pipelines' serde forms (spans aside), so their fingerprints
/// tell them apart.
impl Key for Diagrams<'_> {
    fn key(&self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&(self.0.len() as u64).to_le_bytes());
        for pipeline in self.0 {
            (&pipeline).key(bytes);
        }
    }
}

impl Serialize for Diagrams<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|pipeline| Diagram {
            name: pipeline.names.declared.clone(),
            operators: pipeline.operators.clone(),
            style: pipeline.style,
            max_loops: pipeline.max_loops,
            continue_as_new_after: pipeline.continue_as_new_after,
            mermaid: to_mermaid(pipeline),
        }))
    }
}

/// What this area's registrations are made of: the package, and each pipeline's names and style
/// with the names of its scaffolded steps ([`registrations`] reads nothing else).
#[derive(Serialize)]
pub(super) struct RegistrationInputs<'a> {
    package: &'a str,
    pipelines: Vec<Keyed<'a, Arc<ir::Pipeline>, Scaffolded<'a>>>,
}

/// A pipeline's names and style, with the names of its scaffolded steps.
type Scaffolded<'a> = (&'a ir::Names, Style, Vec<&'a ir::Names>);

impl<'a> RegistrationInputs<'a> {
    pub(super) fn of(project: &'a ir::Project) -> Self {
        RegistrationInputs {
            package: &project.package,
            pipelines: project
                .pipelines
                .iter()
                .map(|pipeline| {
                    let scaffolds = pipeline
                        .steps
                        .iter()
                        .filter_map(|step| match &step.target {
                            StepTarget::Scaffold(names) => Some(names),
                            _ => None,
                        })
                        .collect();
                    let part = (&pipeline.names, pipeline.style, scaffolds);
                    Keyed::new("pipeline registrations", pipeline, part)
                })
                .collect(),
        }
    }
}

/// The symbols this area asks the service to register.
pub(super) fn registrations(inputs: &RegistrationInputs<'_>) -> Vec<Registration> {
    let mut all = Vec::new();
    for (pipeline, style, scaffolds) in inputs.pipelines.iter().map(Keyed::part) {
        let module = format!("{}.pipelines.{}", inputs.package, pipeline.module);
        all.push(Registration::new(Role::Workflow, &module, &pipeline.class));
        // The scaffolded steps, named as their views name them (`step_view`): the rest of a
        // view is not needed here.
        for names in scaffolds {
            let (function, workflow) = scaffold_names(pipeline, names);
            all.push(
                Registration::new(
                    Role::Function,
                    format!("{module}_steps.{}", names.module),
                    &names.module,
                )
                .named(&function),
            );
            if *style == Style::Subworkflows {
                all.push(Registration::new(Role::Workflow, &module, &workflow));
            }
        }
    }
    all
}

/// What this area's step policies are made of: each pipeline's names, with the names and policy
/// of each step not bound to a workflow ([`policies`] reads nothing else).
#[derive(Serialize)]
pub(super) struct PolicyInputs<'a> {
    pipelines: Vec<Keyed<'a, Arc<ir::Pipeline>, StepPolicies<'a>>>,
}

/// A pipeline's names, with the names and policy of each step not bound to a workflow.
type StepPolicies<'a> = (&'a ir::Names, Vec<(&'a ir::Names, &'a ir::Policy)>);

impl<'a> PolicyInputs<'a> {
    pub(super) fn of(project: &'a ir::Project) -> Self {
        PolicyInputs {
            pipelines: project
                .pipelines
                .iter()
                .map(|pipeline| {
                    let steps = pipeline
                        .steps
                        .iter()
                        .filter(|step| !matches!(step.target, StepTarget::Workflow(_)))
                        .map(|step| (&step.names, &step.policy))
                        .collect();
                    Keyed::new("pipeline policies", pipeline, (&pipeline.names, steps))
                })
                .collect(),
        }
    }
}

/// The step policies this area adds to `common/retries.py`.
pub(super) fn policies(inputs: &PolicyInputs<'_>) -> Vec<PolicyConstant> {
    let mut all = Vec::new();
    for (pipeline, steps) in inputs.pipelines.iter().map(Keyed::part) {
        for (step, policy) in steps {
            all.push(PolicyConstant {
                name: policy_name(pipeline, step),
                comment: format!(
                    "Step {} of pipeline `{}`.",
                    step.declared, pipeline.declared
                ),
                policy: (*policy).clone(),
            });
        }
    }
    all
}

/// The constant of a step's policy in `common/retries.py`, from the pipeline's and the step's
/// names.
fn policy_name(pipeline: &ir::Names, step: &ir::Names) -> String {
    format!(
        "PIPELINE_{}_{}",
        pipeline.module.to_uppercase(),
        step.module.to_uppercase()
    )
}

/// One step as the templates see it.
#[derive(Debug, Clone, Serialize)]
struct StepView {
    /// The operator token (`DRAFT`), the key of `results`.
    token: String,
    /// Python module (and function) name of the step's scaffold or adapter.
    module: String,
    /// `scaffold`, `function` or `workflow`.
    kind: &'static str,
    /// Name the scaffolded step function is registered under (`blog_pipeline_draft`).
    function: String,
    /// Class of the step's child workflow (style subworkflows).
    workflow: String,
    /// `common/retries.py` constant of the step.
    policy: String,
    /// The bound function's or workflow's module, class and declared name.
    target_module: String,
    target_class: String,
    target_declared: String,
    target_fields: Vec<Field>,
    /// The bound entity's output annotation.
    output_type: String,
    output_any: bool,
}

#[derive(Debug, Clone, Serialize)]
struct LoopView {
    a: String,
    b: String,
    a_module: String,
    b_module: String,
    approval: String,
}

#[derive(Debug, Clone, Serialize)]
struct ConditionView {
    /// The condition function.
    name: String,
    /// The first step of the conditional stage.
    token: String,
    module: String,
    /// Payload flag read by the scaffolded default.
    key: String,
    /// Python list literal of the stage's steps.
    steps: String,
}

#[derive(Debug, Clone, Serialize)]
struct GroupView {
    index: usize,
    first: String,
    second: String,
    steps: String,
}

#[derive(Debug, Clone, Serialize)]
struct RetryView {
    token: String,
    fail: u32,
}

/// Everything the pipeline templates need beyond the IR.
#[derive(Debug, Clone, Serialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "template flags, each read by a different `{% if %}`"
)]
struct PipelineView {
    steps: Vec<StepView>,
    tree: String,
    uses_loop: bool,
    uses_group: bool,
    policy_imports: Vec<String>,
    step_imports: Vec<String>,
    has_conditions: bool,
    loops: Vec<LoopView>,
    /// Unique condition functions, for `conditions.py`.
    condition_functions: Vec<ConditionView>,
    /// One per conditional stage, for the tests.
    conditions: Vec<ConditionView>,
    groups: Vec<GroupView>,
    retry: Option<RetryView>,
    order: String,
    can_payload: String,
    mapped_functions: bool,
    mapped_workflows: bool,
    /// The operator expression, wrapped to fit an indented docstring line.
    operator_lines: Vec<String>,
}

/// What a step bound to a declared function or workflow reads of it.
#[derive(Debug, Clone, Copy, Serialize)]
struct Target<'a> {
    input: &'a [Field],
    output: &'a ir::Type,
}

impl<'a> Target<'a> {
    fn of(called: Called<'a>) -> Self {
        match called {
            Called::Function(it) => Target {
                input: &it.input,
                output: &it.output,
            },
            Called::Workflow(it) => Target {
                input: &it.input,
                output: &it.output,
            },
        }
    }
}

/// The entity each step of `pipeline` is bound to, in order: `None` for a scaffolded step (or
/// one whose entity is not declared, which lowering rules out).
fn targets<'a>(project: &'a ir::Project, pipeline: &ir::Pipeline) -> Vec<Option<Called<'a>>> {
    pipeline
        .steps
        .iter()
        .map(|step| match &step.target {
            StepTarget::Scaffold(_) => None,
            StepTarget::Function(names) => core::named(&project.functions, |it| &it.names, names)
                .map(|it| Called::Function(it)),
            StepTarget::Workflow(names) => core::named(&project.workflows, |it| &it.names, names)
                .map(|it| Called::Workflow(it)),
        })
        .collect()
}

impl PipelineView {
    /// The view of `pipeline` whose steps run `targets` (see [`targets`]).
    fn of(pipeline: &ir::Pipeline, targets: &[Option<Target<'_>>]) -> Self {
        debug_assert_eq!(targets.len(), pipeline.steps.len(), "one target per step");
        let steps: Vec<StepView> = pipeline
            .steps
            .iter()
            .zip(targets)
            .map(|(step, target)| step_view(pipeline, step, *target))
            .collect();
        let mut walk = Walk {
            pipeline,
            steps: &steps,
            loops: Vec::new(),
            conditions: Vec::new(),
            groups: Vec::new(),
            uses_group: false,
        };
        let tree = walk.seq(&pipeline.tree, 0);
        let Walk {
            loops,
            conditions,
            groups,
            uses_group,
            ..
        } = walk;
        let mut seen = BTreeSet::new();
        let condition_functions: Vec<ConditionView> = conditions
            .iter()
            .filter(|it| seen.insert(it.name.clone()))
            .cloned()
            .collect();
        let has_conditions = !conditions.is_empty() || !loops.is_empty();
        let needs_task_queue = pipeline.style == Style::Subworkflows
            || steps.iter().any(|step| step.kind == "workflow");
        let mut policy_imports: Vec<String> = steps
            .iter()
            .filter(|step| step.kind != "workflow")
            .map(|step| step.policy.clone())
            .collect();
        if needs_task_queue {
            policy_imports.push("TASK_QUEUE".to_owned());
        }
        policy_imports.sort();
        let mut step_imports: Vec<String> = steps
            .iter()
            .filter(|step| step.kind != "scaffold")
            .map(|step| step.module.clone())
            .collect();
        if has_conditions {
            step_imports.push("conditions".to_owned());
        }
        step_imports.sort();
        let retry = steps
            .iter()
            .zip(&pipeline.steps)
            .find(|(view, step)| view.kind == "scaffold" && step.policy.retry.attempts >= 2)
            .map(|(view, step)| RetryView {
                token: view.token.clone(),
                fail: (step.policy.retry.attempts - 1).min(2),
            });
        let can_payload = match loops.first() {
            Some(first) => format!(
                "scripted({}, approve_at={})",
                python_string(&first.b),
                pipeline.max_loops.min(2)
            ),
            None => "{}".to_owned(),
        };
        PipelineView {
            operator_lines: wrap_words(&pipeline.operators, OPERATOR_WIDTH),
            order: py_list(&steps_of_seq(&pipeline.tree), 0),
            uses_loop: !loops.is_empty(),
            mapped_functions: steps.iter().any(|step| step.kind == "function"),
            mapped_workflows: steps.iter().any(|step| step.kind == "workflow"),
            steps,
            tree,
            uses_group,
            policy_imports,
            step_imports,
            has_conditions,
            loops,
            condition_functions,
            conditions,
            groups,
            retry,
            can_payload,
        }
    }
}

/// Room for the operator expression in a docstring: 100 columns less its 4-space indent.
const OPERATOR_WIDTH: usize = 96;

/// Splits `text` at spaces into lines of at most `width` characters (a longer word stays whole).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn step_view(pipeline: &ir::Pipeline, step: &ir::Step, target: Option<Target<'_>>) -> StepView {
    let mut view = StepView {
        token: step.names.declared.clone(),
        module: step.names.module.clone(),
        kind: "scaffold",
        function: String::new(),
        workflow: String::new(),
        policy: policy_name(&pipeline.names, &step.names),
        target_module: String::new(),
        target_class: String::new(),
        target_declared: String::new(),
        target_fields: Vec::new(),
        output_type: String::new(),
        output_any: false,
    };
    match &step.target {
        StepTarget::Scaffold(names) => {
            view.module.clone_from(&names.module);
            (view.function, view.workflow) = scaffold_names(&pipeline.names, names);
        }
        StepTarget::Function(names) => {
            view.kind = "function";
            bind(&mut view, names);
            if let Some(target) = target {
                view.target_fields = target.input.to_vec();
                view.output_type = target.output.python();
                view.output_any = target.output.uses_any();
            }
        }
        StepTarget::Workflow(names) => {
            view.kind = "workflow";
            bind(&mut view, names);
            if let Some(target) = target {
                view.target_fields = target.input.to_vec();
                view.output_type = target.output.python();
                view.output_any = target.output.uses_any();
            }
        }
    }
    view
}

/// The function a scaffolded step is registered under (`blog_pipeline_draft`) and the class of
/// its child workflow (`BlogPipelineDraft`).
fn scaffold_names(pipeline: &ir::Names, names: &ir::Names) -> (String, String) {
    (
        format!("{}_{}", pipeline.module, names.module),
        format!("{}{}", pipeline.class, names.class),
    )
}

fn bind(view: &mut StepView, names: &ir::Names) {
    view.target_module.clone_from(&names.module);
    view.target_class.clone_from(&names.class);
    view.target_declared.clone_from(&names.declared);
}

/// Walks the operator tree once: the `TREE` expression and what the tests need.
struct Walk<'a> {
    pipeline: &'a ir::Pipeline,
    steps: &'a [StepView],
    loops: Vec<LoopView>,
    conditions: Vec<ConditionView>,
    groups: Vec<GroupView>,
    uses_group: bool,
}

impl Walk<'_> {
    fn step(&self, token: &str) -> Option<(&ir::Step, &StepView)> {
        self.pipeline
            .steps
            .iter()
            .zip(self.steps)
            .find(|(step, _)| step.names.declared == token)
    }

    fn module(&self, token: &str) -> String {
        self.step(token).map_or_else(
            || token.to_lowercase(),
            |(step, _)| step.names.module.clone(),
        )
    }

    /// `Seq(stages=[...])`, exploded with magic trailing commas so `ruff format` keeps it.
    fn seq(&mut self, pipeline: &operators::Pipeline, indent: usize) -> String {
        let pad = " ".repeat(indent);
        let mut out = format!("Seq(\n{pad}    stages=[\n");
        for stage in &pipeline.stages {
            let body = self.stage(stage, indent + 8);
            let _ = writeln!(out, "{pad}        {body},");
        }
        let _ = write!(out, "{pad}    ],\n{pad})");
        out
    }

    fn stage(&mut self, stage: &operators::Stage, indent: usize) -> String {
        let pad = " ".repeat(indent);
        let body = match &stage.body {
            StageBody::Loop { a, b } => {
                let b_module = self.module(&b.name);
                let approval = format!("approve_{b_module}");
                let text = format!(
                    "Loop(\n{pad}        a={},\n{pad}        b={},\n{pad}        approve=conditions.{approval},\n{pad}    )",
                    python_string(&a.name),
                    python_string(&b.name),
                );
                self.loops.push(LoopView {
                    a: a.name.clone(),
                    b: b.name.clone(),
                    a_module: self.module(&a.name),
                    b_module,
                    approval,
                });
                text
            }
            StageBody::Group { units } => self.group(units, indent + 4),
        };
        let mut out = format!("Stage(\n{pad}    body={body},\n");
        if stage.entry == Entry::If {
            let steps = steps_of_stage(stage);
            let token = steps.first().cloned().unwrap_or_default();
            let module = self.module(&token);
            let name = self
                .step(&token)
                .and_then(|(step, _)| step.condition.clone())
                .unwrap_or_else(|| format!("should_{module}"));
            let _ = writeln!(out, "{pad}    condition=conditions.{name},");
            self.conditions.push(ConditionView {
                name,
                token,
                key: module.clone(),
                module,
                steps: py_list(&steps, 0),
            });
        }
        let _ = write!(out, "{pad})");
        out
    }

    fn group(&mut self, units: &[Unit], indent: usize) -> String {
        self.uses_group = true;
        if units.len() >= 2 {
            let firsts: Vec<Option<String>> = units
                .iter()
                .map(|unit| steps_of_unit(unit).into_iter().next())
                .collect();
            let scaffolded = |token: &Option<String>| {
                token
                    .as_ref()
                    .and_then(|token| self.step(token))
                    .is_some_and(|(_, view)| view.kind == "scaffold")
            };
            if scaffolded(&firsts[0]) && scaffolded(&firsts[1]) {
                let steps: Vec<String> = units.iter().flat_map(steps_of_unit).collect();
                self.groups.push(GroupView {
                    index: self.groups.len() + 1,
                    first: firsts[0].clone().unwrap_or_default(),
                    second: firsts[1].clone().unwrap_or_default(),
                    steps: py_list(&steps, 0),
                });
            }
        }
        let pad = " ".repeat(indent);
        let mut out = format!("Group(\n{pad}    units=[\n");
        for unit in units {
            let text = match unit {
                Unit::Step(step) => python_string(&step.name),
                Unit::Nested { pipeline } => self.seq(pipeline, indent + 8),
            };
            let _ = writeln!(out, "{pad}        {text},");
        }
        let _ = write!(out, "{pad}    ],\n{pad})");
        out
    }
}

fn steps_of_seq(pipeline: &operators::Pipeline) -> Vec<String> {
    pipeline.stages.iter().flat_map(steps_of_stage).collect()
}

fn steps_of_stage(stage: &operators::Stage) -> Vec<String> {
    match &stage.body {
        StageBody::Loop { a, b } => vec![a.name.clone(), b.name.clone()],
        StageBody::Group { units } => units.iter().flat_map(steps_of_unit).collect(),
    }
}

fn steps_of_unit(unit: &Unit) -> Vec<String> {
    match unit {
        Unit::Step(step) => vec![step.name.clone()],
        Unit::Nested { pipeline } => steps_of_seq(pipeline),
    }
}

/// A Python list of strings, one per line with a trailing comma (kept by `ruff format`).
fn py_list(items: &[String], indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = "[\n".to_owned();
    for item in items {
        let _ = writeln!(out, "{pad}    {},", python_string(item));
    }
    let _ = write!(out, "{pad}]");
    out
}

/// One pipeline of `docs/pipelines.md`.
#[derive(Debug, Clone, Serialize)]
struct Diagram {
    name: String,
    operators: String,
    style: Style,
    max_loops: u32,
    continue_as_new_after: Option<u32>,
    mermaid: String,
}

/// A mermaid flowchart of the operator tree: `-->` then, `-->|if|` conditional entry, a dotted
/// feedback edge for each refine loop.
pub(crate) fn to_mermaid(pipeline: &ir::Pipeline) -> String {
    let mut lines = vec!["flowchart LR".to_owned()];
    for step in &pipeline.steps {
        let label = match &step.target {
            StepTarget::Scaffold(_) => step.names.declared.clone(),
            StepTarget::Function(names) => {
                format!("{}<br/>function {}", step.names.declared, names.declared)
            }
            StepTarget::Workflow(names) => {
                format!("{}<br/>workflow {}", step.names.declared, names.declared)
            }
        };
        lines.push(format!("    {}[\"{label}\"]", step.names.declared));
    }
    mermaid_seq(&pipeline.tree, &mut lines);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Adds the edges of a sequence; returns its entry and exit steps.
fn mermaid_seq(
    pipeline: &operators::Pipeline,
    lines: &mut Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let mut entries = Vec::new();
    let mut exits: Vec<String> = Vec::new();
    for (index, stage) in pipeline.stages.iter().enumerate() {
        let (stage_in, stage_out) = match &stage.body {
            StageBody::Loop { a, b } => {
                lines.push(format!("    {} --> {}", a.name, b.name));
                lines.push(format!("    {} -. feedback .-> {}", b.name, a.name));
                (vec![a.name.clone()], vec![b.name.clone()])
            }
            StageBody::Group { units } => {
                let mut ins = Vec::new();
                let mut outs = Vec::new();
                for unit in units {
                    let (unit_in, unit_out) = match unit {
                        Unit::Step(step) => (vec![step.name.clone()], vec![step.name.clone()]),
                        Unit::Nested { pipeline } => mermaid_seq(pipeline, lines),
                    };
                    ins.extend(unit_in);
                    outs.extend(unit_out);
                }
                (ins, outs)
            }
        };
        if index == 0 {
            entries.clone_from(&stage_in);
        }
        let arrow = if stage.entry == Entry::If {
            "-->|if|"
        } else {
            "-->"
        };
        for from in &exits {
            for to in &stage_in {
                lines.push(format!("    {from} {arrow} {to}"));
            }
        }
        exits = stage_out;
    }
    (entries, exits)
}

#[cfg(test)]
mod tests {
    use super::wrap_words;

    #[test]
    fn wrap_words_splits_at_spaces_within_the_width() {
        assert_eq!(wrap_words("A -> B + C", 100), ["A -> B + C"]);
        assert_eq!(wrap_words("A -> B + C", 6), ["A -> B", "+ C"]);
        assert_eq!(wrap_words("LONG_TOKEN -> B", 4), ["LONG_TOKEN", "-> B"]);
        assert!(wrap_words("", 10).is_empty());
    }
}
