//! Moving every span of a decoded node by a fixed number of bytes.
//!
//! `watch` keeps the decode of each top-level slice of the manifest with spans relative to the
//! slice (see `decode::ParseCache`); reusing it where the slice now sits means adding the slice's
//! offset to every span, in the AST and in the diagnostics alike. Every impl destructures its type
//! without `..`, so a span field added to the AST does not compile until it is shifted here too.
//! Shifting is all this module does: no checks, no other change of a value.

use std::ops::Range;
use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::manifest::ast::{
    Agent, CircuitBreaker, Defaults, Engine, Event, Field, Function, Kong, Llm, Map, Operators,
    Pipeline, Policy, Project, Prompt, Provider, Retry, Spanned, StepOverride, Tool, ToolServer,
    Type, When, Workflow,
};
use crate::operators;

/// A value whose byte spans can be moved: `shift(by)` adds `by` to every span in it, modulo
/// 2^64, so [`shift_by`]`(from, to)` moves spans back as well as forward.
pub(crate) trait Shift {
    fn shift(&mut self, by: usize);
}

/// What [`Shift::shift`] takes to move spans that start at `from` to start at `to` (an offset
/// that wraps when `to < from`; every shifted span ends where it should).
pub(crate) fn shift_by(from: usize, to: usize) -> usize {
    to.wrapping_sub(from)
}

impl Shift for Range<usize> {
    fn shift(&mut self, by: usize) {
        self.start = self.start.wrapping_add(by);
        self.end = self.end.wrapping_add(by);
    }
}

/// A shared node is shifted in place when nothing else holds it, and copied first otherwise.
impl<T: Shift + Clone> Shift for Arc<T> {
    fn shift(&mut self, by: usize) {
        Arc::make_mut(self).shift(by);
    }
}

impl<T: Shift> Shift for Option<T> {
    fn shift(&mut self, by: usize) {
        if let Some(it) = self {
            it.shift(by);
        }
    }
}

impl<T: Shift> Shift for Vec<T> {
    fn shift(&mut self, by: usize) {
        for it in self {
            it.shift(by);
        }
    }
}

impl<T: Shift> Shift for Box<T> {
    fn shift(&mut self, by: usize) {
        (**self).shift(by);
    }
}

impl<T: Shift> Shift for Spanned<T> {
    fn shift(&mut self, by: usize) {
        let Spanned { value, span } = self;
        value.shift(by);
        span.shift(by);
    }
}

/// Values that hold no span.
macro_rules! no_spans {
    ($($ty:ty),* $(,)?) => {
        $(impl Shift for $ty {
            fn shift(&mut self, _by: usize) {}
        })*
    };
}

no_spans!(
    String,
    bool,
    u32,
    u64,
    f64,
    crate::manifest::ast::Value,
    crate::manifest::ast::Style,
    crate::manifest::ast::Transport,
    crate::manifest::ast::Backend,
    crate::manifest::ast::Fallback,
);

impl Shift for Type {
    fn shift(&mut self, by: usize) {
        match self {
            Type::List(it) | Type::Dict(it) | Type::Optional(it) => it.shift(by),
            Type::Str
            | Type::Int
            | Type::Float
            | Type::Bool
            | Type::Bytes
            | Type::Any
            | Type::None
            | Type::Named(_) => {}
        }
    }
}

impl Shift for Diagnostic {
    fn shift(&mut self, by: usize) {
        let Diagnostic {
            code: _,
            severity: _,
            message: _,
            span,
            label: _,
            help: _,
            related,
        } = self;
        span.shift(by);
        for (span, _) in related {
            span.shift(by);
        }
    }
}

impl Shift for Project {
    fn shift(&mut self, by: usize) {
        let Project {
            name,
            span,
            package,
            python,
            task_queue,
            restack_ai,
            engine,
        } = self;
        name.shift(by);
        span.shift(by);
        package.shift(by);
        python.shift(by);
        task_queue.shift(by);
        restack_ai.shift(by);
        engine.shift(by);
    }
}

impl Shift for Engine {
    fn shift(&mut self, by: usize) {
        let Engine {
            span,
            address,
            api_address,
        } = self;
        span.shift(by);
        address.shift(by);
        api_address.shift(by);
    }
}

impl Shift for Policy {
    fn shift(&mut self, by: usize) {
        let Policy {
            timeout,
            heartbeat,
            retry,
        } = self;
        timeout.shift(by);
        heartbeat.shift(by);
        retry.shift(by);
    }
}

impl Shift for Retry {
    fn shift(&mut self, by: usize) {
        let Retry {
            span,
            attempts,
            initial,
            backoff,
            max_interval,
        } = self;
        span.shift(by);
        attempts.shift(by);
        initial.shift(by);
        backoff.shift(by);
        max_interval.shift(by);
    }
}

impl Shift for Defaults {
    fn shift(&mut self, by: usize) {
        let Defaults { span, policy } = self;
        span.shift(by);
        policy.shift(by);
    }
}

impl Shift for Field {
    fn shift(&mut self, by: usize) {
        let Field {
            span,
            name,
            ty,
            default,
        } = self;
        span.shift(by);
        name.shift(by);
        ty.shift(by);
        default.shift(by);
    }
}

impl Shift for Function {
    fn shift(&mut self, by: usize) {
        let Function {
            name,
            span,
            doc,
            input,
            output,
            policy,
        } = self;
        name.shift(by);
        span.shift(by);
        doc.shift(by);
        input.shift(by);
        output.shift(by);
        policy.shift(by);
    }
}

