//! Lowering: checks the manifest as a whole and builds the resolved [`Project`] from the AST.
//!
//! Owns every check that needs more than one node: entity names that collide or repeat, types
//! naming another entity's model, `calls`/`tools`/`llm`/`map` references, `when`/`step` against
//! the operator string, prompt variables against placeholders, and the kong backend. It merges
//! policies (built-in < `defaults` < entity < pipeline < `step`) and fills in documented
//! defaults. Pure: no IO. It must not re-check what the decoder already reported.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::ir::cache::{ById, Declaration, Declared, Dep, Entry, Keep, Kept, LowerCache};
use crate::ir::{
    Agent, Backend, Callee, CircuitBreaker, Engine, Event, Fallback, Field, Fingerprint, Function,
    Literal, Llm, Millis, Names, Origin, Pipeline, Policy, Project, Prompt, Provider, Retry, Step,
    StepTarget, Style, Tool, ToolServer, Transport, Type, Workflow,
};
use crate::manifest::ast::{self, Spanned};
use crate::manifest::decode::NodeIds;
use crate::manifest::names::{self, CaseMemo};
use crate::manifest::{Manifest, types};
use crate::operators;

/// Built-in policy when no `defaults` block says otherwise.
const BUILTIN_TIMEOUT: u64 = 5 * 60_000;
const BUILTIN_HEARTBEAT: u64 = 30_000;
const BUILTIN_ATTEMPTS: u32 = 3;
const BUILTIN_INITIAL: u64 = 1_000;
const BUILTIN_BACKOFF: f64 = 2.0;
const BUILTIN_MAX_INTERVAL: u64 = 60_000;
const DEFAULT_PYTHON: &str = ">=3.10,<3.14";
const DEFAULT_TASK_QUEUE: &str = "restack";
const DEFAULT_RESTACK_AI: &str = "==0.0.121";
const DEFAULT_ADDRESS: &str = "localhost:7233";
const DEFAULT_API_ADDRESS: &str = "localhost:6233";
const DEFAULT_MAX_LOOPS: u32 = 3;

/// Checks the manifest as a whole and resolves it. Pure: no IO.
///
/// Returns every cross-node problem found. A manifest the decoder did not fully accept
/// (`Manifest::complete` is false) is never lowered: the result is then `Err` with only the
/// cross-node problems, since the decoder's own diagnostics were already reported.
pub fn lower(manifest: &Manifest) -> Result<Project, Diagnostics> {
    let mut lowerer = Lowerer::new(manifest, CaseMemo::default(), None, None);
    lowerer.check_entity_names();
    let project = lowerer.project();
    lowerer.finish(project)
}

/// [`lower`] for `watch`, with what `cache` kept from the last run: the case conversions of
/// names, and the lowered form of every entity whose decoded node is the same (`ids`, from the
/// same `manifest::ParseCache` every run; see [`LowerCache`]) and whose lowering read the same
/// things beyond its node: the kind of each name it resolved, the policy of each function or
/// workflow a step is bound to, `defaults`, and whether there is an `llm` block. Every other
/// entity is lowered again. The checks over all entity names run again unless the entities have
/// the names of the last run in the same places and that run found no problem with them (see
/// [`Declared`]). The result is the same as [`lower`]'s.
pub(crate) fn lower_cached(
    manifest: &Manifest,
    ids: Option<&NodeIds>,
    cache: &mut LowerCache,
) -> Result<Project, Diagnostics> {
    // The names declared last run, when they still hold (see [`Declared`]).
    let declared = cache
        .declared
        .take()
        .filter(|declared| ids.is_some_and(|ids| declared.holds(manifest, ids, cache.case.len())));
    let same_names = declared.is_some();
    let mut lowerer = Lowerer::new(manifest, std::mem::take(&mut cache.case), ids, declared);
    if ids.is_some() {
        lowerer.kept = std::mem::take(&mut cache.kept);
    }
    lowerer.check_entity_names();
    let project = lowerer.project();
    cache.case = std::mem::take(&mut lowerer.case);
    if !same_names {
        // A run that checked every name asked for the spellings of every name it needs; one that
        // did not must keep those of the run that did.
        cache.case.end_run();
    }
    if let Some(ids) = ids {
        cache.kept = std::mem::take(&mut lowerer.kept);
        cache.kept.end_run();
        if lowerer.names_clean {
            let mut declared = lowerer.declared.take().unwrap_or_default();
            declared.record(
                manifest,
                ids,
                std::mem::take(&mut lowerer.entities),
                same_names,
                cache.case.len(),
            );
            cache.declared = Some(declared);
        }
    }
    lowerer.finish(project)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Function,
    Workflow,
    Agent,
    Pipeline,
    ToolServer,
}

impl Kind {
    fn keyword(self) -> &'static str {
        match self {
            Kind::Function => "function",
            Kind::Workflow => "workflow",
            Kind::Agent => "agent",
            Kind::Pipeline => "pipeline",
            Kind::ToolServer => "tool-server",
        }
    }
}

struct Lowerer<'a> {
    manifest: &'a Manifest,
    diags: Diagnostics,
    /// Every declared entity by name (the first declaration wins), with its index in the
    /// manifest's list of its kind.
    entities: HashMap<String, Declaration>,
    /// Whether `entities` is the last run's, which declared the same names in the same places
    /// without a problem (see [`Declared`]): the names need no check, and every name an entity
    /// read resolves as it did then.
    same_names: bool,
    /// The last run's names and sort orders, while they still hold.
    declared: Option<Declared>,
    /// Whether the check of entity names found nothing (so `entities` may be kept).
    names_clean: bool,
    /// Class names of every entity's models, for `entity-model-type`; built when a type first
    /// names something that is not a builtin (see [`Lowerer::models`]).
    models: Option<BTreeMap<String, String>>,
    /// The case conversions of names.
    case: CaseMemo,
    /// Every entity in declaration order (see [`Lowerer::all_entities`]), once needed.
    order: Option<Vec<(Kind, &'a Spanned<String>, usize)>>,
    /// Where each entity's node was decoded, when entities are kept between runs.
    ids: Option<&'a NodeIds>,
    /// The entities lowered in the last run (empty unless `ids`).
    kept: Kept,
    /// What the entity being lowered has read beyond its node so far, while it may be kept.
    deps: Option<Vec<Dep>>,
}

/// A declared entity: its kind, the span of its name, its index in the manifest's list of its kind.
#[derive(Clone)]
struct Entity {
    kind: Kind,
    span: Range<usize>,
    index: usize,
}

fn origin(kind: &str, name: &str, span: &Range<usize>) -> Origin {
    Origin {
        entity: format!("{kind} \"{name}\""),
        span: (span.start, span.end),
    }
}

