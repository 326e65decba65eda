//! Syntax check of rendered Python with `ruff_python_parser`, before anything leaves `render`.
//! Parses only; never formats or rewrites.
//!
//! # Large files are parsed in chunks
//!
//! A syntax tree takes about nine times its source in heap (33 MB for a 3.7 MB generated
//! `common/retries.py`), so a generated file of a few megabytes parsed whole would dominate
//! restack's peak memory. A file of at least [`CHUNKED_FROM`] bytes is therefore cut into chunks
//! of whole top-level statements of about [`CHUNK_LEN`] bytes (`chunks.rs`), each parsed alone
//! with the same [`ParseOptions`] and dropped before the next. The verdict and the reported error
//! are always the whole-file parse's:
//!
//! - If any chunk reports an error (a parse error or unsupported syntax), the whole file is parsed
//!   and its first error reported. A chunk can fail where the file does not (a split the scanner
//!   got wrong, say inside a string it misread); that costs a second parse, never a wrong answer.
//!   Errors mean a template bug, so the memory of that parse does not matter.
//! - If every chunk parses cleanly, so does the file. Each chunk but the last ends with `\n`
//!   and each but the first starts with an ASCII character other than `#` or `\` at column 0
//!   (`chunks::is_split_point`, enforced whatever the scanner believed). Take two adjacent
//!   chunks `A` and `B`. `A` parsed alone without error, so at its end every bracket, string and
//!   f-string is closed and no backslash joins a line (each of those is an error at the end of a
//!   file). The lexer never looks past a newline when it lexes the tokens before it, so on the
//!   whole file it lexes `A` as it did alone and then stands at the start of a line with nothing
//!   open: exactly where a fresh lexer starts `B`, but for the indentation stack, which `B`'s
//!   unindented first token empties with the same `Dedent`s `A` ended with alone. (That token is
//!   no byte-order mark, which only a fresh lexer skips.) So the file's tokens are `A`'s then
//!   `B`'s. The parser keeps no state from one top-level statement to the next (its errors and
//!   unsupported-syntax checks look only at the statement they are in), and the only way the
//!   token after a top-level statement changes how that statement parses is as a clause
//!   keyword (`elif`, `else`, `except`, `finally`) continuing it, or as the `def` or `class`
//!   after a decorator. `B` parsed alone, so it does not start with a clause keyword, and `A`
//!   parsed alone, so it does not end with a decorator. So the file's statements are `A`'s then
//!   `B`'s, with no error. (`from __future__` placement and the like are semantic checks, which
//!   this parse does not run either way.)
//!
//! A chunk's own error positions are never reported, so they need no translation to the file.
//! The scanner's part is only to make chunks that parse, so that a valid file is parsed once.

use ruff_python_ast::PythonVersion;
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
use ruff_text_size::TextSize;

use crate::render::RenderError;
use crate::render::chunks;

/// Files shorter than this are parsed whole: their syntax tree stays near a megabyte.
const CHUNKED_FROM: usize = 128 * 1024;

/// The most source a chunk holds, unless one statement is longer: a syntax tree of about half a
/// megabyte at a time.
const CHUNK_LEN: usize = 64 * 1024;

/// The Python version rendered code must parse under: the lower bound of the project's
/// requirement (`>=3.10,<3.14` → 3.10), or 3.10 when it names none.
pub(super) fn target_version(requirement: &str) -> PythonVersion {
    requirement
        .split(',')
        .map(str::trim)
        .find_map(|clause| {
            let rest = clause
                .strip_prefix(">=")
                .or_else(|| clause.strip_prefix("=="))
                .or_else(|| clause.strip_prefix("~="))?;
            let mut parts = rest.trim().split('.');
            let major = parts.next()?.parse::<u8>().ok()?;
            let minor = parts.next().map_or(Some(0), |it| it.parse::<u8>().ok())?;
            Some(PythonVersion { major, minor })
        })
        .unwrap_or(PythonVersion::PY310)
}

/// Fails with [`RenderError::InvalidPython`] on the first syntax error, or on syntax the target
/// version does not support.
pub(super) fn python(
    path: &str,
    template: &str,
    contents: &str,
    target: PythonVersion,
) -> Result<(), RenderError> {
    let options = ParseOptions::from(Mode::Module).with_target_version(target);
    match first_error(contents, &options, CHUNKED_FROM, CHUNK_LEN) {
        None => Ok(()),
        Some((offset, message)) => {
            let (line, column) = line_column(contents, offset);
            Err(RenderError::InvalidPython {
                path: path.to_owned(),
                template: template.to_owned(),
                line,
                column,
                message,
            })
        }
    }
}

