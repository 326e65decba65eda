//! Canonical formatting of a manifest (`restack fmt`), keeping every comment.
//!
//! Works on tokens, not on a parsed document, so that comments, slashdashed (`/-`) nodes and
//! entries, and the bytes of every string stay exactly as written. It must not change what the
//! manifest means: [`format`] re-parses its own output and refuses to return it unless the KDL
//! documents are equal and the comments are the same, in the same order. Pure: text in, text out.
//!
//! The canonical form:
//! - one node per line, indented by four spaces per block level; `;` separators become newlines;
//! - every block is expanded: `{` ends its node's line, each child is on its own line, `}` is on
//!   its own line at the node's indentation (a comment may follow it, or the `{`);
//! - one space between a node's name, arguments and properties; none around `=` or inside a
//!   `(type)` annotation; a line continuation `\` without a comment joins the lines;
//! - bare identifier values are quoted (`field to str` → `field "to" "str"`); quoted, raw and
//!   multi-line strings keep their exact spelling; node names and property keys are left as they
//!   are;
//! - at most one blank line between nodes, none at the start or end of a block or of the file;
//! - comments keep their text and their place: a comment on its own line stays on its own line
//!   (re-indented), a comment after a node stays after it; block comments and multi-line strings
//!   are copied byte for byte;
//! - the file ends with exactly one newline; line ends are `\n`, or `\r\n` when the first line
//!   of the file ends so.

use kdl::{KdlDocument, KdlNode};

use crate::manifest::quick;

/// Why a manifest was not formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The text is not KDL; the caller reports its diagnostics (`analyze`).
    #[error("the manifest is not valid KDL")]
    Syntax,
    /// The formatter would have changed the document's meaning or lost a comment. A bug.
    #[error("formatting would change the manifest ({0}); it was left as it is")]
    Unsafe(&'static str),
}

/// Formats `src` canonically. Idempotent: `format(format(x)) == format(x)`. A file whose first
/// line ends in `\r\n` keeps Windows line ends (all of them, then); any other gets `\n`.
pub fn format(src: &str) -> Result<String, FormatError> {
    let windows = src.find('\n').is_some_and(|at| src[..at].ends_with('\r'));
    if !windows {
        return format_lf(src);
    }
    let before = quick::parse(src).map_err(|_| FormatError::Syntax)?;
    let out = format_lf(&src.replace("\r\n", "\n"))?.replace('\n', "\r\n");
    let after =
        quick::parse(&out).map_err(|_| FormatError::Unsafe("the result is not valid KDL"))?;
    if shape(&before) != shape(&after) {
        return Err(FormatError::Unsafe("the nodes differ"));
    }
    Ok(out)
}

fn format_lf(src: &str) -> Result<String, FormatError> {
    let before = quick::parse(src).map_err(|_| FormatError::Syntax)?;
    let tokens = lex(src);
    let out = Printer::default().print(&tokens);
    let after =
        quick::parse(&out).map_err(|_| FormatError::Unsafe("the result is not valid KDL"))?;
    if shape(&before) != shape(&after) {
        return Err(FormatError::Unsafe("the nodes differ"));
    }
    if comments(&tokens) != comments(&lex(&out)) {
        return Err(FormatError::Unsafe("the comments differ"));
    }
    Ok(out)
}

