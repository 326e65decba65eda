//! Recursive-descent parser from tokens to the operator tree; owns structural errors (dangling
//! operators, parentheses, missing operators, loops, duplicate steps) and must not report
//! spelling errors, which the lexer already did.
//!
//! ```text
//! pipeline := stage (("→" | "→?") stage)*
//! stage    := STEP "⇄" STEP | group
//! group    := unit ("⊕" unit)*
//! unit     := STEP | "(" pipeline ")"
//! ```
//!
//! Recovery: the parser never stops at an error. A missing operator is read as `→`, a stray `)`
//! is skipped, a missing operand is left out, and an invalid loop keeps all of its steps as a
//! fan-out group so that later checks still see every step. `expect_*` methods report user
//! errors; `presume_*` methods check invariants that the grammar already guarantees.
//!
//! An error right after an unknown character is not reported twice: `A $ B` is one
//! `unknown-character`, not also a `missing-operator`.

use std::collections::HashMap;
use std::ops::Range;

use crate::diag::Code;
use crate::operators::OpError;
use crate::operators::ast::{Entry, Pipeline, Stage, StageBody, Step, Unit};
use crate::operators::lexer::{Token, TokenKind};

/// Parses the tokens of `src` (as produced by `lexer::lex`) and appends errors to `errors`.
pub(crate) fn parse_tokens(src: &str, tokens: &[Token], errors: &mut Vec<OpError>) -> Pipeline {
    let mut significant = Vec::new();
    let mut after_error = false;
    for token in tokens {
        match token.kind {
            TokenKind::Whitespace => {}
            TokenKind::Error => after_error = true,
            kind => {
                significant.push(Sig {
                    kind,
                    span: token.span.clone(),
                    after_error,
                });
                after_error = false;
            }
        }
    }
    let has_error_tokens = tokens.iter().any(|it| it.kind == TokenKind::Error);
    significant.push(Sig {
        kind: TokenKind::Error,
        span: src.len()..src.len(),
        after_error,
    });

    let mut parser = Parser {
        src,
        tokens: significant,
        pos: 0,
        errors,
        stray_parens: Vec::new(),
    };
    let pipeline = parser.pipeline(0);
    debug_assert!(
        parser.at_eof(),
        "the top-level pipeline consumes every token"
    );
    if pipeline.stages.is_empty() && parser.tokens.len() == 1 && !has_error_tokens {
        parser.errors.push(OpError::new(
            Code::EmptyPipeline,
            0..src.len(),
            "empty pipeline".to_owned(),
            "no steps here",
            Some("name at least one step, e.g. `DRAFT → REVIEW`".to_owned()),
        ));
    }
    check_duplicates(&pipeline, parser.errors);
    pipeline
}

/// A significant token (no whitespace, no error tokens). The last one is the end of input,
/// marked with kind `Error` and an empty span at the end.
struct Sig {
    kind: TokenKind,
    span: Range<usize>,
    /// An unknown character came right before this token.
    after_error: bool,
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Sig>,
    pos: usize,
    errors: &'a mut Vec<OpError>,
    /// Token indices of `)` that were reported as unmatched and skipped.
    stray_parens: Vec<usize>,
}

/// One operand of a `⇄` chain while it is being parsed.
struct Operand {
    units: Vec<Unit>,
    span: Range<usize>,
}