impl Shift for Workflow {
    fn shift(&mut self, by: usize) {
        let Workflow {
            name,
            span,
            doc,
            input,
            output,
            calls,
            policy,
        } = self;
        name.shift(by);
        span.shift(by);
        doc.shift(by);
        input.shift(by);
        output.shift(by);
        calls.shift(by);
        policy.shift(by);
    }
}

impl Shift for Event {
    fn shift(&mut self, by: usize) {
        let Event { span, name, fields } = self;
        span.shift(by);
        name.shift(by);
        fields.shift(by);
    }
}

impl Shift for Agent {
    fn shift(&mut self, by: usize) {
        let Agent {
            name,
            span,
            doc,
            state,
            events,
            calls,
            llm,
            tools,
            policy,
        } = self;
        name.shift(by);
        span.shift(by);
        doc.shift(by);
        state.shift(by);
        events.shift(by);
        calls.shift(by);
        llm.shift(by);
        tools.shift(by);
        policy.shift(by);
    }
}

impl Shift for Operators {
    fn shift(&mut self, by: usize) {
        let Operators {
            text: _,
            span,
            tree,
        } = self;
        span.shift(by);
        tree.shift(by);
    }
}

impl Shift for operators::Pipeline {
    fn shift(&mut self, by: usize) {
        let operators::Pipeline { stages } = self;
        stages.shift(by);
    }
}

impl Shift for operators::Stage {
    fn shift(&mut self, by: usize) {
        let operators::Stage {
            entry: _,
            body,
            span,
        } = self;
        span.shift(by);
        match body {
            operators::StageBody::Loop { a, b } => {
                a.shift(by);
                b.shift(by);
            }
            operators::StageBody::Group { units } => units.shift(by),
        }
    }
}

impl Shift for operators::Unit {
    fn shift(&mut self, by: usize) {
        match self {
            operators::Unit::Step(step) => step.shift(by),
            operators::Unit::Nested { pipeline } => pipeline.shift(by),
        }
    }
}

impl Shift for operators::Step {
    fn shift(&mut self, by: usize) {
        let operators::Step { name: _, span } = self;
        span.shift(by);
    }
}

impl Shift for Map {
    fn shift(&mut self, by: usize) {
        let Map { span, step, target } = self;
        span.shift(by);
        step.shift(by);
        target.shift(by);
    }
}

impl Shift for When {
    fn shift(&mut self, by: usize) {
        let When {
            span,
            step,
            condition,
        } = self;
        span.shift(by);
        step.shift(by);
        condition.shift(by);
    }
}

impl Shift for StepOverride {
    fn shift(&mut self, by: usize) {
        let StepOverride {
            span,
            step,
            timeout,
            heartbeat,
            retry_attempts,
        } = self;
        span.shift(by);
        step.shift(by);
        timeout.shift(by);
        heartbeat.shift(by);
        retry_attempts.shift(by);
    }
}

impl Shift for Pipeline {
    fn shift(&mut self, by: usize) {
        let Pipeline {
            name,
            span,
            doc,
            operators,
            style,
            max_loops,
            maps,
            whens,
            steps,
            continue_as_new_after,
            policy,
        } = self;
        name.shift(by);
        span.shift(by);
        doc.shift(by);
        operators.shift(by);
        style.shift(by);
        max_loops.shift(by);
        maps.shift(by);
        whens.shift(by);
        steps.shift(by);
        continue_as_new_after.shift(by);
        policy.shift(by);
    }
}

impl Shift for Tool {
    fn shift(&mut self, by: usize) {
        let Tool {
            span,
            name,
            doc,
            params,
            returns,
        } = self;
        span.shift(by);
        name.shift(by);
        doc.shift(by);
        params.shift(by);
        returns.shift(by);
    }
}

impl Shift for ToolServer {
    fn shift(&mut self, by: usize) {
        let ToolServer {
            name,
            span,
            doc,
            transport,
            autostart,
            tools,
        } = self;
        name.shift(by);
        span.shift(by);
        doc.shift(by);
        transport.shift(by);
        autostart.shift(by);
        tools.shift(by);
    }
}

impl Shift for Kong {
    fn shift(&mut self, by: usize) {
        let Kong { span, url, key_env } = self;
        span.shift(by);
        url.shift(by);
        key_env.shift(by);
    }
}

impl Shift for Provider {
    fn shift(&mut self, by: usize) {
        let Provider {
            span,
            name,
            model,
            key_env,
            priority,
        } = self;
        span.shift(by);
        name.shift(by);
        model.shift(by);
        key_env.shift(by);
        priority.shift(by);
    }
}

impl Shift for CircuitBreaker {
    fn shift(&mut self, by: usize) {
        let CircuitBreaker {
            span,
            failures,
            cooldown,
        } = self;
        span.shift(by);
        failures.shift(by);
        cooldown.shift(by);
    }
}

impl Shift for Llm {
    fn shift(&mut self, by: usize) {
        let Llm {
            span,
            backend,
            kong,
            providers,
            fallback,
            circuit_breaker,
        } = self;
        span.shift(by);
        backend.shift(by);
        kong.shift(by);
        providers.shift(by);
        fallback.shift(by);
        circuit_breaker.shift(by);
    }
}

impl Shift for Prompt {
    fn shift(&mut self, by: usize) {
        let Prompt {
            name,
            span,
            version,
            vars,
            text,
            placeholders,
        } = self;
        name.shift(by);
        span.shift(by);
        version.shift(by);
        vars.shift(by);
        text.shift(by);
        placeholders.shift(by);
    }
}
