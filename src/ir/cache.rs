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

use crate::ir::lower::{Kind, entity_name};
use crate::ir::{Agent, Fingerprinted, Function, Origin, Pipeline, Policy, ToolServer, Workflow};
use crate::manifest::Manifest;
use crate::manifest::decode::NodeIds;
use crate::manifest::names::CaseMemo;
use crate::manifest::shift::{Shift, shift_by};

/// What [`lower_cached`](crate::ir::lower_cached) keeps between runs.
#[derive(Debug, Default)]
pub(crate) struct LowerCache {
    /// The case conversions of names.
    pub(crate) case: CaseMemo,
    /// The lowered entities, by kind.
    pub(super) kept: Kept,
    /// The entity names of the last run, when it found no problem with them.
    pub(super) declared: Option<Declared>,
}

/// Where an entity is declared: its kind and its index in the manifest's list of its kind.
#[derive(Debug, Clone, Copy)]
pub(super) struct Declaration {
    pub(super) kind: Kind,
    pub(super) index: usize,
}

/// The entity names of the last run that lowered with node ids and found no problem with them
/// (no name declared twice, no two names of one module), with what was made of them: the
/// declaration of each name and the order that sorts each kind's entities by name.
///
/// A run whose manifest declares, kind by kind, the same names in the same places (its node ids
/// are the last run's, or the node with a new id has the name of the one it replaced) has the
/// same declarations, the same sort orders and no problem with its names either, so it takes
/// them from here instead of checking and hashing every name again (see [`Declared::holds`]).
/// And every name an entity kept from the last run read (see [`Dep::Kind`]) resolves to what
/// it did then, since the last run lowered or checked each of them against the same names.
#[derive(Debug, Default)]
pub(super) struct Declared {
    /// The node ids of the last run.
    ids: NodeIds,
    /// The name of each entity of the last run, by kind, in the manifest's order.
    names: [Vec<String>; 5],
    /// Every name, with its declaration (taken by the run that uses them).
    pub(super) entities: HashMap<String, Declaration>,
    /// The order that sorts each kind's entities by name (see `lower::sort_by_name`).
    pub(super) orders: Orders,
    /// How many names the case memo may hold before a run must check every name again, which
    /// lets the memo forget names no longer used (a run that takes the names from here keeps
    /// every name the memo has).
    case_limit: usize,
}

/// The permutation that sorts the entities of each kind by name.
#[derive(Debug, Default)]
pub(super) struct Orders {
    pub(super) functions: Option<Vec<usize>>,
    pub(super) workflows: Option<Vec<usize>>,
    pub(super) agents: Option<Vec<usize>>,
    pub(super) pipelines: Option<Vec<usize>>,
    pub(super) tool_servers: Option<Vec<usize>>,
}

const KINDS: [Kind; 5] = [
    Kind::Function,
    Kind::Workflow,
    Kind::Agent,
    Kind::Pipeline,
    Kind::ToolServer,
];

fn ids_of(ids: &NodeIds, kind: Kind) -> &[u64] {
    match kind {
        Kind::Function => &ids.functions,
        Kind::Workflow => &ids.workflows,
        Kind::Agent => &ids.agents,
        Kind::Pipeline => &ids.pipelines,
        Kind::ToolServer => &ids.tool_servers,
    }
}

impl Declared {
    /// Whether `manifest`, whose entities' node ids are `ids`, declares the same names in the
    /// same places as the last run, and the case memo (holding `case_len` names) may keep them.
    pub(super) fn holds(&self, manifest: &Manifest, ids: &NodeIds, case_len: usize) -> bool {
        if case_len > self.case_limit {
            return false;
        }
        KINDS.iter().zip(&self.names).all(|(&kind, names)| {
            let (old, new) = (ids_of(&self.ids, kind), ids_of(ids, kind));
            if old.len() != new.len() {
                return false;
            }
            // A node with the same id is the same decode, with the same name.
            old == new
                || old.iter().zip(new).enumerate().all(|(index, (old, new))| {
                    old == new
                        || entity_name(manifest, kind, index)
                            .is_some_and(|it| it.value == names[index])
                })
        })
    }

    /// Records the run that just ended, whose node ids are `ids` and whose names' declarations
    /// are `entities`: `same` when they were taken from here, which then holds its names already.
    pub(super) fn record(
        &mut self,
        manifest: &Manifest,
        ids: &NodeIds,
        entities: HashMap<String, Declaration>,
        same: bool,
        case_len: usize,
    ) {
        self.ids.clone_from(ids);
        self.entities = entities;
        if !same {
            for (&kind, names) in KINDS.iter().zip(&mut self.names) {
                names.clear();
                let mut index = 0;
                while let Some(name) = entity_name(manifest, kind, index) {
                    names.push(name.value.clone());
                    index += 1;
                }
            }
            // Twice the names of a run that checked them all, and a margin for a small manifest.
            self.case_limit = 2 * case_len + 256;
        }
    }
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