impl<'a> Lowerer<'a> {
    fn new(
        manifest: &'a Manifest,
        case: CaseMemo,
        ids: Option<&'a NodeIds>,
        mut declared: Option<Declared>,
    ) -> Lowerer<'a> {
        let same_names = declared.is_some();
        let entities = match declared.as_mut() {
            Some(declared) => std::mem::take(&mut declared.entities),
            None => HashMap::new(),
        };
        let mut lowerer = Lowerer {
            manifest,
            diags: Diagnostics::new(),
            entities,
            same_names,
            declared,
            names_clean: true,
            models: None,
            case,
            order: None,
            ids,
            kept: Kept::default(),
            deps: None,
        };
        if !same_names {
            let order = lowerer.all_entities();
            lowerer.entities.reserve(order.len());
            for &(kind, name, index) in &order {
                lowerer
                    .entities
                    .entry(name.value.clone())
                    .or_insert(Declaration { kind, index });
            }
            lowerer.order = Some(order);
        }
        lowerer
    }

    /// Every entity in declaration order.
    fn order(&mut self) -> Vec<(Kind, &'a Spanned<String>, usize)> {
        match self.order.take() {
            Some(order) => order,
            None => self.all_entities(),
        }
    }

    /// The declared entity `declaration`, with the span of its name.
    fn declared(&self, declaration: Declaration) -> Entity {
        let Declaration { kind, index } = declaration;
        Entity {
            kind,
            span: entity_name(self.manifest, kind, index).map_or(0..0, |it| it.span.clone()),
            index,
        }
    }

    /// The project, or every cross-node problem.
    fn finish(self, project: Option<Project>) -> Result<Project, Diagnostics> {
        if self.diags.has_errors() || !self.manifest.complete {
            return Err(self.diags);
        }
        project.ok_or(self.diags)
    }

    /// The class names of every entity's models, with the entity that owns each.
    fn models(&mut self) -> &BTreeMap<String, String> {
        if self.models.is_none() {
            let mut models = BTreeMap::new();
            let order = self.order();
            for &(kind, name, _) in &order {
                let class = &self.case.get(&name.value).pascal;
                let owner = format!("{} `{}`", kind.keyword(), name.value);
                for suffix in ["", "Input", "Output", "State"] {
                    models.insert(format!("{class}{suffix}"), owner.clone());
                }
            }
            self.order = Some(order);
            for agent in &self.manifest.agents {
                for event in &agent.events {
                    let class = format!("{}Event", self.case.get(&event.name.value).pascal);
                    models.insert(class, format!("agent `{}`", agent.name.value));
                }
            }
            self.models = Some(models);
        }
        self.models.get_or_insert_default()
    }

    /// The three spellings of `declared`.
    fn names(&mut self, declared: &str) -> Names {
        let spellings = self.case.get(declared);
        Names {
            declared: declared.to_owned(),
            class: spellings.pascal.clone(),
            module: spellings.snake.clone(),
        }
    }

    /// Every entity in declaration order, with its index in the manifest's list of its kind.
    fn all_entities(&self) -> Vec<(Kind, &'a Spanned<String>, usize)> {
        let manifest = self.manifest;
        let mut all = Vec::with_capacity(
            manifest.functions.len()
                + manifest.workflows.len()
                + manifest.agents.len()
                + manifest.pipelines.len()
                + manifest.tool_servers.len(),
        );
        let mut add = |kind, names: &mut dyn Iterator<Item = &'a Spanned<String>>| {
            all.extend(names.enumerate().map(|(index, name)| (kind, name, index)));
        };
        add(
            Kind::Function,
            &mut manifest.functions.iter().map(|it| &it.name),
        );
        add(
            Kind::Workflow,
            &mut manifest.workflows.iter().map(|it| &it.name),
        );
        add(Kind::Agent, &mut manifest.agents.iter().map(|it| &it.name));
        add(
            Kind::Pipeline,
            &mut manifest.pipelines.iter().map(|it| &it.name),
        );
        add(
            Kind::ToolServer,
            &mut manifest.tool_servers.iter().map(|it| &it.name),
        );
        all.sort_by_key(|(_, name, _)| name.span.start);
        all
    }

    // ---- whole-manifest name checks ----

    fn check_entity_names(&mut self) {
        if !self.same_names {
            self.check_declared_names();
        }
        let mut prompts: HashMap<&str, Range<usize>> = HashMap::new();
        for prompt in &self.manifest.prompts {
            if let Some(first) = prompts.get(prompt.name.value.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        prompt.name.span.clone(),
                        format!("prompt `{}` is declared twice", prompt.name.value),
                    )
                    .label("declared again here")
                    .related(first.clone(), "first declared here")
                    .help("give each prompt its own name; use `version=` for revisions"),
                );
            } else {
                prompts.insert(&prompt.name.value, prompt.name.span.clone());
            }
        }
    }

    /// Reports entity names declared twice and names that become the same module.
    fn check_declared_names(&mut self) {
        let before = self.diags.len();
        let order = self.order();
        // A name is declared twice when it is not where `entities` (first declaration wins) has
        // it.
        let mut first_of_module = Vec::with_capacity(order.len());
        for &(kind, name, index) in &order {
            let first = self.entities[name.value.as_str()];
            if (first.kind, first.index) != (kind, index) {
                let first = self.declared(first);
                self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        name.span.clone(),
                        format!("`{}` is declared twice", name.value),
                    )
                    .label(format!("{} declared again here", kind.keyword()))
                    .related(first.span.clone(), format!("first declared as a {}", first.kind.keyword()))
                    .help("functions, workflows, agents, pipelines and tool servers share one namespace"),
                );
                continue;
            }
            self.case.get(&name.value);
            first_of_module.push(name);
        }
        let mut by_module: HashMap<&str, &Spanned<String>> =
            HashMap::with_capacity(first_of_module.len());
        for name in first_of_module {
            let Some(spellings) = self.case.known(&name.value) else {
                debug_assert!(false, "every name was converted above");
                continue;
            };
            let module = spellings.snake.as_str();
            if let Some(first) = by_module.get(module) {
                self.diags.push(
                    Diagnostic::error(
                        Code::NameCollision,
                        name.span.clone(),
                        format!("`{}` collides with `{}`", name.value, first.value),
                    )
                    .label(format!("both become the module `{module}`"))
                    .related(
                        first.span.clone(),
                        format!("`{}` declared here", first.value),
                    )
                    .help("rename one of them"),
                );
                continue;
            }
            by_module.insert(module, name);
        }
        self.order = Some(order);
        self.names_clean = self.diags.len() == before;
    }

    // ---- references ----

    /// The entity declared as `name` (the first, if several), noted as read by the entity being
    /// lowered.
    fn entity(&mut self, name: &str) -> Option<Entity> {
        let entity = self.entities.get(name).map(|&it| self.declared(it));
        if let Some(deps) = &mut self.deps {
            deps.push(Dep::Kind(
                name.to_owned(),
                entity.as_ref().map(|it| it.kind),
            ));
        }
        entity
    }

    /// Resolves a `calls` entry to a function or workflow.
    fn callee(&mut self, name: &Spanned<String>) -> Option<Callee> {
        match self.entity(&name.value) {
            Some(Entity {
                kind: Kind::Function,
                ..
            }) => Some(Callee::Function(self.names(&name.value))),
            Some(Entity {
                kind: Kind::Workflow,
                ..
            }) => Some(Callee::Workflow(self.names(&name.value))),
            Some(Entity { kind, span, .. }) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::WrongReferenceKind,
                        name.span.clone(),
                        format!(
                            "`{}` is a {}, not a function or workflow",
                            name.value,
                            kind.keyword()
                        ),
                    )
                    .label("cannot be called")
                    .related(span, "declared here")
                    .help("`calls` names functions and workflows"),
                );
                None
            }
            None => {
                self.unknown_reference(
                    name,
                    &[Kind::Function, Kind::Workflow],
                    "function or workflow",
                );
                None
            }
        }
    }

    fn unknown_reference(&mut self, name: &Spanned<String>, kinds: &[Kind], what: &str) {
        let mut candidates: Vec<&str> = self
            .entities
            .iter()
            .filter(|(_, it)| kinds.contains(&it.kind))
            .map(|(name, _)| name.as_str())
            .collect();
        candidates.sort_unstable();
        let help =
            names::suggestion(&name.value, candidates.iter().copied()).unwrap_or_else(|| {
                if candidates.is_empty() {
                    format!("declare a {what} named `{}`", name.value)
                } else {
                    format!("declared: {}", candidates.join(", "))
                }
            });
        self.diags.push(
            Diagnostic::error(
                Code::UnknownReference,
                name.span.clone(),
                format!("no {what} named `{}`", name.value),
            )
            .label(format!("not a declared {what}"))
            .help(help),
        );
    }

    fn tool_server_ref(&mut self, name: &Spanned<String>) -> Option<Names> {
        match self.entity(&name.value) {
            Some(Entity {
                kind: Kind::ToolServer,
                ..
            }) => Some(self.names(&name.value)),
            Some(Entity { kind, span, .. }) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::WrongReferenceKind,
                        name.span.clone(),
                        format!(
                            "`{}` is a {}, not a tool-server",
                            name.value,
                            kind.keyword()
                        ),
                    )
                    .label("not a tool server")
                    .related(span, "declared here")
                    .help("`tools` names tool-server blocks"),
                );
                None
            }
            None => {
                self.unknown_reference(name, &[Kind::ToolServer], "tool-server");
                None
            }
        }
    }

    // ---- types ----

    fn ty(&mut self, ty: &Spanned<ast::Type>) -> Option<Type> {
        Some(match &ty.value {
            ast::Type::Str => Type::Str,
            ast::Type::Int => Type::Int,
            ast::Type::Float => Type::Float,
            ast::Type::Bool => Type::Bool,
            ast::Type::Bytes => Type::Bytes,
            ast::Type::Any => Type::Any,
            ast::Type::None => Type::None,
            ast::Type::List(it) => Type::List(Box::new(self.ty(it)?)),
            ast::Type::Dict(it) => Type::Dict(Box::new(self.ty(it)?)),
            ast::Type::Optional(it) => Type::Optional(Box::new(self.ty(it)?)),
            ast::Type::Named(name) => {
                if let Some(owner) = self.models().get(name).cloned() {
                    self.diags.push(
                        Diagnostic::error(
                            Code::EntityModelType,
                            ty.span.clone(),
                            format!("type `{name}` is a model of {owner}"),
                        )
                        .label("models stay local to their entity")
                        .help("declare the fields you need, or use `dict[str, Any]`"),
                    );
                } else {
                    let help = names::suggestion(name, types::BUILTIN_TYPES.iter().copied())
                        .unwrap_or_else(|| {
                            "types are str, int, float, bool, bytes, Any, None, list[T], dict[str, T] and T | None"
                                .to_owned()
                        });
                    self.diags.push(
                        Diagnostic::error(
                            Code::UnknownType,
                            ty.span.clone(),
                            format!("unknown type `{name}`"),
                        )
                        .label("not a supported type")
                        .help(help),
                    );
                }
                return None;
            }
        })
    }

    fn output(&mut self, output: Option<&Spanned<ast::Type>>) -> Type {
        output.and_then(|it| self.ty(it)).unwrap_or(Type::None)
    }

    fn fields(&mut self, fields: &[ast::Field]) -> Vec<Field> {
        fields
            .iter()
            .map(|field| Field {
                name: field.name.value.clone(),
                ty: field
                    .ty
                    .as_ref()
                    .and_then(|it| self.ty(it))
                    .unwrap_or(Type::Any),
                default: field.default.as_ref().map(|it| literal(&it.value)),
            })
            .collect()
    }

    // ---- policies ----

    fn defaults(&self) -> Policy {
        let builtin = Policy {
            timeout: Millis(BUILTIN_TIMEOUT),
            heartbeat: Millis(BUILTIN_HEARTBEAT),
            retry: Retry {
                attempts: BUILTIN_ATTEMPTS,
                initial: Millis(BUILTIN_INITIAL),
                backoff: BUILTIN_BACKOFF,
                max_interval: Millis(BUILTIN_MAX_INTERVAL),
            },
        };
        match &self.manifest.defaults {
            Some(defaults) => merge(&builtin, &defaults.policy),
            None => builtin,
        }
    }

    // ---- the project ----

    fn project(&mut self) -> Option<Project> {
        let manifest = self.manifest;
        let defaults = self.defaults();
        if self.ids.is_some() && self.kept.defaults.as_ref() != Some(&defaults) {
            self.kept.clear();
            self.kept.defaults = Some(defaults.clone());
        }
        let ids = self.ids;
        debug_assert!(
            ids.is_none_or(|ids| ids.functions.len() == manifest.functions.len()
                && ids.workflows.len() == manifest.workflows.len()
                && ids.agents.len() == manifest.agents.len()
                && ids.pipelines.len() == manifest.pipelines.len()
                && ids.tool_servers.len() == manifest.tool_servers.len()),
            "one node id per entity"
        );
        let mut functions = self.kept_all(
            &manifest.functions,
            ids.map(|ids| ids.functions.as_slice()),
            |kept| &mut kept.functions,
            &defaults,
            |this, it| Arc::new(this.function(it, &defaults)),
        );
        let mut workflows = self.kept_all(
            &manifest.workflows,
            ids.map(|ids| ids.workflows.as_slice()),
            |kept| &mut kept.workflows,
            &defaults,
            |this, it| Arc::new(this.workflow(it, &defaults)),
        );
        let mut agents = self.kept_all(
            &manifest.agents,
            ids.map(|ids| ids.agents.as_slice()),
            |kept| &mut kept.agents,
            &defaults,
            |this, it| Arc::new(this.agent(it, &defaults)),
        );
        let mut pipelines: Vec<Arc<Pipeline>> = self
            .kept_all(
                &manifest.pipelines,
                ids.map(|ids| ids.pipelines.as_slice()),
                |kept| &mut kept.pipelines,
                &defaults,
                |this, it| this.pipeline(it, &defaults).map(Arc::new),
            )
            .into_iter()
            .flatten()
            .collect();
        let mut tool_servers = self.kept_all(
            &manifest.tool_servers,
            ids.map(|ids| ids.tool_servers.as_slice()),
            |kept| &mut kept.tool_servers,
            &defaults,
            |this, it| Arc::new(this.tool_server(it)),
        );
        let llm = manifest.llm.as_ref().map(|it| self.llm(it));
        let mut prompts: Vec<Prompt> = manifest
            .prompts
            .iter()
            .filter_map(|it| self.prompt(it))
            .collect();

        self.sort_by_name(
            &mut functions,
            &mut workflows,
            &mut agents,
            &mut pipelines,
            &mut tool_servers,
        );
        prompts.sort_by(|a, b| a.name.cmp(&b.name));

        let project = manifest.project.as_ref()?;
        let text = |it: &Option<Spanned<String>>, default: &str| {
            it.as_ref()
                .map_or_else(|| default.to_owned(), |it| it.value.clone())
        };
        let engine = project.engine.as_ref();
        Some(Project {
            name: project.name.value.clone(),
            package: text(&project.package, &self.case.get(&project.name.value).snake),
            python: text(&project.python, DEFAULT_PYTHON),
            task_queue: text(&project.task_queue, DEFAULT_TASK_QUEUE),
            restack_ai: text(&project.restack_ai, DEFAULT_RESTACK_AI),
            engine: Engine {
                address: text(&engine.and_then(|it| it.address.clone()), DEFAULT_ADDRESS),
                api_address: text(
                    &engine.and_then(|it| it.api_address.clone()),
                    DEFAULT_API_ADDRESS,
                ),
            },
            defaults,
            functions,
            workflows,
            agents,
            pipelines,
            tool_servers,
            llm,
            prompts,
            origin: origin("project", &project.name.value, &project.span),
        })
    }

    /// Sorts each kind's entities by name (see [`sort_by_name`]).
    fn sort_by_name(
        &mut self,
        functions: &mut Vec<Arc<Function>>,
        workflows: &mut Vec<Arc<Workflow>>,
        agents: &mut Vec<Arc<Agent>>,
        pipelines: &mut Vec<Arc<Pipeline>>,
        tool_servers: &mut Vec<Arc<ToolServer>>,
    ) {
        let mut declared = self.declared.take().unwrap_or_default();
        let same = self.same_names;
        let orders = &mut declared.orders;
        sort_by_name(functions, &mut orders.functions, same, |it| &it.names);
        sort_by_name(workflows, &mut orders.workflows, same, |it| &it.names);
        sort_by_name(agents, &mut orders.agents, same, |it| &it.names);
        // A pipeline that did not lower leaves a gap, which its order does not know.
        let whole = pipelines.len() == self.manifest.pipelines.len();
        sort_by_name(pipelines, &mut orders.pipelines, same && whole, |it| {
            &it.names
        });
        if !whole {
            orders.pipelines = None;
        }
        sort_by_name(tool_servers, &mut orders.tool_servers, same, |it| &it.names);
        self.declared = Some(declared);
    }

    /// Every node of one kind (`nodes`, with their `ids` when entities are kept) lowered by
    /// `lower` through [`Lowerer::kept`], in order.
    fn kept_all<N: EntityNode, T: Keep>(
        &mut self,
        nodes: &'a [Arc<N>],
        ids: Option<&[u64]>,
        by_id: fn(&mut Kept) -> &mut ById<T>,
        defaults: &Policy,
        mut lower: impl FnMut(&mut Self, &'a N) -> T,
    ) -> Vec<T> {
        nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let id = ids.map(|ids| ids[index]);
                self.kept(by_id, id, node.start(), defaults, |this| lower(this, node))
            })
            .collect()
    }

    /// `lower` of the entity whose node has `id` and starts at `start`, or, when its node was
    /// lowered before and what that read (see [`Dep`]) is unchanged, the entity kept then (see
    /// [`LowerCache`]). Keeps what `lower` makes when it reports nothing, with its fingerprint
    /// (see [`Fingerprint`]), so that a kept entity is reused with it.
    fn kept<T: Keep>(
        &mut self,
        by_id: fn(&mut Kept) -> &mut ById<T>,
        id: Option<u64>,
        start: usize,
        defaults: &Policy,
        lower: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let Some(id) = id else {
            return lower(self);
        };
        let run = self.kept.run;
        if let Some(entry) = by_id(&mut self.kept).get_mut(&id)
            && entry.deps.iter().all(|dep| {
                holds(
                    dep,
                    &self.entities,
                    self.same_names,
                    self.manifest,
                    defaults,
                )
            })
        {
            entry.run = run;
            return entry.at(start);
        }
        let before = self.diags.len();
        self.deps = Some(Vec::new());
        let lowered = lower(self);
        let deps = self.deps.take().unwrap_or_default();
        if self.diags.len() == before {
            lowered.fingerprint();
            let entry = Entry {
                at: start,
                deps,
                lowered: lowered.clone(),
                run,
            };
            by_id(&mut self.kept).insert(id, entry);
        }
        lowered
    }

    fn function(&mut self, function: &ast::Function, defaults: &Policy) -> Function {
        Function {
            names: self.names(&function.name.value),
            doc: function.doc.as_ref().map(|doc| doc.value.clone()),
            input: self.fields(&function.input),
            output: self.output(function.output.as_ref()),
            policy: merge(defaults, &function.policy),
            origin: origin("function", &function.name.value, &function.span),
            fingerprint: Fingerprint::default(),
        }
    }

    fn workflow(&mut self, workflow: &ast::Workflow, defaults: &Policy) -> Workflow {
        Workflow {
            names: self.names(&workflow.name.value),
            doc: workflow.doc.as_ref().map(|doc| doc.value.clone()),
            input: self.fields(&workflow.input),
            output: self.output(workflow.output.as_ref()),
            calls: workflow
                .calls
                .iter()
                .filter_map(|name| self.callee(name))
                .collect(),
            policy: merge(defaults, &workflow.policy),
            origin: origin("workflow", &workflow.name.value, &workflow.span),
            fingerprint: Fingerprint::default(),
        }
    }

    fn tool_server(&mut self, server: &ast::ToolServer) -> ToolServer {
        ToolServer {
            names: self.names(&server.name.value),
            doc: server.doc.as_ref().map(|doc| doc.value.clone()),
            transport: match server.transport.as_ref().map(|t| t.value) {
                None | Some(ast::Transport::Stdio) => Transport::Stdio,
                Some(ast::Transport::Http) => Transport::Http,
                Some(ast::Transport::Sse) => Transport::Sse,
            },
            autostart: server.autostart.as_ref().is_none_or(|a| a.value),
            tools: server
                .tools
                .iter()
                .map(|tool| Tool {
                    name: tool.name.value.clone(),
                    doc: tool.doc.as_ref().map(|doc| doc.value.clone()),
                    params: self.fields(&tool.params),
                    returns: self.output(tool.returns.as_ref()),
                })
                .collect(),
            origin: origin("tool-server", &server.name.value, &server.span),
            fingerprint: Fingerprint::default(),
        }
    }

    fn agent(&mut self, agent: &ast::Agent, defaults: &Policy) -> Agent {
        if agent.llm.is_some()
            && let Some(deps) = &mut self.deps
        {
            deps.push(Dep::Llm);
        }
        if let Some(llm) = &agent.llm
            && self.manifest.llm.is_none()
        {
            self.diags.push(
                    Diagnostic::error(
                        Code::MissingLlm,
                        llm.span.clone(),
                        format!("agent `{}` uses the LLM router but there is no `llm` block", agent.name.value),
                    )
                    .label("needs a top-level `llm { … }` block")
                    .help("add `llm { provider \"openai\" model=\"gpt-4o-mini\" key-env=\"OPENAI_API_KEY\" }`"),
                );
        }
        Agent {
            names: self.names(&agent.name.value),
            doc: agent.doc.as_ref().map(|doc| doc.value.clone()),
            state: self.fields(&agent.state),
            events: agent
                .events
                .iter()
                .map(|event| Event {
                    name: event.name.value.clone(),
                    class: format!("{}Event", self.case.get(&event.name.value).pascal),
                    fields: self.fields(&event.fields),
                })
                .collect(),
            calls: agent
                .calls
                .iter()
                .filter_map(|name| self.callee(name))
                .collect(),
            llm: agent.llm.is_some(),
            tools: agent
                .tools
                .iter()
                .filter_map(|name| self.tool_server_ref(name))
                .collect(),
            policy: merge(defaults, &agent.policy),
            origin: origin("agent", &agent.name.value, &agent.span),
            fingerprint: Fingerprint::default(),
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the pipeline checks share the walked steps and bindings"
    )]
    fn pipeline(&mut self, pipeline: &ast::Pipeline, defaults: &Policy) -> Option<Pipeline> {
        let operators = pipeline.operators.as_ref()?;
        let mut walked = Vec::new();
        walk(&operators.tree, false, &mut walked);
        // A repeated step is the operator parser's `duplicate-step`; keep its first occurrence.
        let mut seen_tokens = Vec::new();
        walked.retain(|it| {
            let new = !seen_tokens.contains(&it.step.name);
            seen_tokens.push(it.step.name.clone());
            new
        });
        let tokens: Vec<&str> = walked.iter().map(|it| it.step.name.as_str()).collect();
        let pipeline_name = &pipeline.name.value;

        // `map`, `when` and `step` name tokens of the operator string.
        let known = |step: &Spanned<String>, what: &str, diags: &mut Diagnostics| -> bool {
            if tokens.contains(&step.value.as_str()) {
                return true;
            }
            let help =
                names::suggestion(&step.value, tokens.iter().copied()).unwrap_or_else(|| {
                    format!("the steps of `{pipeline_name}` are: {}", tokens.join(", "))
                });
            diags.push(
                Diagnostic::error(
                    Code::UnknownStep,
                    step.span.clone(),
                    format!(
                        "`{what}` names step `{}`, which is not in the operator string",
                        step.value
                    ),
                )
                .label("not a step of this pipeline")
                .related(operators.span.clone(), "the operator string")
                .help(help),
            );
            false
        };
        let mut diags = Diagnostics::new();
        let maps: Vec<&ast::Map> = pipeline
            .maps
            .iter()
            .filter(|it| known(&it.step, "map", &mut diags))
            .collect();
        let whens: Vec<&ast::When> = pipeline
            .whens
            .iter()
            .filter(|it| known(&it.step, "when", &mut diags))
            .collect();
        let overrides: Vec<&ast::StepOverride> = pipeline
            .steps
            .iter()
            .filter(|it| known(&it.step, "step", &mut diags))
            .collect();
        self.diags.extend(diags);

        for when in &whens {
            let Some(walked_step) = walked.iter().find(|it| it.step.name == when.step.value) else {
                continue;
            };
            if !walked_step.conditional {
                let first_conditional: Vec<&str> = walked
                    .iter()
                    .filter(|it| it.conditional)
                    .map(|it| it.step.name.as_str())
                    .collect();
                let help = if first_conditional.is_empty() {
                    format!(
                        "put `{}` behind `→?` (or `->?`), or remove this `when`",
                        when.step.value
                    )
                } else {
                    format!(
                        "a `when` names the first step of a stage entered through `→?`: {}",
                        first_conditional.join(", ")
                    )
                };
                self.diags.push(
                    Diagnostic::error(
                        Code::UnconditionalWhen,
                        when.step.span.clone(),
                        format!("step `{}` is not entered through `→?`", when.step.value),
                    )
                    .label("this condition would never run")
                    .related(
                        walked_step.step.span.clone(),
                        "the step in the operator string",
                    )
                    .help(help),
                );
            }
        }

        let pipeline_policy = &pipeline.policy;
        let mut steps = Vec::new();
        let mut modules: HashMap<String, (String, Range<usize>)> = HashMap::new();
        for walked_step in &walked {
            let token = &walked_step.step.name;
            let map = maps.iter().find(|it| &it.step.value == token);
            let (target, entity_policy) = match map {
                Some(map) => self.step_target(map, pipeline)?,
                None => (StepTarget::Scaffold(self.names(token)), None),
            };
            if let StepTarget::Scaffold(scaffold) = &target {
                let span = map.map_or(walked_step.step.span.clone(), |it| it.target.span.clone());
                if names::is_reserved_spelling(&scaffold.declared, &scaffold.module) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::ReservedName,
                            span.clone(),
                            format!(
                                "step `{}` would be scaffolded as the reserved name `{}`",
                                token, scaffold.module
                            ),
                        )
                        .label(format!(
                            "`{}` is {}",
                            scaffold.module,
                            names::reserved_reason(&scaffold.declared)
                        ))
                        .help("rename the step, or bind it to another name with `map`"),
                    );
                }
                if let Some((other, first)) = modules.get(&scaffold.module) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::NameCollision,
                            span.clone(),
                            format!("step `{token}` collides with step `{other}`"),
                        )
                        .label(format!("both are scaffolded as `{}`", scaffold.module))
                        .related(first.clone(), format!("`{other}` here"))
                        .help("map one of them to another name"),
                    );
                } else {
                    modules.insert(scaffold.module.clone(), (token.clone(), span));
                }
            }
            let mut policy = step_start(defaults, entity_policy);
            if let (Some(map), Some(deps)) = (map, &mut self.deps) {
                deps.push(Dep::StepPolicy(map.target.value.clone(), policy.clone()));
            }
            policy = merge(&policy, pipeline_policy);
            if let Some(step_override) = overrides.iter().find(|it| &it.step.value == token) {
                if let Some(it) = &step_override.timeout {
                    policy.timeout = Millis(it.value);
                }
                if let Some(it) = &step_override.heartbeat {
                    policy.heartbeat = Millis(it.value);
                }
                if let Some(it) = &step_override.retry_attempts {
                    policy.retry.attempts = it.value;
                }
            }
            let condition = walked_step.conditional.then(|| {
                whens.iter().find(|it| &it.step.value == token).map_or_else(
                    || format!("should_{}", self.case.get(token).snake),
                    |it| it.condition.value.clone(),
                )
            });
            steps.push(Step {
                names: self.names(token),
                target,
                condition,
                policy,
            });
        }
        Some(Pipeline {
            names: self.names(pipeline_name),
            doc: pipeline.doc.as_ref().map(|doc| doc.value.clone()),
            style: match pipeline.style.as_ref().map(|it| it.value) {
                None | Some(ast::Style::Subworkflows) => Style::Subworkflows,
                Some(ast::Style::Functions) => Style::Functions,
            },
            max_loops: pipeline
                .max_loops
                .as_ref()
                .map_or(DEFAULT_MAX_LOOPS, |it| it.value),
            continue_as_new_after: pipeline.continue_as_new_after.as_ref().map(|it| it.value),
            operators: operators.text.clone(),
            tree: operators.tree.clone(),
            steps,
            origin: origin("pipeline", pipeline_name, &pipeline.span),
            fingerprint: Fingerprint::default(),
        })
    }

    /// What a `map` binds its step to, and that entity's own policy.
    fn step_target(
        &mut self,
        map: &ast::Map,
        pipeline: &ast::Pipeline,
    ) -> Option<(StepTarget, Option<&'a ast::Policy>)> {
        let target = &map.target;
        let manifest = self.manifest;
        // The entity of a name is the first declared with it, so it is also the first of its
        // kind with that name.
        match self.entity(&target.value) {
            Some(
                entity @ Entity {
                    kind: Kind::Function,
                    ..
                },
            ) => {
                let policy = own_policy(manifest, entity.kind, entity.index);
                Some((StepTarget::Function(self.names(&target.value)), policy))
            }
            Some(
                entity @ Entity {
                    kind: Kind::Workflow,
                    ..
                },
            ) => {
                let policy = own_policy(manifest, entity.kind, entity.index);
                Some((StepTarget::Workflow(self.names(&target.value)), policy))
            }
            Some(Entity { kind, span, .. }) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::WrongReferenceKind,
                        target.span.clone(),
                        format!("`{}` is a {}, not a function or workflow", target.value, kind.keyword()),
                    )
                    .label("a step cannot run this")
                    .related(span, "declared here")
                    .help("`map` binds a step to a function, a workflow, or a new PascalCase name to scaffold"),
                );
                None
            }
            None => {
                if !names::is_pascal_case(&target.value) || names::has_path(&target.value) {
                    self.diags.push(
                        Diagnostic::error(
                            Code::InvalidEntityName,
                            target.span.clone(),
                            format!(
                                "step target `{}` in pipeline `{}` is not PascalCase",
                                target.value, pipeline.name.value
                            ),
                        )
                        .label("not a PascalCase identifier")
                        .help(format!(
                            "write it in PascalCase: `{}`",
                            names::pascal(&target.value)
                        )),
                    );
                    return None;
                }
                Some((StepTarget::Scaffold(self.names(&target.value)), None))
            }
        }
    }

    fn llm(&mut self, llm: &ast::Llm) -> Llm {
        let backend = match llm.backend.as_ref().map(|it| it.value) {
            Some(ast::Backend::Kong) => {
                let url = llm.kong.as_ref().and_then(|it| it.url.as_ref());
                if url.is_none() {
                    let span = llm
                        .kong
                        .as_ref()
                        .map(|it| it.span.clone())
                        .or_else(|| llm.backend.as_ref().map(|it| it.span.clone()))
                        .unwrap_or_else(|| llm.span.clone());
                    self.diags.push(
                        Diagnostic::error(Code::MissingKongUrl, span, "`backend \"kong\"` needs `kong url=`")
                            .label("no gateway address")
                            .help("add `kong url=\"https://…\" key-env=\"KONG_API_KEY\"` to the llm block"),
                    );
                }
                Backend::Kong {
                    url: url.map(|it| it.value.clone()).unwrap_or_default(),
                    key_env: llm
                        .kong
                        .as_ref()
                        .and_then(|it| it.key_env.as_ref())
                        .map_or_else(|| "KONG_API_KEY".to_owned(), |it| it.value.clone()),
                }
            }
            _ => Backend::Direct,
        };
        let mut providers: Vec<Provider> = llm
            .providers
            .iter()
            .enumerate()
            .map(|(index, it)| Provider {
                name: it.name.value.clone(),
                model: it
                    .model
                    .as_ref()
                    .map(|m| m.value.clone())
                    .unwrap_or_default(),
                key_env: it.key_env.as_ref().map_or_else(
                    || format!("{}_API_KEY", it.name.value.to_uppercase().replace('-', "_")),
                    |k| k.value.clone(),
                ),
                priority: it
                    .priority
                    .as_ref()
                    .map_or_else(|| u32::try_from(index + 1).unwrap_or(u32::MAX), |p| p.value),
            })
            .collect();
        providers.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        let fallback = llm.fallback.as_ref().map_or_else(
            || {
                vec![
                    Fallback::Timeout,
                    Fallback::ServerError,
                    Fallback::RateLimit,
                ]
            },
            |list| {
                list.iter()
                    .map(|it| match it.value {
                        ast::Fallback::Timeout => Fallback::Timeout,
                        ast::Fallback::ServerError => Fallback::ServerError,
                        ast::Fallback::RateLimit => Fallback::RateLimit,
                    })
                    .collect()
            },
        );
        let breaker = llm.circuit_breaker.as_ref();
        Llm {
            backend,
            providers,
            fallback,
            circuit_breaker: CircuitBreaker {
                failures: breaker
                    .and_then(|it| it.failures.as_ref())
                    .map_or(5, |it| it.value),
                cooldown: Millis(
                    breaker
                        .and_then(|it| it.cooldown.as_ref())
                        .map_or(60_000, |it| it.value),
                ),
            },
            origin: Origin {
                entity: "llm".to_owned(),
                span: (llm.span.start, llm.span.end),
            },
        }
    }

    fn prompt(&mut self, prompt: &ast::Prompt) -> Option<Prompt> {
        let text = prompt.text.as_ref()?;
        for var in &prompt.vars {
            if !prompt.placeholders.iter().any(|it| it.value == var.value) {
                self.diags.push(
                    Diagnostic::error(
                        Code::UnusedVariable,
                        var.span.clone(),
                        format!(
                            "var `{}` is not used by the text of prompt `{}`",
                            var.value, prompt.name.value
                        ),
                    )
                    .label("never used")
                    .related(text.span.clone(), "the prompt text")
                    .help(format!(
                        "use it as `{{{{ {} }}}}` in the text, or remove the var",
                        var.value
                    )),
                );
            }
        }
        for placeholder in &prompt.placeholders {
            if !prompt.vars.iter().any(|it| it.value == placeholder.value) {
                let help = names::suggestion(
                    &placeholder.value,
                    prompt.vars.iter().map(|it| it.value.as_str()),
                )
                .unwrap_or_else(|| format!("declare it with `var \"{}\"`", placeholder.value));
                self.diags.push(
                    Diagnostic::error(
                        Code::UndeclaredPlaceholder,
                        placeholder.span.clone(),
                        format!("placeholder `{}` has no `var`", placeholder.value),
                    )
                    .label("not declared")
                    .help(help),
                );
            }
        }
        Some(Prompt {
            name: prompt.name.value.clone(),
            version: prompt
                .version
                .as_ref()
                .map_or_else(|| "1.0.0".to_owned(), |it| it.value.clone()),
            vars: prompt.vars.iter().map(|it| it.value.clone()).collect(),
            text: text.value.clone(),
            origin: origin("prompt", &prompt.name.value, &prompt.span),
        })
    }
}

