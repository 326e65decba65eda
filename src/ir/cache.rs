//! What lowering keeps from one run to the next for `watch`: the lowered form of every entity
//! whose node did not change, with what it read beyond its node.
//!
//! An entity is kept under the id its decoded node has in the `manifest::ParseCache` (see
//! `decode::NodeIds`), so it is looked up without hashing its content; two nodes with one id
//! differ only in where they sit, so a kept entity is reused moved by the same offset. Only an
//! entity lowered without a diagnostic is kept, so a kept entity holds no span of another node.
//! This module holds the data and moves spans; deciding what is still valid is `lower.rs`'s.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::ir::{Agent, Fingerprinted, Function, Origin, Pipeline, Policy, ToolServer, Workflow};
use crate::manifest::names::CaseMemo;
use crate::manifest::shift::{Shift, shift_by};

/// What [`lower_cached`](crate::ir::lower_cached) keeps between runs.
#[derive(Debug, Default)]
pub(crate) struct LowerCache {
    /// The case conversions of names.
    pub(crate) case: CaseMemo,
    /// The lowered entities, by kind.
    pub(super) kept: Kept,
}

/// The lowered entities of the last run, by node id, and the project-wide `defaults` they
/// were lowered with (every entity merges its policy over them; when they change, nothing
/// kept is used).
#[derive(Debug, Default)]
pub(super) struct Kept {
    pub(super) defaults: Option<Policy>,
    pub(super) functions: ById<Arc<Function>>,
    pub(super) workflows: ById<Arc<Workflow>>,
    pub(super) agents: ById<Arc<Agent>>,
    pub(super) pipelines: ById<Option<Arc<Pipeline>>>,
    pub(super) tool_servers: ById<Arc<ToolServer>>,
    /// The number of the current run; every entity used in it is stamped with it.
    pub(super) run: u64,
}

impl Kept {
    /// Forgets everything kept.
    pub(super) fn clear(&mut self) {
        self.functions.clear();
        self.workflows.clear();
        self.agents.clear();
        self.pipelines.clear();
        self.tool_servers.clear();
    }

    /// Forgets every entity the run that just ended did not use, so the cache holds at most one
    /// entry per entity of the last manifest.
    pub(super) fn end_run(&mut self) {
        let run = self.run;
        self.functions.retain(|_, it| it.run == run);
        self.workflows.retain(|_, it| it.run == run);
        self.agents.retain(|_, it| it.run == run);
        self.pipelines.retain(|_, it| it.run == run);
        self.tool_servers.retain(|_, it| it.run == run);
        self.run += 1;
    }
}

/// Node ids are distinct counters, so they are their own hash.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // Spread the counter over the high bits too: hashbrown takes its control bits from them.
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id;
    }
}

pub(super) type ById<T> = HashMap<u64, Entry<T>, BuildHasherDefault<IdHasher>>;

/// One kept entity.
#[derive(Debug)]
pub(super) struct Entry<T> {
    /// Where its node started when it was lowered; its spans move with the node.
    pub(super) at: usize,
    /// What it read beyond its own node.
    pub(super) deps: Vec<Dep>,
    pub(super) lowered: T,
    /// The last run that used it.
    pub(super) run: u64,
}

/// What lowering keeps: an entity, moved with its node, whose fingerprint is computed before it
/// is kept (see [`crate::ir::Fingerprint`]), so that every copy of it has one.
pub(super) trait Keep: Clone + Shift {
    /// Computes the fingerprint, if not yet known.
    fn fingerprint(&self);
}

impl<T: Fingerprinted + Clone + Shift> Keep for T {
    fn fingerprint(&self) {
        Fingerprinted::fingerprint(self);
    }
}

impl<T: Fingerprinted + Clone> Keep for Option<T>
where
    Option<T>: Shift,
{
    fn fingerprint(&self) {
        if let Some(it) = self {
            Fingerprinted::fingerprint(it);
        }
    }
}

impl<T: Clone + Shift> Entry<T> {
    /// The kept entity, moved to where its node now starts. Entities are `Arc`s, so this moves
    /// the kept one in place (copying it only while an earlier project still holds it) and
    /// shares it.
    pub(super) fn at(&mut self, start: usize) -> T {
        if start != self.at {
            self.lowered.shift(shift_by(self.at, start));
            self.at = start;
        }
        self.lowered.clone()
    }
}

/// One thing an entity's lowering read beyond its own node and `defaults`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Dep {
    /// What kind of entity a name declares (`None`: no entity), as `calls`, `tools` and `map`
    /// resolve it.
    Kind(String, Option<super::lower::Kind>),
    /// The policy a step bound by `map` to this name starts from: `defaults` merged with the
    /// bound function's or workflow's own.
    StepPolicy(String, Policy),
    /// That the manifest has an `llm` block (for an agent that uses it).
    Llm,
}

impl Shift for Origin {
    fn shift(&mut self, by: usize) {
        let Origin { entity: _, span } = self;
        span.0 = span.0.wrapping_add(by);
        span.1 = span.1.wrapping_add(by);
    }
}

impl Shift for Function {
    fn shift(&mut self, by: usize) {
        let Function {
            names: _,
            doc: _,
            input: _,
            output: _,
            policy: _,
            origin,
            fingerprint: _,
        } = self;
        origin.shift(by);
    }
}

impl Shift for Workflow {
    fn shift(&mut self, by: usize) {
        let Workflow {
            names: _,
            doc: _,
            input: _,
            output: _,
            calls: _,
            policy: _,
            origin,
            fingerprint: _,
        } = self;
        origin.shift(by);
    }
}

impl Shift for Agent {
    fn shift(&mut self, by: usize) {
        let Agent {
            names: _,
            doc: _,
            state: _,
            events: _,
            calls: _,
            llm: _,
            tools: _,
            policy: _,
            origin,
            fingerprint: _,
        } = self;
        origin.shift(by);
    }
}

impl Shift for Pipeline {
    fn shift(&mut self, by: usize) {
        let Pipeline {
            names: _,
            doc: _,
            style: _,
            max_loops: _,
            continue_as_new_after: _,
            operators: _,
            tree,
            steps: _,
            origin,
            fingerprint: _,
        } = self;
        tree.shift(by);
        origin.shift(by);
    }
}

impl Shift for ToolServer {
    fn shift(&mut self, by: usize) {
        let ToolServer {
            names: _,
            doc: _,
            transport: _,
            autostart: _,
            tools: _,
            origin,
            fingerprint: _,
        } = self;
        origin.shift(by);
    }
}