// ---- tokens ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Space,
    Newline,
    LineComment(&'a str),
    BlockComment(&'a str),
    Slashdash,
    /// `\`, with the line comment that follows it, if any.
    Escline(Option<&'a str>),
    Open,
    Close,
    Semicolon,
    Equals,
    OpenParen,
    CloseParen,
    /// A quoted, raw or multi-line string, as written.
    Str(&'a str),
    /// A bare word: identifier, number or `#keyword`.
    Word(&'a str),
}

fn is_newline(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{85}' | '\u{b}' | '\u{c}' | '\u{2028}' | '\u{2029}'
    )
}

fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

fn ends_word(c: char) -> bool {
    is_space(c) || is_newline(c) || "{}();=\"/\\".contains(c)
}

/// Splits valid KDL into tokens. On input the KDL parser accepted, every byte lands in a token.
fn lex(src: &str) -> Vec<Tok<'_>> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(c) = src[at..].chars().next() {
        let rest = &src[at..];
        let (tok, len) = if rest.starts_with("\r\n") {
            (Tok::Newline, 2)
        } else if is_newline(c) {
            (Tok::Newline, c.len_utf8())
        } else if is_space(c) {
            (Tok::Space, c.len_utf8())
        } else if rest.starts_with("//") {
            let len = rest.find(is_newline).unwrap_or(rest.len());
            (Tok::LineComment(rest[..len].trim_end()), len)
        } else if rest.starts_with("/*") {
            let len = block_comment_len(rest);
            (Tok::BlockComment(&rest[..len]), len)
        } else if rest.starts_with("/-") {
            (Tok::Slashdash, 2)
        } else if c == '\\' {
            escline(rest)
        } else if c == '"' || (c == '#' && rest.trim_start_matches('#').starts_with('"')) {
            let len = string_len(rest);
            (Tok::Str(&rest[..len]), len)
        } else {
            match c {
                '{' => (Tok::Open, 1),
                '}' => (Tok::Close, 1),
                ';' => (Tok::Semicolon, 1),
                '=' => (Tok::Equals, 1),
                '(' => (Tok::OpenParen, 1),
                ')' => (Tok::CloseParen, 1),
                _ => {
                    let len = rest
                        .char_indices()
                        .skip(1)
                        .find(|(_, it)| ends_word(*it))
                        .map_or(rest.len(), |(index, _)| index);
                    (Tok::Word(&rest[..len]), len)
                }
            }
        };
        tokens.push(tok);
        at += len.max(1);
        while !src.is_char_boundary(at) {
            at += 1;
        }
    }
    tokens
}

/// The length of a (nestable) block comment at the start of `rest`.
fn block_comment_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let (mut depth, mut at) = (0usize, 0);
    while at < bytes.len() {
        if bytes[at..].starts_with(b"/*") {
            depth += 1;
            at += 2;
        } else if bytes[at..].starts_with(b"*/") {
            depth -= 1;
            at += 2;
            if depth == 0 {
                return at;
            }
        } else {
            at += 1;
        }
    }
    bytes.len()
}

/// `\` then spaces and block comments, an optional line comment and a newline. The token keeps
/// the comments, as written, from the first one to the end of the line.
fn escline(rest: &str) -> (Tok<'_>, usize) {
    let after = &rest[1..];
    let spaces = after.len() - after.trim_start_matches(is_space).len();
    let start = 1 + spaces;
    let mut end = start;
    loop {
        let tail = &rest[end..];
        let blank = tail.len() - tail.trim_start_matches(is_space).len();
        let tail = &tail[blank..];
        if tail.starts_with("/*") {
            end += blank + block_comment_len(tail);
        } else {
            if tail.starts_with("//") {
                end += blank + tail.find(is_newline).unwrap_or(tail.len());
            }
            break;
        }
    }
    let comment = Some(rest[start..end].trim_end()).filter(|it| !it.is_empty());
    let mut total = end;
    let tail = &rest[total..];
    let blank = tail.len() - tail.trim_start_matches(is_space).len();
    total += blank;
    let tail = &rest[total..];
    if tail.starts_with("\r\n") {
        total += 2;
    } else if let Some(c) = tail.chars().next().filter(|it| is_newline(*it)) {
        total += c.len_utf8();
    }
    (Tok::Escline(comment), total)
}

/// The length of a quoted, raw (`#"…"#`) or multi-line (`"""…"""`) string at the start of `rest`.
fn string_len(rest: &str) -> usize {
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    let body = &rest[hashes..];
    let quotes = if body.starts_with("\"\"\"") { 3 } else { 1 };
    let close = format!("{}{}", "\"".repeat(quotes), "#".repeat(hashes));
    let bytes = body.as_bytes();
    let mut at = quotes;
    while at < bytes.len() {
        if hashes == 0 && bytes[at] == b'\\' {
            at += 2;
            continue;
        }
        if bytes[at..].starts_with(close.as_bytes()) {
            return hashes + at + close.len();
        }
        at += 1;
    }
    rest.len()
}

/// Every comment, in order, with slashdashes counted as comments too.
fn comments<'a>(tokens: &[Tok<'a>]) -> Vec<Tok<'a>> {
    tokens
        .iter()
        .filter_map(|it| match it {
            Tok::LineComment(_) | Tok::BlockComment(_) | Tok::Slashdash => Some(*it),
            Tok::Escline(Some(text)) => Some(Tok::LineComment(text)),
            _ => None,
        })
        .collect()
}

// ---- printing ----

#[derive(Default)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent facts about the output position"
)]
struct Printer {
    out: String,
    depth: usize,
    /// Inside a node's line (name, entries), before its terminator.
    in_node: bool,
    /// The current output line has content that still needs its newline.
    open: bool,
    /// No space before the next token (after `=`, `(`, `)` and `/- `).
    glue: bool,
    /// Newlines seen since the last item; two or more make a blank line.
    newlines: usize,
    /// No item yet in the current block (or file): a blank line is not kept there.
    first: bool,
    /// The next word or string is the node's name (after `/-` or a `(type)`).
    expect_name: bool,
    /// A `\ // comment` continuation was written; its line continues the node.
    continued: bool,
    /// The last thing written is a block comment that opened its own line (between nodes).
    leading_comment: bool,
    /// `leading_comment` as it was before the current token.
    after_leading_comment: bool,
}