/// The policy the function or workflow `entity` declares (`None` for another kind).
fn own_policy(manifest: &Manifest, kind: Kind, index: usize) -> Option<&ast::Policy> {
    match kind {
        Kind::Function => manifest.functions.get(index).map(|it| &it.policy),
        Kind::Workflow => manifest.workflows.get(index).map(|it| &it.policy),
        _ => None,
    }
}

/// The name of the entity of `kind` at `index` in the manifest's list of its kind.
pub(super) fn entity_name(
    manifest: &Manifest,
    kind: Kind,
    index: usize,
) -> Option<&Spanned<String>> {
    match kind {
        Kind::Function => manifest.functions.get(index).map(|it| &it.name),
        Kind::Workflow => manifest.workflows.get(index).map(|it| &it.name),
        Kind::Agent => manifest.agents.get(index).map(|it| &it.name),
        Kind::Pipeline => manifest.pipelines.get(index).map(|it| &it.name),
        Kind::ToolServer => manifest.tool_servers.get(index).map(|it| &it.name),
    }
}

/// Sorts `items` (one per entity of a kind, in declaration order) by declared name, as a stable
/// sort does. `order` is the permutation of the last sort: reused when `same` (the same names in
/// the same places), so the names are not compared; made again and kept otherwise.
fn sort_by_name<T>(
    items: &mut Vec<T>,
    order: &mut Option<Vec<usize>>,
    same: bool,
    names: impl Fn(&T) -> &Names,
) {
    let reuse = same && order.as_ref().is_some_and(|it| it.len() == items.len());
    if !reuse {
        let mut made: Vec<usize> = (0..items.len()).collect();
        made.sort_by(|&a, &b| names(&items[a]).declared.cmp(&names(&items[b]).declared));
        *order = Some(made);
    }
    let Some(order) = order.as_deref() else {
        return;
    };
    if order.iter().enumerate().all(|(at, &it)| it == at) {
        return;
    }
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.iter().filter_map(|&it| slots[it].take()));
    debug_assert_eq!(items.len(), slots.len(), "an order is a permutation");
}

