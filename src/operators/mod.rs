//! Pipeline operator strings (`IDEATE ⇄ RESEARCH → PLAN →? PUBLISH`): lexer, parser, tree.
//!
//! `parse` never fails: it returns the best tree it could build plus every error it found, so
//! the manifest checks can report all problems in one run. See GRAMMAR.md.

mod ast;

pub use ast::{Entry, Pipeline, Stage, StageBody, Step, Unit};

use std::ops::Range;

use crate::diag::Code;

/// A problem in an operator string. The span is a byte range in the decoded string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub code: Code,
    pub span: Range<usize>,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

/// Parses an operator string. Never fails: the best tree it could build, plus every error.
/// (The parser lands with the operator-grammar work; this signature is the contract.)
pub fn parse(_src: &str) -> (Pipeline, Vec<OpError>) {
    (Pipeline { stages: Vec::new() }, Vec::new())
}

/// Maps byte offsets in a decoded KDL string value to byte offsets in its raw literal (`"…"` with
/// escapes, `#"…"#` raw, `"""` multi-line). Entry `i` is the raw offset of decoded byte `i`; one
/// extra entry maps the end. `None` if `raw` is not a string literal.
/// (The mapping lands with the operator-grammar work; this signature is the contract.)
pub fn value_offsets(_raw: &str) -> Option<Vec<usize>> {
    None
}
