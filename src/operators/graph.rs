//! Lowers an operator tree into a control-flow graph and exports it as mermaid, dot or ASCII;
//! owns the condition-function naming convention and must not check the tree (the parser did).
//!
//! The graph has one `start` and one `end` node, a node per step, a fork and a join node per
//! fan-out group and a condition node per stage entered through `→?`. Edges are `then` (run
//! next), `if`/`skip` (out of a condition: the stage runs, or the pipeline goes on without it) and
//! `loop` (the feedback back-edge of `A ⇄ B`, labelled with `max-loops`). Node ids are ASCII
//! (`n_start`, `n_end` (mermaid reserves `end`), `step_DRAFT`, `cond_1`, `fork_1`, `join_1`) and the output is deterministic:
//! nodes and edges come in source order.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use heck::ToSnakeCase;
use serde::Serialize;

use crate::operators::ast::{Entry, Pipeline, Stage, StageBody, Step, Unit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    Start,
    End,
    Step,
    /// Where a `⊕` group starts its units concurrently.
    Fork,
    /// Where a `⊕` group waits for all of its units.
    Join,
    /// The condition function of a stage entered through `→?`.
    Condition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// Run the target after the source.
    Then,
    /// Out of a condition that returned true.
    If,
    /// Out of a condition that returned false: the stage is skipped.
    Skip,
    /// The refine loop's feedback edge from `B` back to `A`.
    Loop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    pub label: Option<String>,
}

/// A pipeline's control-flow graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub name: String,
    pub max_loops: u32,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// The tree and the condition names, kept for the ASCII outline.
    #[serde(skip)]
    tree: Pipeline,
    #[serde(skip)]
    conditions: Vec<String>,
}

/// The condition function of a stage entered through `→?`: the name given by the manifest's
/// `when "STEP" "fn"` for the stage's first step, else `should_<first step in snake_case>`.
pub fn condition_name(stage: &Stage, when: &BTreeMap<String, String>) -> String {
    let Some(first) = stage.first_step() else {
        return "should_run".to_owned();
    };
    when.get(&first.name)
        .cloned()
        .unwrap_or_else(|| format!("should_{}", first.name.to_snake_case()))
}

/// Lowers `pipeline` into its graph. `when` maps a conditional stage's first step to its
/// condition function (the manifest's `when` nodes); see [`condition_name`].
pub fn lower(
    name: &str,
    pipeline: &Pipeline,
    max_loops: u32,
    when: &BTreeMap<String, String>,
) -> Graph {
    let mut builder = Builder {
        max_loops,
        when,
        nodes: Vec::new(),
        edges: Vec::new(),
        n_conditions: 0,
        n_forks: 0,
        conditions: Vec::new(),
    };
    builder.node("n_start".to_owned(), NodeKind::Start, "start".to_owned());
    let exits = builder.pipeline(pipeline, vec![Exit::then("n_start".to_owned())]);
    builder.node("n_end".to_owned(), NodeKind::End, "end".to_owned());
    builder.connect(exits, "n_end");
    Graph {
        name: name.to_owned(),
        max_loops,
        nodes: builder.nodes,
        edges: builder.edges,
        tree: pipeline.clone(),
        conditions: builder.conditions,
    }
}

/// An edge waiting for its target: the next node lowered.
struct Exit {
    from: String,
    kind: EdgeKind,
    label: Option<String>,
}

impl Exit {
    fn then(from: String) -> Exit {
        Exit {
            from,
            kind: EdgeKind::Then,
            label: None,
        }
    }
}

struct Builder<'a> {
    max_loops: u32,
    when: &'a BTreeMap<String, String>,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    n_conditions: usize,
    n_forks: usize,
    /// Condition names in source order.
    conditions: Vec<String>,
}