/// The policy a step bound by `map` starts from: `defaults` merged with the bound function's or
/// workflow's `own` policy.
fn step_start(defaults: &Policy, own: Option<&ast::Policy>) -> Policy {
    match own {
        Some(it) => merge(defaults, it),
        None => defaults.clone(),
    }
}

/// The node of a function, workflow, agent, pipeline or tool server: where it starts.
trait EntityNode {
    fn start(&self) -> usize;
}

macro_rules! entity_nodes {
    ($($node:ty),*) => {
        $(impl EntityNode for $node {
            fn start(&self) -> usize {
                self.span.start
            }
        })*
    };
}

entity_nodes!(
    ast::Function,
    ast::Workflow,
    ast::Agent,
    ast::Pipeline,
    ast::ToolServer
);

/// Whether what an entity's lowering read (`dep`) reads the same in `manifest`, whose entities
/// by name are `entities`, with `defaults`.
fn holds(
    dep: &Dep,
    entities: &HashMap<String, Declaration>,
    same_names: bool,
    manifest: &Manifest,
    defaults: &Policy,
) -> bool {
    match dep {
        // Every kept entity was lowered or checked last run, against the same names.
        Dep::Kind(..) if same_names => true,
        Dep::Kind(name, kind) => entities.get(name.as_str()).map(|it| it.kind) == *kind,
        Dep::StepPolicy(name, policy) => {
            let own = entities
                .get(name.as_str())
                .and_then(|it| own_policy(manifest, it.kind, it.index));
            step_start(defaults, own) == *policy
        }
        Dep::Llm => manifest.llm.is_some(),
    }
}

