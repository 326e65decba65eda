//! The operator tree: what `operators::parse` produces and what templates walk.
//!
//! Spans are byte offsets into the *decoded* operator string; the manifest layer shifts them to
//! file offsets.

use std::ops::Range;

use serde::Serialize;

/// `pipeline := stage (("→" | "→?") stage)*`, run in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
}

/// How a stage is entered from the one before it. The first stage is always `Then`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Entry {
    /// `→` / `->`.
    Then,
    /// `→?` / `->?`: the stage runs only if its condition function returns true.
    If,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub entry: Entry,
    pub body: StageBody,
    #[serde(skip)]
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StageBody {
    /// `A ⇄ B`: run `a` then `b`; while `b` does not approve and fewer than `max-loops` rounds
    /// ran, run `a` again with `b`'s feedback.
    Loop { a: Step, b: Step },
    /// `u1 ⊕ u2 ⊕ …`: run the units concurrently, continue when all finish. One unit is a plain
    /// step or a parenthesised sub-pipeline.
    Group { units: Vec<Unit> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Unit {
    Step(Step),
    Nested { pipeline: Pipeline },
}

/// A step token such as `DRAFT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub name: String,
    #[serde(skip)]
    pub span: Range<usize>,
}