/// The offset and message of the first error of `contents` as the whole-file parse reports it,
/// parsing in chunks of about `chunk_len` bytes when `contents` is at least `chunked_from` long
/// (see the module doc).
fn first_error(
    contents: &str,
    options: &ParseOptions,
    chunked_from: usize,
    chunk_len: usize,
) -> Option<(TextSize, String)> {
    if contents.len() >= chunked_from {
        let chunks = chunks::split(contents, chunk_len);
        // One chunk is the whole file: parse it once, below.
        if chunks.len() > 1 && chunks.iter().all(|chunk| parses_cleanly(chunk, options)) {
            return None;
        }
    }
    whole_file_error(contents, options)
}

/// Whether `source` parses alone with neither a parse error nor unsupported syntax. Its syntax
/// tree is dropped on return.
fn parses_cleanly(source: &str, options: &ParseOptions) -> bool {
    let parsed = parse_unchecked(source, options.clone());
    parsed.errors().is_empty() && parsed.unsupported_syntax_errors().is_empty()
}

/// The first error of the whole-file parse, parse errors and unsupported syntax alike.
fn whole_file_error(contents: &str, options: &ParseOptions) -> Option<(TextSize, String)> {
    let parsed = parse_unchecked(contents, options.clone());
    parsed
        .errors()
        .iter()
        .map(|error| (error.location.start(), error.error.to_string()))
        .chain(
            parsed
                .unsupported_syntax_errors()
                .iter()
                .map(|error| (error.range.start(), error.to_string())),
        )
        .min_by_key(|(offset, _)| *offset)
}