impl Builder<'_> {
    fn node(&mut self, id: String, kind: NodeKind, label: String) -> String {
        debug_assert!(
            self.nodes.iter().all(|it| it.id != id),
            "node ids are unique"
        );
        self.nodes.push(Node {
            id: id.clone(),
            kind,
            label,
        });
        id
    }

    /// A step's node. A step occurring twice (an error the parser reported) gets a second node.
    fn step(&mut self, step: &Step) -> String {
        let safe: String = step
            .name
            .chars()
            .map(|it| if it.is_ascii_alphanumeric() { it } else { '_' })
            .collect();
        let mut id = format!("step_{safe}");
        let mut n_copies = 1;
        while self.nodes.iter().any(|it| it.id == id) {
            n_copies += 1;
            id = format!("step_{safe}_{n_copies}");
        }
        self.node(id, NodeKind::Step, step.name.clone())
    }

    fn connect(&mut self, exits: Vec<Exit>, to: &str) {
        for exit in exits {
            self.edges.push(Edge {
                from: exit.from,
                to: to.to_owned(),
                kind: exit.kind,
                label: exit.label,
            });
        }
    }

    fn pipeline(&mut self, pipeline: &Pipeline, mut exits: Vec<Exit>) -> Vec<Exit> {
        for stage in &pipeline.stages {
            exits = self.stage(stage, exits);
        }
        exits
    }

    fn stage(&mut self, stage: &Stage, exits: Vec<Exit>) -> Vec<Exit> {
        if stage.entry == Entry::Then {
            return self.body(&stage.body, exits);
        }
        self.n_conditions += 1;
        let condition = condition_name(stage, self.when);
        self.conditions.push(condition.clone());
        let id = self.node(
            format!("cond_{}", self.n_conditions),
            NodeKind::Condition,
            format!("{condition}?"),
        );
        self.connect(exits, &id);
        let into = Exit {
            from: id.clone(),
            kind: EdgeKind::If,
            label: Some("yes".to_owned()),
        };
        let mut res = self.body(&stage.body, vec![into]);
        res.push(Exit {
            from: id,
            kind: EdgeKind::Skip,
            label: Some("no: skip".to_owned()),
        });
        res
    }

    fn body(&mut self, body: &StageBody, exits: Vec<Exit>) -> Vec<Exit> {
        match body {
            StageBody::Loop { a, b } => {
                let a_id = self.step(a);
                self.connect(exits, &a_id);
                let b_id = self.step(b);
                self.edges.push(Edge {
                    from: a_id.clone(),
                    to: b_id.clone(),
                    kind: EdgeKind::Then,
                    label: None,
                });
                self.edges.push(Edge {
                    from: b_id.clone(),
                    to: a_id,
                    kind: EdgeKind::Loop,
                    label: Some(format!("not approved, max {} rounds", self.max_loops)),
                });
                vec![Exit {
                    from: b_id,
                    kind: EdgeKind::Then,
                    label: Some("approved".to_owned()),
                }]
            }
            StageBody::Group { units } => match units.as_slice() {
                [unit] => self.unit(unit, exits),
                units => {
                    self.n_forks += 1;
                    let n = self.n_forks;
                    let fork = self.node(format!("fork_{n}"), NodeKind::Fork, "fan out".to_owned());
                    self.connect(exits, &fork);
                    let mut branch_exits = Vec::new();
                    for (idx, unit) in units.iter().enumerate() {
                        let into = Exit {
                            from: fork.clone(),
                            kind: EdgeKind::Then,
                            label: Some(format!("{}", idx + 1)),
                        };
                        branch_exits.extend(self.unit(unit, vec![into]));
                    }
                    let join = self.node(format!("join_{n}"), NodeKind::Join, "join".to_owned());
                    self.connect(branch_exits, &join);
                    vec![Exit::then(join)]
                }
            },
        }
    }

    fn unit(&mut self, unit: &Unit, exits: Vec<Exit>) -> Vec<Exit> {
        match unit {
            Unit::Step(step) => {
                let id = self.step(step);
                self.connect(exits, &id);
                vec![Exit::then(id)]
            }
            Unit::Nested { pipeline } => self.pipeline(pipeline, exits),
        }
    }
}

/// Escapes a label for a double-quoted mermaid string.
fn mermaid_label(label: &str) -> String {
    label.replace('"', "#quot;")
}