/// One step of an operator tree, with whether it is the first step of a stage entered by `→?`.
struct Walked<'t> {
    step: &'t operators::Step,
    conditional: bool,
}

/// Collects the steps of a tree in order of occurrence. `conditional` is whether the tree's first
/// stage is gated by the `→?` that entered the enclosing unit.
fn walk<'t>(tree: &'t operators::Pipeline, conditional: bool, out: &mut Vec<Walked<'t>>) {
    for (index, stage) in tree.stages.iter().enumerate() {
        let gated = stage.entry == operators::Entry::If || (index == 0 && conditional);
        match &stage.body {
            operators::StageBody::Loop { a, b } => {
                out.push(Walked {
                    step: a,
                    conditional: gated,
                });
                out.push(Walked {
                    step: b,
                    conditional: false,
                });
            }
            operators::StageBody::Group { units } => {
                for (unit_index, unit) in units.iter().enumerate() {
                    let lead = gated && unit_index == 0;
                    match unit {
                        operators::Unit::Step(step) => out.push(Walked {
                            step,
                            conditional: lead,
                        }),
                        operators::Unit::Nested { pipeline } => walk(pipeline, lead, out),
                    }
                }
            }
        }
    }
}

/// `over` applied on top of `base`.
fn merge(base: &Policy, over: &ast::Policy) -> Policy {
    let mut policy = base.clone();
    if let Some(it) = &over.timeout {
        policy.timeout = Millis(it.value);
    }
    if let Some(it) = &over.heartbeat {
        policy.heartbeat = Millis(it.value);
    }
    if let Some(retry) = &over.retry {
        if let Some(it) = &retry.attempts {
            policy.retry.attempts = it.value;
        }
        if let Some(it) = &retry.initial {
            policy.retry.initial = Millis(it.value);
        }
        if let Some(it) = &retry.backoff {
            policy.retry.backoff = it.value;
        }
        if let Some(it) = &retry.max_interval {
            policy.retry.max_interval = Millis(it.value);
        }
    }
    policy
}