impl Parser<'_> {
    fn current(&self) -> &Sig {
        &self.tokens[self.pos]
    }

    fn at_eof(&self) -> bool {
        self.pos + 1 == self.tokens.len()
    }

    fn at(&self, kind: TokenKind) -> bool {
        !self.at_eof() && self.current().kind == kind
    }

    fn bump(&mut self) -> Range<usize> {
        debug_assert!(!self.at_eof(), "cannot consume the end of input");
        let span = self.current().span.clone();
        self.pos += 1;
        span
    }

    /// The end offset of the last consumed token.
    fn last_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .map_or(0, |idx| self.tokens[idx].span.end)
    }

    fn error(&mut self, code: Code, span: Range<usize>, message: String, label: &str, help: &str) {
        self.errors.push(OpError::new(
            code,
            span,
            message,
            label,
            Some(help.to_owned()),
        ));
    }

    /// `pipeline := stage (("→" | "→?") stage)*`. At `depth > 0` it stops before a `)`.
    fn pipeline(&mut self, depth: usize) -> Pipeline {
        let mut stages = Vec::new();
        let mut entry = Entry::Then;
        loop {
            if let Some(stage) = self.stage(entry) {
                stages.push(stage);
            }
            entry = Entry::Then;
            // Between stages: an arrow, the end, or something to recover from.
            loop {
                if self.at_eof() || (depth > 0 && self.at(TokenKind::RParen)) {
                    return Pipeline { stages };
                }
                match self.current().kind {
                    TokenKind::Then | TokenKind::ThenIf => {
                        if self.current().kind == TokenKind::ThenIf && !stages.is_empty() {
                            entry = Entry::If;
                        }
                        self.bump();
                        break;
                    }
                    TokenKind::RParen => {
                        self.stray_parens.push(self.pos);
                        let span = self.bump();
                        self.error(
                            Code::UnbalancedParen,
                            span,
                            "unmatched `)`".to_owned(),
                            "no `(` opens this",
                            "remove it, or add the `(` that it closes",
                        );
                    }
                    TokenKind::Step | TokenKind::LParen => {
                        self.expect_operator();
                        break;
                    }
                    // `stage` consumes every `⊕` and `⇄` that follows an operand, so this one
                    // follows a stray `)` and has no left operand.
                    TokenKind::FanOut | TokenKind::Loop => {
                        self.report_dangling_current();
                        self.bump();
                        break;
                    }
                    TokenKind::Whitespace | TokenKind::Error => {
                        self.presume_unreachable_between_stages();
                        self.pos += 1;
                    }
                }
            }
        }
    }

    /// Reports `missing-operator` before the operand at the current position; the caller then
    /// reads it as if `→` had been written.
    fn expect_operator(&mut self) {
        let after_stray_paren = self
            .pos
            .checked_sub(1)
            .is_some_and(|it| self.stray_parens.contains(&it));
        if self.current().after_error || after_stray_paren {
            return;
        }
        let span = self.current().span.clone();
        let text = &self.src[span.clone()];
        self.error(
            Code::MissingOperator,
            span,
            format!("missing operator before `{text}`"),
            "expected an operator before this",
            "join steps with an operator: `→` (then), `→?` (then if), `⇄` (loop) or `⊕` (fan out)",
        );
    }

    /// `stage := STEP "⇄" STEP | group`, parsed as `group ("⇄" group)*` and then checked, so
    /// that a bad loop is reported precisely instead of as a confusing dangling operator.
    fn stage(&mut self, entry: Entry) -> Option<Stage> {
        let start_pos = self.pos;
        let mut operands = vec![self.group()];
        while self.at(TokenKind::Loop) {
            self.bump();
            operands.push(self.group());
        }
        if self.pos == start_pos {
            return None;
        }
        let start = self.tokens[start_pos].span.start;
        let span = start..self.last_end();
        let body = if operands.len() == 1 {
            let units = operands.pop().map(|it| it.units).unwrap_or_default();
            if units.is_empty() {
                return None;
            }
            StageBody::Group { units }
        } else {
            self.expect_loop(operands)?
        };
        Some(Stage { entry, body, span })
    }

    /// Checks a `⇄` chain: exactly two operands, each one plain step.
    fn expect_loop(&mut self, operands: Vec<Operand>) -> Option<StageBody> {
        // A missing operand was already reported as a dangling operator.
        let complete = operands.iter().all(|it| !it.units.is_empty());
        if complete {
            for (idx, operand) in operands.iter().enumerate() {
                if idx >= 2 {
                    let start = self.tokens_before(operand.span.start);
                    let end = operands.last().map_or(operand.span.end, |it| it.span.end);
                    self.error(
                        Code::InvalidLoop,
                        start..end,
                        "a loop joins exactly two steps".to_owned(),
                        "a third operand of `⇄`",
                        "write one loop per stage and chain stages with `→`: `A ⇄ B → C`",
                    );
                    break;
                }
                if !matches!(operand.units.as_slice(), [Unit::Step(_)]) {
                    let text = &self.src[operand.span.clone()];
                    self.error(
                        Code::InvalidLoop,
                        operand.span.clone(),
                        format!("`{text}` cannot be part of a loop"),
                        "not a single step",
                        "`⇄` joins two single steps (`DRAFT ⇄ REVIEW`); run groups before or \
                         after the loop with `→`",
                    );
                }
            }
        }
        let valid = complete
            && operands.len() == 2
            && operands
                .iter()
                .all(|it| matches!(it.units.as_slice(), [Unit::Step(_)]));
        let mut units: Vec<Unit> = operands.into_iter().flat_map(|it| it.units).collect();
        if valid {
            let b = units.pop();
            let a = units.pop();
            if let (Some(Unit::Step(a)), Some(Unit::Step(b))) = (a, b) {
                return Some(StageBody::Loop { a, b });
            }
            debug_assert!(false, "a valid loop has two step operands");
            return None;
        }
        if units.is_empty() {
            None
        } else {
            Some(StageBody::Group { units })
        }
    }

    /// The start of the `⇄` token right before the operand starting at `operand_start`.
    fn tokens_before(&self, operand_start: usize) -> usize {
        self.tokens
            .iter()
            .rev()
            .find(|it| it.kind == TokenKind::Loop && it.span.end <= operand_start)
            .map_or(operand_start, |it| it.span.start)
    }

    /// `group := unit ("⊕" unit)*`.
    fn group(&mut self) -> Operand {
        let start_pos = self.pos;
        let mut units = Vec::new();
        loop {
            if let Some(unit) = self.unit() {
                units.push(unit);
            }
            if self.at(TokenKind::FanOut) {
                self.bump();
            } else {
                break;
            }
        }
        let span = if self.pos == start_pos {
            let at = self.current().span.start;
            at..at
        } else {
            self.tokens[start_pos].span.start..self.last_end()
        };
        Operand { units, span }
    }

    /// `unit := STEP | "(" pipeline ")"`. Reports a missing operand and returns `None`.
    fn unit(&mut self) -> Option<Unit> {
        if self.at(TokenKind::Step) {
            let span = self.bump();
            return Some(Unit::Step(Step {
                name: self.src[span.clone()].to_owned(),
                span,
            }));
        }
        if self.at(TokenKind::LParen) {
            let open = self.bump();
            let pipeline = self.pipeline(1);
            if self.at(TokenKind::RParen) {
                let close = self.bump();
                let inner_empty = self.tokens[self.pos - 2].span == open;
                if pipeline.stages.is_empty() && inner_empty && !self.current_was_after_error() {
                    self.error(
                        Code::EmptyPipeline,
                        open.start..close.end,
                        "empty parentheses".to_owned(),
                        "no steps inside",
                        "put at least one step inside, or remove the parentheses",
                    );
                }
            } else {
                self.presume_eof();
                self.error(
                    Code::UnbalancedParen,
                    open,
                    "unclosed `(`".to_owned(),
                    "this `(` is never closed",
                    "add the matching `)`",
                );
            }
            return Some(Unit::Nested { pipeline });
        }
        self.report_missing_operand();
        None
    }

    /// Whether an unknown character sat right before the last consumed token.
    fn current_was_after_error(&self) -> bool {
        self.pos
            .checked_sub(1)
            .is_some_and(|idx| self.tokens[idx].after_error)
    }

    fn presume_unreachable_between_stages(&self) {
        debug_assert!(
            false,
            "whitespace and error tokens are filtered out, found `{:?}`",
            self.current().kind
        );
    }

    fn presume_eof(&self) {
        debug_assert!(
            self.at_eof(),
            "a nested pipeline stops only at `)` or the end"
        );
    }

    /// An operand was expected at the current position but is not there.
    fn report_missing_operand(&mut self) {
        if self.current().after_error {
            return;
        }
        if self.is_operator(self.pos) && !self.at_eof() {
            self.report_dangling_current();
        } else if let Some(prev) = self.pos.checked_sub(1).filter(|it| self.is_operator(*it)) {
            let span = self.tokens[prev].span.clone();
            let text = &self.src[span.clone()];
            self.error(
                Code::DanglingOperator,
                span,
                format!("`{text}` has nothing after it"),
                "expected a step after this operator",
                "add a step after the operator, or remove the operator",
            );
        }
    }

    /// The operator at the current position has nothing before it.
    fn report_dangling_current(&mut self) {
        if self.current().after_error {
            return;
        }
        let span = self.current().span.clone();
        let text = &self.src[span.clone()];
        let follows_operator = self
            .pos
            .checked_sub(1)
            .is_some_and(|it| self.is_operator(it));
        let message = if follows_operator {
            format!("`{text}` follows another operator")
        } else {
            format!("`{text}` has nothing before it")
        };
        self.error(
            Code::DanglingOperator,
            span,
            message,
            "expected a step before this operator",
            "add a step before the operator, or remove the operator",
        );
    }

    fn is_operator(&self, idx: usize) -> bool {
        idx + 1 < self.tokens.len()
            && matches!(
                self.tokens[idx].kind,
                TokenKind::Then | TokenKind::ThenIf | TokenKind::Loop | TokenKind::FanOut
            )
    }
}

/// Reports every occurrence of a step after its first, with the first as related.
fn check_duplicates(pipeline: &Pipeline, errors: &mut Vec<OpError>) {
    let mut first_seen: HashMap<&str, Range<usize>> = HashMap::new();
    for step in pipeline.steps() {
        if let Some(first) = first_seen.get(step.name.as_str()) {
            let mut error = OpError::new(
                Code::DuplicateStep,
                step.span.clone(),
                format!("duplicate step `{}`", step.name),
                "used again here",
                Some(
                    "each step occurs once per pipeline; to run the same logic twice, map two \
                     steps to the same function with `map`"
                        .to_owned(),
                ),
            );
            error
                .related
                .push((first.clone(), "first used here".to_owned()));
            errors.push(error);
        } else {
            first_seen.insert(step.name.as_str(), step.span.clone());
        }
    }
}