/// Escapes a label for a double-quoted dot string.
fn dot_label(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Graph {
    /// A mermaid `flowchart TD`; labels are quoted, ids are ASCII.
    pub fn to_mermaid(&self) -> String {
        let mut res = String::new();
        let _ = writeln!(res, "---\ntitle: \"{}\"\n---", mermaid_label(&self.name));
        res.push_str("flowchart TD\n");
        for node in &self.nodes {
            let label = mermaid_label(&node.label);
            let _ = match node.kind {
                NodeKind::Start | NodeKind::End => writeln!(res, "    {}([\"{label}\"])", node.id),
                NodeKind::Step => writeln!(res, "    {}[\"{label}\"]", node.id),
                NodeKind::Fork | NodeKind::Join => writeln!(res, "    {}((\"{label}\"))", node.id),
                NodeKind::Condition => writeln!(res, "    {}{{\"{label}\"}}", node.id),
            };
        }
        for edge in &self.edges {
            let arrow = if edge.kind == EdgeKind::Loop {
                "-.->"
            } else {
                "-->"
            };
            let _ = match &edge.label {
                Some(label) => writeln!(
                    res,
                    "    {} {arrow}|\"{}\"| {}",
                    edge.from,
                    mermaid_label(label),
                    edge.to
                ),
                None => writeln!(res, "    {} {arrow} {}", edge.from, edge.to),
            };
        }
        res
    }

    /// A Graphviz digraph.
    pub fn to_dot(&self) -> String {
        let mut res = String::new();
        let _ = writeln!(res, "digraph \"{}\" {{", dot_label(&self.name));
        res.push_str("    rankdir=TB;\n");
        for node in &self.nodes {
            let shape = match node.kind {
                NodeKind::Start | NodeKind::End => "oval",
                NodeKind::Step => "box",
                NodeKind::Fork | NodeKind::Join => "circle",
                NodeKind::Condition => "diamond",
            };
            let _ = writeln!(
                res,
                "    {} [label=\"{}\", shape={shape}];",
                node.id,
                dot_label(&node.label)
            );
        }
        for edge in &self.edges {
            let mut attrs = Vec::new();
            if let Some(label) = &edge.label {
                attrs.push(format!("label=\"{}\"", dot_label(label)));
            }
            match edge.kind {
                EdgeKind::Loop => attrs.push("style=dashed, constraint=false".to_owned()),
                EdgeKind::Skip => attrs.push("style=dotted".to_owned()),
                EdgeKind::Then | EdgeKind::If => {}
            }
            if attrs.is_empty() {
                let _ = writeln!(res, "    {} -> {};", edge.from, edge.to);
            } else {
                let _ = writeln!(
                    res,
                    "    {} -> {} [{}];",
                    edge.from,
                    edge.to,
                    attrs.join(", ")
                );
            }
        }
        res.push_str("}\n");
        res
    }

    /// A vertical outline for a terminal: one line per stage, top to bottom; a fan-out or a
    /// parenthesised sequence lists its parts below it.
    ///
    /// ```text
    /// Blog
    /// ● start
    /// ├─ IDEATE ⇄ RESEARCH  (loop until RESEARCH approves, max 3 rounds)
    /// ├─ ⊕ fan out (concurrent, results in declaration order)
    /// │  ├─ A
    /// │  └─ sequence
    /// │     ├─ B
    /// │     └─ C
    /// ├─ ◇ if should_publish(), else skip: PUBLISH
    /// ● end
    /// ```
    pub fn to_ascii(&self) -> String {
        let mut conditions = self.conditions.iter();
        let items: Vec<Item> = self
            .tree
            .stages
            .iter()
            .map(|stage| self.stage_item(stage, &mut conditions))
            .collect();
        let mut res = format!("{}\n● start\n", self.name);
        for item in &items {
            item.write(&mut res, "├─ ", "│  ");
        }
        res.push_str("● end\n");
        res
    }

    fn stage_item<'a>(
        &self,
        stage: &Stage,
        conditions: &mut impl Iterator<Item = &'a String>,
    ) -> Item {
        if stage.entry == Entry::Then {
            return self.body_item(&stage.body, conditions);
        }
        let condition = conditions.next().map_or("should_run", String::as_str);
        let mut item = self.body_item(&stage.body, conditions);
        item.text = format!("◇ if {condition}(), else skip: {}", item.text);
        item
    }

    fn body_item<'a>(
        &self,
        body: &StageBody,
        conditions: &mut impl Iterator<Item = &'a String>,
    ) -> Item {
        match body {
            StageBody::Loop { a, b } => Item::leaf(format!(
                "{} ⇄ {}  (loop until {} approves, max {} rounds)",
                a.name, b.name, b.name, self.max_loops
            )),
            StageBody::Group { units } => match units.as_slice() {
                [unit] => self.unit_item(unit, conditions),
                units => Item {
                    text: "⊕ fan out (concurrent, results in declaration order)".to_owned(),
                    children: units
                        .iter()
                        .map(|unit| self.unit_item(unit, conditions))
                        .collect(),
                },
            },
        }
    }

    fn unit_item<'a>(
        &self,
        unit: &Unit,
        conditions: &mut impl Iterator<Item = &'a String>,
    ) -> Item {
        match unit {
            Unit::Step(step) => Item::leaf(step.name.clone()),
            Unit::Nested { pipeline } => match pipeline.stages.as_slice() {
                [stage] => self.stage_item(stage, conditions),
                stages => Item {
                    text: "sequence".to_owned(),
                    children: stages
                        .iter()
                        .map(|stage| self.stage_item(stage, conditions))
                        .collect(),
                },
            },
        }
    }
}

/// One line of the ASCII outline and the lines nested under it.
struct Item {
    text: String,
    children: Vec<Item>,
}

impl Item {
    fn leaf(text: String) -> Item {
        Item {
            text,
            children: Vec::new(),
        }
    }

