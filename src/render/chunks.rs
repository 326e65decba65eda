//! Splits Python source into chunks of whole top-level statements, so that `check` can parse a
//! large file a piece at a time. Only proposes where to split: parsing the chunks is what proves
//! a split right (see `check`'s module doc), so a wrong guess here costs memory, never a verdict.
//!
//! A byte scanner, not `ruff_python_parser::lexer`: in ruff 0.0.10 the lexer's public API yields
//! token kinds only (its token ranges and its errors are crate-private), and split points are
//! offsets. The scanner knows just enough Python to place them: strings (any prefix, single or
//! triple quotes, backslash escapes), comments, brackets and backslash line joins. Where it is
//! unsure (an unterminated string, an unmatched closing bracket, a stray backslash) it stops
//! proposing split points, so the rest of the file is one chunk.

/// `source` cut at split points into chunks that cover it in order, each at most `max_len` bytes
/// unless a single statement (or run of statements that cannot be split) is longer.
pub(super) fn split(source: &str, max_len: usize) -> Vec<&str> {
    let bytes = source.as_bytes();
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut last = 0;
    // The shape `check` relies on is enforced here, not trusted to the scanner.
    let points = SplitPoints::new(source).filter(|&point| {
        let sound = is_split_point(bytes, point);
        debug_assert!(sound, "split point {point} is not at a column-0 token");
        sound
    });
    for point in points.chain(std::iter::once(source.len())) {
        if point - start > max_len && last > start {
            chunks.push(&source[start..last]);
            start = last;
        }
        if point - start > max_len {
            chunks.push(&source[start..point]);
            start = point;
        }
        last = point;
    }
    if start < source.len() {
        chunks.push(&source[start..]);
    }
    chunks
}

/// Whether a chunk may start at byte `offset`: right after a `\n`, at an ASCII character that
/// begins a token at column 0 (not a byte-order mark). This is the shape `check`'s soundness
/// argument rests on; it does not depend on what the scanner believed about the text before.
fn is_split_point(bytes: &[u8], offset: usize) -> bool {
    offset > 0
        && bytes.get(offset - 1) == Some(&b'\n')
        && bytes
            .get(offset)
            .is_some_and(|&byte| is_split_point_byte(byte))
}

/// The offsets where, as far as the scanner can tell, a top-level statement starts that a chunk
/// can start with: the start of a logical line at column 0, outside brackets and strings, that
/// does not continue a compound statement (`else`, `elif`, `except`, `finally`) and does not
/// follow a decorator.
struct SplitPoints<'src> {
    bytes: &'src [u8],
    /// The next byte to scan.
    pos: usize,
    /// Open brackets: inside them a newline does not end the logical line.
    depth: u32,
    /// Whether the last top-level logical line started with `@`: a decorator and the `def` or
    /// `class` it decorates must stay in one chunk.
    after_decorator: bool,
}

impl<'src> SplitPoints<'src> {
    fn new(source: &'src str) -> Self {
        SplitPoints {
            bytes: source.as_bytes(),
            pos: 0,
            depth: 0,
            after_decorator: false,
        }
    }

    /// Stops proposing split points: the scanner does not understand the text from here on.
    fn give_up(&mut self) {
        self.pos = self.bytes.len();
    }

    /// Skips past the end of a string whose opening `quote` was just consumed, or gives up when
    /// the string does not end (the file is invalid, or the scanner misread it).
    fn skip_string(&mut self, quote: u8) {
        let bytes = self.bytes;
        let triple = bytes.get(self.pos..self.pos + 2) == Some(&[quote, quote][..]);
        if triple {
            self.pos += 2;
        } else if bytes.get(self.pos) == Some(&quote) {
            // An empty string: `""`.
            self.pos += 1;
            return;
        }
        while let Some(&byte) = bytes.get(self.pos) {
            self.pos += 1;
            match byte {
                // An escape, in raw strings too: `r"\""` is one string. `\` + CRLF is one escape.
                b'\\' => {
                    let escaped = bytes.get(self.pos..self.pos + 2) == Some(&b"\r\n"[..]);
                    self.pos += if escaped { 2 } else { 1 };
                }
                byte if byte == quote => {
                    if !triple {
                        return;
                    }
                    if bytes.get(self.pos..self.pos + 2) == Some(&[quote, quote][..]) {
                        self.pos += 2;
                        return;
                    }
                }
                b'\n' if !triple => break,
                _ => {}
            }
        }
        self.give_up();
    }