/// 1-based line and character column of a byte offset.
pub(super) fn line_column(text: &str, offset: TextSize) -> (usize, usize) {
    let offset = usize::from(offset).min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |it| it + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `python` of a file `src/x.py` rendered from `core/x.py.j2`.
    fn python(contents: &str, target: PythonVersion) -> Result<(), RenderError> {
        super::python("src/x.py", "core/x.py.j2", contents, target)
    }

    #[test]
    fn target_is_the_lower_bound() {
        assert_eq!(target_version(">=3.11,<3.14"), PythonVersion::PY311);
        assert_eq!(target_version("<3.14, >=3.12"), PythonVersion::PY312);
        assert_eq!(target_version(""), PythonVersion::PY310);
    }

    #[test]
    fn invalid_python_names_template_and_position() {
        let err =
            python("x = 1\nclass A\n    pass\n", PythonVersion::PY310).expect_err("missing colon");
        match err {
            RenderError::InvalidPython {
                path,
                template,
                line,
                ..
            } => {
                assert_eq!(path, "src/x.py");
                assert_eq!(template, "core/x.py.j2");
                assert_eq!(line, 2);
            }
            RenderError::Template { .. } => panic!("expected InvalidPython, got {err:?}"),
        }
    }

    #[test]
    fn syntax_newer_than_target_is_rejected() {
        assert!(python("type X = int\n", PythonVersion::PY310).is_err());
        assert!(python("type X = int\n", PythonVersion::PY312).is_ok());
    }

    /// Valid Python under 3.10, one top-level snippet each: the shapes a split could get wrong.
    const SNIPPETS: &[&str] = &[
        "\"\"\"Module docstring.\ndef not_a_function():\n    pass\n\"\"\"\n",
        "from __future__ import annotations\n",
        "import os, sys\n",
        "from typing import (\n    Any,\n    Callable,\n)\n",
        "X = 1; Y = 2\n",
        "# a comment at column 0\n",
        "TEXT = \"\"\"\nclass NotAClass:\nelse:\n@decorator\nx = '\n\"\"\"\n",
        "RAW = r'\\d+\\'' r\"\\\"\"\nBYTES = rb\"\\\"\" b'x'\n",
        "F = f\"{X!r:>10} {TEXT[0]!s}\" f'{\"nested\"}' f'{X:{Y}}'\n",
        "T = f\"\"\"multi\n{X}\nline {{braces}}\"\"\"\n",
        "TOTAL = 1 + \\\n    2 + \\\n3\n",
        "@decorator\n@other(\n    arg=1,\n)\n# between\ndef decorated(a, /, b, *, c=3, **kw) -> int:\n    \"\"\"Doc.\"\"\"\n    return a + b\n",
        "if X:\n    pass\nelif Y:\n    pass\nelse:\n    pass\n",
        "try:\n    pass\nexcept ValueError as error:\n    raise\nexcept (TypeError, KeyError):\n    pass\nelse:\n    pass\nfinally:\n    pass\n",
        "for item in range(3):\n    continue\nelse:\n    pass\n",
        "while False:\n    break\nelse:\n    pass\n",
        "with open(\"f\") as a, open(\"g\") as b:\n    pass\n",
        "class Base:\n    attr: int = 0\n\n    @property\n    def value(self):\n        return self.attr\n",
        "class Child(Base, metaclass=type):\n    pass\n",
        "async def main():\n    async with ctx() as c:\n        await c\n    async for item in aiter():\n        yield item\n",
        "match X:\n    case 1 | 2:\n        pass\n    case {\"key\": value, **rest}:\n        pass\n    case Point(x=0) if X > 0:\n        pass\n    case _:\n        pass\n",
        "case = 1\n",
        "match = [case]\n",
        "print(match[0])\n",
        "type = lambda x: (y := x)\n",
        "values = [\n    1,\n    2,\n]; other = {k: v for k, v in {}.items()}\n",
        "if X: pass\nelse: pass\n",
        "mapping = {\n\"key\": \"\"\"value\nat column 0\"\"\",\n}\n",
        "grouped = (\n# a comment inside brackets\n1)\n",
        "if X:\n    def inner():\n        pass\n\n    # dedented comment\n# column-0 comment\n    inner()\n",
        "\n\n",
    ];

    /// Valid only from Python 3.12: unsupported syntax under 3.10.
    const SNIPPETS_312: &[&str] = &[
        "type Alias[T] = list[T]\n",
        "def generic[T](x: T) -> T:\n    return x\n",
        "class Box[T]:\n    pass\n",
        "NESTED = f\"{X[\"a\"]}\"\n",
        "try:\n    pass\nexcept* ValueError:\n    pass\n",
    ];

    /// Characters inserted into valid sources, one per position in turn.
    const INSERTS: &[&str] = &[
        ":", "(", ")", "\"", "'", "\\", "\n", " ", "#", "@", "else", "\"\"\"", "[", "}", ",", "=",
        "\t", "x", "\r", "    ", "f'", "case", "\u{feff}",
    ];

    fn options(target: PythonVersion) -> ParseOptions {
        ParseOptions::from(Mode::Module).with_target_version(target)
    }

    /// The first error as `python` reports it: line, column, message.
    fn reported(source: &str, error: Option<(TextSize, String)>) -> Option<(usize, usize, String)> {
        error.map(|(offset, message)| {
            let (line, column) = line_column(source, offset);
            (line, column, message)
        })
    }

    /// Checks that the chunked check of `source` reports what the whole-file parse reports, with
    /// chunks small enough that every split point is used.
    fn check_agrees(source: &str, target: PythonVersion) {
        let options = options(target);
        let whole = reported(source, whole_file_error(source, &options));
        for chunk_len in [1, 64] {
            let chunked = reported(source, first_error(source, &options, 0, chunk_len));
            assert_eq!(
                chunked, whole,
                "chunks of {chunk_len} disagree under {target:?} on:\n{source:?}"
            );
        }
    }

    /// Checks that `source` is valid and that its chunks parse alone, so a valid file is parsed
    /// once.
    fn check_splits_cleanly(source: &str, target: PythonVersion, chunk_len: usize) {
        let options = options(target);
        assert_eq!(reported(source, whole_file_error(source, &options)), None);
        for chunk in chunks::split(source, chunk_len) {
            assert!(
                parses_cleanly(chunk, &options),
                "chunk does not parse alone under {target:?}:\n{chunk}"
            );
        }
    }

    /// `source` with one edit at every position: each character deleted, a character of
    /// [`INSERTS`] inserted, and cut short there.
    fn mutations(source: &str) -> Vec<String> {
        let mut res = Vec::new();
        for (n, (offset, it)) in source.char_indices().enumerate() {
            res.push(format!(
                "{}{}",
                &source[..offset],
                &source[offset + it.len_utf8()..]
            ));
            let insert = INSERTS[n % INSERTS.len()];
            res.push(format!(
                "{}{insert}{}",
                &source[..offset],
                &source[offset..]
            ));
            res.push(source[..offset].to_owned());
        }
        res
    }

    #[test]
    fn chunked_check_agrees_with_the_whole_file() {
        let source = SNIPPETS.concat();
        let newer = [SNIPPETS, SNIPPETS_312].concat().concat();
        check_splits_cleanly(&source, PythonVersion::PY310, 1);
        check_splits_cleanly(&newer, PythonVersion::PY312, 1);
        assert!(chunks::split(&source, 1).len() > SNIPPETS.len() / 2);
        for target in [PythonVersion::PY310, PythonVersion::PY312] {
            check_agrees(&newer, target);
            // Snippets in every order, so each one follows and precedes every other.
            for first in SNIPPETS.iter().chain(SNIPPETS_312) {
                for second in SNIPPETS.iter().chain(SNIPPETS_312) {
                    check_agrees(&format!("{first}{second}"), target);
                }
            }
        }
        // Every single edit; `chunked_check_agrees_on_random_edits` covers 3.10 and several edits.
        for mutated in mutations(&newer) {
            check_agrees(&mutated, PythonVersion::PY312);
        }
    }

    /// An edit of a source: at a fraction of its length (`at` of `u16::MAX`), delete the next
    /// character (`None`) or insert one of [`INSERTS`].
    type Edit = (u16, Option<usize>);

    fn apply(source: &str, (at, insert): Edit) -> String {
        let mut offset = source.len() * usize::from(at) / usize::from(u16::MAX);
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let (before, after) = source.split_at(offset);
        if let Some(insert) = insert {
            return format!("{before}{}{after}", INSERTS[insert]);
        }
        let next = after.chars().next().map_or(0, char::len_utf8);
        format!("{before}{}", &after[next..])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn chunked_check_agrees_on_random_edits(
            picks in prop::collection::vec(0..SNIPPETS.len() + SNIPPETS_312.len(), 0..12),
            edits in prop::collection::vec((any::<u16>(), prop::option::of(0..INSERTS.len())), 0..4),
        ) {
            let all: Vec<&str> = SNIPPETS.iter().chain(SNIPPETS_312).copied().collect();
            let mut source: String = picks.iter().map(|&it| all[it]).collect();
            for edit in edits {
                source = apply(&source, edit);
            }
            check_agrees(&source, PythonVersion::PY310);
            check_agrees(&source, PythonVersion::PY312);
        }
    }

    #[test]
    fn examples_split_cleanly_and_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut n_files = 0;
        for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
            let entry = entry.expect("examples/ is readable");
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "py") {
                continue;
            }
            let project = path
                .strip_prefix(&root)
                .ok()
                .and_then(|it| it.components().next())
                .map(|it| root.join(it))
                .expect("a file under examples/<project>/");
            let pyproject = std::fs::read_to_string(project.join("pyproject.toml"))
                .expect("every example has a pyproject.toml");
            let requirement = pyproject
                .lines()
                .find_map(|line| line.strip_prefix("requires-python = "))
                .map_or("", |it| it.trim_matches('"'));
            let target = target_version(requirement);
            let source = std::fs::read_to_string(path).expect("example files are UTF-8");
            check_splits_cleanly(&source, target, 1);
            check_agrees(&source, target);
            n_files += 1;
        }
        assert!(n_files > 100, "only {n_files} example files");
    }

    #[test]
    fn large_files_are_checked_in_chunks() {
        let statement = "VALUE = compute(\n    1,\n    \"\"\"text\nx = (\n\"\"\",\n)\n\n\n";
        let mut source = statement.repeat(CHUNKED_FROM / statement.len() + 1);
        assert!(chunks::split(&source, CHUNK_LEN).len() > 1);
        assert!(python(&source, PythonVersion::PY310).is_ok());
        let lines = source.matches('\n').count();
        source.push_str("def broken(:\n    pass\n");
        let err = python(&source, PythonVersion::PY310).expect_err("a broken def");
        match err {
            RenderError::InvalidPython { line, column, .. } => {
                assert_eq!((line, column), (lines + 1, 12));
            }
            RenderError::Template { .. } => panic!("expected InvalidPython, got {err:?}"),
        }
    }
}
