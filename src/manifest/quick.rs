//! A fast path for [`KdlDocument::parse`]: a hand-written parser for the part of KDL 2.0 that
//! manifests are written in, which builds exactly the document `kdl` builds — the same values,
//! the same formatting strings and the same spans — in a small fraction of the time.
//!
//! `kdl`'s parser is built from parser combinators that allocate on many failed alternatives; it
//! was most of the time `validate` took, and a third of a first `apply`'s compile. [`parse`]
//! tries [`fast`] and hands the text to `kdl` whenever `fast` meets anything outside its subset,
//! so every error, every diagnostic and every rare construct still comes from `kdl` itself:
//! `fast` never reports an error, it only declines.
//!
//! The subset (anything else declines):
//! - spaces and tabs, LF and CRLF newlines, `//` comments;
//! - node names and property keys as bare identifiers of ASCII characters, or quoted strings;
//! - arguments and property values: quoted strings (with the escapes `\" \\ \b \f \n \r \t \s
//!   \u{…}`), multi-line `"""` strings (LF newlines, space/tab indentation, no `"` and no
//!   whitespace escapes in the body), bare identifiers, decimal integers and floats without `_`,
//!   `#true`, `#false` and `#null`;
//! - children blocks and `;` terminators.
//!
//! Declined: type annotations, slashdash comments (`/-`), `/* */` comments, line continuations
//! (`\`), raw strings (`#"…"#`), hexadecimal, octal and binary numbers, `#inf`, `#-inf`, `#nan`,
//! identifiers starting with a sign or a dot, and any character outside ASCII except inside
//! strings and comments (Unicode spaces and newlines, a byte-order mark).
//!
//! The mirror of `kdl`'s choices (its `v2_parser`): a node's span runs from its name to the end of
//! its last entry, children block and the spaces after them, never over its terminator; an
//! entry's span covers `key=value`; a children block's span runs from its first node to the end
//! of its last; the first node of a document carries the document's leading whitespace and
//! comments, and the text after the last node's terminator is the document's trailing format.
//! The differential tests below hold `fast` to `kdl` on every manifest in the repository and on
//! random documents.

use kdl::{
    KdlDocument, KdlDocumentFormat, KdlEntry, KdlEntryFormat, KdlError, KdlIdentifier, KdlNode,
    KdlNodeFormat, KdlValue,
};

use crate::manifest::decode::MAX_DEPTH;

/// [`KdlDocument::parse`], by [`fast`] where it can.
pub(crate) fn parse(text: &str) -> Result<KdlDocument, KdlError> {
    fast(text).map_or_else(|| KdlDocument::parse(text), Ok)
}

/// The document `kdl` would parse from `text`, or `None` when `text` is not in the subset this
/// parser reads (which includes every text with an error).
fn fast(text: &str) -> Option<KdlDocument> {
    let mut parser = Parser {
        src: text,
        pos: 0,
        depth: 0,
    };
    let doc = parser.nodes()?;
    (parser.pos == text.len()).then_some(doc)
}

