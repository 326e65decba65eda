//! Text edits of a manifest (`restack add`): a new top-level node is inserted as text, so every
//! other byte of the file — comments, formatting, blank lines — stays exactly as it was.
//!
//! Pure: text in, text out. It parses its own copy of the document only to find where nodes end,
//! and never checks what it inserts: the caller analyzes the edited text like any manifest and
//! refuses it if it has errors.

use std::fmt::Write as _;

use crate::manifest::quick;

/// A node to insert, built from its parts; rendered in the canonical format of `restack fmt`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub name: String,
    /// Arguments, as KDL literals (see [`Node::string`]).
    pub args: Vec<String>,
    /// Properties, with values as KDL literals.
    pub props: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn new(name: &str) -> Node {
        Node {
            name: name.to_owned(),
            ..Node::default()
        }
    }

    /// Adds a string argument.
    #[must_use]
    pub fn string(mut self, value: &str) -> Node {
        self.args.push(quote(value));
        self
    }

    /// Adds an argument written as a KDL literal (`3`, `#true`).
    #[must_use]
    pub fn literal(mut self, value: &str) -> Node {
        self.args.push(value.to_owned());
        self
    }

    /// Adds a child node.
    #[must_use]
    pub fn child(mut self, child: Node) -> Node {
        self.children.push(child);
        self
    }

    /// The node as canonical KDL, ending in a newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(0, &mut out);
        out
    }

    fn write(&self, depth: usize, out: &mut String) {
        out.push_str(&"    ".repeat(depth));
        out.push_str(&self.name);
        for arg in &self.args {
            let _ = write!(out, " {arg}");
        }
        for (key, value) in &self.props {
            let _ = write!(out, " {key}={value}");
        }
        if !self.children.is_empty() {
            out.push_str(" {\n");
            for child in &self.children {
                child.write(depth + 1, out);
            }
            out.push_str(&"    ".repeat(depth));
            out.push('}');
        }
        out.push('\n');
    }
}

/// A KDL quoted string for `value`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The manifest text is not KDL, so there is nowhere safe to insert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the manifest is not valid KDL")]
pub struct NotKdl;

/// `src` with `node` inserted after the last top-level node of the same name (its line, with
/// any trailing comment, stays intact), or at the end of the file, after a blank line.
pub fn insert(src: &str, node: &Node) -> Result<String, NotKdl> {
    let doc = quick::parse(src).map_err(|_| NotKdl)?;
    let text = node.render();
    // A file with Windows line ends keeps them.
    let (text, newline) = if src.contains("\r\n") {
        (text.replace('\n', "\r\n"), "\r\n")
    } else {
        (text, "\n")
    };
    let after = doc
        .nodes()
        .iter()
        .rev()
        .find(|it| it.name().value() == node.name)
        .map(|it| (it.span().offset() + it.span().len()).min(src.len()))
        .and_then(|end| line_end(src, end));
    let mut out = String::with_capacity(src.len() + text.len() + 2);
    if let Some(at) = after {
        out.push_str(&src[..at]);
        if !out.ends_with('\n') {
            out.push_str(newline);
        }
        out.push_str(newline);
        out.push_str(&text);
        out.push_str(&src[at..]);
    } else {
        out.push_str(src);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(newline);
        }
        if !out.trim().is_empty() {
            out.push_str(newline);
        }
        out.push_str(&text);
    }
    Ok(out)
}

/// The offset just past the end of the line containing `at`, when the rest of that line holds
/// only spaces, `;` and a line comment; `None` when another node follows on the same line.
fn line_end(src: &str, at: usize) -> Option<usize> {
    let rest = src.get(at..)?;
    let line_len = rest.find('\n').map_or(rest.len(), |it| it + 1);
    let line = &rest[..line_len];
    let code = line.split("//").next().unwrap_or("");
    if code.chars().all(|c| c.is_whitespace() || c == ';') {
        Some(at + line_len)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{Node, insert, quote};

    fn check(src: &str, node: &Node, expect: &str) {
        assert_eq!(insert(src, node).expect("inserts"), expect);
    }

    #[test]
    fn after_the_last_node_of_its_kind() {
        let node = Node::new("function").string("B");
        check(
            "function \"A\" {} // a\nworkflow \"W\" {}\n",
            &node,
            "function \"A\" {} // a\n\nfunction \"B\"\nworkflow \"W\" {}\n",
        );
    }

    #[test]
    fn at_the_end_without_one() {
        let node = Node::new("prompt")
            .string("p")
            .child(Node::new("text").string("hi"));
        check(
            "project \"x\"\n// end",
            &node,
            "project \"x\"\n// end\n\nprompt \"p\" {\n    text \"hi\"\n}\n",
        );
    }

    #[test]
    fn keeps_windows_line_ends() {
        let node = Node::new("function")
            .string("B")
            .child(Node::new("output").string("int"));
        check(
            "function \"A\"\r\n",
            &node,
            "function \"A\"\r\n\r\nfunction \"B\" {\r\n    output \"int\"\r\n}\r\n",
        );
    }

    #[test]
    fn quotes_escapes() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