    /// Writes this item after `first` and its children after `rest`.
    fn write(&self, res: &mut String, first: &str, rest: &str) {
        let _ = writeln!(res, "{first}{}", self.text);
        for (idx, child) in self.children.iter().enumerate() {
            if idx + 1 == self.children.len() {
                child.write(res, &format!("{rest}└─ "), &format!("{rest}   "));
            } else {
                child.write(res, &format!("{rest}├─ "), &format!("{rest}│  "));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::operators::parse;

    /// Lowers `src` (which must be valid) with `max-loops 3` and `when "PUBLISH" "is_ready"`,
    /// and compares the export chosen by `format` with `expect`.
    #[track_caller]
    fn check(src: &str, format: &str, expect: &str) {
        let (pipeline, errors) = parse(src);
        assert!(errors.is_empty(), "{src:?}: {errors:?}");
        let when = BTreeMap::from([("PUBLISH".to_owned(), "is_ready".to_owned())]);
        let graph = super::lower("Blog", &pipeline, 3, &when);
        let actual = match format {
            "mermaid" => graph.to_mermaid(),
            "dot" => graph.to_dot(),
            "ascii" => graph.to_ascii(),
            _ => unreachable!("unknown format {format}"),
        };
        assert_eq!(actual, expect, "{format} of {src:?}:\n{actual}");
    }

    #[test]
    fn loop_and_condition_as_mermaid() {
        check(
            "DRAFT ⇄ REVIEW →? PUBLISH",
            "mermaid",
            r#"---
title: "Blog"
---
flowchart TD
    n_start(["start"])
    step_DRAFT["DRAFT"]
    step_REVIEW["REVIEW"]
    cond_1{"is_ready?"}
    step_PUBLISH["PUBLISH"]
    n_end(["end"])
    n_start --> step_DRAFT
    step_DRAFT --> step_REVIEW
    step_REVIEW -.->|"not approved, max 3 rounds"| step_DRAFT
    step_REVIEW -->|"approved"| cond_1
    cond_1 -->|"yes"| step_PUBLISH
    step_PUBLISH --> n_end
    cond_1 -->|"no: skip"| n_end
"#,
        );
    }

    #[test]
    fn fan_out_as_dot() {
        check(
            "A ⊕ (B →? SEND_EMAIL) → C",
            "dot",
            r#"digraph "Blog" {
    rankdir=TB;
    n_start [label="start", shape=oval];
    fork_1 [label="fan out", shape=circle];
    step_A [label="A", shape=box];
    step_B [label="B", shape=box];
    cond_1 [label="should_send_email?", shape=diamond];
    step_SEND_EMAIL [label="SEND_EMAIL", shape=box];
    join_1 [label="join", shape=circle];
    step_C [label="C", shape=box];
    n_end [label="end", shape=oval];
    n_start -> fork_1;
    fork_1 -> step_A [label="1"];
    fork_1 -> step_B [label="2"];
    step_B -> cond_1;
    cond_1 -> step_SEND_EMAIL [label="yes"];
    step_A -> join_1;
    step_SEND_EMAIL -> join_1;
    cond_1 -> join_1 [label="no: skip", style=dotted];
    join_1 -> step_C;
    step_C -> n_end;
}
"#,
        );
    }

    #[test]
    fn everything_as_ascii() {
        check(
            "IDEATE ⇄ RESEARCH → PLAN → A ⊕ (B →? C) ⊕ (D ⊕ E) →? PUBLISH → REPURPOSE",
            "ascii",
            "Blog
● start
├─ IDEATE ⇄ RESEARCH  (loop until RESEARCH approves, max 3 rounds)
├─ PLAN
├─ ⊕ fan out (concurrent, results in declaration order)
│  ├─ A
│  ├─ sequence
│  │  ├─ B
│  │  └─ ◇ if should_c(), else skip: C
│  └─ ⊕ fan out (concurrent, results in declaration order)
│     ├─ D
│     └─ E
├─ ◇ if is_ready(), else skip: PUBLISH
├─ REPURPOSE
● end
",
        );
        check(
            "A →? (X → Y)",
            "ascii",
            "Blog\n● start\n├─ A\n├─ ◇ if should_x(), else skip: sequence\n│  ├─ X\n│  └─ Y\n● end\n",
        );
    }

    #[test]
    fn condition_names() {
        let (pipeline, _) = parse("A →? SEND_EMAIL ⊕ B →? (C → D)");
        let when = BTreeMap::from([("C".to_owned(), "c_is_wanted".to_owned())]);
        let names: Vec<String> = pipeline.stages[1..]
            .iter()
            .map(|stage| super::condition_name(stage, &when))
            .collect();
        assert_eq!(names, ["should_send_email", "c_is_wanted"]);
    }
}
