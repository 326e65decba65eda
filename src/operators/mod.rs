//! Pipeline operator strings (`IDEATE ⇄ RESEARCH → PLAN →? PUBLISH`): lexer, parser, tree, the
//! decoded-to-raw offset map for KDL string literals, and graph export. Pure: no IO.
//!
//! `parse` never fails: it returns the best tree it could build plus every error it found, so
//! the manifest checks can report all problems in one run. Spans are byte ranges in the decoded
//! string; `value_offsets` maps them back into the manifest file. See GRAMMAR.md.

mod ast;
mod graph;

mod lexer;
mod parser;
mod source_map;
#[cfg(test)]
mod tests;

pub use ast::{Entry, Pipeline, Stage, StageBody, Step, Unit};
pub use graph::{Edge, EdgeKind, Graph, Node, NodeKind, condition_name, lower};
pub use source_map::value_offsets;

use std::ops::Range;

use crate::diag::Code;

/// A problem in an operator string. Spans are byte ranges in the decoded string, always on char
/// boundaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub code: Code,
    pub span: Range<usize>,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    /// Other places that explain the error, e.g. the first occurrence of a duplicate step.
    pub related: Vec<(Range<usize>, String)>,
}

impl OpError {
    pub(crate) fn new(
        code: Code,
        span: Range<usize>,
        message: String,
        label: &str,
        help: Option<String>,
    ) -> OpError {
        OpError {
            code,
            span,
            message,
            label: label.to_owned(),
            help,
            related: Vec::new(),
        }
    }
}

/// Parses an operator string. Never fails: the best tree it could build, plus every error in
/// source order.
pub fn parse(src: &str) -> (Pipeline, Vec<OpError>) {
    let (tokens, mut errors) = lexer::lex(src);
    let pipeline = parser::parse_tokens(src, &tokens, &mut errors);
    errors.sort_by_key(|it| (it.span.start, it.span.end));
    (pipeline, errors)
}