impl Printer {
    #[expect(clippy::too_many_lines, reason = "one arm per token kind")]
    fn print(mut self, tokens: &[Tok<'_>]) -> String {
        self.first = true;
        for (index, tok) in tokens.iter().enumerate() {
            if !matches!(tok, Tok::Space) {
                // Only a block comment between nodes sets it again.
                self.after_leading_comment = std::mem::take(&mut self.leading_comment);
            }
            match *tok {
                Tok::Space => {}
                Tok::Newline => {
                    self.end_continuation();
                    if self.in_node {
                        self.end_node();
                    } else if self.open {
                        self.newline();
                    }
                    self.newlines += 1;
                }
                Tok::Semicolon => {
                    if self.end_continuation() && self.in_node {
                        // An empty line ends the node the continuation kept open.
                        self.out.push('\n');
                    }
                    if self.in_node {
                        self.in_node = false;
                        self.newlines = 0;
                    }
                }
                Tok::LineComment(text) => {
                    if self.continued {
                        self.out.push('\n');
                        self.indent(self.depth + 1);
                        self.continued = false;
                    } else if self.open {
                        self.out.push(' ');
                    } else {
                        self.begin_item();
                    }
                    self.out.push_str(text);
                    self.open = true;
                    self.newlines = 0;
                }
                Tok::BlockComment(text) => {
                    if self.in_node {
                        self.word(text);
                    } else {
                        let own_line = !self.open;
                        if self.open {
                            self.out.push(' ');
                        } else {
                            self.begin_item();
                        }
                        self.out.push_str(text);
                        self.open = true;
                        self.newlines = 0;
                        self.leading_comment = own_line;
                    }
                }
                Tok::Slashdash => {
                    if self.in_node {
                        self.word("/-");
                    } else {
                        self.begin_node();
                        self.out.push_str("/-");
                    }
                    self.out.push(' ');
                    self.glue = true;
                }
                Tok::Escline(comment) => {
                    match comment {
                        Some(text) if self.in_node => {
                            self.word("\\");
                            self.out.push(' ');
                            self.out.push_str(text);
                            self.continued = true;
                        }
                        // Between nodes an escline is only space; its comment keeps its line.
                        Some(text) => {
                            self.begin_item();
                            self.out.push_str("\\ ");
                            self.out.push_str(text);
                            self.newline();
                            self.newlines = 1;
                        }
                        None => {}
                    }
                }
                Tok::Open => {
                    self.word("{");
                    self.in_node = false;
                    self.open = true;
                    self.glue = false;
                    self.depth += 1;
                    self.first = true;
                    self.newlines = 0;
                }
                Tok::Close => {
                    self.end_continuation();
                    if self.open {
                        self.newline();
                    }
                    self.depth = self.depth.saturating_sub(1);
                    self.indent(self.depth);
                    self.out.push('}');
                    self.in_node = true;
                    self.open = true;
                    self.glue = false;
                    self.first = false;
                    self.newlines = 0;
                }
                Tok::Equals => {
                    self.out.push('=');
                    self.glue = true;
                }
                Tok::OpenParen => {
                    if self.in_node {
                        self.word("(");
                    } else {
                        self.begin_node();
                        self.out.push('(');
                    }
                    self.glue = true;
                }
                Tok::CloseParen => {
                    self.out.push(')');
                    self.glue = true;
                }
                Tok::Str(text) => self.value(text, false, tokens, index),
                Tok::Word(text) => self.value(text, true, tokens, index),
            }
        }
        if !self.end_continuation() && (self.open || self.in_node) {
            self.out.push('\n');
        }
        self.out
    }

    /// A node that ends right after a `\ // comment` continuation: the continuation's newline is
    /// written, so that the terminator that follows still ends the node.
    fn end_continuation(&mut self) -> bool {
        if !self.continued {
            return false;
        }
        self.out.push('\n');
        self.continued = false;
        self.open = false;
        true
    }

    /// A string or word: a node name when no node is open, else an entry (or an annotation).
    fn value(&mut self, text: &str, bare: bool, tokens: &[Tok<'_>], index: usize) {
        if !self.in_node {
            self.begin_node();
        }
        let in_annotation = matches!(self.out.chars().last(), Some('('));
        if self.expect_name || in_annotation {
            self.word(text);
            self.expect_name &= in_annotation;
            return;
        }
        let is_key = tokens[index + 1..]
            .iter()
            .find(|it| !matches!(it, Tok::Space))
            .is_some_and(|it| matches!(it, Tok::Equals));
        if bare && !in_annotation && !is_key && is_identifier(text) {
            self.word(&format!("\"{text}\""));
        } else {
            self.word(text);
        }
    }

    /// Emits `text` inside a node, after one space unless glued.
    fn word(&mut self, text: &str) {
        if self.continued {
            self.out.push('\n');
            self.indent(self.depth + 1);
            self.continued = false;
        } else if !self.glue {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.glue = false;
    }

    fn begin_item(&mut self) {
        if self.open {
            self.newline();
        }
        if self.newlines >= 2 && !self.first {
            self.out.push('\n');
        }
        self.indent(self.depth);
        self.first = false;
        self.newlines = 0;
    }

    fn begin_node(&mut self) {
        // A block comment that opens a line stays in front of the node that follows it.
        if self.open && !self.in_node && self.after_leading_comment {
            self.out.push(' ');
        } else {
            self.begin_item();
        }
        self.in_node = true;
        self.open = true;
        self.glue = true;
        self.expect_name = true;
        self.newlines = 0;
    }

    fn end_node(&mut self) {
        self.newline();
        self.in_node = false;
        self.newlines = 0;
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.open = false;
        self.glue = false;
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("    ");
        }
    }
}

/// A bare KDL identifier string (not a number, not a `#keyword`).
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let second = chars.next();
    let numeric = first.is_ascii_digit()
        || (matches!(first, '+' | '-' | '.') && second.is_some_and(|it| it.is_ascii_digit()));
    !numeric && first != '#'
}

// ---- meaning ----

/// A document without formatting: names, annotations, entries and children, for comparison.
#[derive(Debug, PartialEq)]
struct Shape {
    ty: Option<String>,
    name: String,
    entries: Vec<(Option<String>, Option<String>, String)>,
    children: Option<Vec<Shape>>,
}

fn shape(doc: &KdlDocument) -> Vec<Shape> {
    doc.nodes().iter().map(node_shape).collect()
}

fn node_shape(node: &KdlNode) -> Shape {
    Shape {
        ty: node.ty().map(|it| it.value().to_owned()),
        name: node.name().value().to_owned(),
        entries: node
            .entries()
            .iter()
            .map(|it| {
                (
                    it.ty().map(|ty| ty.value().to_owned()),
                    it.name().map(|name| name.value().to_owned()),
                    format!("{:?}", it.value()),
                )
            })
            .collect(),
        children: node.children().map(shape),
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    fn check(input: &str, expect: &str) {
        let out = format(input).expect("formats");
        assert_eq!(out, expect, "\n--- got ---\n{out}");
        assert_eq!(format(&out).expect("formats again"), out, "not idempotent");
    }

    #[test]
    fn expands_blocks_and_quotes_bare_values() {
        check(
            "function SendEmail { input { field to str; field b \"str\" default=\"\" } ; output bool }\n",
            "function \"SendEmail\" {\n    input {\n        field \"to\" \"str\"\n        field \"b\" \"str\" default=\"\"\n    }\n    output \"bool\"\n}\n",
        );
    }

    #[test]
    fn keeps_comments_in_place() {
        check(
            "// head\n/* block\n   comment */\nproject \"blog\" { // open\n  package   \"blog\"   // trailing\n\n\n  /- task-queue \"x\"\n  engine address=\"a:1\" /* inline */ api-address=\"b:2\"\n  // last\n}\n\n\n// tail\n",
            "// head\n/* block\n   comment */\nproject \"blog\" { // open\n    package \"blog\" // trailing\n\n    /- task-queue \"x\"\n    engine address=\"a:1\" /* inline */ api-address=\"b:2\"\n    // last\n}\n\n// tail\n",
        );
    }

    #[test]
    fn keeps_strings_and_slashdashed_entries() {
        check(
            "prompt \"s\" {\n var \"a\" /- \"b\"\n text #\"raw \\n\"#\n text2 \"\"\"\n    multi\n    \"\"\"\n}",
            "prompt \"s\" {\n    var \"a\" /- \"b\"\n    text #\"raw \\n\"#\n    text2 \"\"\"\n    multi\n    \"\"\"\n}\n",
        );
    }

    #[test]
    fn keeps_commented_continuations() {
        check(
            "a 1 \\ // more\n  2\nb \\ // end\n;c \\ // x\n // y\n",
            "a 1 \\ // more\n    2\nb \\ // end\n\nc \\ // x\n    // y\n",
        );
    }

    #[test]
    fn keeps_windows_line_ends() {
        check(
            "a {\r\n  b 1; c /* x\r\n y */\r\n}\r\n",
            "a {\r\n    b 1\r\n    c /* x\r\n y */\r\n}\r\n",
        );
    }

    #[test]
    fn joins_continued_lines() {
        check(
            "retry attempts=3 \\\n    initial=\"1s\"\n",
            "retry attempts=3 initial=\"1s\"\n",
        );
    }
}