fn literal(value: &ast::Value) -> Literal {
    match value {
        ast::Value::Str(it) => Literal::Str(it.clone()),
        ast::Value::Int(it) => {
            debug_assert!(
                i64::try_from(*it).is_ok(),
                "the decoder keeps integer defaults in i64"
            );
            Literal::Int(i64::try_from(*it).unwrap_or_default())
        }
        ast::Value::Float(it) => Literal::Float(*it),
        ast::Value::Bool(it) => Literal::Bool(*it),
        ast::Value::Null => Literal::None,
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::analyze;
    use crate::ir::{Callee, Fallback, Millis, Project, StepTarget};

    fn lower_text(text: &str) -> Project {
        let analysis = analyze("restack.kdl", text.as_bytes());
        assert!(
            analysis.diagnostics.is_empty(),
            "{:#?}",
            analysis.diagnostics
        );
        analysis.project.expect("a valid manifest lowers")
    }

    #[test]
    fn the_example() {
        let project = lower_text(include_str!("../../restack.kdl.example"));
        assert_eq!(project.package, "blog");
        assert_eq!(project.engine.api_address, "localhost:6233");

        let send = &project.functions[0];
        assert_eq!(send.names.module, "send_email");
        assert_eq!(send.policy.timeout, Millis(30_000));
        assert_eq!(send.policy.retry.attempts, 5);
        assert_eq!(send.policy.retry.max_interval, Millis(60_000));
        assert_eq!(
            send.input[2]
                .default
                .as_ref()
                .map(super::super::Literal::python),
            Some("\"\"".to_owned())
        );

        let agent = &project.agents[0];
        assert_eq!(agent.events[0].class, "UserSignedUpEvent");
        assert!(matches!(&agent.calls[1], Callee::Workflow(it) if it.module == "email_campaign"));
        assert_eq!(agent.tools[0].declared, "Research");

        let pipeline = &project.pipelines[0];
        let names: Vec<&str> = pipeline
            .steps
            .iter()
            .map(|it| it.names.declared.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "IDEATE",
                "RESEARCH",
                "PLAN",
                "OUTLINE",
                "DRAFT",
                "REVIEW",
                "POLISH",
                "PUBLISH",
                "PROMOTE",
                "REPURPOSE"
            ]
        );
        assert!(
            matches!(&pipeline.steps[0].target, StepTarget::Scaffold(it) if it.module == "brainstorm_ideas")
        );
        let draft = &pipeline.steps[4];
        assert_eq!(
            (
                draft.names.class.as_str(),
                draft.policy.timeout,
                draft.policy.retry.attempts
            ),
            ("Draft", Millis(600_000), 5)
        );
        assert_eq!(
            pipeline.steps[9].condition.as_deref(),
            Some("should_repurpose")
        );
        assert!(pipeline.steps[..9].iter().all(|it| it.condition.is_none()));
        assert_eq!(pipeline.continue_as_new_after, Some(200));

        let llm = project.llm.as_ref().expect("llm block");
        assert_eq!(llm.providers[0].name, "openai");
        assert_eq!(
            llm.fallback,
            [
                Fallback::Timeout,
                Fallback::ServerError,
                Fallback::RateLimit
            ]
        );
        assert_eq!(project.prompts[0].vars, ["article", "sentences"]);
    }

    #[test]
    fn defaults_and_bindings() {
        let project = lower_text(
            r#"project "My Blog"
function "Publish" { timeout "1m" }
pipeline "P" {
    operators "A -> (B + C) ->? (D -> E) ->? F"
    map "B" "Publish"
    when "F" "ready"
    timeout "2m"
}
llm {
    provider "b" model="m" priority=2
    provider "a" model="m" priority=2
    provider "z" model="m" priority=1
}
"#,
        );
        assert_eq!(project.package, "my_blog");
        assert_eq!(project.defaults.timeout, Millis(300_000));
        assert_eq!(project.defaults.heartbeat, Millis(30_000));
        let steps = &project.pipelines[0].steps;
        assert!(matches!(&steps[1].target, StepTarget::Function(it) if it.declared == "Publish"));
        // built-in < entity < pipeline: the pipeline's timeout wins over the function's.
        assert_eq!(steps[1].policy.timeout, Millis(120_000));
        let conditions: Vec<Option<&str>> =
            steps.iter().map(|it| it.condition.as_deref()).collect();
        assert_eq!(
            conditions,
            [None, None, None, Some("should_d"), None, Some("ready")]
        );
        let providers: Vec<&str> = project
            .llm
            .as_ref()
            .expect("llm")
            .providers
            .iter()
            .map(|it| it.name.as_str())
            .collect();
        assert_eq!(providers, ["z", "a", "b"]);
        assert_eq!(
            project.llm.as_ref().expect("llm").providers[0].key_env,
            "Z_API_KEY"
        );
    }
}