    /// Called at the start of a physical line outside brackets, strings and line joins: the
    /// line's offset if a chunk may start there.
    fn line_start(&mut self) -> Option<usize> {
        let start = self.pos;
        let &first = self.bytes.get(start)?;
        if matches!(first, b' ' | b'\t' | b'\x0c' | b'\r' | b'\n' | b'#' | b'\\') {
            // Indented (inside a block), blank, or a comment: no new top-level statement.
            return None;
        }
        let after_decorator = std::mem::replace(&mut self.after_decorator, first == b'@');
        let splittable = !after_decorator
            && !continues_compound(&self.bytes[start..])
            && is_split_point_byte(first);
        splittable.then_some(start)
    }
}

impl Iterator for SplitPoints<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while let Some(&byte) = self.bytes.get(self.pos) {
            self.pos += 1;
            match byte {
                b'#' => {
                    // A comment runs to the end of the line; the newline is scanned next.
                    self.pos = self.bytes[self.pos..]
                        .iter()
                        .position(|&it| it == b'\n')
                        .map_or(self.bytes.len(), |it| self.pos + it);
                }
                b'\'' | b'"' => self.skip_string(byte),
                b'(' | b'[' | b'{' => self.depth += 1,
                b')' | b']' | b'}' => match self.depth.checked_sub(1) {
                    Some(depth) => self.depth = depth,
                    None => self.give_up(),
                },
                b'\\' => {
                    // A line join: the next physical line continues this logical line.
                    let joined = self
                        .bytes
                        .get(self.pos..)
                        .is_some_and(|rest| rest.starts_with(b"\n") || rest.starts_with(b"\r\n"));
                    if joined {
                        self.pos += if self.bytes[self.pos] == b'\r' { 2 } else { 1 };
                    } else {
                        self.give_up();
                    }
                }
                b'\n' if self.depth == 0 => {
                    if let Some(start) = self.line_start() {
                        return Some(start);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// The byte-level half of [`is_split_point`]: the first byte of the chunk.
fn is_split_point_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && byte != b'#' && byte != b'\\'
}

/// Whether a line starting at `line` opens a clause of the compound statement before it.
fn continues_compound(line: &[u8]) -> bool {
    ["else", "elif", "except", "finally"].iter().any(|keyword| {
        line.strip_prefix(keyword.as_bytes())
            .is_some_and(|rest| !rest.first().is_some_and(|&it| is_identifier_byte(it)))
    })
}

/// Whether `byte` can continue an identifier (any non-ASCII byte might).
fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || !byte.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the 1-based lines where `source` may be split.
    fn check(source: &str, expect: &[usize]) {
        let lines: Vec<usize> = SplitPoints::new(source)
            .map(|offset| source[..offset].matches('\n').count() + 1)
            .collect();
        assert_eq!(lines, expect, "split lines of:\n{source}");
    }

    #[test]
    fn statements_at_column_0() {
        check("import a\nx = 1\n\n\ny = 2\n", &[2, 5]);
    }

    #[test]
    fn not_inside_blocks_brackets_or_strings() {
        check(
            "def f():\n    return 1\nx = [\n1,\n]\ny = \"\"\"\nz = 2\n\"\"\"\nw = 3\n",
            &[3, 6, 9],
        );
    }

    #[test]
    fn not_before_a_clause_or_after_a_decorator() {
        check(
            "if a:\n    pass\nelif b:\n    pass\nelse:\n    pass\n@d\n# c\n@e(\n1)\nclass C:\n    pass\nelsewhere = 1\n",
            &[7, 13],
        );
        check(
            "try:\n    pass\nexcept* E:\n    pass\nfinally:\n    pass\nx = 1\n",
            &[7],
        );
    }

    #[test]
    fn not_after_a_line_join_or_a_comment() {
        check("x = 1 + \\\n2\ny = 3  # (\nz = 4\n", &[3, 4]);
    }

    #[test]
    fn strings_with_escapes_and_prefixes() {
        check(
            "a = r'\\''\nb = f\"{x['k']}\"\nc = b''\nd = '''it's\n'''\ne = 1\n",
            &[2, 3, 4, 6],
        );
    }

    #[test]
    fn gives_up_where_unsure() {
        check("a = 'open\nb = 1\n", &[]);
        check("a = 1)\nb = 1\n", &[]);
    }

    #[test]
    fn chunks_cover_the_source_within_the_limit() {
        let source = "a = 1\nb = 2\nc = [\n    3,\n]\nd = 4\n";
        assert_eq!(
            split(source, 12),
            ["a = 1\nb = 2\n", "c = [\n    3,\n]\n", "d = 4\n"]
        );
        assert_eq!(
            split(source, 1),
            ["a = 1\n", "b = 2\n", "c = [\n    3,\n]\n", "d = 4\n"]
        );
        assert_eq!(split(source, 1000), [source]);
        assert_eq!(split("", 1), Vec::<&str>::new());
    }
}