/// The longest run of digits read in a number: `kdl` reads each run as an `i128` and fails
/// beyond it, so longer runs are declined rather than mirrored.
const MAX_DIGITS: usize = 30;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// How many children blocks the cursor is in.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn at(&self, ahead: usize) -> Option<u8> {
        self.bytes().get(self.pos + ahead).copied()
    }

    fn text(&self, from: usize) -> &'a str {
        &self.src[from..self.pos]
    }

    /// Skips spaces and tabs. Declines before anything else `kdl` counts as space between
    /// entries (`\`, `/*`, `/-`, Unicode spaces).
    fn spaces(&mut self) -> Option<()> {
        while let Some(b' ' | b'\t') = self.peek() {
            self.pos += 1;
        }
        match (self.peek(), self.at(1)) {
            (Some(b'\\' | 0x0b | 0x0c | 0x80..), _) | (Some(b'/'), Some(b'*' | b'-')) => None,
            _ => Some(()),
        }
    }

    /// Skips spaces, newlines and `//` comments (what `kdl` allows before a node).
    fn line_space(&mut self) -> Option<()> {
        loop {
            self.spaces()?;
            let len = match (self.peek(), self.at(1)) {
                (Some(b'\n'), _) => 1,
                (Some(b'\r'), Some(b'\n')) => 2,
                (Some(b'\r'), _) => return None,
                (Some(b'/'), Some(b'/')) => self.comment_len()?,
                _ => return Some(()),
            };
            self.pos += len;
        }
    }

    /// The length of the `//` comment at the cursor with its newline, if it has one.
    fn comment_len(&self) -> Option<usize> {
        let rest = &self.bytes()[self.pos + 2..];
        let mut i = 0;
        loop {
            match (rest.get(i), rest.get(i + 1), rest.get(i + 2)) {
                (None, ..) => return Some(2 + i),
                (Some(b'\n'), ..) => return Some(3 + i),
                (Some(b'\r'), Some(b'\n'), _) => return Some(4 + i),
                // A lone CR, and the other newlines of KDL: U+000B, U+000C, U+0085, U+2028/9.
                (Some(b'\r' | 0x0b | 0x0c), ..)
                | (Some(0xc2), Some(0x85), _)
                | (Some(0xe2), Some(0x80), Some(0xa8 | 0xa9)) => return None,
                _ => i += 1,
            }
        }
    }

    /// The length of the node terminator at the cursor (`;`, a newline, or a `//` comment with
    /// its newline); 0 when there is none.
    fn terminator_len(&self) -> Option<usize> {
        Some(match (self.peek(), self.at(1)) {
            (Some(b';' | b'\n'), _) => 1,
            (Some(b'\r'), Some(b'\n')) => 2,
            (Some(b'\r'), _) => return None,
            (Some(b'/'), Some(b'/')) => self.comment_len()?,
            _ => 0,
        })
    }

    /// Whether a value or identifier may end here (`kdl`'s value terminator, within the subset).
    fn value_end(&self) -> Option<()> {
        match (self.peek(), self.at(1)) {
            (None | Some(b' ' | b'\t' | b'\n' | b';' | b'{' | b'}' | b'='), _)
            | (Some(b'\r'), Some(b'\n'))
            | (Some(b'/'), Some(b'/')) => Some(()),
            _ => None,
        }
    }

    /// The nodes of the document or of a children block, up to `}` or the end of the text,
    /// which is left for the caller.
    fn nodes(&mut self) -> Option<KdlDocument> {
        let start = self.pos;
        self.line_space()?;
        let first = self.pos;
        let mut leading = self.text(start);
        let mut nodes = Vec::new();
        let mut end = first;
        let mut trailing = "";
        if !matches!(self.peek(), None | Some(b'}')) {
            loop {
                let node = self.node(leading)?;
                end = self.pos;
                nodes.push(node);
                let len = self.terminator_len()?;
                if len == 0 {
                    if !matches!(self.peek(), None | Some(b'}')) {
                        return None;
                    }
                    break;
                }
                self.pos += len;
                let after = self.pos;
                self.line_space()?;
                if matches!(self.peek(), None | Some(b'}')) {
                    trailing = self.text(after);
                    break;
                }
                leading = self.text(after);
            }
            leading = "";
        }
        let mut doc = KdlDocument::new();
        *doc.nodes_mut() = nodes;
        doc.set_format(KdlDocumentFormat {
            leading: leading.to_owned(),
            trailing: trailing.to_owned(),
        });
        doc.set_span(first..end);
        Some(doc)
    }

    /// One node, from its name to the end of its span (the terminator is left for the caller).
    fn node(&mut self, leading: &str) -> Option<KdlNode> {
        let start = self.pos;
        let name = self.identifier()?;
        let mut entries = Vec::new();
        loop {
            let before = self.pos;
            self.spaces()?;
            if self.pos == before || self.at_entries_end() {
                self.pos = before;
                break;
            }
            entries.push(self.entry(before)?);
        }
        let before = self.pos;
        self.spaces()?;
        let mut node = KdlNode::new(name);
        let (before_children, before_terminator) = if self.peek() == Some(b'{') {
            let before_children = self.text(before);
            self.pos += 1;
            self.depth += 1;
            // Both parsers recurse per block; `decode` refuses deeper text before either runs.
            if self.depth > MAX_DEPTH {
                return None;
            }
            let children = self.nodes()?;
            self.depth -= 1;
            if self.peek() != Some(b'}') {
                return None;
            }
            self.pos += 1;
            node.set_children(children);
            (before_children, "")
        } else {
            ("", self.text(before))
        };
        // `kdl` records the terminator that follows at once, then takes the spaces after a
        // children block into the node's span.
        let len = self.terminator_len()?;
        let terminator = &self.src[self.pos..self.pos + len];
        self.spaces()?;
        *node.entries_mut() = entries;
        node.set_format(KdlNodeFormat {
            leading: leading.to_owned(),
            before_children: before_children.to_owned(),
            before_terminator: before_terminator.to_owned(),
            terminator: terminator.to_owned(),
            ..KdlNodeFormat::default()
        });
        node.set_span(start..self.pos);
        Some(node)
    }

    /// Whether the node's entries end here, after the spaces past the last one.
    fn at_entries_end(&self) -> bool {
        matches!(
            (self.peek(), self.at(1)),
            (None | Some(b'{' | b'}' | b';' | b'\n' | b'\r'), _) | (Some(b'/'), Some(b'/'))
        )
    }

    /// The argument or property after the spaces that began at `leading`.
    fn entry(&mut self, leading: usize) -> Option<KdlEntry> {
        let start = self.pos;
        let leading = self.text(leading);
        let (mut entry, after_key, after_eq, repr) = if self.at_identifier() {
            let key = self.identifier()?;
            let after_key = self.pos;
            self.spaces()?;
            if self.peek() == Some(b'=') {
                let before_eq = self.text(after_key);
                self.pos += 1;
                let after_eq = self.pos;
                self.spaces()?;
                let after_eq = self.text(after_eq);
                let (value, repr) = self.value()?;
                let mut entry = KdlEntry::new(value);
                entry.set_name(Some(key));
                (entry, before_eq, after_eq, repr)
            } else {
                self.pos = after_key;
                let repr = self.text(start);
                (KdlEntry::new(KdlValue::String(key.into())), "", "", repr)
            }
        } else {
            let (value, repr) = self.value()?;
            (KdlEntry::new(value), "", "", repr)
        };
        entry.set_format(KdlEntryFormat {
            value_repr: repr.to_owned(),
            leading: leading.to_owned(),
            after_key: after_key.to_owned(),
            after_eq: after_eq.to_owned(),
            ..KdlEntryFormat::default()
        });
        entry.set_span(start..self.pos);
        Some(entry)
    }

    /// Whether a string — quoted or a bare identifier — starts at the cursor.
    fn at_identifier(&self) -> bool {
        matches!(self.peek(), Some(b'"')) || self.peek().is_some_and(identifier_start)
    }

    /// A node name or property key: a quoted string or a bare identifier.
    fn identifier(&mut self) -> Option<KdlIdentifier> {
        let start = self.pos;
        let value = match self.peek()? {
            b'"' => self.string()?,
            first if identifier_start(first) => self.bare()?.to_owned(),
            _ => return None,
        };
        self.value_end()?;
        let mut identifier = KdlIdentifier::from(value);
        identifier.set_repr(self.text(start));
        identifier.set_span(start..self.pos);
        Some(identifier)
    }

    /// A value and its text.
    fn value(&mut self) -> Option<(KdlValue, &'a str)> {
        let start = self.pos;
        let value = match self.peek()? {
            b'"' => KdlValue::String(self.string()?),
            b'#' => self.keyword()?,
            b'0'..=b'9' | b'+' | b'-' => self.number()?,
            first if identifier_start(first) => KdlValue::String(self.bare()?.to_owned()),
            _ => return None,
        };
        self.value_end()?;
        Some((value, self.text(start)))
    }

    /// A bare identifier; declined when it is a keyword without its `#`, which `kdl` rejects.
    fn bare(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(identifier_char) {
            self.pos += 1;
        }
        let text = self.text(start);
        (!matches!(text, "true" | "false" | "null" | "inf" | "nan")).then_some(text)
    }

    fn keyword(&mut self) -> Option<KdlValue> {
        let rest = &self.bytes()[self.pos + 1..];
        let (value, len) = if rest.starts_with(b"true") {
            (KdlValue::Bool(true), 4)
        } else if rest.starts_with(b"false") {
            (KdlValue::Bool(false), 5)
        } else if rest.starts_with(b"null") {
            (KdlValue::Null, 4)
        } else {
            return None;
        };
        self.pos += 1 + len;
        Some(value)
    }

    /// A decimal integer (`i128`, as `kdl` reads it) or float.
    fn number(&mut self) -> Option<KdlValue> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        self.digits()?;
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits()?;
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
            float = true;
        }
        let text = self.text(start);
        if float {
            text.parse().ok().map(KdlValue::Float)
        } else {
            text.parse().ok().map(KdlValue::Integer)
        }
    }

    /// A run of 1 to [`MAX_DIGITS`] decimal digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.pos;
        while self.peek().is_some_and(|it| it.is_ascii_digit()) {
            self.pos += 1;
        }
        (1..=MAX_DIGITS).contains(&(self.pos - start)).then_some(())
    }

    /// A quoted string at the cursor, single-line or multi-line, and its value.
    fn string(&mut self) -> Option<String> {
        if self.bytes()[self.pos..].starts_with(b"\"\"\"") {
            return self.multi_line();
        }
        self.pos += 1;
        let mut value = String::new();
        let mut run = self.pos;
        loop {
            match self.peek()? {
                b'"' => {
                    value.push_str(self.text(run));
                    self.pos += 1;
                    return Some(value);
                }
                b'\\' => {
                    value.push_str(self.text(run));
                    let (it, len) = escape(&self.src[self.pos..])?;
                    value.push(it);
                    self.pos += len;
                    run = self.pos;
                }
                0x80.. => {
                    let it = self.src[self.pos..].chars().next()?;
                    if !string_char(it) {
                        return None;
                    }
                    self.pos += it.len_utf8();
                }
                byte if string_char(char::from(byte)) => self.pos += 1,
                _ => return None,
            }
        }
    }

    /// A `"""` string: the lines between the opening quotes and the line of the closing ones,
    /// each without the indentation of the closing line, joined by LF; lines of only spaces and
    /// tabs are empty.
    fn multi_line(&mut self) -> Option<String> {
        self.pos += 3;
        if self.peek() != Some(b'\n') {
            return None;
        }
        self.pos += 1;
        let mut lines = Vec::new();
        let prefix = loop {
            let start = self.pos;
            let newline = self.bytes()[start..].iter().position(|&it| it == b'\n');
            let line = &self.src[start..newline.map_or(self.src.len(), |it| start + it)];
            let content = line.trim_start_matches([' ', '\t']);
            if content.starts_with("\"\"\"") {
                let indent = line.len() - content.len();
                self.pos = start + indent + 3;
                break &line[..indent];
            }
            let len = newline?;
            lines.push(line);
            self.pos = start + len + 1;
        };
        if self.peek() == Some(b'"') {
            return None;
        }
        let mut value = String::new();
        for (i, line) in lines.into_iter().enumerate() {
            if i > 0 {
                value.push('\n');
            }
            if line.bytes().all(|it| matches!(it, b' ' | b'\t')) {
                continue;
            }
            let body = line.strip_prefix(prefix)?;
            let mut at = 0;
            let mut run = 0;
            while let Some(&byte) = body.as_bytes().get(at) {
                if byte == b'\\' {
                    value.push_str(&body[run..at]);
                    let (it, len) = escape(&body[at..])?;
                    value.push(it);
                    at += len;
                    run = at;
                    continue;
                }
                let it = body[at..].chars().next()?;
                if it == '"' || !string_char(it) || (!it.is_ascii() && UNICODE_SPACES.contains(&it))
                {
                    return None;
                }
                at += it.len_utf8();
            }
            value.push_str(&body[run..]);
        }
        Some(value)
    }
}

