//! Splits an operator string into tokens; owns spelling errors (unknown characters, bad step
//! names, half-written operators) and must not judge structure, which is the parser's job.
//!
//! Every character of the input lands in exactly one token, so token spans tile the string. A
//! character the grammar does not know becomes an [`TokenKind::Error`] token (and an
//! [`OpError`]); a word that is not UPPER_SNAKE still becomes a [`TokenKind::Step`] token so the
//! parser can build a tree around it.

use std::ops::Range;

use heck::ToShoutySnakeCase;

use crate::diag::Code;
use crate::operators::OpError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An UPPER_SNAKE word (or a malformed word that was reported as `invalid-step-name`).
    Step,
    /// `→` / `->`.
    Then,
    /// `→?` / `->?`.
    ThenIf,
    /// `⇄` / `<->`.
    Loop,
    /// `⊕` / `+`.
    FanOut,
    LParen,
    RParen,
    Whitespace,
    /// Characters the grammar does not know; already reported.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) span: Range<usize>,
}

/// Tokenizes `src`. The tokens cover `src` without gaps; the errors are in source order.
pub(crate) fn lex(src: &str) -> (Vec<Token>, Vec<OpError>) {
    let mut lexer = Lexer {
        src,
        pos: 0,
        tokens: Vec::new(),
        errors: Vec::new(),
    };
    while let Some(ch) = lexer.peek(0) {
        lexer.lex_one(ch);
    }
    (lexer.tokens, lexer.errors)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    errors: Vec<OpError>,
}

impl Lexer<'_> {
    /// The `n`-th character from the current position.
    fn peek(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    /// Consumes `n_bytes` bytes as one token of `kind`.
    fn push(&mut self, kind: TokenKind, n_bytes: usize) {
        let start = self.pos;
        self.pos += n_bytes;
        debug_assert!(
            self.src.is_char_boundary(self.pos),
            "token must end on a char boundary"
        );
        self.tokens.push(Token {
            kind,
            span: start..self.pos,
        });
    }

    fn lex_one(&mut self, ch: char) {
        match ch {
            '→' => {
                if self.peek(1) == Some('?') {
                    self.push(TokenKind::ThenIf, '→'.len_utf8() + 1);
                } else {
                    self.push(TokenKind::Then, '→'.len_utf8());
                }
            }
            '⇄' => self.push(TokenKind::Loop, '⇄'.len_utf8()),
            '⊕' => self.push(TokenKind::FanOut, '⊕'.len_utf8()),
            '+' => self.push(TokenKind::FanOut, 1),
            '(' => self.push(TokenKind::LParen, 1),
            ')' => self.push(TokenKind::RParen, 1),
            '-' => match (self.peek(1), self.peek(2)) {
                (Some('>'), Some('?')) => self.push(TokenKind::ThenIf, 3),
                (Some('>'), _) => self.push(TokenKind::Then, 2),
                _ => self.error(
                    1,
                    "`-` without `>`",
                    "not an operator",
                    "did you mean `->` (or `→`), run the next stage after this one",
                ),
            },
            '<' => match (self.peek(1), self.peek(2)) {
                (Some('-'), Some('>')) => self.push(TokenKind::Loop, 3),
                (Some('-'), _) => self.error(
                    2,
                    "`<-` without `>`",
                    "not an operator",
                    "did you mean `<->` (or `⇄`), the refine loop",
                ),
                _ => self.error(
                    1,
                    "unknown character `<`",
                    "not part of the operator grammar",
                    "did you mean `<->` (or `⇄`), the refine loop",
                ),
            },
            '?' => self.error(
                1,
                "`?` without a preceding arrow",
                "`?` must follow `→` or `->` directly",
                "write `→?` (or `->?`) for a conditional stage",
            ),
            '>' => self.error(
                1,
                "unknown character `>`",
                "not part of the operator grammar",
                "did you mean `->` (or `→`)",
            ),
            ',' | '&' | '|' => self.error(
                1,
                &format!("unknown character `{ch}`"),
                "not part of the operator grammar",
                "did you mean `+` (or `⊕`), the fan-out",
            ),
            ch if ch.is_whitespace() => {
                let n_bytes = self.src[self.pos..]
                    .char_indices()
                    .find(|(_, it)| !it.is_whitespace())
                    .map_or(self.src.len() - self.pos, |(idx, _)| idx);
                self.push(TokenKind::Whitespace, n_bytes);
            }
            ch if ch.is_ascii_alphanumeric() || ch == '_' => self.word(),
            ch => self.error(
                ch.len_utf8(),
                &format!("unknown character `{}`", ch.escape_debug()),
                "not part of the operator grammar",
                "operator strings hold UPPER_SNAKE steps, `→ →? ⇄ ⊕` (or `-> ->? <-> +`), \
                 parentheses and spaces",
            ),
        }
    }

    /// A maximal run of ASCII letters, digits and `_`.
    fn word(&mut self) {
        let rest = &self.src[self.pos..];
        let n_bytes = rest
            .find(|it: char| !(it.is_ascii_alphanumeric() || it == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..n_bytes];
        if !is_step_name(word) {
            let suggestion = word.to_shouty_snake_case();
            let help = if is_step_name(&suggestion) {
                format!("steps are UPPER_SNAKE: write `{suggestion}`")
            } else {
                "steps are UPPER_SNAKE: an uppercase letter, then uppercase letters, digits and `_`"
                    .to_owned()
            };
            self.errors.push(OpError::new(
                Code::InvalidStepName,
                self.pos..self.pos + n_bytes,
                format!("invalid step name `{word}`"),
                "not UPPER_SNAKE",
                Some(help),
            ));
        }
        self.push(TokenKind::Step, n_bytes);
    }

    /// Reports the next `n_bytes` bytes as unknown and consumes them as one error token.
    fn error(&mut self, n_bytes: usize, message: &str, label: &str, help: &str) {
        self.errors.push(OpError::new(
            Code::UnknownCharacter,
            self.pos..self.pos + n_bytes,
            message.to_owned(),
            label,
            Some(help.to_owned()),
        ));
        self.push(TokenKind::Error, n_bytes);
    }
}

/// UPPER_SNAKE: an uppercase ASCII letter, then uppercase letters, digits and `_`.
pub(crate) fn is_step_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|it| it.is_ascii_uppercase())
        && chars.all(|it| it.is_ascii_uppercase() || it.is_ascii_digit() || it == '_')
}
