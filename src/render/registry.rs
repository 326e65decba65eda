//! What the generated service registers: one [`Registration`] per Python symbol. Each rendering
//! area lists its own; `core` renders them all into the managed `src/<package>/registry.py`,
//! which `service.py` and the generated tests import. Holds no rendering logic.

use serde::Serialize;

use crate::ir;

/// Which list of `registry.py` a symbol goes into (the `start_service` keyword it feeds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `@agent.defn()` classes: `AGENTS`.
    Agent,
    /// `@workflow.defn()` classes: `WORKFLOWS` (pipeline orchestrators and step workflows too).
    Workflow,
    /// `@function.defn()` callables: `FUNCTIONS` (pipeline step and condition functions too).
    Function,
    /// A callable taking no arguments that returns an async context manager; `service.py` enters
    /// each around the running service (e.g. starting and stopping tool servers): `LIFESPANS`.
    Lifespan,
}

/// One symbol to import and register, e.g. `from blog.functions.send_email import send_email`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Registration {
    pub role: Role,
    /// Dotted module path, including the package: `blog.functions.send_email`.
    pub module: String,
    /// The symbol in that module: `send_email`, `EmailCampaign`.
    pub symbol: String,
    /// The name the engine knows it by (`@function.defn(name=…)`); also its local name in
    /// `registry.py`, where it is imported `as` this name when it differs from `symbol`, so that
    /// equal symbols of different modules (two pipelines' `draft` steps) never shadow each other.
    pub name: String,
}

impl Registration {
    pub fn new(role: Role, module: impl Into<String>, symbol: impl Into<String>) -> Self {
        let symbol = symbol.into();
        Registration {
            role,
            module: module.into(),
            name: symbol.clone(),
            symbol,
        }
    }

    /// The same symbol, registered (and imported) under `name`.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

/// A named step policy in `common/retries.py`, e.g. `FUNCTION_SEND_EMAIL`: a `StepPolicy` with
/// the timeout, heartbeat and retry policy, whose `step_kwargs()` feed `workflow.step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyConstant {
    /// UPPER_SNAKE Python name, unique across areas (prefix it with the entity kind).
    pub name: String,
    /// One line saying what the policy applies to.
    pub comment: String,
    pub policy: ir::Policy,
}