/// The escape that starts `text` (with its `\\`): the character it stands for and its length in
/// bytes; `None` for a whitespace escape, an unknown one, or a `\\u{…}` that is not a character.
pub(crate) fn escape(text: &str) -> Option<(char, usize)> {
    let it = match text.as_bytes().get(1)? {
        b'\\' => '\\',
        b'"' => '"',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b's' => ' ',
        b'u' => {
            let body = text[2..].strip_prefix('{')?;
            let digits = body
                .bytes()
                .take(6)
                .take_while(u8::is_ascii_hexdigit)
                .count();
            if digits == 0 || body.as_bytes().get(digits) != Some(&b'}') {
                return None;
            }
            let it = char::from_u32(u32::from_str_radix(&body[..digits], 16).ok()?)?;
            return Some((it, 4 + digits));
        }
        _ => return None,
    };
    Some((it, 2))
}

/// A character a single-line quoted string may hold as itself: not `"` or `\`, not a newline
/// of KDL and not one of the code points KDL disallows.
fn string_char(it: char) -> bool {
    !matches!(it,
        '"' | '\\'
        | '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        | '\u{0}'..='\u{8}' | '\u{e}'..='\u{1f}' | '\u{200e}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// The spaces of KDL 2.0.
pub(crate) const UNICODE_SPACES: [char; 18] = [
    '\u{9}', '\u{20}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}',
    '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}', '\u{200a}', '\u{202f}',
    '\u{205f}', '\u{3000}',
];

/// An ASCII character of a bare identifier.
fn identifier_char(byte: u8) -> bool {
    matches!(byte, b'!'..=b'~')
        && !matches!(
            byte,
            b'\\' | b'/' | b'(' | b')' | b'{' | b'}' | b'[' | b']' | b';' | b'"' | b'#' | b'='
        )
}

/// An ASCII character that starts a bare identifier (one starting with a sign or a dot is
/// declined: it might be a number).
fn identifier_start(byte: u8) -> bool {
    identifier_char(byte) && !matches!(byte, b'0'..=b'9' | b'+' | b'-' | b'.')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kdl::{KdlDocument, KdlNode};
    use proptest::prelude::*;

    use super::fast;

    /// Every span of a document, in order, with what it is the span of.
    fn spans(doc: &KdlDocument) -> Vec<(&'static str, usize, usize)> {
        fn walk(doc: &KdlDocument, out: &mut Vec<(&'static str, usize, usize)>) {
            let mut push = |what, span: miette::SourceSpan| {
                out.push((what, span.offset(), span.len()));
            };
            push("document", doc.span());
            for node in doc.nodes() {
                node_spans(node, out);
            }
        }
        fn node_spans(node: &KdlNode, out: &mut Vec<(&'static str, usize, usize)>) {
            let mut push = |what, span: miette::SourceSpan| {
                out.push((what, span.offset(), span.len()));
            };
            push("node", node.span());
            push("name", node.name().span());
            for entry in node.entries() {
                push("entry", entry.span());
                if let Some(name) = entry.name() {
                    push("key", name.span());
                }
            }
            if let Some(children) = node.children() {
                walk(children, out);
            }
        }
        let mut out = Vec::new();
        walk(doc, &mut out);
        out
    }

    /// Whether `fast` accepted `text`; when it did, its document is exactly `kdl`'s.
    fn agrees(text: &str) -> Result<bool, TestCaseError> {
        let Some(quick) = fast(text) else {
            return Ok(false);
        };
        let slow = KdlDocument::parse(text);
        prop_assert!(
            slow.is_ok(),
            "kdl rejects what fast accepts: {text:?}\n{slow:?}"
        );
        let slow = slow.unwrap();
        prop_assert_eq!(&quick, &slow, "{:?}", text);
        prop_assert_eq!(spans(&quick), spans(&slow), "{:?}", text);
        Ok(true)
    }

    fn check(text: &str) -> bool {
        agrees(text).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn every_manifest_in_the_repository_parses_as_kdl_parses_it() {
        fn visit(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && !path.ends_with("target") && !path.ends_with(".git") {
                    visit(&path, found);
                } else if path
                    .extension()
                    .is_some_and(|it| it == "kdl" || it == "example")
                {
                    found.push(path);
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut found = Vec::new();
        visit(root, &mut found);
        let mut accepted = 0;
        for path in &found {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            accepted += usize::from(check(&text));
            // Each top-level slice is parsed on its own too (see `decode::split`).
            for (i, _) in text.match_indices("\n}\n") {
                check(&text[..i + 3]);
                check(&text[i + 3..]);
            }
        }
        assert!(found.len() > 50, "{found:?}");
        // Most are in the subset; the rest test what it declines (type annotations, slashdash,
        // raw strings, syntax errors, text that is not UTF-8).
        assert!(
            accepted * 3 > found.len() * 2,
            "{accepted} of {}",
            found.len()
        );
        for example in ["restack.kdl.example", "examples/research/restack.kdl"] {
            let text = std::fs::read_to_string(root.join(example)).unwrap();
            assert!(check(&text), "{example} is in the subset");
        }
    }

    #[test]
    fn the_subset_is_what_it_says() {
        let accepted = [
            "",
            "\n\n",
            "// only a comment",
            "a",
            "a\n",
            "a;b;c",
            "a; b ;c ;",
            "a 1 2.5 -3 +4 1e3 2.5E-2 #true #false #null",
            "a b=1 c = \"x\" d\t=\tbare",
            "\"quoted name\" \"key\"=\"v\" \"arg\"",
            "a \"esc \\\" \\\\ \\b \\f \\n \\r \\t \\s \\u{41} \\u{1F600}\"",
            "a \"→ ⇄ é\"",
            "a {\n    b 1\n    c {\n        d\n    }\n}\n",
            "a{b}",
            "a { b; c }",
            "a {}",
            "a {  }  \n",
            "a {} // trailing\nb",
            "a 1 // c\n// line\n\n  b // c",
            "a // c\r\nb\r\n",
            "  \n\t// lead\n  a\n\n  // trail\n",
            "a \"\"\"\n    one\n\n      two \\n\n    \"\"\"\nb",
            "a \"\"\"\n\"\"\"",
            "a \"\"\n",
            "a x=\"\"\"\n  p → q\n  \"\"\" y=1",
            "a 007 -0 0.0 -0.0",
            "a ~!@$%^&*<>?,:'`|",
        ];
        for text in accepted {
            assert!(check(text), "declined: {text:?}");
        }
        let declined = [
            "(t)a",
            "a (t)1",
            "a /- 1",
            "/- a\nb",
            "a /* c */ 1",
            "a \\\n  1",
            "a #\"raw\"#",
            "a 0x1F 0o7 0b1",
            "a 1_000",
            "a #inf #-inf #nan",
            "a -b",
            "a .b",
            "a true",
            "\u{feff}a",
            "a\u{a0}1",
            "a\u{2028}b",
            "a\rb",
            "a \"x\\ \"",
            "a \"\"\"\n  \"quote\"\n  \"\"\"",
            "a \"\"\"\r\n  x\r\n  \"\"\"",
            "a 1234567890123456789012345678901",
            "}",
            "a {",
            "a \"unclosed",
            "a 1=2",
            "a b c=",
            "é",
        ];
        for text in declined {
            assert!(!check(text), "accepted: {text:?}");
        }
    }

    /// Pieces of KDL, valid and not, in and out of the subset.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "node",
            "a-b",
            "x",
            "\"str\"",
            "\"é→\"",
            "\"\\n\\u{41}\\\"\"",
            "\"\"",
            " ",
            " ",
            "\t",
            "\n",
            "\n",
            "\r\n",
            "\r",
            ";",
            "{",
            "}",
            "{",
            "}",
            "=",
            "//c\n",
            "// é\n",
            "//",
            "/*x*/",
            "/-",
            "1",
            "-2",
            "+3",
            "3.5",
            "1e3",
            "0.",
            "#true",
            "#null",
            "#nan",
            "#",
            "true",
            "(t)",
            "\\\n",
            "#\"raw\"#",
            "0x1F",
            "1_000",
            "+",
            "-",
            ".",
            ".5",
            "\u{a0}",
            "\u{2028}",
            "é",
            "\"\"\"\n",
            "  \"\"\"",
            "\"\"\"",
            "\"",
            "\\",
            "k=",
            "=v",
        ])
    }

    /// A document in the subset, more or less: nodes with entries and children, laid out in
    /// different ways.
    fn document(depth: u32) -> BoxedStrategy<String> {
        let name = prop::sample::select(vec!["a", "node", "\"quoted\"", "\"é x\"", "b.c"]);
        let value = prop::sample::select(vec![
            "1",
            "-2",
            "2.5",
            "1e3",
            "#true",
            "#null",
            "\"s\"",
            "\"→\"",
            "bare",
            "\"\"",
            "\"\"\"\n  ml\n\n  x\n  \"\"\"",
            "\"\\t\\u{3bb}\"",
        ]);
        let space = prop::sample::select(vec![" ", "  ", "\t", " \t"]);
        let entry = (
            space.clone(),
            prop::option::of((
                prop::sample::select(vec!["k", "\"q k\"", "x-y"]),
                space.clone(),
                space.clone(),
                any::<bool>(),
            )),
            value,
        )
            .prop_map(|(space, key, value)| match key {
                Some((key, before, after, spaced)) if spaced => {
                    format!("{space}{key}{before}={after}{value}")
                }
                Some((key, ..)) => format!("{space}{key}={value}"),
                None => format!("{space}{value}"),
            });
        let end = prop::sample::select(vec![
            "\n",
            ";",
            " ;",
            "\r\n",
            " // c\n",
            "\n\n",
            "\n  // c\n  ",
        ]);
        let children = if depth == 0 {
            Just(None).boxed()
        } else {
            prop::option::of((
                space.clone(),
                document(depth - 1),
                prop::sample::select(vec!["", " ", "\n"]),
            ))
            .boxed()
        };
        let node = (
            name,
            prop::collection::vec(entry, 0..4),
            children,
            prop::sample::select(vec!["", " "]),
            end,
        )
            .prop_map(|(name, entries, children, before_end, end)| {
                let children = children.map_or_else(String::new, |(space, doc, close)| {
                    format!("{space}{{{doc}{close}}}")
                });
                format!("{name}{}{children}{before_end}{end}", entries.concat())
            });
        (
            prop::sample::select(vec!["", "\n", "  ", "// top\n"]),
            prop::collection::vec(node, 0..4),
        )
            .prop_map(|(lead, nodes)| format!("{lead}{}", nodes.concat()))
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn random_text_parses_as_kdl_parses_it_or_is_declined(pieces in prop::collection::vec(piece(), 0..24)) {
            agrees(&pieces.concat())?;
        }

        #[test]
        fn random_documents_parse_as_kdl_parses_them(doc in document(2)) {
            prop_assert!(agrees(&doc)?, "declined: {:?}", doc);
        }
    }
}
