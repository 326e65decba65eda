//! The operator tree: what `operators::parse` produces and what templates walk.
//!
//! Spans are byte offsets into the *decoded* operator string; the manifest layer shifts them to
//! file offsets.

use std::fmt;
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

impl Pipeline {
    /// Every step, in source order.
    pub fn steps(&self) -> Vec<&Step> {
        let mut res = Vec::new();
        collect_steps(self, &mut res);
        res
    }
}

fn collect_steps<'a>(pipeline: &'a Pipeline, res: &mut Vec<&'a Step>) {
    for stage in &pipeline.stages {
        match &stage.body {
            StageBody::Loop { a, b } => res.extend([a, b]),
            StageBody::Group { units } => {
                for unit in units {
                    match unit {
                        Unit::Step(step) => res.push(step),
                        Unit::Nested { pipeline } => collect_steps(pipeline, res),
                    }
                }
            }
        }
    }
}

impl Stage {
    /// The step a stage starts with (the loop's first step, or the first step of its first unit).
    pub fn first_step(&self) -> Option<&Step> {
        match &self.body {
            StageBody::Loop { a, .. } => Some(a),
            StageBody::Group { units } => units.iter().find_map(|unit| match unit {
                Unit::Step(step) => Some(step),
                Unit::Nested { pipeline } => pipeline.stages.iter().find_map(Stage::first_step),
            }),
        }
    }
}

/// The canonical Unicode spelling, e.g. `IDEATE ⇄ RESEARCH → PLAN →? PUBLISH`. Parsing it gives
/// back the same tree (spans aside).
impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, stage) in self.stages.iter().enumerate() {
            if idx > 0 {
                f.write_str(match stage.entry {
                    Entry::Then => " → ",
                    Entry::If => " →? ",
                })?;
            }
            match &stage.body {
                StageBody::Loop { a, b } => write!(f, "{} ⇄ {}", a.name, b.name)?,
                StageBody::Group { units } => {
                    for (unit_idx, unit) in units.iter().enumerate() {
                        if unit_idx > 0 {
                            f.write_str(" ⊕ ")?;
                        }
                        match unit {
                            Unit::Step(step) => f.write_str(&step.name)?,
                            Unit::Nested { pipeline } => write!(f, "({pipeline})")?,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
